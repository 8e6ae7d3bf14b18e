-- "I changed phones" (docs/protocol.md, "Moving to a new device"). Instants are Unix ms.

-- Keys replaced when their person proved the contact from a new device: a revoked key never
-- signs again (401 key_revoked). `seq` orders them, so every instance can evict the keys it
-- cached as registered by reading the rows after the last one it saw.
CREATE TABLE key_revocations (
    seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_key        BYTEA NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    replaced_by       BYTEA NOT NULL CHECK (octet_length(replaced_by) = 32),
    revoked_at        BIGINT NOT NULL,
    tickets           BIGINT NOT NULL,
    vouchers          BIGINT NOT NULL,
    vouchers_reissued BIGINT NOT NULL
);
CREATE INDEX key_revocations_replaced_by ON key_revocations (replaced_by);
-- Each instance re-reads the last minute's revocations every tick (a move may commit after one
-- with a higher seq was read).
CREATE INDEX key_revocations_revoked_at ON key_revocations (revoked_at);

-- Codes of unused vouchers signed again for the new key: the old copy is void, and the box
-- office says so (410 voucher_moved) instead of "no such voucher".
CREATE TABLE voucher_moves (
    old_code    TEXT PRIMARY KEY,
    campaign_id TEXT NOT NULL,
    serial      BIGINT NOT NULL,
    moved_at    BIGINT NOT NULL
);
