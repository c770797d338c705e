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

-- Planner statistics as in 0001, for the new indexes (a WITHOUT ROWID table's primary key goes
-- by the table's name), and again for users and user_keys: statistics measured on an empty
-- table had replaced them. Roster keeps these figures instead of measuring: without sample
-- statistics SQLite guesses that a prefix range holds a sixteenth of a path's values and then
-- walks a whole sort index for `name.family sw "schmi"` (39 ms at 1,000,000 users) instead of
-- looking up the few matches and sorting them (0.4 ms).
delete from sqlite_stat1 where tbl in ('users', 'user_keys', 'user_attrs');
insert into sqlite_stat1 (tbl, idx, stat) values
    ('users', 'sqlite_autoindex_users_1', '1000000 1000000 1'),
    ('users', 'users_tenant_created_at_idx', '1000000 1000000 10 1'),
    ('users', 'users_tenant_updated_at_idx', '1000000 1000000 10 1'),
    ('users', 'users_tenant_last_auth_at_idx', '1000000 1000000 1000 1'),
    ('users', 'users_tenant_username_idx', '1000000 1000000 1 1'),
    ('users', 'users_tenant_email_idx', '1000000 1000000 1 1'),
    ('users', 'users_tenant_family_name_idx', '1000000 1000000 100 1'),
    ('users', 'users_tenant_phone_idx', '1000000 1000000 1 1'),
    ('user_keys', 'sqlite_autoindex_user_keys_1', '4000000 4000000 1000000 1'),
    ('user_keys', 'user_keys_tenant_user_idx', '4000000 4000000 4'),
    ('user_attrs', 'user_attrs', '10000000 10000000 10 2 1 1'),
    ('user_attrs', 'user_attrs_tenant_path_value_idx', '10000000 10000000 100000 3'),
    ('user_attrs', 'user_attrs_tenant_path_num_idx', '1000000 1000000 100000 100');
