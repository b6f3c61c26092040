"""Webhook notification of findings (Slack-compatible JSON), with retries.

A webhook URL is a secret (Slack's carries its token in the path), so it never appears in a
log line or an error message: only its scheme and host do.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from detection.findings import SEVERITIES, Finding
from detection.slack_text import slack_code, slack_text
from sql.errors import ConfigurationError
from sql.gateway import Database

WEBHOOK_URL_ENV = "AUDITLENS_WEBHOOK_URL"
WEBHOOK_MIN_SEVERITY_ENV = "AUDITLENS_WEBHOOK_MIN_SEVERITY"
log = logging.getLogger("auditlens.notify")


def redact(url: str) -> str:
    """What of a webhook URL may be shown: scheme and host."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}/…"


@dataclass(frozen=True)
class Webhook:
    url: str
    min_severity: str = "high"
    attempts: int = 4
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(f"{WEBHOOK_URL_ENV} must be an http(s) URL")
        if self.min_severity not in SEVERITIES:
            raise ConfigurationError(
                f"{WEBHOOK_MIN_SEVERITY_ENV} must be one of {', '.join(SEVERITIES)}, "
                f"got: {self.min_severity!r}"
            )
        if self.attempts < 1:
            raise ConfigurationError(f"webhook attempts must be >= 1, got: {self.attempts}")

    def __repr__(self) -> str:  # never print the secret, even in a traceback's locals
        return f"Webhook(url={redact(self.url)!r}, min_severity={self.min_severity!r})"

    @classmethod
    def from_env(cls) -> Webhook | None:
        url = os.environ.get(WEBHOOK_URL_ENV, "").strip()
        if not url:
            return None
        return cls(url, min_severity=os.environ.get(WEBHOOK_MIN_SEVERITY_ENV, "high").strip())


def slack_payload(org: str, findings: Sequence[Finding]) -> dict[str, object]:
    """Slack incoming-webhook JSON: a `text` fallback plus one block per finding; every value
    from the data is escaped (`detection/slack_text.py`), so none mentions or links."""
    lines = [f"*AuditLens* - {len(findings)} new finding(s) in {slack_text(org)}"]
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": lines[0]}}
    ]
    for f in findings:
        who = slack_text(f.user_email or f.user_id)
        title, explanation = slack_text(f.title), slack_text(f.explanation)
        lines.append(f"[{slack_text(f.severity)}] {who} {f.day}: {title} - {explanation}")
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{slack_text(f.severity.upper())}* `{f.score:.2f}` {who}"
                    f" ({f.day})\n{title}\n{explanation}\n"
                    f"Evidence: `{slack_code(f.evidence_query)}`",
                },
            }
        )
    return {"text": "\n".join(lines), "blocks": blocks[:50]}


def notify(
    webhook: Webhook,
    org: str,
    findings: Sequence[Finding],
    *,
    sleep: Callable[[float], None] = time.sleep,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> int:
    """Post the findings at or above the webhook's severity; returns how many were sent.

    Retries on network errors, 429 and 5xx with exponential backoff; a 4xx other than 429 is
    final. Raises ConfigurationError (with the URL redacted) when every attempt failed.
    """
    floor = SEVERITIES.index(webhook.min_severity)
    chosen = [f for f in findings if SEVERITIES.index(f.severity) >= floor]
    if not chosen:
        return 0
    body = json.dumps(slack_payload(org, chosen)).encode()
    where = redact(webhook.url)
    last = "no attempt"
    for attempt in range(1, webhook.attempts + 1):
        request = urllib.request.Request(  # noqa: S310 - scheme checked in Webhook
            webhook.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with opener(request, timeout=webhook.timeout_s):  # type: ignore[attr-defined]
                log.info("notified %s of %d finding(s) (attempt %d)", where, len(chosen), attempt)
                return len(chosen)
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            last = type(exc).__name__
        log.warning("webhook %s attempt %d failed: %s", where, attempt, last)
        if attempt < webhook.attempts:
            sleep(min(2 ** (attempt - 1), 30))
    raise ConfigurationError(f"webhook {where} failed after {webhook.attempts} attempt(s): {last}")


# Findings older than this are never posted: turning a webhook on does not replay history.
NOTIFY_RECENT_SECONDS = 24 * 3600
_PENDING = """
SELECT f.user_id, f.user_email, f.day, f.window_start, f.window_end, f.score, f.severity,
       f.detectors, f.title, f.explanation, f.evidence_query, f.rule_score, f.model_score,
       f.model_percentile, f.model_version, f.finding_id
  FROM org_findings f
 WHERE f.severity = ANY(CAST(:severities AS text[]))
   AND f.created_at >= now() - make_interval(secs => :recent)
   AND NOT EXISTS (
     SELECT 1 FROM org_finding_notifications n WHERE n.finding_id = f.finding_id)
 ORDER BY f.score DESC, f.finding_id
"""


def pending_findings(db: Database, org: str, min_severity: str) -> list[Finding]:
    """Recent findings at or above `min_severity` that no webhook post has carried yet."""
    severities = list(SEVERITIES[SEVERITIES.index(min_severity) :])
    with db.org_session(org) as session:
        rows = session.execute(
            _PENDING, {"severities": severities, "recent": NOTIFY_RECENT_SECONDS}, max_rows=1_000
        ).dicts()
    return [Finding(**{**row, "detectors": list(row["detectors"])}) for row in rows]


def notify_pending(
    db: Database,
    webhook: Webhook,
    org: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    opener: Callable[..., object] = urllib.request.urlopen,
) -> int:
    """Post the organisation's findings not posted yet and record them as posted.

    Run under the organisation's detection lock (`detection.schedule.org_lock`), so two
    processes never post the same finding; a failed post records nothing and is retried by
    the next run. Returns how many findings were posted.
    """
    pending = pending_findings(db, org, webhook.min_severity)
    if not pending:
        return 0
    sent = notify(webhook, org, pending, sleep=sleep, opener=opener)
    with db.writer() as session:
        session.execute(
            "INSERT INTO finding_notifications (organization_id, finding_id, destination)"
            " SELECT :org, unnest(CAST(:ids AS text[])), :where ON CONFLICT DO NOTHING",
            {"org": org, "ids": [f.finding_id for f in pending], "where": redact(webhook.url)},
        )
    return sent
