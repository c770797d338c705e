-- How far each tenant's feed has been relayed to a sink (a message broker, see
-- roster_core::relay): the last sequence number the sink acknowledged. One node at a time holds
-- a cursor, until `locked_until`; `holder` fences an advance against a later holder.
create table feed_cursors (
    tenant_id blob not null references tenants (id) on delete cascade,
    sink text not null,
    after_seq integer not null,
    holder blob,
    locked_until integer,
    constraint feed_cursors_pkey primary key (tenant_id, sink)
);
