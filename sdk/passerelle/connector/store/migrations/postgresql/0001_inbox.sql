-- Identity ids are handed out at insert time, so two receivers committing at the same moment
-- may commit in the other order: within a lane that only matters for deliveries that arrived
-- together, whose order the platform did not fix either.
CREATE TABLE deliveries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform text NOT NULL,
    store text NOT NULL,
    delivery_key text NOT NULL,
    ordering_key text,
    headers jsonb NOT NULL,
    body bytea NOT NULL,
    received_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'done', 'ignored', 'failed', 'dismissed')),
    deferred boolean NOT NULL DEFAULT false,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    claimed_by text,
    claim_token text,
    lease_expires_at timestamptz,
    error_code text,
    error_message text,
    first_failed_at timestamptz,
    last_failed_at timestamptz,
    finished_at timestamptz,
    outcome text,
    UNIQUE (platform, store, delivery_key)
);

CREATE INDEX deliveries_open ON deliveries (id) WHERE status IN ('pending', 'processing');
CREATE INDEX deliveries_lane ON deliveries (ordering_key, id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX deliveries_status ON deliveries (status, id);

CREATE TABLE attempts (
    delivery_id bigint NOT NULL REFERENCES deliveries (id),
    number integer NOT NULL,
    worker_id text NOT NULL,
    started_at timestamptz NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    finished_at timestamptz,
    result text
        CHECK (result IN ('done', 'ignored', 'retry', 'deferred', 'failed', 'lease_expired')),
    error_code text,
    error_message text,
    PRIMARY KEY (delivery_id, number)
);

CREATE TABLE notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id),
    at timestamptz NOT NULL,
    action text NOT NULL CHECK (action IN ('requeued', 'dismissed', 'replayed')),
    note text NOT NULL
);
CREATE INDEX notes_delivery ON notes (delivery_id, id);
