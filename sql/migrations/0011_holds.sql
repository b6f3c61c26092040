-- Legal holds: an organisation's events matching a query are kept whatever their retention.
-- The purge and the delete guard on audit_events (the guarantees migration) consult
-- audit_event_held, so the database itself refuses to remove a held event.

-- A hold never disappears: it is placed, and later lifted (who, when, why), never deleted or
-- edited. Empty arrays and NULL bounds mean "any": a hold with no criteria keeps every event
-- of its organisation. `query` and `filter_text` are the Explore query and its sentence, as
-- shown to people; the columns beside them are what the database matches.
CREATE TABLE audit_holds (
  hold_id         bigint      GENERATED ALWAYS AS IDENTITY,
  organization_id text        NOT NULL CHECK (length(organization_id) BETWEEN 1 AND 128),
  query           text        NOT NULL,
  filter_text     text        NOT NULL,
  users           text[]      NOT NULL DEFAULT '{}',  -- user id, or email when it holds an @
  -- Those users that hold an @, folded as Explore folds them (EventFilter.emails): lower()
  -- here would fold only ASCII under a C locale, and keep less than the query shows.
  emails          text[]      NOT NULL DEFAULT '{}',
  families        text[]      NOT NULL DEFAULT '{}',
  actions         text[]      NOT NULL DEFAULT '{}',
  resource_types  text[]      NOT NULL DEFAULT '{}',
  resources       text[]      NOT NULL DEFAULT '{}',
  sessions        text[]      NOT NULL DEFAULT '{}',
  networks        inet[]      NOT NULL DEFAULT '{}',
  starts_at       timestamptz,                        -- inclusive
  ends_at         timestamptz CHECK (ends_at > starts_at),  -- exclusive
  reason          text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 4000),
  reference       text        NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
  placed_by       text        NOT NULL,
  placed_at       timestamptz NOT NULL DEFAULT now(),
  lifted_by       text,
  lifted_at       timestamptz,
  lift_reason     text        CHECK (length(lift_reason) <= 4000),
  CHECK ((lifted_at IS NULL) = (lifted_by IS NULL)),
  -- Led by the organisation: the schema distributes by it (docs/scaling.md).
  PRIMARY KEY (organization_id, hold_id)
);
CREATE INDEX audit_holds_org_active ON audit_holds (organization_id) WHERE lifted_at IS NULL;

-- Lifting is the one change: lifted_by (and a reason) set once on an active hold, the time
-- the server's. Nothing else of a hold ever changes, and nothing removes one.
CREATE FUNCTION audit_holds_lift_once() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.lifted_at IS NOT NULL THEN
      RAISE EXCEPTION 'audit_holds: hold % was lifted already; its record is final', OLD.hold_id
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.lifted_by IS NULL THEN
      RAISE EXCEPTION 'audit_holds: an update of hold % must lift it (lifted_by)', OLD.hold_id
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (NEW.hold_id, NEW.organization_id, NEW.query, NEW.filter_text, NEW.users, NEW.emails, NEW.families,
        NEW.actions, NEW.resource_types, NEW.resources, NEW.sessions, NEW.networks,
        NEW.starts_at, NEW.ends_at, NEW.reason, NEW.reference, NEW.placed_by, NEW.placed_at)
       IS DISTINCT FROM
       (OLD.hold_id, OLD.organization_id, OLD.query, OLD.filter_text, OLD.users, OLD.emails, OLD.families,
        OLD.actions, OLD.resource_types, OLD.resources, OLD.sessions, OLD.networks,
        OLD.starts_at, OLD.ends_at, OLD.reason, OLD.reference, OLD.placed_by, OLD.placed_at)
    THEN
      RAISE EXCEPTION 'audit_holds: what hold % covers and why never change', OLD.hold_id
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.lifted_at := now();
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'audit_holds keeps every hold: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Lift a hold instead (auditlens holds lift).';
END
$$;

CREATE TRIGGER audit_holds_lift_once BEFORE UPDATE OR DELETE ON audit_holds
  FOR EACH ROW EXECUTE FUNCTION audit_holds_lift_once();
CREATE TRIGGER audit_holds_no_truncate BEFORE TRUNCATE ON audit_holds
  FOR EACH STATEMENT EXECUTE FUNCTION audit_holds_lift_once();

-- Whether active hold `h` covers an event with these columns. Each criterion is "any" when
-- empty; a NULL column never matches a non-empty criterion. Users match as Explore's user:
-- does (the id, or the email folded as Explore folds it when the value holds an @).
CREATE FUNCTION audit_hold_covers(
  h audit_holds, org text, at timestamptz, family text, action text, uid text, email text,
  rtype text, rid text, sess text, ip inet
) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT h.lifted_at IS NULL AND h.organization_id = org
     AND (h.starts_at IS NULL OR at >= h.starts_at)
     AND (h.ends_at IS NULL OR at < h.ends_at)
     AND (cardinality(h.users) = 0 OR coalesce(uid = ANY(h.users), false)
          OR coalesce(public.auditlens_fold_email(email) = ANY(h.emails), false))
     AND (cardinality(h.families) = 0 OR coalesce(family = ANY(h.families), false))
     AND (cardinality(h.actions) = 0 OR coalesce(action = ANY(h.actions), false))
     AND (cardinality(h.resource_types) = 0 OR coalesce(rtype = ANY(h.resource_types), false))
     AND (cardinality(h.resources) = 0 OR coalesce(rid = ANY(h.resources), false))
     AND (cardinality(h.sessions) = 0 OR coalesce(sess = ANY(h.sessions), false))
     AND (cardinality(h.networks) = 0
          OR EXISTS (SELECT 1 FROM unnest(h.networks) n WHERE ip <<= n))
$$;

-- Whether any active hold of the event's organisation covers it: what the purge skips and
-- the delete guard refuses. Schema-qualified: it runs inside the guard on every deleted row.
CREATE FUNCTION audit_event_held(
  org text, at timestamptz, family text, action text, uid text, email text,
  rtype text, rid text, sess text, ip inet
) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (
    SELECT 1 FROM public.audit_holds h
     WHERE h.organization_id = org AND h.lifted_at IS NULL
       AND public.audit_hold_covers(h, org, at, family, action, uid, email, rtype, rid, sess, ip))
$$;

REVOKE ALL ON audit_holds FROM PUBLIC;
CREATE VIEW org_audit_holds WITH (security_barrier) AS
  SELECT * FROM audit_holds WHERE organization_id = auditlens_current_org();
GRANT SELECT ON org_audit_holds TO auditlens_reader;
