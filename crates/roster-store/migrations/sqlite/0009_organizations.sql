-- The organization tree (see roster_core::organizations): names, type, attributes and a version
-- on every organization, the parent enforced by a foreign key, and memberships of users in
-- organizations other than their own.
--
-- SQLite cannot add a constraint to a table, and rebuilding this one would need foreign keys
-- off, which cannot be switched inside the migration's transaction. A column can be added with
-- a foreign key, though, to a unique column: the parent refers to the (globally unique) id, and
-- the core checks that it is in the same tenant.
alter table organizations rename column name to technical_name;
alter table organizations add column name_key text not null default '';
update organizations set name_key = lower(technical_name);
create unique index organizations_name_key on organizations (tenant_id, name_key);
alter table organizations add column friendly_name text not null default '';
update organizations set friendly_name = technical_name;
alter table organizations add column virtual integer not null default 0;
alter table organizations add column type text not null default 'normal';
alter table organizations add column attributes text not null default '{}';
alter table organizations add column updated_at integer not null default 0;
update organizations set updated_at = created_at;
alter table organizations add column version integer not null default 1;
create unique index organizations_id_key on organizations (id);
alter table organizations add column parent blob references organizations (id);
update organizations set parent = parent_id;
alter table organizations drop column parent_id;
alter table organizations rename column parent to parent_id;
create index organizations_tenant_parent_idx on organizations (tenant_id, parent_id, id);

create table organization_members (
    tenant_id blob not null,
    organization_id blob not null,
    user_id blob not null,
    created_at integer not null,
    constraint organization_members_pkey primary key (tenant_id, organization_id, user_id),
    constraint organization_members_organization_fkey foreign key (tenant_id, organization_id)
        references organizations (tenant_id, id) on delete cascade,
    constraint organization_members_user_fkey foreign key (tenant_id, user_id)
        references users (tenant_id, id) on delete cascade
);
create index organization_members_tenant_user_idx on organization_members (tenant_id, user_id);
