-- Roles (see roster_core::roles): defined in an organization, named uniquely there, assigned to
-- users. Both go with their organization, and assignments with their user.
create table roles (
    tenant_id uuid not null,
    id uuid not null,
    organization_id uuid not null,
    name text not null,
    name_key text collate "C" not null,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    constraint roles_pkey primary key (tenant_id, id),
    constraint roles_name_key unique (tenant_id, organization_id, name_key),
    constraint roles_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id) on delete cascade
);

create table user_roles (
    tenant_id uuid not null,
    user_id uuid not null,
    role_id uuid not null,
    created_at bigint not null,
    constraint user_roles_pkey primary key (tenant_id, user_id, role_id),
    constraint user_roles_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade,
    constraint user_roles_role_fkey foreign key (tenant_id, role_id)
        references roles (tenant_id, id) on delete cascade
);
create index user_roles_tenant_role_idx on user_roles (tenant_id, role_id, user_id);
