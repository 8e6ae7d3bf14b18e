-- Contact verification and private contact digests (docs/protocol.md, "Registration").

-- Secrets every instance on this database shares, made once by the first instance
-- (INSERT ... ON CONFLICT DO NOTHING, then read): `contact-hmac-v1` keys the contact digests.
CREATE TABLE server_secrets (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Rows stored before this migration hold the plain SHA-256 digest, which anyone can reverse
-- for every Korean mobile number in minutes. They are re-keyed (HMAC) when their contact next
-- registers or verifies; until then they are marked, so an operator can count them.
ALTER TABLE identities ADD COLUMN legacy_digest BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE identities SET legacy_digest = TRUE;

-- A registration waiting for its one-time code: at most one per key (a new request replaces
-- it). The contact is not unique here: a code pending under one key never blocks another.
CREATE TABLE pending_registrations (
    public_key     BYTEA PRIMARY KEY CHECK (octet_length(public_key) = 32),
    contact_digest BYTEA NOT NULL,
    code_hash      BYTEA NOT NULL,
    attempts_left  INTEGER NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX pending_registrations_expires ON pending_registrations (expires_at);

-- Codes sent, per contact digest, for the per-contact sending limit (kept one hour).
CREATE TABLE contact_sends (
    contact_digest BYTEA NOT NULL,
    sent_at        BIGINT NOT NULL
);
CREATE INDEX contact_sends_contact ON contact_sends (contact_digest, sent_at);
CREATE INDEX contact_sends_sent ON contact_sends (sent_at);
