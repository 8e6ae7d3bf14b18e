-- A draw anyone can check, issuer keys pinned in the database, redemptions a retry replays.
-- draw_salt: 32 random bytes, set when the campaign is first stored (or, for campaigns stored
--   before this migration, by the first server that starts on it); the published commitment is
--   SHA-256("lineup-draw-commit-v1" || draw_seed || draw_salt), both revealed at the draw.
-- draw_list_root: the Merkle root of the ticket ids in join order (seq 1..drawn_count), sealed
--   once, seconds after the draw (src/routes/draw.rs).
ALTER TABLE campaigns ADD COLUMN draw_salt BLOB;
ALTER TABLE campaigns ADD COLUMN draw_list_root BLOB;
-- Every key vouchers were ever signed with, by key id: an instance whose key file differs from
-- the key pinned under its kid refuses to start, and old keys keep verifying after a rotation.
CREATE TABLE issuer_keys (
    kid        INTEGER PRIMARY KEY NOT NULL CHECK (kid > 0),
    public_key BLOB NOT NULL UNIQUE CHECK (length(public_key) = 32),
    created_at INTEGER NOT NULL
);
-- Digest of the Idempotency-Key the first redemption carried: its retry gets the same 200.
ALTER TABLE vouchers ADD COLUMN redeem_key BLOB;
