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

-- Sign-in throttling counters: one row per scope (an account from one source address, a
-- source address across accounts, an account from everywhere) holding its recent failures.
-- Sign-in locks the rows it consults (INSERT ... ON CONFLICT DO UPDATE) in the transaction
-- that checks the password and records the outcome, so concurrent guesses are counted one
-- after another instead of all reading the same stale count. Like the other account tables,
-- only the login role (db.admin()) reads and writes it; readers and writers get nothing.

CREATE TABLE dashboard_sign_in_throttle (
  scope           text        NOT NULL CHECK (scope IN ('account_source', 'source', 'account')),
  key             text        NOT NULL CHECK (length(key) BETWEEN 1 AND 1000),
  failures        integer     NOT NULL DEFAULT 0 CHECK (failures >= 0),
  last_failure_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

-- A row past the window means nothing any more (its failures are forgotten): sign-ins delete
-- a few such rows each, so guesses at made-up addresses cannot grow the table without end.
CREATE INDEX dashboard_sign_in_throttle_stale ON dashboard_sign_in_throttle (last_failure_at);

REVOKE ALL ON dashboard_sign_in_throttle FROM PUBLIC;
