-- Dashboard sign-in: built-in accounts, per-organisation memberships with roles, server-side
-- sessions with an expiry, and the sign-in attempts that throttle password guessing.
-- These are not audit data: only the login role (db.admin()) reads and writes them; readers
-- and writers get no privilege here. What happens to them is audited as events.

CREATE TABLE dashboard_users (
  user_id       text PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 320),
  email         text NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320),
  display_name  text,
  -- argon2id hash; NULL for accounts that only sign in through OIDC.
  password_hash text,
  disabled      boolean     NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text        NOT NULL
);

CREATE TABLE dashboard_memberships (
  user_id         text NOT NULL REFERENCES dashboard_users (user_id),
  organization_id text NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  role            text NOT NULL CHECK (role IN ('admin', 'auditor', 'analyst')),
  -- Analysts export only when allowed; admins and auditors always may.
  can_export      boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  created_by      text        NOT NULL,
  PRIMARY KEY (user_id, organization_id)
);

CREATE TABLE dashboard_sessions (
  session_id  text PRIMARY KEY,
  -- SHA-256 of the bearer token: a leaked table does not hand out live sessions.
  token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
  user_id     text NOT NULL REFERENCES dashboard_users (user_id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  ended_at    timestamptz,
  ip_address  inet,
  user_agent  text
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id, created_at DESC);

CREATE TABLE dashboard_login_attempts (
  attempt_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email        text        NOT NULL,
  attempted_at timestamptz NOT NULL DEFAULT now(),
  succeeded    boolean     NOT NULL,
  ip_address   inet
);
-- Throttling counts the recent failures of one address.
CREATE INDEX dashboard_login_attempts_email_time ON dashboard_login_attempts (email, attempted_at DESC);

REVOKE ALL ON dashboard_users, dashboard_memberships, dashboard_sessions,
  dashboard_login_attempts FROM PUBLIC;
