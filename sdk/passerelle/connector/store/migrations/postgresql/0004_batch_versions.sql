-- Each version of a batch file, as its platform read it: version 1 is the file that scheduled
-- the batch, each later one a file with the same batch id. A version is the file delivery it came
-- from (one version per delivery, so a retried dispatch finds the version it recorded), and the
-- batch as JSON.
CREATE TABLE batch_versions (
    platform text NOT NULL,
    store text NOT NULL,
    batch_id text NOT NULL,
    number integer NOT NULL,
    delivery_id bigint NOT NULL UNIQUE REFERENCES deliveries (id),
    batch text NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (platform, store, batch_id, number)
);
