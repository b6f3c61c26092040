"""Tamper evidence on the command line: signing keys, seals, verification, export proofs."""

from __future__ import annotations

import getpass
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import app, err_console
from cli.context import open_database
from sql.errors import AuditLensError
from usecases.legal_holds import shown

if TYPE_CHECKING:
    from integrity.keys import PublicKeys

signing_key_app = typer.Typer(help="Ed25519 keys that sign seals (kept out of the database).")
app.add_typer(signing_key_app, name="signing-key")


class IntegrityProblems(AuditLensError):
    """Verification found problems (exit code 1, unlike bad input's 2)."""

    exit_code = 1


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{name} must be an ISO date or date-time (2024-10-01, 2024-10-01T12:00Z), got: {value}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _trusted_keys(public_keys: list[Path] | None, key_file: Path | None) -> PublicKeys:
    from integrity import keys as keymod

    if public_keys:
        return keymod.load_public_keys(public_keys)
    # Without --public-key, trust the public half of the configured signing key.
    signing = keymod.load_signing_key(key_file)
    return keymod.PublicKeys({signing.key_id: signing.public})


@signing_key_app.command("create")
def signing_key_create(
    out: Annotated[Path, typer.Option("--out", help="file for the private key (created 0600)")],
    public_out: Annotated[
        Path | None, typer.Option("--public-out", help="also write the public key")
    ] = None,
) -> None:
    """Make a signing key; prints its public key (give that to auditors) and key id."""
    from integrity import keys as keymod

    key = keymod.generate()
    keymod.write_signing_key(key, out)
    pem = keymod.public_pem(key.public)
    if public_out is not None:
        public_out.write_text(pem, encoding="utf-8")
    err_console.print(f"private key written to {out}; key id {key.key_id}")
    typer.echo(pem, nl=False)


@signing_key_app.command("public")
def signing_key_public(
    key_file: Annotated[
        Path | None, typer.Option("--key", help="private key file (else configured)")
    ] = None,
) -> None:
    """Print the public key (PEM) of the configured signing key."""
    from integrity import keys as keymod

    key = keymod.load_signing_key(key_file)
    err_console.print(f"key id {key.key_id}")
    typer.echo(keymod.public_pem(key.public), nl=False)


@app.command()
def seal(
    org: Annotated[
        list[str] | None, typer.Option("--org", help="organisation (repeat; default all)")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option("--key", help="private key file (else configured)")
    ] = None,
    seal_dir: Annotated[
        Path | None,
        typer.Option("--seal-dir", help="also write each seal as a JSON file here (WORM storage)"),
    ] = None,
    every: Annotated[
        float | None,
        typer.Option(
            "--every",
            min=1,
            help="keep sealing every N seconds",
        ),
    ] = None,
    forever: Annotated[
        bool,
        typer.Option("--forever", help="keep sealing every AUDITLENS_SEAL_INTERVAL_SECONDS (300)"),
    ] = False,
) -> None:
    """Seal everything received since each organisation's previous seal (signed, chained)."""
    from integrity import keys as keymod
    from integrity.seal import seal_all
    from integrity.seal_files import seal_dir_from_env
    from integrity.seal_schedule import SealScheduler, interval_from_env

    key = keymod.load_signing_key(key_file)
    folder = seal_dir or seal_dir_from_env()
    with open_database() as db:
        if every is None and not forever:
            seals = seal_all(db, key, orgs=org or None, seal_dir=folder)
            for s in seals:
                typer.echo(
                    f"{s.organization_id}\tseal {s.seal_seq}\t{s.event_count:,} event(s)"
                    f"\troot {s.merkle_root.hex()[:16]}"
                )
            if not seals:
                typer.echo("no organisation to seal yet")
            return
        interval = every or interval_from_env()
        scheduler = SealScheduler(
            db,
            key,
            interval=interval,
            seal_dir=folder,
            on_error=lambda exc: err_console.print(f"sealing failed (will retry): {exc}"),
            on_sealed=lambda seals: err_console.print(
                f"{datetime.now(UTC):%H:%M:%S} sealed {len(seals)} organisation(s),"
                f" {sum(s.event_count for s in seals):,} event(s)"
            ),
        )
        err_console.print(f"sealing every {interval:g} s; Ctrl-C stops")
        scheduler.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            scheduler.stop()


@app.command()
def verify(
    org: Annotated[
        list[str] | None, typer.Option("--org", help="organisation (repeat; default all)")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="check seals made from this time")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="check seals of periods up to this time")
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option("--public-key", help="trusted public key PEM (repeat after rotations)"),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option("--key", help="without --public-key: trust this signing key's public half"),
    ] = None,
    seal_dir: Annotated[
        Path | None,
        typer.Option("--seal-dir", help="seal files to compare with (default AUDITLENS_SEAL_DIR)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the findings as JSON")] = False,
) -> None:
    """Recompute every seal and name what changed; exit 0 only when everything verifies."""
    from integrity.seal import organizations
    from integrity.seal_files import seal_dir_from_env
    from integrity.verify import verify_organization

    start_at, end_at = _when(start, "--from"), _when(end, "--to")
    trusted = _trusted_keys(public_key, key_file)
    folder = seal_dir or seal_dir_from_env()
    problems = 0
    with open_database() as db:
        for one in org or organizations(db):
            report = verify_organization(
                db, one, trusted, start=start_at, end=end_at, seal_dir=folder, actor=_actor()
            )
            problems += len(report.problems)
            if as_json:
                typer.echo(
                    json.dumps(
                        {
                            "organization_id": one,
                            "clean": report.clean,
                            "summary": report.summary(),
                            "problems": [p.to_json() for p in report.problems],
                        }
                    )
                )
                continue
            typer.echo(report.summary())
            for seal_seq, kinds in sorted(
                report.by_seal().items(), key=lambda item: (item[0] is None, item[0] or 0)
            ):
                where = f"seal {seal_seq}" if seal_seq is not None else "store"
                counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
                typer.echo(f"  {where}: {counts}")
            for problem in report.problems:
                # Event ids are the producers' (or a forger's): escapes, never controls.
                typer.echo(f"  {shown(problem.line())}")
    if problems:
        raise IntegrityProblems(f"verification found {problems} problem(s)")


@app.command("export-proof")
def export_proof(
    org: Annotated[str, typer.Option("--org", help="organisation to export")],
    out: Annotated[Path, typer.Option("--out", help="file to write (refused if it exists)")],
    fmt: Annotated[str, typer.Option("--format", help="csv or ndjson")] = "csv",
    start: Annotated[str | None, typer.Option("--from", help="events from this time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="events before this time")] = None,
) -> None:
    """Export events with, per row, its Merkle inclusion proof and signed seal."""
    from sql.event_filter import EventFilter
    from usecases.exports import Exporter, export_to_file

    if fmt not in ("csv", "ndjson"):
        raise typer.BadParameter(f"--format must be csv or ndjson, got: {fmt}")
    start_at, end_at = _when(start, "--from"), _when(end, "--to")
    with open_database() as db:
        record, sealed = export_to_file(
            db,
            org,
            EventFilter(start=start_at, end=end_at),
            fmt,
            out,
            exporter=Exporter(_actor()),
            with_proofs=True,
        )
    written, digest = record.rows, record.sha256
    typer.echo(f"{written:,} event(s) written to {out} ({sealed:,} with proofs); sha256 {digest}")
    if sealed < written:
        err_console.print(
            f"{written - sealed:,} event(s) are not sealed yet and carry no proof:"
            " run `auditlens seal` first to prove them"
        )


@app.command("verify-export")
def verify_export(
    file: Annotated[Path, typer.Argument(help="CSV or NDJSON export with proofs")],
    public_key: Annotated[
        list[Path], typer.Option("--public-key", help="trusted public key PEM (repeat)")
    ],
) -> None:
    """Check an export offline with only the public key; exit 0 only when every row verifies."""
    from integrity import keys as keymod
    from integrity.proof import check_export

    if not file.is_file():
        raise typer.BadParameter(f"no such file: {file}")
    report = check_export(file, keymod.load_public_keys(public_key))
    for problem in report.problems:
        # The file is the party under check: its ids are printed as escapes, never controls.
        typer.echo(shown(problem))
    typer.echo(
        f"{report.verified:,} of {report.rows:,} row(s) verified against"
        f" {len(report.seals)} seal(s)"
    )
    if not report.clean:
        raise IntegrityProblems(f"{report.rows - report.verified:,} row(s) do not verify")
