"""An evidence pack as one printable HTML document (the PDF is this, printed by Chromium).

Every value, including every text from the store, is HTML-escaped; nothing from the data is
ever markup, a link or a style. The document states the exact filters, the generation time,
the author and the export record it was filed under.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import Any

from usecases.evidence_pack import EvidenceFigures, Section

_STYLE = """
body { font: 10pt/1.35 "DejaVu Sans", Arial, sans-serif; color: #111; margin: 0; }
h1 { font-size: 16pt; margin: 0 0 4pt; } h2 { font-size: 12pt; margin: 16pt 0 4pt; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; page-break-inside: auto; }
tr { page-break-inside: avoid; } thead { display: table-header-group; }
th, td { border: 0.5pt solid #999; padding: 2pt 4pt; text-align: left; vertical-align: top;
         word-break: break-word; white-space: pre-wrap; }
th { background: #eee; } .num { text-align: right; } .bad { color: #a00; font-weight: bold; }
.note { color: #555; font-size: 9pt; } pre { white-space: pre-wrap; font-size: 8.5pt; }
@page { size: A4; margin: 14mm 12mm; }
"""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _td(value: Any) -> str:
    numeric = isinstance(value, int | Decimal) and not isinstance(value, bool)
    css = ' class="num"' if numeric else ""
    return f"<td{css}>{escape(_cell(value))}</td>"


def _table(section: Section) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in section.columns)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in section.rows)
    shown = (
        f"{len(section.rows):,} of {section.total:,} listed"
        if section.truncated
        else f"{section.total:,} in all"
    )
    note = f"; {section.note}" if section.note else ""
    if not section.rows:
        return f'<p class="note">None in this period ({escape(shown + note)}).</p>'
    return (
        f'<p class="note">{escape(shown + note)}</p>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _integrity(figures: EvidenceFigures) -> str:
    report = figures.verification
    state = "clean" if report.clean else f"{len(report.problems):,} problem(s)"
    rows = [
        ("result", state),
        ("seals made in the period, checked", report.seals_checked),
        ("events checked against their seals", report.events_checked),
        ("events removed by the retention purge (recorded)", report.events_purged),
        ("events received but not yet sealed", report.pending_events),
        ("last seal", report.last_seal.seal_seq if report.last_seal else "none yet"),
        ("trusted key ids", ", ".join(report.key_ids)),
        ("verified at", report.started_at),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th>{_td(v)}</tr>" for k, v in rows)
    problems = "".join(f"<li>{escape(p.line())}</li>" for p in report.problems[:500])
    more = (
        f'<p class="note">{len(report.problems) - 500:,} more not listed</p>'
        if len(report.problems) > 500
        else ""
    )
    listed = f'<ul class="bad">{problems}</ul>{more}' if problems else ""
    return f"<table><tbody>{body}</tbody></table>{listed}"


def render_html(
    figures: EvidenceFigures, *, author: str, generated_at: datetime, export_id: int
) -> str:
    """The pack as a complete HTML document (UTF-8 text)."""
    org = escape(figures.organization_id)
    period = f"{figures.start.isoformat()} to {figures.end.isoformat()}"
    headline = "".join(
        f"<tr><th>{escape(k)}</th>{_td(v)}</tr>" for k, v in figures.headline.items()
    )
    sections = "".join(f"<h2>{escape(s.title)}</h2>{_table(s)}" for s in figures.sections)
    filters = escape(json.dumps(figures.filters(), indent=2, ensure_ascii=False))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        # Nothing in the document loads or runs anything: it is data to be printed.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';'
        " style-src 'unsafe-inline'\">"
        f"<title>Evidence pack {org} {escape(period)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>AuditLens evidence pack: {org}</h1>"
        f"<p>Period {escape(period)} (from inclusive, to exclusive)<br>"
        f"Generated {escape(generated_at.isoformat())} by {escape(author)}<br>"
        f"Recorded as export {export_id:d}; signed with the organisation's seal key (detached"
        " Ed25519 signature and SHA-256 beside this file)</p>"
        f"<h2>Summary</h2><table><tbody>{headline}</tbody></table>"
        f"{sections}"
        f"<h2>Integrity verification</h2>{_integrity(figures)}"
        f"<h2>Exact filters</h2><pre>{filters}</pre>"
        "</body></html>\n"
    )
