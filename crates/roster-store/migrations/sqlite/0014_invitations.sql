-- Invitations (see roster_core::invitations): an e-mail invited to an organization and roles,
-- linked to the user it created (in state `initial`) or found. They go with their user or
-- organization.
create table invitations (
    tenant_id blob not null,
    id blob not null,
    email text not null,
    organization_id blob not null,
    role_ids text not null,
    user_id blob not null,
    state text not null,
    expires_at integer not null,
    sent_count integer not null,
    created_at integer not null,
    updated_at integer not null,
    version integer not null,
    constraint invitations_pkey primary key (tenant_id, id),
    constraint invitations_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade,
    constraint invitations_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id) on delete cascade
);
create index invitations_tenant_user_idx on invitations (tenant_id, user_id, id);
create index invitations_tenant_organization_idx on invitations (tenant_id, organization_id, id);
