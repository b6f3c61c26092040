"""One encoded event or finding, ready for any destination's framing."""

from __future__ import annotations

from typing import NamedTuple


# A tuple, not a frozen dataclass: one is made per event sent, and a frozen dataclass's
# constructor cost about as much as encoding the event.
class Record(NamedTuple):
    """`line` is the payload (JSON, OCSF JSON or CEF) and never holds a line break; `time` is
    the event's time (a finding's creation) as `streaming.times.utc_iso` writes it."""

    id: str
    organization_id: str
    time: str
    kind: str  # "event" or "finding"
    line: str
