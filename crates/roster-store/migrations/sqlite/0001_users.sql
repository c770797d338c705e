-- Tenants, their root organizations and API tokens; users with their unique keys; the event
-- feed; idempotency records. Ids are UUIDs stored as 16-byte blobs.

create table tenants (
    id blob not null constraint tenants_pkey primary key,
    name text not null constraint tenants_name_key unique,
    root_organization_id blob not null,
    -- The last event sequence number handed out in this tenant's feed.
    seq integer not null default 0,
    created_at integer not null
);

-- Organizations: the root one exists from the tenant's creation; the tree comes later.
create table organizations (
    tenant_id blob not null,
    id blob not null,
    parent_id blob,
    name text not null,
    created_at integer not null,
    constraint organizations_pkey primary key (tenant_id, id),
    constraint organizations_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table tokens (
    tenant_id blob not null,
    id blob not null,
    name text not null,
    -- SHA-256 of the token: looked up before the tenant is known, so unique across tenants.
    secret_hash blob not null constraint tokens_secret_hash_key unique,
    -- Space-separated scope names.
    scopes text not null,
    created_at integer not null,
    expires_at integer,
    constraint tokens_pkey primary key (tenant_id, id),
    constraint tokens_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table users (
    tenant_id blob not null,
    id blob not null,
    kind text not null,
    state text not null,
    -- Null only on a deleted tombstone.
    username text,
    organization_id blob not null,
    -- Everything else a client writes, as the JSON of roster_core::user::Profile.
    profile text not null,
    password_hash text,
    password_change_required integer not null default 0,
    password_changed_at integer,
    national_id_hash text,
    secret_hash text,
    created_at integer not null,
    updated_at integer not null,
    last_auth_at integer,
    version integer not null,
    constraint users_pkey primary key (tenant_id, id),
    constraint users_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade,
    constraint users_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id)
);

create index users_tenant_created_at_idx on users (tenant_id, created_at, id);

-- The values that are unique per tenant and that users are looked up by: the lower-cased
-- username and e-mails, E.164 phones, external user ids. One table, one primary key: uniqueness
-- of every kind is enforced by the same constraint on both engines.
create table user_keys (
    tenant_id blob not null,
    kind text not null,
    value text not null,
    user_id blob not null,
    constraint user_keys_pkey primary key (tenant_id, kind, value),
    constraint user_keys_user_fkey foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);

create index user_keys_tenant_user_idx on user_keys (tenant_id, user_id);

-- Committed in the same transaction as the change it describes.
create table events (
    tenant_id blob not null,
    seq integer not null,
    kind text not null,
    user_id blob not null,
    version integer not null,
    actor text not null,
    occurred_at integer not null,
    data text not null,
    constraint events_pkey primary key (tenant_id, seq),
    constraint events_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table idempotency_keys (
    tenant_id blob not null,
    key text not null,
    fingerprint blob not null,
    user_id blob not null,
    response text not null,
    expires_at integer not null,
    constraint idempotency_keys_pkey primary key (tenant_id, key),
    constraint idempotency_keys_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create index idempotency_keys_tenant_user_idx on idempotency_keys (tenant_id, user_id);
