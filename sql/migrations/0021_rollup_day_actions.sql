-- Events per UTC day, family and action: 90-day timelines and overview totals read about 24
-- times fewer rows than from the hourly table. Filled by the same refresh as 0020's tables
-- (`sql/read_model.py`), in the same transaction as the hourly table, so the two always agree.
CREATE TABLE rollup_day_actions (
  organization_id text   NOT NULL,
  day             date   NOT NULL,
  event_type      text   NOT NULL,
  event_action    text   NOT NULL,
  events          bigint NOT NULL,
  PRIMARY KEY (organization_id, day, event_type, event_action)
);
-- Back-fill from the hourly rollup, so databases migrated after a refresh stay exact; the
-- refresh lock (sql.read_model.REFRESH_LOCK) keeps a refresh from adding hours meanwhile.
SELECT pg_advisory_xact_lock(1380928588);
INSERT INTO rollup_day_actions (organization_id, day, event_type, event_action, events)
SELECT organization_id, (bucket AT TIME ZONE 'UTC')::date, event_type, event_action, sum(events)
  FROM rollup_hour_actions GROUP BY 1, 2, 3, 4;

CREATE VIEW org_rollup_day_actions WITH (security_barrier) AS
  SELECT * FROM rollup_day_actions WHERE organization_id = auditlens_current_org();
REVOKE ALL ON rollup_day_actions FROM PUBLIC;
GRANT SELECT ON org_rollup_day_actions TO auditlens_reader;
