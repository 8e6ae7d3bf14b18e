-- Fewer random-key indexes on vouchers: each one costs every batch of issued vouchers a write
-- of most of its pages (measured with lineup-issue-bench). One voucher per ticket already
-- follows from one voucher per identity and campaign (one ticket per identity and campaign),
-- so UNIQUE (ticket_id) goes; UNIQUE (identity, campaign_id) also serves "every voucher of an
-- identity", so the separate identity index goes.
CREATE TABLE vouchers_v4 (
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
    returned_at INTEGER,
    PRIMARY KEY (campaign_id, serial),
    UNIQUE (identity, campaign_id)
);
INSERT INTO vouchers_v4 (campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
    issued_at, expires_at, redeemed_at, returned_at)
SELECT campaign_id, serial, identity, ticket_id, token, code, kid, amount, currency,
    issued_at, expires_at, redeemed_at, returned_at FROM vouchers;
DROP TABLE vouchers;
ALTER TABLE vouchers_v4 RENAME TO vouchers;
