-- The newest state seen of each platform object deliveries report on: a delivery reporting an
-- older state of the same object is stale. as_of is microseconds since 1970-01-01 UTC, like
-- every time here.
CREATE TABLE versions (
    platform TEXT NOT NULL,
    store TEXT NOT NULL,
    subject TEXT NOT NULL,
    as_of INTEGER NOT NULL,
    PRIMARY KEY (platform, store, subject)
) WITHOUT ROWID;
