-- The newest state seen of each platform object deliveries report on: a delivery reporting an
-- older state of the same object is stale.
CREATE TABLE versions (
    platform text NOT NULL,
    store text NOT NULL,
    subject text NOT NULL,
    as_of timestamptz NOT NULL,
    PRIMARY KEY (platform, store, subject)
);
