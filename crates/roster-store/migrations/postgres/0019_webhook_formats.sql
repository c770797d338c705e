-- The shape of a webhook's deliveries: Roster's event document (`roster`), or the envelope of a
-- platform whose dialect registers it (see roster_core::webhooks::PayloadFormat).
alter table webhooks add column format text not null default 'roster';
