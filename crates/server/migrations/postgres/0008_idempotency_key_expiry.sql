-- Idempotency keys expire (docs/protocol.md: 24 hours after their first use); the sweep finds
-- the old ones by this index instead of reading the whole table.
CREATE INDEX idempotency_keys_started ON idempotency_keys (started_at);

-- Which server instance is carrying a key's first request out, and when each instance was last
-- alive: a key whose instance stopped (a crash, a restart) is taken over by the retry at once
-- instead of after the in-flight timeout, so a claim cut off near its admission deadline does
-- not cost its person their turn.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
CREATE TABLE server_instances (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
