-- Marking a ticket issued (claimed_serial) should be a HOT update: no new entry in every index of
-- tickets. PostgreSQL can only do that when the changed column appears in no index, partial-index
-- predicates included, and the page has room for the new row version. So the two partial indexes
-- no longer name claimed_serial (their queries still filter on it, over the few stored-admission
-- rows these indexes hold), and pages keep 30% free for updated versions.
DROP INDEX tickets_pending;
CREATE INDEX tickets_pending ON tickets (campaign_id, admit_until)
    WHERE admit_until IS NOT NULL AND expired_at IS NULL;
DROP INDEX tickets_auto_due;
CREATE INDEX tickets_auto_due ON tickets (campaign_id, admit_at)
    WHERE auto_issue AND admit_at IS NOT NULL;
ALTER TABLE tickets SET (fillfactor = 70);
