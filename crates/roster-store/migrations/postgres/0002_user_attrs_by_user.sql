-- The value index, keyed by its user: the primary key serves updates and deletes (it replaces
-- the per-user index), and numbers are indexed only where there is one. A user's identical
-- values (possible in nested arrays) are one row.
delete from user_attrs a using user_attrs b
    where a.ctid > b.ctid and a.tenant_id = b.tenant_id and a.user_id = b.user_id
      and a.path = b.path and a.elem = b.elem and a.value = b.value;
alter table user_attrs add constraint user_attrs_pkey primary key (tenant_id, user_id, path, elem, value);
drop index user_attrs_tenant_user_idx;
drop index user_attrs_tenant_path_num_idx;
create index user_attrs_tenant_path_num_idx on user_attrs (tenant_id, path, num) where num is not null;
