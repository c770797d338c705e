-- A token may be bound to one of its tenant's applications: "the requesting application" of
-- the dialects that have one, inherited by the token's access tokens. Deleting the application
-- clears the binding in the same transaction (as on SQLite, where no foreign key can be added).
alter table tokens add column application_id uuid;
