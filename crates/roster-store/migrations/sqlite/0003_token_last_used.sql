-- When each API token last authenticated a request.
alter table tokens add column last_used_at integer;
