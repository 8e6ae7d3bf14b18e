-- Server-side issuance and a draw that writes nothing per ticket.
-- drawn_count: tickets in the draw; their positions are the keyed permutation of `seq`
--   (src/draw.rs), not stored. NULL with drawn_at set: drawn before this migration (positions stored).
-- swept: drawn positions within the supply whose admission has been settled (claimed, issued,
--   or returned to the line); issue_cursor: drawn positions within the supply that server-side
--   issuance has passed. Both only grow, in admission order.
-- returned: vouchers given back by their holders (each may be issued again to the waitlist);
--   issued then counts vouchers out (given-back ones no longer), serials the last serial used.
ALTER TABLE campaigns ADD COLUMN drawn_count INTEGER;
ALTER TABLE campaigns ADD COLUMN swept INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN issue_cursor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN returned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN serials INTEGER NOT NULL DEFAULT 0;
UPDATE campaigns SET serials = issued;
ALTER TABLE tickets ADD COLUMN auto_issue INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN auto_key TEXT;
ALTER TABLE tickets ADD COLUMN returned_at INTEGER;
ALTER TABLE vouchers ADD COLUMN returned_at INTEGER;
-- Opted-in tickets with a stored admission (late arrivals, returned vouchers) not yet issued.
CREATE INDEX tickets_auto_due ON tickets (campaign_id, admit_at)
    WHERE auto_issue = 1 AND claimed_serial IS NULL AND expired_at IS NULL AND returned_at IS NULL
        AND admit_at IS NOT NULL;
