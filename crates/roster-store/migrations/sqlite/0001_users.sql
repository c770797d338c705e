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
    -- Sort keys, lower-cased by Roster (the same on both engines; empty when unset): the
    -- username, the primary (else first) e-mail, the family name, the primary phone.
    username_key text not null default '',
    email_key text not null default '',
    family_name_key text not null default '',
    phone_key text not null default '',
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

-- One index per sort order, each ending in the id (the tie-breaker), so that a keyset page
-- costs the same at any depth.
create index users_tenant_created_at_idx on users (tenant_id, created_at, id);
create index users_tenant_updated_at_idx on users (tenant_id, updated_at, id);
create index users_tenant_last_auth_at_idx on users (tenant_id, coalesce(last_auth_at, 0), id);
create index users_tenant_username_idx on users (tenant_id, username_key, id);
create index users_tenant_email_idx on users (tenant_id, email_key, id);
create index users_tenant_family_name_idx on users (tenant_id, family_name_key, id);
create index users_tenant_phone_idx on users (tenant_id, phone_key, id);

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

-- Every searchable value of a user, flattened: one row per leaf of the profile document (and the
-- username), under its dotted path (`name.family`, `emails.value`, `claims.loyalty.tier`).
-- Strings are lower-cased by Roster, numbers also kept as numbers; `elem` is the index of the
-- innermost array the value sits in, so `emails[verified eq true and value ew "@x.org"]`
-- can match both conditions on one element. Filters on any path use these indexes, on both
-- engines, instead of scanning documents.
create table user_attrs (
    tenant_id blob not null,
    user_id blob not null,
    path text not null,
    elem integer not null,
    value text not null,
    num real,
    constraint user_attrs_user_fkey foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
);

create index user_attrs_tenant_path_value_idx on user_attrs (tenant_id, path, value);
create index user_attrs_tenant_path_num_idx on user_attrs (tenant_id, path, num);
create index user_attrs_tenant_user_idx on user_attrs (tenant_id, user_id);

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

-- Secrets of the deployment, shared by every node: `cursor_key` signs page cursors.
create table settings (
    name text not null constraint settings_pkey primary key,
    value blob not null
);

insert into settings (name, value) values ('cursor_key', randomblob(32));

-- Planner statistics of a large tenant, until `pragma optimize` measures the real ones. Without
-- them SQLite assumes a filter matches many users and walks a whole sort index instead of
-- looking the few matches up (3 ms against 0.02 ms at 20,000 users). Format: rows, then rows
-- per distinct value of each leading column prefix (sqlite.org/fileformat2.html#stat1tab).
analyze sqlite_schema;
insert into sqlite_stat1 (tbl, idx, stat) values
    ('users', 'sqlite_autoindex_users_1', '1000000 1000000 1'),
    ('users', 'users_tenant_created_at_idx', '1000000 1000000 10 1'),
    ('users', 'users_tenant_updated_at_idx', '1000000 1000000 10 1'),
    ('users', 'users_tenant_last_auth_at_idx', '1000000 1000000 1000 1'),
    ('users', 'users_tenant_username_idx', '1000000 1000000 1 1'),
    ('users', 'users_tenant_email_idx', '1000000 1000000 1 1'),
    ('users', 'users_tenant_family_name_idx', '1000000 1000000 100 1'),
    ('users', 'users_tenant_phone_idx', '1000000 1000000 1 1'),
    ('user_keys', 'sqlite_autoindex_user_keys_1', '4000000 4000000 1000000 1'),
    ('user_keys', 'user_keys_tenant_user_idx', '4000000 4000000 4'),
    ('user_attrs', 'user_attrs_tenant_path_value_idx', '10000000 10000000 100000 3'),
    ('user_attrs', 'user_attrs_tenant_path_num_idx', '10000000 10000000 100000 100'),
    ('user_attrs', 'user_attrs_tenant_user_idx', '10000000 10000000 10');
