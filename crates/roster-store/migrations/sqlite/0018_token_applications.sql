-- A token may be bound to one of its tenant's applications: "the requesting application" of
-- the dialects that have one, inherited by the token's access tokens. Not a foreign key (SQLite
-- cannot add a composite one to an existing table): deleting the application clears the binding
-- in the same transaction.
alter table tokens add column application_id blob;
