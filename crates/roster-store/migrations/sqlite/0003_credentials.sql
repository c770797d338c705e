-- When each API token last authenticated a request.
alter table tokens add column last_used_at integer;

-- Consecutive failed password verifications since the last success: the lockout counter.
alter table users add column password_failures integer not null default 0;

-- A person's events, for the subject access export.
create index events_tenant_user_idx on events (tenant_id, user_id, seq);
