-- The organization tree (see roster_core::organizations): names, type, attributes and a version
-- on every organization, the parent enforced by a foreign key, and memberships of users in
-- organizations other than their own.
alter table organizations rename column name to technical_name;
alter table organizations add column name_key text collate "C" not null default '';
update organizations set name_key = lower(technical_name);
alter table organizations add constraint organizations_name_key unique (tenant_id, name_key);
alter table organizations add column friendly_name text not null default '';
update organizations set friendly_name = technical_name;
alter table organizations add column virtual boolean not null default false;
alter table organizations add column type text not null default 'normal';
alter table organizations add column attributes jsonb not null default '{}';
alter table organizations add column updated_at bigint not null default 0;
update organizations set updated_at = created_at;
alter table organizations add column version bigint not null default 1;
alter table organizations add constraint organizations_parent_fkey foreign key (tenant_id, parent_id)
    references organizations (tenant_id, id);
create index organizations_tenant_parent_idx on organizations (tenant_id, parent_id, id);

create table organization_members (
    tenant_id uuid not null,
    organization_id uuid not null,
    user_id uuid not null,
    created_at bigint not null,
    constraint organization_members_pkey primary key (tenant_id, organization_id, user_id),
    constraint organization_members_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id) on delete cascade,
    constraint organization_members_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
create index organization_members_tenant_user_idx on organization_members (tenant_id, user_id);
