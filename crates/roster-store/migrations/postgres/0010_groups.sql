-- Groups (see roster_core::groups): named, with a description and free custom data; their
-- members are users and other groups, one table each so that both are foreign keys.
create table groups (
    tenant_id uuid not null,
    id uuid not null,
    name text not null,
    name_key text collate "C" not null,
    description text,
    custom_data jsonb not null default '{}',
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    constraint groups_pkey primary key (tenant_id, id),
    constraint groups_name_key unique (tenant_id, name_key),
    constraint groups_tenant_fkey foreign key (tenant_id) references tenants (id) on delete cascade
);

create table group_users (
    tenant_id uuid not null,
    group_id uuid not null,
    user_id uuid not null,
    created_at bigint not null,
    constraint group_users_pkey primary key (tenant_id, group_id, user_id),
    constraint group_users_group_fkey foreign key (tenant_id, group_id)
        references groups (tenant_id, id) on delete cascade,
    constraint group_users_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
create index group_users_tenant_user_idx on group_users (tenant_id, user_id);

create table group_groups (
    tenant_id uuid not null,
    group_id uuid not null,
    member_id uuid not null,
    created_at bigint not null,
    constraint group_groups_pkey primary key (tenant_id, group_id, member_id),
    constraint group_groups_group_fkey foreign key (tenant_id, group_id)
        references groups (tenant_id, id) on delete cascade,
    constraint group_groups_member_fkey foreign key (tenant_id, member_id)
        references groups (tenant_id, id) on delete cascade
);
create index group_groups_tenant_member_idx on group_groups (tenant_id, member_id);
