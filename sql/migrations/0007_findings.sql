-- Detection: runs (with the model version and parameters behind their scores), findings and
-- their triage. All three are append-only and organisation-scoped: a finding never changes,
-- its status is the newest triage row, and readers see them only through org_* views.

CREATE TABLE detection_runs (
  run_id          bigint      GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL,
  started_at      timestamptz NOT NULL DEFAULT now(),
  start_day       date        NOT NULL,
  end_day         date        NOT NULL CHECK (end_day >= start_day),
  actor           text        NOT NULL,
  rules           text[]      NOT NULL,
  model_version   text,
  model_params    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  libraries       jsonb       NOT NULL DEFAULT '{}'::jsonb,
  user_days       integer     NOT NULL DEFAULT 0,
  findings        integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, run_id)
);
-- "Incremental over new days": the newest run of an organisation says where the next starts.
CREATE INDEX detection_runs_org_end ON detection_runs (organization_id, end_day DESC);

CREATE TABLE findings (
  organization_id  text        NOT NULL,
  finding_id       text        NOT NULL,
  run_id           bigint      NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  user_id          text        NOT NULL,
  user_email       text,
  day              date        NOT NULL,
  window_start     timestamptz NOT NULL,
  window_end       timestamptz NOT NULL CHECK (window_end >= window_start),
  score            double precision NOT NULL CHECK (score >= 0 AND score <= 1),
  severity         text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  detectors        text[]      NOT NULL,
  title            text        NOT NULL,
  explanation      text        NOT NULL,
  evidence_query   text        NOT NULL,
  rule_score       double precision NOT NULL,
  model_score      double precision,
  model_percentile double precision,
  model_version    text,
  PRIMARY KEY (organization_id, finding_id),
  -- One finding per user-day: re-running detection over a day already done adds nothing.
  UNIQUE (organization_id, user_id, day),
  FOREIGN KEY (organization_id, run_id) REFERENCES detection_runs (organization_id, run_id)
);
CREATE INDEX findings_org_created ON findings (organization_id, created_at DESC);
CREATE INDEX findings_org_score ON findings (organization_id, score DESC);

CREATE TABLE finding_triage (
  triage_id       bigint      GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL,
  finding_id      text        NOT NULL,
  status          text        NOT NULL
                  CHECK (status IN ('new', 'investigating', 'benign', 'confirmed')),
  comment         text        NOT NULL DEFAULT '' CHECK (length(comment) <= 4000),
  actor           text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, triage_id),
  FOREIGN KEY (organization_id, finding_id) REFERENCES findings (organization_id, finding_id)
);
CREATE INDEX finding_triage_org_finding ON finding_triage (organization_id, finding_id, triage_id DESC);

-- How detection is calibrated to the organisation: the model-only alert budget and how long
-- a "benign" verdict silences the same rule for the same user. A change is a new row (the
-- newest wins), so the history of settings stays on record beside its audit event.
CREATE TABLE detection_settings (
  setting_id      bigint      GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL,
  model_alerts_per_100_users_week double precision NOT NULL
                  CHECK (model_alerts_per_100_users_week >= 0
                         AND model_alerts_per_100_users_week <= 100),
  benign_suppression_days integer NOT NULL
                  CHECK (benign_suppression_days >= 0 AND benign_suppression_days <= 3650),
  actor           text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, setting_id)
);

-- Append-only, loudly (as audit_events): triage is a new row, never an edit.
CREATE FUNCTION detection_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Findings never change; record triage as a new finding_triage row.';
END
$$;

CREATE TRIGGER detection_runs_no_change BEFORE UPDATE OR DELETE ON detection_runs
  FOR EACH ROW EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER findings_no_change BEFORE UPDATE OR DELETE ON findings
  FOR EACH ROW EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER finding_triage_no_change BEFORE UPDATE OR DELETE ON finding_triage
  FOR EACH ROW EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER detection_runs_no_truncate BEFORE TRUNCATE ON detection_runs
  FOR EACH STATEMENT EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER findings_no_truncate BEFORE TRUNCATE ON findings
  FOR EACH STATEMENT EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER finding_triage_no_truncate BEFORE TRUNCATE ON finding_triage
  FOR EACH STATEMENT EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER detection_settings_no_change BEFORE UPDATE OR DELETE ON detection_settings
  FOR EACH ROW EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER detection_settings_no_truncate BEFORE TRUNCATE ON detection_settings
  FOR EACH STATEMENT EXECUTE FUNCTION detection_reject_change();

REVOKE ALL ON detection_runs, findings, finding_triage, detection_settings FROM PUBLIC;
-- The owner keeps UPDATE: foreign-key checks lock the referenced row FOR KEY SHARE, which
-- needs it. The triggers above still refuse every UPDATE, DELETE and TRUNCATE.
-- Writers append; RETURNING run_id needs SELECT on that table only.
GRANT INSERT, SELECT ON detection_runs TO auditlens_writer;
GRANT INSERT ON findings, finding_triage, detection_settings TO auditlens_writer;

CREATE VIEW org_detection_runs WITH (security_barrier) AS
  SELECT * FROM detection_runs WHERE organization_id = auditlens_current_org();
CREATE VIEW org_findings WITH (security_barrier) AS
  SELECT * FROM findings WHERE organization_id = auditlens_current_org();
CREATE VIEW org_finding_triage WITH (security_barrier) AS
  SELECT * FROM finding_triage WHERE organization_id = auditlens_current_org();
CREATE VIEW org_detection_settings WITH (security_barrier) AS
  SELECT * FROM detection_settings WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_detection_runs, org_findings, org_finding_triage, org_detection_settings
  TO auditlens_reader;

-- Scheduled detection: per organisation, where the last run left off. The whole UTC days
-- scored so far (the next incremental run starts after complete_through), and the day still
-- being written, re-scored every few minutes. Bookkeeping, not evidence: each run itself is
-- the append-only detection_runs row; this row only moves forward. When detection last ran
-- is that row's started_at (via last_run_id), not a second copy here.
CREATE TABLE detection_schedule (
  organization_id   text        PRIMARY KEY,
  complete_through  date,
  current_day       date,
  current_scored_at timestamptz,
  last_run_id       bigint      NOT NULL,
  FOREIGN KEY (organization_id, last_run_id) REFERENCES detection_runs (organization_id, run_id)
);

-- Which findings reached the webhook: a finding is posted once, whichever process ran it.
CREATE TABLE finding_notifications (
  organization_id text        NOT NULL,
  finding_id      text        NOT NULL,
  destination     text        NOT NULL,
  notified_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, finding_id),
  FOREIGN KEY (organization_id, finding_id) REFERENCES findings (organization_id, finding_id)
);
CREATE TRIGGER finding_notifications_no_change BEFORE UPDATE OR DELETE ON finding_notifications
  FOR EACH ROW EXECUTE FUNCTION detection_reject_change();
CREATE TRIGGER finding_notifications_no_truncate BEFORE TRUNCATE ON finding_notifications
  FOR EACH STATEMENT EXECUTE FUNCTION detection_reject_change();

REVOKE ALL ON detection_schedule, finding_notifications FROM PUBLIC;
-- The schedule row is upserted (INSERT ... ON CONFLICT DO UPDATE reads the row it updates).
GRANT INSERT, SELECT, UPDATE ON detection_schedule TO auditlens_writer;
GRANT INSERT ON finding_notifications TO auditlens_writer;
CREATE VIEW org_detection_schedule WITH (security_barrier) AS
  SELECT * FROM detection_schedule WHERE organization_id = auditlens_current_org();
CREATE VIEW org_finding_notifications WITH (security_barrier) AS
  SELECT * FROM finding_notifications WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_detection_schedule, org_finding_notifications TO auditlens_reader;
