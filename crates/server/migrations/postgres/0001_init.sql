-- Lineup reference server, PostgreSQL schema v1: the same tables, columns and constraints as the
-- SQLite schema (migrations/sqlite/0001_init.sql), so both backends store the same numbers.
-- Instants are Unix milliseconds (BIGINT). Exactly-once across server instances rests on the
-- unique constraints below plus the per-campaign row lock every writing transaction takes first.

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    title                TEXT NOT NULL,
    title_en             TEXT NOT NULL,
    issuer               TEXT NOT NULL,
    brands               TEXT NOT NULL,            -- JSON array of strings (as in SQLite)
    amount               BIGINT NOT NULL,
    currency             TEXT NOT NULL,
    supply               BIGINT NOT NULL CHECK (supply > 0),
    prequeue_opens_at    BIGINT NOT NULL,
    draw_at              BIGINT NOT NULL,
    opens_at             BIGINT NOT NULL,
    closes_at            BIGINT NOT NULL,
    voucher_expires_at   BIGINT NOT NULL,
    admission_rate_per_s BIGINT NOT NULL CHECK (admission_rate_per_s > 0),
    admission_window_s   BIGINT NOT NULL CHECK (admission_window_s > 0),
    staff_token_hash     BYTEA NOT NULL,
    draw_seed            BIGINT NOT NULL,          -- u64 stored as its i64 bit pattern
    drawn_at             BIGINT,                   -- when the draw was stored
    next_seq             BIGINT NOT NULL DEFAULT 1,   -- arrival order of the next ticket
    next_position        BIGINT NOT NULL DEFAULT 1,   -- position of the next late arrival
    issued               BIGINT NOT NULL DEFAULT 0 CHECK (issued >= 0 AND issued <= supply),
    reach                BIGINT NOT NULL,          -- supply + vouchers returned by expired admissions
    redeemed             BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    CHECK (prequeue_opens_at <= draw_at AND draw_at < opens_at AND opens_at < closes_at)
);

CREATE TABLE identities (
    public_key     BYTEA PRIMARY KEY CHECK (octet_length(public_key) = 32),
    contact_digest BYTEA NOT NULL UNIQUE,          -- Contact::digest, never the contact itself
    registered_at  BIGINT NOT NULL
);

CREATE TABLE tickets (
    id                TEXT PRIMARY KEY,
    campaign_id       TEXT NOT NULL REFERENCES campaigns (id),
    identity          BYTEA NOT NULL REFERENCES identities (public_key),
    seq               BIGINT NOT NULL,
    joined_at         BIGINT NOT NULL,
    in_draw           BOOLEAN NOT NULL,
    prequeue_check_at BIGINT,
    position          BIGINT,
    admit_at          BIGINT,
    admit_until       BIGINT,
    claimed_serial    BIGINT,
    expired_at        BIGINT,
    UNIQUE (campaign_id, identity),
    UNIQUE (campaign_id, seq),
    UNIQUE (campaign_id, position)
);

-- Admissions that may still return their voucher: the release sweep and next_release_at.
CREATE INDEX tickets_pending ON tickets (campaign_id, admit_until)
    WHERE admit_until IS NOT NULL AND claimed_serial IS NULL AND expired_at IS NULL;
CREATE INDEX tickets_admit_at ON tickets (campaign_id, admit_at) WHERE admit_at IS NOT NULL;
-- The draw reads the pre-queue in arrival order.
CREATE INDEX tickets_draw ON tickets (campaign_id, seq) WHERE in_draw;

CREATE TABLE vouchers (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    serial      BIGINT NOT NULL CHECK (serial > 0),
    identity    BYTEA NOT NULL REFERENCES identities (public_key),
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    token       TEXT NOT NULL,
    code        TEXT NOT NULL UNIQUE,
    kid         BIGINT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    redeemed_at BIGINT,
    PRIMARY KEY (campaign_id, serial),
    UNIQUE (campaign_id, identity),
    UNIQUE (ticket_id)
);
CREATE INDEX vouchers_identity ON vouchers (identity);

-- Idempotency keys of claims, kept for the life of the campaign. serial IS NULL while the
-- first request is in flight.
CREATE TABLE idempotency_keys (
    campaign_id  TEXT NOT NULL REFERENCES campaigns (id),
    identity     BYTEA NOT NULL,
    key          TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    started_at   BIGINT NOT NULL,
    serial       BIGINT,
    PRIMARY KEY (campaign_id, identity, key)
);
