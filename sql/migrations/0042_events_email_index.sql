-- Explore's `user:EMAIL` (the issue's own example, user:john@company.com) matches the user
-- id OR the lower-cased email. With an index on the id only, that OR made PostgreSQL scan
-- every event of the organisation (~5 s at 10 million events); with this one beside
-- (organisation, user, time), the two index scans are ORed as bitmaps. `user:ID` without an
-- @ does not test the email at all (sql/event_filter.py). It costs ingest one more index
-- entry per event, like the other named-query indexes of 0001.
CREATE INDEX audit_events_org_email_time
  ON audit_events (organization_id, lower(user_email), event_time DESC);
