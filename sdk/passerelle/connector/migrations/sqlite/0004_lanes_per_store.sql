-- A lane is one ordering key of one store of one platform: the claim's lane rule compares all
-- three, and this index serves it.
DROP INDEX deliveries_lane;
CREATE INDEX deliveries_lane ON deliveries (platform, store, ordering_key, id)
    WHERE status IN ('pending', 'processing');
