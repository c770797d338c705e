-- One-time codes that confirm a user's e-mail address or phone number (see
-- roster_core::verification): one per user and purpose, hashed, with the value it confirms and
-- an expiry. A deleted user's codes go with its personal data.
create table verification_codes (
    tenant_id uuid not null,
    user_id uuid not null,
    purpose text not null,
    code_hash text not null,
    target text not null,
    expires_at bigint not null,
    constraint verification_codes_pkey primary key (tenant_id, user_id, purpose),
    constraint verification_codes_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
