-- Lineup reference server, SQLite schema v1. Instants are Unix milliseconds (INTEGER).

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY NOT NULL,
    title                TEXT NOT NULL,
    title_en             TEXT NOT NULL,
    issuer               TEXT NOT NULL,
    brands               TEXT NOT NULL,            -- JSON array of strings
    amount               INTEGER NOT NULL,
    currency             TEXT NOT NULL,
    supply               INTEGER NOT NULL CHECK (supply > 0),
    prequeue_opens_at    INTEGER NOT NULL,
    draw_at              INTEGER NOT NULL,
    opens_at             INTEGER NOT NULL,
    closes_at            INTEGER NOT NULL,
    voucher_expires_at   INTEGER NOT NULL,
    admission_rate_per_s INTEGER NOT NULL CHECK (admission_rate_per_s > 0),
    admission_window_s   INTEGER NOT NULL CHECK (admission_window_s > 0),
    staff_token_hash     BLOB NOT NULL,
    draw_seed            INTEGER NOT NULL,         -- u64 stored as its i64 bit pattern
    drawn_at             INTEGER,                  -- when the draw was stored
    next_seq             INTEGER NOT NULL DEFAULT 1,  -- arrival order of the next ticket
    next_position        INTEGER NOT NULL DEFAULT 1,  -- position of the next late arrival
    issued               INTEGER NOT NULL DEFAULT 0 CHECK (issued <= supply),
    reach                INTEGER NOT NULL,         -- supply + vouchers returned by expired admissions
    redeemed             INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    CHECK (prequeue_opens_at <= draw_at AND draw_at < opens_at AND opens_at < closes_at)
);

CREATE TABLE identities (
    public_key     BLOB PRIMARY KEY NOT NULL,      -- 32-byte Ed25519 public key
    contact_digest BLOB NOT NULL UNIQUE,           -- Contact::digest, never the contact itself
    registered_at  INTEGER NOT NULL
);

CREATE TABLE tickets (
    id                TEXT PRIMARY KEY NOT NULL,
    campaign_id       TEXT NOT NULL REFERENCES campaigns (id),
    identity          BLOB NOT NULL REFERENCES identities (public_key),
    seq               INTEGER NOT NULL,
    joined_at         INTEGER NOT NULL,
    in_draw           INTEGER NOT NULL,
    prequeue_check_at INTEGER,
    position          INTEGER,
    admit_at          INTEGER,
    admit_until       INTEGER,
    claimed_serial    INTEGER,
    expired_at        INTEGER,
    UNIQUE (campaign_id, identity),
    UNIQUE (campaign_id, seq),
    UNIQUE (campaign_id, position)
);

-- Admissions that may still return their voucher: the release sweep and next_release_at.
CREATE INDEX tickets_pending ON tickets (campaign_id, admit_until)
    WHERE admit_until IS NOT NULL AND claimed_serial IS NULL AND expired_at IS NULL;
CREATE INDEX tickets_admit_at ON tickets (campaign_id, admit_at) WHERE admit_at IS NOT NULL;

CREATE TABLE vouchers (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    serial      INTEGER NOT NULL,
    identity    BLOB NOT NULL REFERENCES identities (public_key),
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    token       TEXT NOT NULL,
    code        TEXT NOT NULL UNIQUE,
    kid         INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    currency    TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    redeemed_at INTEGER,
    PRIMARY KEY (campaign_id, serial),
    UNIQUE (campaign_id, identity),
    UNIQUE (ticket_id)
);
CREATE INDEX vouchers_identity ON vouchers (identity);

-- Idempotency keys of claims, kept for the life of the campaign. serial IS NULL while the
-- first request is in flight.
CREATE TABLE idempotency_keys (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id),
    identity     BLOB NOT NULL,
    key          TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    started_at   INTEGER NOT NULL,
    serial       INTEGER,
    PRIMARY KEY (campaign_id, identity, key)
);
