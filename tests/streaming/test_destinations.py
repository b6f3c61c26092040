"""A destination's settings never carry a credential where readers can see it, and its secret
never reaches an error a reader can read."""

from __future__ import annotations

from typing import Any

import pytest

from sql.gateway import Database
from streaming import destinations
from streaming.destinations import SECRET_VARIABLE, DestinationError
from streaming.service import Streamer
from tests.streaming.helpers import store

ACTOR = "cli:test"
SECRET = "s" * 20


def add_https(db: Database, url: str, secret: str = SECRET, **settings: Any) -> None:
    destinations.add(
        db,
        "org_a",
        "hec",
        kind="https",
        payload="json",
        settings={"url": url, "style": "splunk", **settings},
        secret=secret,
        actor=ACTOR,
    )


def nothing_stored(db: Database) -> bool:
    with db.admin() as session:
        rows = session.scalar("SELECT count(*) FROM stream_destinations")
        events = session.scalar(
            "SELECT count(*) FROM org_audit_events WHERE resource_type = 'stream_destination'"
        )
    return rows == 0 and events == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://svc:hunter2@splunk.example/x",
        "https://hunter2@splunk.example/x",
        "https://:hunter2@splunk.example:8088/x",
    ],
)
def test_an_https_url_with_credentials_is_refused(db: Database, url: str) -> None:
    # Else the password is in settings (readers may SELECT it), on the Destinations page, in
    # `destinations list` and for ever in the add_stream_destination audit event.
    with pytest.raises(DestinationError, match=rf"^url: .*{SECRET_VARIABLE}") as refused:
        add_https(db, url)
    assert "hunter2" not in str(refused.value)
    assert nothing_stored(db)


@pytest.mark.parametrize(
    "query",
    [
        "token=hunter2",
        "a=1&api_key=hunter2",
        "apiKey=hunter2",
        "DD-API-KEY=hunter2",
        "X-Amz-Signature=hunter2",
        "sig=hunter2",
        "access_token=hunter2",
        "Password=hunter2",
        "passwd=hunter2",
        "client_secret=hunter2",
        "auth=hunter2",
        "api%5Fkey=hunter2",
        "a=1;token=hunter2",
        "token",
    ],
)
def test_a_credential_in_the_query_string_is_refused(db: Database, query: str) -> None:
    with pytest.raises(DestinationError, match=rf"^url: .*{SECRET_VARIABLE}") as refused:
        add_https(db, f"https://splunk.example/x?{query}")
    assert "hunter2" not in str(refused.value)
    assert nothing_stored(db)


def test_harmless_query_parameters_are_kept(db: Database) -> None:
    add_https(db, "https://splunk.example/x?channel=abc&index=main")
    assert destinations.get(db, "org_a", "hec").settings["url"].endswith("?channel=abc&index=main")


def test_a_syslog_host_with_credentials_is_refused(db: Database) -> None:
    with pytest.raises(DestinationError, match=rf"^host: .*{SECRET_VARIABLE}") as refused:
        destinations.add(
            db,
            "org_a",
            "siem",
            kind="syslog",
            payload="cef",
            settings={"host": "svc:hunter2@siem.example", "port": 6514},
            actor=ACTOR,
        )
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "secret",
    [
        "s3cr3t-token-value\n",
        "s3cr3t\r\nX-Evil: 1",
        "s3cr3t\x00",
        "s3cr3t\t",
        " s3cr3t",
        "s3\u2028",
    ],
)
def test_a_secret_that_is_not_one_printable_line_is_refused(db: Database, secret: str) -> None:
    with pytest.raises(DestinationError, match=rf"^secret: .*{SECRET_VARIABLE}") as refused:
        add_https(db, "https://splunk.example/x", secret=secret)
    assert "s3" not in str(refused.value)
    assert nothing_stored(db)


def last_error(db: Database) -> str:
    with db.org_session("org_a") as session:  # the reader role: last_error is granted to it
        return session.scalar("SELECT last_error FROM stream_destinations") or ""


def test_a_secret_never_reaches_last_error(db: Database) -> None:
    # A secret stored before add checked it: the HTTP library's error would quote it.
    add_https(db, "https://127.0.0.1:9/x", style="ndjson")
    with db.admin() as session:
        session.execute(
            "UPDATE stream_destinations SET secret = :secret", {"secret": "s3cr3t-token-value\n"}
        )
    store(db, 1)
    Streamer(db, log=lambda line: None).run_once()
    error = last_error(db)
    assert "s3cr3t" not in error
    assert "secret cannot be sent as an HTTP header" in error
