-- Idempotency keys expire (docs/protocol.md: 24 hours after their first use); the sweep finds
-- the old ones by this index instead of reading the whole table.
CREATE INDEX idempotency_keys_started ON idempotency_keys (started_at);
