-- Server-side issuance and a draw that writes nothing per ticket (see the SQLite migration).
ALTER TABLE campaigns ADD COLUMN drawn_count BIGINT;
ALTER TABLE campaigns ADD COLUMN swept BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN issue_cursor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN returned BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN serials BIGINT NOT NULL DEFAULT 0;
UPDATE campaigns SET serials = issued;
ALTER TABLE tickets ADD COLUMN auto_issue BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tickets ADD COLUMN auto_key TEXT;
ALTER TABLE tickets ADD COLUMN returned_at BIGINT;
ALTER TABLE vouchers ADD COLUMN returned_at BIGINT;
CREATE INDEX tickets_auto_due ON tickets (campaign_id, admit_at)
    WHERE auto_issue AND claimed_serial IS NULL AND expired_at IS NULL AND returned_at IS NULL
        AND admit_at IS NOT NULL;
