"""`auditlens evidence create` (a signed pack for auditors) and `auditlens verify-evidence`
(checks one offline: no database)."""

from __future__ import annotations

import getpass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli import app
from cli.context import open_database
from sql.errors import AuditLensError

evidence_app = typer.Typer(help="Signed evidence packs for auditors.")
app.add_typer(evidence_app, name="evidence")


class EvidenceNotVerified(AuditLensError):
    """The pack does not match its signature (exit code 1, unlike bad input's 2)."""

    exit_code = 1


def _day(value: str, option: str) -> date:
    from usecases.evidence import EvidencePackError

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise EvidencePackError(
            f"{option} must be a date like 2024-10-01, got: {value!r}"
        ) from None


@evidence_app.command("create")
def evidence_create(
    org: Annotated[str, typer.Option("--org", help="organisation id")],
    first: Annotated[str, typer.Option("--from", help="first day, UTC (inclusive)")],
    last: Annotated[str, typer.Option("--to", help="last day, UTC (inclusive)")],
    out: Annotated[Path, typer.Option("--out", help="the pack's file (never overwritten)")],
    file_format: Annotated[str, typer.Option("--format", help="html or pdf")] = "pdf",
    key_file: Annotated[
        Path | None, typer.Option("--key", help="seal key file (else configured)")
    ] = None,
    restricted: Annotated[
        list[str] | None,
        typer.Option(
            "--restricted",
            help="a restricted resource id (repeat); default: detection's sensitive sources",
        ),
    ] = None,
) -> None:
    """Make the organisation's evidence pack for a period, signed with the seal key."""
    from integrity import keys as keymod
    from usecases.evidence import FORMATS, EvidencePackError, create_pack
    from usecases.evidence_pack import RestrictedSet

    if file_format not in FORMATS:
        raise EvidencePackError(f"--format must be one of {', '.join(FORMATS)}, got: {file_format}")
    start_day, last_day = _day(first, "--from"), _day(last, "--to")
    if last_day < start_day:
        raise EvidencePackError(f"--to ({last_day}) is before --from ({start_day})")
    start = datetime.combine(start_day, time(), tzinfo=UTC)
    try:
        end = datetime.combine(last_day + timedelta(days=1), time(), tzinfo=UTC)
    except OverflowError:
        raise EvidencePackError(f"--to is out of range: {last}") from None
    key = keymod.load_signing_key(key_file)
    chosen = (
        RestrictedSet(tuple(dict.fromkeys(restricted)), "given on the command line (--restricted)")
        if restricted
        else None
    )
    with open_database() as db:
        pack = create_pack(
            db, org, start, end, file_format=file_format, out=out, key=key,
            author=f"cli:{getpass.getuser()}", restricted=chosen,
        )  # fmt: skip
    typer.echo(
        f"{pack.path}: evidence pack of {org}, {start_day} to {last_day};"
        f" export {pack.export_id}; SHA-256 {pack.sha256}; signature {pack.signature}"
    )


@evidence_app.command("schedule")
def evidence_schedule(
    org: Annotated[str, typer.Option("--org", help="organisation id")],
    # The cadences are named here, not imported: the schedule's module loads the pack's whole
    # renderer (pandas included) and the help must not; a test keeps the two in step.
    every: Annotated[str, typer.Option("--every", help="monthly or quarterly")],
    folder: Annotated[Path, typer.Option("--dir", help="folder the packs are filed into")],
    since: Annotated[str, typer.Option("--since", help="first period's day, e.g. 2024-01-01")],
    file_format: Annotated[str, typer.Option("--format", help="html or pdf")] = "pdf",
    key_file: Annotated[
        Path | None, typer.Option("--key", help="seal key file (else configured)")
    ] = None,
) -> None:
    """File a pack for every finished month or quarter not in the folder yet (run from cron)."""
    from integrity import keys as keymod
    from usecases.evidence import FORMATS, EvidencePackError
    from usecases.evidence_schedule import CADENCES, file_due_packs

    if every not in CADENCES:
        raise EvidencePackError(f"--every must be one of {', '.join(CADENCES)}, got: {every}")
    if file_format not in FORMATS:
        raise EvidencePackError(f"--format must be one of {', '.join(FORMATS)}, got: {file_format}")
    first = _day(since, "--since")
    key = keymod.load_signing_key(key_file)
    with open_database() as db:
        made = file_due_packs(
            db, org, cadence=every, folder=folder, since=first, key=key,
            author=f"cli:{getpass.getuser()}", file_format=file_format,
        )  # fmt: skip
    for pack in made:
        typer.echo(f"{pack.path}: export {pack.export_id}; SHA-256 {pack.sha256}")
    typer.echo(f"{len(made)} pack(s) filed in {folder}")


@app.command("verify-evidence")
def verify_evidence(
    document: Annotated[Path, typer.Argument(help="the pack (html or pdf)")],
    public_key: Annotated[
        list[Path], typer.Option("--public-key", help="trusted public key PEM (repeat)")
    ],
    signature: Annotated[
        Path | None, typer.Option("--signature", help="signature file (default: FILE.sig)")
    ] = None,
) -> None:
    """Check a pack against its detached signature, offline; exit 1 if it does not verify."""
    from integrity import keys as keymod
    from usecases.evidence import EvidencePackError
    from usecases.evidence_signature import signature_path, verify

    sig_path = signature or signature_path(document)
    try:
        data = document.read_bytes()
    except OSError as exc:
        raise EvidencePackError(f"FILE: cannot read {document}: {exc.strerror}") from None
    try:
        sig_text = sig_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise EvidencePackError(f"--signature: cannot read {sig_path}: {reason}") from None
    verdict = verify(data, sig_text, keymod.load_public_keys(public_key))
    if not verdict.ok:
        raise EvidenceNotVerified(f"{document}: NOT VERIFIED: {verdict.reason}")
    typer.echo(f"{document}: verified: SHA-256 {verdict.sha256}, {verdict.reason}")
