-- auditlens_valid_time_zone traps errors (a subtransaction), which PostgreSQL forbids inside a
-- parallel query ("cannot start subtransactions during a parallel operation"): 0020 marked it
-- PARALLEL SAFE by mistake. The read model now calls it in a statement of its own; this keeps
-- any other caller from meeting the error under a parallel plan.
ALTER FUNCTION auditlens_valid_time_zone(text) PARALLEL UNSAFE;
