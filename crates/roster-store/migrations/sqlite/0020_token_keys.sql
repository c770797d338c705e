-- The public key (PEM SubjectPublicKeyInfo) whose private half signs every request of a token
-- (HTTP Message Signatures); null for a token whose requests need no signature.
alter table tokens add column public_key text;
