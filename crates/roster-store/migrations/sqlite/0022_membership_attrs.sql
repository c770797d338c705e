-- The value index of users' application memberships, as `user_attrs` is of users: the
-- membership's `external_account_id` and every value of its `app_data` (paths `app_data.…`),
-- so filters such as `memberships[application_id eq "…" and app_data.tier eq "gold"]` find
-- users through an index. Rows go with their membership. Memberships made before this
-- migration are indexed by the store when it opens (see `index_memberships` in sql.rs).
create table application_user_attrs (
    tenant_id blob not null,
    application_id blob not null,
    user_id blob not null,
    path text not null,
    elem integer not null,
    value text not null,
    num real,
    constraint application_user_attrs_pkey primary key (tenant_id, application_id, user_id, path, elem, value),
    constraint application_user_attrs_membership_fkey foreign key (tenant_id, application_id, user_id)
        references application_users (tenant_id, application_id, user_id) on delete cascade
) without rowid;

create index application_user_attrs_path_value_idx
    on application_user_attrs (tenant_id, application_id, path, value);
create index application_user_attrs_path_num_idx
    on application_user_attrs (tenant_id, application_id, path, num) where num is not null;
