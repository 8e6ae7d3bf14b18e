-- An admission ends one way only: its ticket claims the voucher, or the voucher goes back to the
-- line (expired_at). The claim and the release decide under the same write lock; this trigger
-- makes the database itself refuse a ticket that would be both, should any code path try.
CREATE TRIGGER tickets_claimed_or_expired
BEFORE UPDATE OF claimed_serial, expired_at ON tickets
WHEN NEW.claimed_serial IS NOT NULL AND NEW.expired_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a ticket is either claimed or expired, never both');
END;
