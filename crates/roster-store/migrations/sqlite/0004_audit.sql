-- The audit trail: one row per API operation (see roster_core::audit). No personal data: the
-- operation is a route template and the resource an id. Rows of a deleted tenant are deleted
-- with it (by the store, not by a foreign key, so a batch never fails on a tenant deleted while
-- its last requests were being audited).
create table audit_log (
    id integer primary key autoincrement,
    tenant_id blob,
    occurred_at integer not null,
    token_id blob,
    operation text not null,
    resource_id blob,
    request_id text not null,
    outcome text not null,
    status integer not null,
    duration_us integer not null,
    client_ip text
);
create index audit_log_tenant_idx on audit_log (tenant_id, id);
create index audit_log_time_idx on audit_log (occurred_at);
