-- Each version of a batch file, as its platform read it: version 1 is the file that scheduled
-- the batch, each later one a file with the same batch id. A version is the file delivery it came
-- from (one version per delivery, so a retried dispatch finds the version it recorded), and the
-- batch as JSON. recorded_at is microseconds since 1970-01-01 UTC.
CREATE TABLE batch_versions (
    platform TEXT NOT NULL,
    store TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    delivery_id INTEGER NOT NULL UNIQUE REFERENCES deliveries (id),
    batch TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (platform, store, batch_id, number)
) WITHOUT ROWID;
