"""Evidence packs on a schedule: one per finished month or quarter, filed into a folder.

Run it as often as you like (cron, a systemd timer): each finished period since `since`
whose pack is not in the folder yet gets one, named `{org}-evidence-{period}.{format}`
(`2024-11`, `2024-Q4`) with its signature beside it; a period already filed is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from integrity.keys import SigningKey
from sql.gateway import Database, check_org_id
from usecases.evidence import EvidencePack, EvidencePackError, create_pack
from usecases.evidence_pack import RestrictedSet

CADENCES = ("monthly", "quarterly")


@dataclass(frozen=True)
class Period:
    label: str
    start: date  # first day
    end: date  # the day after the last

    def bounds(self) -> tuple[datetime, datetime]:
        return (
            datetime.combine(self.start, time(), tzinfo=UTC),
            datetime.combine(self.end, time(), tzinfo=UTC),
        )


def _next_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def finished_periods(cadence: str, since: date, today: date) -> list[Period]:
    """Every whole month or quarter that starts on or after `since`'s and ended before `today`."""
    if cadence not in CADENCES:
        raise EvidencePackError(f"--every must be one of {', '.join(CADENCES)}, got: {cadence}")
    months = 1 if cadence == "monthly" else 3
    first_month = (since.month - 1) // months * months + 1
    start = date(since.year, first_month, 1)
    periods: list[Period] = []
    while True:
        end = _next_month(start, months)
        if end > today:
            return periods
        label = f"{start:%Y-%m}" if months == 1 else f"{start.year}-Q{(start.month - 1) // 3 + 1}"
        periods.append(Period(label, start, end))
        start = end


def pack_path(folder: Path, org_id: str, period: Period, file_format: str) -> Path:
    return folder / f"{check_org_id(org_id)}-evidence-{period.label}.{file_format}"


def file_due_packs(
    db: Database,
    org_id: str,
    *,
    cadence: str,
    folder: Path,
    since: date,
    key: SigningKey,
    author: str,
    file_format: str = "pdf",
    today: date | None = None,
    restricted: RestrictedSet | None = None,
) -> list[EvidencePack]:
    """Make the packs of finished periods not filed in `folder` yet; the ones made."""
    if not folder.is_dir():
        raise EvidencePackError(f"--dir: {folder} is not a folder")
    made: list[EvidencePack] = []
    for period in finished_periods(cadence, since, today or datetime.now(UTC).date()):
        out = pack_path(folder, org_id, period, file_format)
        if out.exists():
            continue
        start, end = period.bounds()
        made.append(
            create_pack(
                db,
                org_id,
                start,
                end,
                file_format=file_format,
                out=out,
                key=key,
                author=author,
                restricted=restricted,
            )
        )
    return made
