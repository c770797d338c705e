-- Asynchronous work (see roster_core::jobs): queued in the transaction of the change that asks
-- for it, claimed by one node at a time under a lease, resumed after a restart.
create table jobs (
    id uuid not null primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    kind text not null,
    state text not null,
    resource_id uuid,
    actor text not null,
    -- What the job works from (a data change: the merge patch; an import: its rows), as JSON.
    input jsonb,
    -- How far it got (an import: rows done, created, failed, the errors), as JSON.
    progress jsonb,
    attempts bigint not null default 0,
    locked_until bigint,
    error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index jobs_due_idx on jobs (state, created_at);
