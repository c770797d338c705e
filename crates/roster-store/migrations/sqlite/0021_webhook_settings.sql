-- A webhook's title, and the settings of its payload format (a platform's own subscription
-- fields, kept as its dialect was given them: JSON text).
alter table webhooks add column title text;
alter table webhooks add column settings text;
