"""The read API takes each parameter once: `q=a&q=b` is refused naming q, rather than read
as one of the two queries (FastAPI keeps one value and drops the other unsaid)."""

from __future__ import annotations

import pytest

from ingest.keys import READ, create_key
from tests.streaming.helpers import store


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/findings"])
@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("q=user:a&q=user:b", "q"),
        ("q=&q=user:b", "q"),
        ("limit=1&limit=1000", "limit"),
        ("cursor=&cursor=x", "cursor"),
    ],
)
def test_a_repeated_parameter_is_refused_in_one_line_naming_it(db, client, path, query, name):
    store(db, 3)
    token = create_key(db, "org_a", actor="test", scope=READ).token
    r = client.get(f"{path}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error.startswith(f"{name}: ") and "once" in error and "\n" not in error
    with db.org_session("org_a") as s:  # a refused read is not served, so not audited
        assert (
            s.scalar("SELECT count(*) FROM org_audit_events WHERE event_action = 'api_read'") == 0
        )


def test_one_of_each_is_served(db, client):
    store(db, 3)
    token = create_key(db, "org_a", actor="test", scope=READ).token
    r = client.get(
        "/api/v1/events?q=&limit=2&cursor=", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and len(r.json()["events"]) == 2
