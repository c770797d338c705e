-- Invitations (see roster_core::invitations): an e-mail invited to an organization and roles,
-- linked to the user it created (in state `initial`) or found. They go with their user or
-- organization.
create table invitations (
    tenant_id uuid not null,
    id uuid not null,
    email text not null,
    organization_id uuid not null,
    role_ids jsonb not null,
    user_id uuid not null,
    state text not null,
    expires_at bigint not null,
    sent_count bigint not null,
    created_at bigint not null,
    updated_at bigint not null,
    version bigint not null,
    constraint invitations_pkey primary key (tenant_id, id),
    constraint invitations_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade,
    constraint invitations_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id) on delete cascade
);
create index invitations_tenant_user_idx on invitations (tenant_id, user_id, id);
create index invitations_tenant_organization_idx on invitations (tenant_id, organization_id, id);
