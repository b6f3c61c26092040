"""Webhook notifications: Slack-compatible JSON, retries, and the secret URL never logged."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from detection.findings import Finding
from detection.notify import Webhook, notify, slack_payload
from detection.slack_text import slack_code, slack_text
from sql.errors import ConfigurationError

SECRET = "T000/B000/XXXXSECRETXXXX"


def _finding(severity: str, **hostile: str) -> Finding:
    fields = dict(
        user_id="u1",
        user_email="john@company.com",
        day=date(2025, 1, 10),
        window_start=datetime(2025, 1, 10, tzinfo=UTC),
        window_end=datetime(2025, 1, 11, tzinfo=UTC),
        score=0.93,
        severity=severity,
        detectors=["large-export"],
        title="Export of more than 10,000 records",
        explanation="records exported 25,000 (> 10,000)",
        evidence_query="user:u1 created:2025-01-10T00:00:00Z..2025-01-11T00:00:00Z",
    )
    return Finding(**{**fields, **hostile})  # type: ignore[arg-type]


class _Server:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/services/{SECRET}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server_factory():
    servers: list[_Server] = []

    def make(statuses: list[int]) -> _Server:
        servers.append(_Server(statuses))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


def test_posts_slack_json_for_findings_at_or_above_the_severity(server_factory, caplog):
    server = server_factory([503, 500])
    waits: list[float] = []
    caplog.set_level(logging.INFO, logger="auditlens.notify")
    sent = notify(
        Webhook(server.url, min_severity="high"),
        "org_a",
        [_finding("critical"), _finding("medium")],
        sleep=waits.append,
    )
    assert sent == 1
    assert len(server.bodies) == 3 and waits == [1, 2]  # two retries with backoff
    body = server.bodies[-1]
    assert "1 new finding(s) in org_a" in body["text"] and body["blocks"][1]["type"] == "section"
    assert "records exported 25,000" in body["text"] and "medium" not in body["text"]
    assert SECRET not in caplog.text and "127.0.0.1" in caplog.text


def test_a_client_error_is_final_and_the_error_hides_the_secret(server_factory, caplog):
    server = server_factory([404, 404, 404])
    with pytest.raises(ConfigurationError) as caught:
        notify(Webhook(server.url), "org_a", [_finding("high")], sleep=lambda _s: None)
    assert len(server.bodies) == 1  # no retry on 404
    assert "HTTP 404" in str(caught.value) and SECRET not in str(caught.value)
    assert SECRET not in caplog.text and SECRET not in repr(Webhook(server.url))


def test_nothing_is_sent_below_the_severity(server_factory):
    server = server_factory([])
    assert notify(Webhook(server.url, min_severity="critical"), "o", [_finding("high")]) == 0
    assert server.bodies == []


def test_bad_settings_are_refused():
    with pytest.raises(ConfigurationError, match="http"):
        Webhook("ftp://example.com/x")
    with pytest.raises(ConfigurationError, match="MIN_SEVERITY"):
        Webhook("https://hooks.example.com/x", min_severity="urgent")


def test_slack_escaping_follows_slacks_rules():
    assert slack_text("a & b <!channel> <https://x|y> <@U1> &amp;") == (
        "a &amp; b &lt;!channel&gt; &lt;https://x|y&gt; &lt;@U1&gt; &amp;amp;"
    )
    assert slack_code("q `*bold*` <!here>\nx") == "q \u02cb*bold*\u02cb &lt;!here&gt; x"


def test_the_slack_payload_carries_no_mention_link_or_broken_code_span():
    finding = _finding(
        "high",
        user_id="<!channel>",
        user_email="",
        title="<https://evil.example/phish|Session expired>",
        explanation="searched <@U0123> & <!here>",
        evidence_query='user:"a`b" <!everyone>',
    )
    payload = slack_payload("<!subteam^S1>", [finding])
    texts = [str(payload["text"])] + [b["text"]["text"] for b in payload["blocks"]]  # type: ignore[index]
    for text in texts:
        assert "<" not in text and ">" not in text.replace("&gt;", "")
    block = texts[-1]
    assert (
        "&lt;!channel&gt;" in block
        and "&lt;https://evil.example/phish|Session expired&gt;" in block
    )
    assert "searched &lt;@U0123&gt; &amp; &lt;!here&gt;" in block
    # The evidence query's backtick cannot end its code span early.
    assert block.endswith('Evidence: `user:"a\u02cbb" &lt;!everyone&gt;`')
    assert "in &lt;!subteam^S1&gt;" in texts[0]
