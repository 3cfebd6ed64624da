-- Bodies now start with a one-byte encoding tag (0: as received, 1: zlib); the bodies stored
-- before keep their bytes behind tag 0.
UPDATE deliveries SET body = CAST(X'00' || body AS BLOB);
