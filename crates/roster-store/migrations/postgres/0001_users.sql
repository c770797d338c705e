-- Tenants, their root organizations and API tokens; users with their unique keys; the event
-- feed; idempotency records. Ids are native uuids, documents jsonb.

create table tenants (
    id uuid not null constraint tenants_pkey primary key,
    name text not null constraint tenants_name_key unique,
    root_organization_id uuid not null,
    -- The last event sequence number handed out in this tenant's feed.
    seq bigint not null default 0,
    created_at bigint not null
);

-- Organizations: the root one exists from the tenant's creation; the tree comes later.
create table organizations (
    tenant_id uuid not null,
    id uuid not null,
    parent_id uuid,
    name text not null,
    created_at bigint not null,
    constraint organizations_pkey primary key (tenant_id, id),
    constraint organizations_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table tokens (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    -- SHA-256 of the token: looked up before the tenant is known, so unique across tenants.
    secret_hash bytea not null constraint tokens_secret_hash_key unique,
    -- Space-separated scope names.
    scopes text not null,
    created_at bigint not null,
    expires_at bigint,
    constraint tokens_pkey primary key (tenant_id, id),
    constraint tokens_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table users (
    tenant_id uuid not null,
    id uuid not null,
    kind text not null,
    state text not null,
    -- Null only on a deleted tombstone.
    username text,
    organization_id uuid not null,
    -- Everything else a client writes, as the JSON of roster_core::user::Profile.
    profile jsonb not null,
    password_hash text,
    password_change_required boolean not null default false,
    password_changed_at bigint,
    national_id_hash text,
    secret_hash text,
    created_at bigint not null,
    updated_at bigint not null,
    last_auth_at bigint,
    version bigint not null,
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
    tenant_id uuid not null,
    kind text not null,
    value text not null,
    user_id uuid not null,
    constraint user_keys_pkey primary key (tenant_id, kind, value),
    constraint user_keys_user_fkey foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);

create index user_keys_tenant_user_idx on user_keys (tenant_id, user_id);

-- Committed in the same transaction as the change it describes.
create table events (
    tenant_id uuid not null,
    seq bigint not null,
    kind text not null,
    user_id uuid not null,
    version bigint not null,
    actor text not null,
    occurred_at bigint not null,
    data jsonb not null,
    constraint events_pkey primary key (tenant_id, seq),
    constraint events_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table idempotency_keys (
    tenant_id uuid not null,
    key text not null,
    fingerprint bytea not null,
    user_id uuid not null,
    response jsonb not null,
    expires_at bigint not null,
    constraint idempotency_keys_pkey primary key (tenant_id, key),
    constraint idempotency_keys_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create index idempotency_keys_tenant_user_idx on idempotency_keys (tenant_id, user_id);
