-- Web Push (src/push, src/store/push.rs). Instants are Unix milliseconds.
-- push_subscriptions: one row per device endpoint; an identity may hold several. Removing an
--   endpoint (by its owner, or a 404/410 from its push service) removes its outbox rows.
-- push_cursors: how far the notifications of a campaign were derived from its state (pre-queue
--   tickets by join seq, vouchers by serial, handed-on places by reach), so a restart derives
--   the rest and nothing twice.
-- push_outbox: one notification for one subscription; sent when not_before has passed (a
--   sender leases a row by moving not_before ahead), vouchers and handed-on places before draw
--   results; done_at set once delivered or given up.
CREATE TABLE push_subscriptions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    identity    BLOB NOT NULL REFERENCES identities (public_key),
    endpoint    TEXT NOT NULL UNIQUE,
    p256dh      BLOB NOT NULL,
    auth        BLOB NOT NULL,
    hide_code   INTEGER NOT NULL,
    locale      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_identity ON push_subscriptions (identity);

CREATE TABLE push_cursors (
    campaign_id    TEXT PRIMARY KEY NOT NULL REFERENCES campaigns (id),
    draw_seq       INTEGER NOT NULL,
    voucher_serial INTEGER NOT NULL,
    reach          INTEGER NOT NULL
);

CREATE TABLE push_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id INTEGER NOT NULL REFERENCES push_subscriptions (id) ON DELETE CASCADE,
    campaign_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    about           INTEGER NOT NULL,          -- join seq, serial or position the message is about
    created_at      INTEGER NOT NULL,
    not_before      INTEGER NOT NULL,
    priority        INTEGER NOT NULL,          -- 0 voucher and handed-on, 1 draw result
    attempts        INTEGER NOT NULL DEFAULT 0,
    done_at         INTEGER,
    outcome         TEXT,
    UNIQUE (subscription_id, campaign_id, kind, about)
);
CREATE INDEX push_outbox_due ON push_outbox (priority, not_before) WHERE done_at IS NULL;
