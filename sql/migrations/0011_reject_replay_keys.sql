-- Replaying a spool segment can run a batch twice (its first run committed, a later batch of
-- the same segment failed, so the segment stays and is replayed whole). Events are no-ops the
-- second time (their primary key); rejects had no key and were recorded twice. A spooled
-- line's reject now carries a key naming its segment (a random token in the file name) and
-- its line, and the writer records it with ON CONFLICT DO NOTHING.
ALTER TABLE audit_rejects ADD COLUMN replay_key text;
CREATE UNIQUE INDEX audit_rejects_replay_key ON audit_rejects (replay_key)
  WHERE replay_key IS NOT NULL;
