-- Events are about resources of several kinds (users now; organizations, groups… later): the
-- user column becomes the resource's id, beside its type.
alter table events rename column user_id to resource_id;
alter table events add column resource_type text not null default 'user';
drop index events_tenant_user_idx;
create index events_tenant_resource_idx on events (tenant_id, resource_id, seq);
