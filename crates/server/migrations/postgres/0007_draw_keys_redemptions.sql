-- A draw anyone can check, issuer keys pinned in the database, redemptions a retry replays
-- (see the SQLite migration for what each column holds).
ALTER TABLE campaigns ADD COLUMN draw_salt BYTEA CHECK (octet_length(draw_salt) = 32);
ALTER TABLE campaigns ADD COLUMN draw_list_root BYTEA CHECK (octet_length(draw_list_root) = 32);
CREATE TABLE issuer_keys (
    kid        BIGINT PRIMARY KEY CHECK (kid > 0),
    public_key BYTEA NOT NULL UNIQUE CHECK (octet_length(public_key) = 32),
    created_at BIGINT NOT NULL
);
ALTER TABLE vouchers ADD COLUMN redeem_key BYTEA;
