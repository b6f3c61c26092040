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
