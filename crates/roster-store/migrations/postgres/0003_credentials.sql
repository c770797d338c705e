-- When each API token last authenticated a request.
alter table tokens add column last_used_at bigint;

-- Consecutive failed password verifications since the last success: the lockout counter.
alter table users add column password_failures bigint not null default 0;
