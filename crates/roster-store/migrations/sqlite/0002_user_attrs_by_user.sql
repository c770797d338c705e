-- The value index, keyed by its user: one B-tree holds the rows in user order (what updates and
-- deletes walk), one more finds users by value, and numbers are indexed only where there is
-- one. Half the B-tree writes per indexed value of the first layout (a rowid table and three
-- indexes). A user's identical values (possible in nested arrays) are one row.
create table user_attrs_by_user (
    tenant_id blob not null,
    user_id blob not null,
    path text not null,
    elem integer not null,
    value text not null,
    num real,
    constraint user_attrs_pkey primary key (tenant_id, user_id, path, elem, value),
    constraint user_attrs_user_fkey foreign key (tenant_id, user_id) references users (tenant_id, id) on delete cascade
) without rowid;

insert or ignore into user_attrs_by_user (tenant_id, user_id, path, elem, value, num)
    select tenant_id, user_id, path, elem, value, num from user_attrs;
drop table user_attrs;
alter table user_attrs_by_user rename to user_attrs;

create index user_attrs_tenant_path_value_idx on user_attrs (tenant_id, path, value);
create index user_attrs_tenant_path_num_idx on user_attrs (tenant_id, path, num) where num is not null;

-- Planner statistics as in 0001, for the new indexes.
delete from sqlite_stat1 where tbl = 'user_attrs';
insert into sqlite_stat1 (tbl, idx, stat) values
    ('user_attrs', 'user_attrs_pkey', '10000000 10000000 10 2 1 1'),
    ('user_attrs', 'user_attrs_tenant_path_value_idx', '10000000 10000000 100000 3'),
    ('user_attrs', 'user_attrs_tenant_path_num_idx', '1000000 1000000 100000 100');
