-- A group's id in the system that provisions it (SCIM externalId).
alter table groups add column external_id text;
