-- Mandates (see roster_core::mandates): a grantor (a user or an organization) authorises a
-- grantee (either) for roles, possibly for a time; a grantee delegates roles onward to users.
-- Each party is a foreign key of its own kind, exactly one of each pair set.
create table mandates (
    tenant_id blob not null,
    id blob not null,
    grantor_user_id blob,
    grantor_organization_id blob,
    grantee_user_id blob,
    grantee_organization_id blob,
    role_ids text not null,
    valid_until integer,
    state text not null,
    created_at integer not null,
    updated_at integer not null,
    version integer not null,
    constraint mandates_pkey primary key (tenant_id, id),
    constraint mandates_grantor_check check ((grantor_user_id is null) <> (grantor_organization_id is null)),
    constraint mandates_grantee_check check ((grantee_user_id is null) <> (grantee_organization_id is null)),
    constraint mandates_grantor_user_fkey foreign key (tenant_id, grantor_user_id)
        references users (tenant_id, id) on delete cascade,
    constraint mandates_grantor_organization_fkey foreign key (tenant_id, grantor_organization_id)
        references organizations (tenant_id, id) on delete cascade,
    constraint mandates_grantee_user_fkey foreign key (tenant_id, grantee_user_id)
        references users (tenant_id, id) on delete cascade,
    constraint mandates_grantee_organization_fkey foreign key (tenant_id, grantee_organization_id)
        references organizations (tenant_id, id) on delete cascade
);
create index mandates_grantor_user_idx on mandates (tenant_id, grantor_user_id);
create index mandates_grantor_organization_idx on mandates (tenant_id, grantor_organization_id);
create index mandates_grantee_user_idx on mandates (tenant_id, grantee_user_id);
create index mandates_grantee_organization_idx on mandates (tenant_id, grantee_organization_id);

create table delegations (
    tenant_id blob not null,
    id blob not null,
    mandate_id blob not null,
    delegate_user_id blob not null,
    role_ids text not null,
    valid_until integer,
    state text not null,
    created_at integer not null,
    updated_at integer not null,
    constraint delegations_pkey primary key (tenant_id, id),
    constraint delegations_mandate_fkey foreign key (tenant_id, mandate_id)
        references mandates (tenant_id, id) on delete cascade,
    constraint delegations_delegate_fkey foreign key (tenant_id, delegate_user_id)
        references users (tenant_id, id) on delete cascade
);
create index delegations_mandate_idx on delegations (tenant_id, mandate_id, id);
create index delegations_delegate_idx on delegations (tenant_id, delegate_user_id, id);
