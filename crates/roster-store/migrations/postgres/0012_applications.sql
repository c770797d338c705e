-- Applications (see roster_core::applications): registered clients, and the users that belong
-- to each with per-application data.
create table applications (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    name_key text collate "C" not null,
    description text,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    constraint applications_pkey primary key (tenant_id, id),
    constraint applications_name_key unique (tenant_id, name_key),
    constraint applications_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table application_users (
    tenant_id uuid not null,
    application_id uuid not null,
    user_id uuid not null,
    app_data jsonb not null,
    external_account_id text,
    created_at bigint not null,
    updated_at bigint not null,
    constraint application_users_pkey primary key (tenant_id, application_id, user_id),
    constraint application_users_application_fkey foreign key (tenant_id, application_id)
        references applications (tenant_id, id) on delete cascade,
    constraint application_users_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
create index application_users_tenant_user_idx on application_users (tenant_id, user_id);
