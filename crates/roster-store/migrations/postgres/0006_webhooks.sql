-- Webhooks: where a tenant's events are pushed. The signing secret is not stored: it is derived
-- from `webhook_key` below and the webhook's id (see roster_core::webhooks).
create table webhooks (
    tenant_id uuid not null references tenants (id) on delete cascade,
    id uuid not null primary key,
    url text not null,
    enabled boolean not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhooks_tenant_idx on webhooks (tenant_id, id);

-- The event types a webhook wants: an exact type, or with `prefix` every type starting with
-- `pattern` (`user.*` is the prefix `user.`, `*` the empty prefix).
create table webhook_event_types (
    webhook_id uuid not null references webhooks (id) on delete cascade,
    pattern text not null,
    prefix boolean not null,
    primary key (webhook_id, pattern, prefix)
);

-- One row per (webhook, event) to deliver, written in the transaction of the event. `attempt`
-- counts claims and fences a finished attempt against a later claim of the same delivery.
create table webhook_deliveries (
    id bigint generated always as identity primary key,
    tenant_id uuid not null references tenants (id) on delete cascade,
    webhook_id uuid not null references webhooks (id) on delete cascade,
    event_seq bigint,
    status text not null,
    attempts bigint not null default 0,
    next_attempt_at bigint not null,
    locked_until bigint,
    last_status_code bigint,
    last_error text,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhook_deliveries_due_idx on webhook_deliveries (status, next_attempt_at);
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id);

insert into settings (name, value) values ('webhook_key', uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
