"""Commands that bring events in: `import` files, `serve-ingest` (HTTP receiver), ingest `keys`.

Exit codes of `auditlens import`: 0 every event was stored or was already stored (duplicates);
1 some events were rejected (the rest is stored, the rejects are in `audit_rejects`);
2 nothing could be done (missing file, bad CSV header, database unavailable, bad option).
"""

from __future__ import annotations

import getpass
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from cli import app, err_console
from cli.context import open_database
from ingest.files import DEFAULT_BATCH, KEEP_REJECTIONS, import_file
from ingest.keys import create_key, list_keys, revoke_key, scope_named
from ingest.writer import WriteResult
from sql.gateway import Database, check_org_id
from usecases.legal_holds import shown

EXIT_SOME_REJECTED = 1


def _import_all(
    db: Database | None,
    files: list[Path],
    fmt: str,
    dry_run: bool,
    batch_size: int,
    org: str | None = None,
) -> WriteResult:
    total = WriteResult()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        for path in files:
            size = path.stat().st_size if path.exists() else None
            task = progress.add_task(path.name, total=size)
            result = import_file(
                db,
                path,
                fmt=fmt,
                dry_run=dry_run,
                batch_size=batch_size,
                default_org=org,
                progress=partial(_advance, progress, task),
            )
            progress.update(task, completed=size)
            _summary(path, result, dry_run)
            total.add(result)
    return total


def _advance(progress: Progress, task: TaskID, done: int) -> None:
    progress.update(task, completed=done)


def _summary(path: Path, result: WriteResult, dry_run: bool) -> None:
    stored = "would be offered" if dry_run else "accepted"
    typer.echo(
        f"{path}: {result.sent} events: {result.accepted} {stored}, "
        f"{result.duplicates} duplicates, {result.rejected} rejected"
    )
    for rejection in result.rejections[:KEEP_REJECTIONS]:
        typer.echo(f"  {path}:{rejection.position}: {rejection.field}: {rejection.reason}")
    if result.rejected > len(result.rejections[:KEEP_REJECTIONS]):
        more = result.rejected - len(result.rejections[:KEEP_REJECTIONS])
        where = "" if dry_run else " (all are kept in audit_rejects)"
        typer.echo(f"  ... and {more} more rejected{where}")


@app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="JSONL/NDJSON or CSV files, .gz too")],
    dry_run: bool = typer.Option(False, "--dry-run", help="validate only, write nothing"),
    fmt: str = typer.Option("auto", "--format", help="auto (from the name), jsonl or csv"),
    batch_size: int = typer.Option(DEFAULT_BATCH, "--batch-size", min=1, max=100_000),
    org: str | None = typer.Option(
        None, "--org", help="organisation to file unreadable lines under (their own is unknown)"
    ),
) -> None:
    """Import audit events from files (streamed); exit 0 all stored, 1 some rejected, 2 error."""
    if fmt not in ("auto", "jsonl", "ndjson", "csv"):
        raise typer.BadParameter(f"--format must be auto, jsonl or csv, got: {fmt}")
    fmt = "jsonl" if fmt == "ndjson" else fmt
    if org is not None:
        check_org_id(org)
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file: {missing[0]}")
    if dry_run:
        total = _import_all(None, files, fmt, True, batch_size)
    else:
        with open_database() as db:
            total = _import_all(db, files, fmt, False, batch_size, org)
            _refresh_read_model(db)
    if len(files) > 1:
        typer.echo(
            f"total: {total.sent} events: {total.accepted} accepted, "
            f"{total.duplicates} duplicates, {total.rejected} rejected"
        )
    if total.rejected:
        raise typer.Exit(EXIT_SOME_REJECTED)


def _refresh_read_model(db: Database) -> None:
    """Bring the rollups up to date after an import (cheap: incremental)."""
    from ingest.refresh import refresh_now

    problem = refresh_now(db)
    if problem:
        err_console.print(f"warning: events stored, but the rollup refresh failed: {problem}")


keys_app = typer.Typer(
    help="API keys, one organisation each: ingest keys send events, read keys read them."
)
app.add_typer(keys_app, name="keys")
_SCOPE_HELP = "ingest (POST /v1/events) or read (GET /api/v1/events and /api/v1/findings)"


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@keys_app.command("create")
def keys_create(
    org: str = typer.Option(..., "--org", help="organisation the key serves"),
    label: str | None = typer.Option(None, "--label", help="what the key is for"),
    scope: str = typer.Option("ingest", "--scope", help=_SCOPE_HELP),
) -> None:
    """Create a key; prints the token once (only its hash is stored). Audited."""
    check_org_id(org)
    key_scope = scope_named(scope)
    with open_database() as db:
        key = create_key(db, org, actor=_actor(), label=label, scope=key_scope)
    err_console.print(f"{key.scope} key {key.key_id} for {org} (shown once, store it now):")
    typer.echo(key.token)


@keys_app.command("revoke")
def keys_revoke(
    key: str = typer.Argument(..., help="key id (or the whole token)"),
    scope: str | None = typer.Option(None, "--scope", help=f"{_SCOPE_HELP}; found if not given"),
) -> None:
    """Revoke a key: the receiver refuses it from now on. Audited."""
    key_scope = scope_named(scope) if scope is not None else None
    with open_database() as db:
        org = revoke_key(db, key, actor=_actor(), scope=key_scope)
    typer.echo(f"revoked key {key[:16]} of {org}")


@keys_app.command("list")
def keys_list(
    org: str = typer.Option(..., "--org"),
    scope: str | None = typer.Option(None, "--scope", help=f"{_SCOPE_HELP}; else every scope"),
) -> None:
    """List an organisation's keys (never their secrets): id, scope, state, label."""
    key_scope = scope_named(scope) if scope is not None else None
    with open_database() as db:
        for row in list_keys(db, check_org_id(org), key_scope):
            state = f"revoked {row['revoked_at']:%Y-%m-%d}" if row["revoked_at"] else "active"
            typer.echo(
                f"{row['key_id']}  {row['scope']}  {state}  {shown(str(row['label'] or ''))}"
            )


@app.command("serve-ingest")
def serve_ingest(
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
    port: int = typer.Option(8600, "--port", min=1, max=65535),
) -> None:
    """Run the HTTP receiver (POST /v1/events, the read API GET /api/v1/..., /docs)."""
    import uvicorn

    from detection.schedule import background_detection
    from ingest.gil import short_switch_interval
    from ingest.middleware import parse_networks
    from ingest.receiver import Receiver, create_app
    from ingest.refresh import ReadModelRefresher
    from integrity.seal_schedule import background_sealing
    from sql.settings import Settings
    from streaming.read_api import install_read_api
    from streaming.service import background_streaming

    # Read once, before anything starts: a malformed value is a one-line error now, not a
    # failure of every API read later.
    trusted_proxies = parse_networks(None)
    with (
        open_database() as db,
        background_sealing(db, err_console.print),
        background_detection(db, err_console.print),
        background_streaming(db, err_console.print),
    ):
        refresher = ReadModelRefresher(db)
        receiver = Receiver(
            db, spool_dir=Settings.from_env().data_dir / "spool", after_batch=refresher
        )
        err_console.print(f"AuditLens ingest on http://{host}:{port}/v1/events (docs: /docs)")
        try:
            # Request threads wait on PostgreSQL while others parse: see ingest/gil.py.
            with short_switch_interval():
                served = create_app(receiver)
                install_read_api(served, db, trusted_proxies=trusted_proxies)
                # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any
                # local client as the peer; the audited address trusts only the proxies the
                # operator names (AUDITLENS_TRUSTED_PROXIES).
                uvicorn.run(served, host=host, port=port, log_level="warning", proxy_headers=False)
        finally:
            receiver.close()
            refresher.close()
