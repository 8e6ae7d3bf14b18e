-- An admission ends one way only: its ticket claims the voucher, or the voucher goes back to the
-- line (expired_at). The claim and the release decide under the campaign's row lock; this check
-- makes the database itself refuse a ticket that would be both, should any code path try.
-- NOT VALID: enforced on every insert and update from now on without scanning (or failing on)
-- rows written before it.
ALTER TABLE tickets ADD CONSTRAINT tickets_claimed_or_expired
    CHECK (claimed_serial IS NULL OR expired_at IS NULL) NOT VALID;
