-- Seal leaf chunks are megabytes of SHA-256 hashes with small counters between them: pglz
-- finds just enough repetition to try compressing all of it, which cost more than building
-- the seal (about 0.25 s per 65,536 events). Stored out of line, uncompressed, from now on;
-- rows already written keep their form (both read back the same).
ALTER TABLE audit_seal_leaves
  ALTER COLUMN entries SET STORAGE EXTERNAL,
  ALTER COLUMN event_ids SET STORAGE EXTERNAL;
