-- Times are microseconds since 1970-01-01 UTC: they sort and compare as integers.
-- AUTOINCREMENT: ids never go back, even after the newest rows are deleted, so id order stays
-- arrival order, which lanes rely on.
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    store TEXT NOT NULL,
    delivery_key TEXT NOT NULL,
    ordering_key TEXT,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'done', 'ignored', 'failed', 'dismissed')),
    deferred INTEGER NOT NULL DEFAULT 0 CHECK (deferred IN (0, 1)),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by TEXT,
    claim_token TEXT,
    lease_expires_at INTEGER,
    error_code TEXT,
    error_message TEXT,
    first_failed_at INTEGER,
    last_failed_at INTEGER,
    finished_at INTEGER,
    outcome TEXT,
    UNIQUE (platform, store, delivery_key)
);

-- The partial indexes' WHERE clauses are repeated word for word by the claim query, which is
-- what lets SQLite use them.
CREATE INDEX deliveries_open ON deliveries (id) WHERE status IN ('pending', 'processing');
CREATE INDEX deliveries_lane ON deliveries (ordering_key, id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE attempts (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    number INTEGER NOT NULL,
    worker_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    lease_expires_at INTEGER NOT NULL,
    finished_at INTEGER,
    result TEXT
        CHECK (result IN ('done', 'ignored', 'retry', 'deferred', 'failed', 'lease_expired')),
    error_code TEXT,
    error_message TEXT,
    PRIMARY KEY (delivery_id, number)
) WITHOUT ROWID;

CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    at INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('requeued', 'dismissed', 'replayed')),
    note TEXT NOT NULL
);
CREATE INDEX notes_delivery ON notes (delivery_id, id);
