"""One encoded event or finding, ready for any destination's framing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Record:
    """`line` is the payload (JSON, OCSF JSON or CEF) and never holds a line break."""

    id: str
    organization_id: str
    time: datetime
    kind: str  # "event" or "finding"
    line: str
