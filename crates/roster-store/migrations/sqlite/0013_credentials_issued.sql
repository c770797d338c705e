-- Metadata of credentials issued to users (see roster_core::credentials): what, by whom, when
-- valid, and their status. They outlive the user's deletion (issued credentials stay valid),
-- their free metadata erased with the user's personal data.
create table issued_credentials (
    tenant_id blob not null,
    id blob not null,
    user_id blob not null,
    type text not null,
    format text,
    issuer text,
    issued_at integer,
    valid_from integer,
    valid_until integer,
    status text not null,
    metadata text not null,
    created_at integer not null,
    updated_at integer not null,
    version integer not null,
    constraint issued_credentials_pkey primary key (tenant_id, id),
    constraint issued_credentials_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
create index issued_credentials_tenant_user_idx on issued_credentials (tenant_id, user_id, id);
