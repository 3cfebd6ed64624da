-- A lane is one ordering key of one store of one platform: the claim's lane rule compares all
-- three. Its tests each have an index: the lane's open deliveries in order, and its live leases.
DROP INDEX deliveries_lane;
CREATE INDEX deliveries_lane ON deliveries (platform, store, ordering_key, id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX deliveries_leased ON deliveries (platform, store, ordering_key)
    WHERE status = 'processing';
