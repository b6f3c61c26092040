"""`auditlens destinations add|list|test|pause|resume|backfill|remove` and `auditlens stream`."""

from __future__ import annotations

import getpass
import os
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import app, err_console
from cli.context import open_database

if TYPE_CHECKING:
    from streaming.destinations import Changer

destinations_app = typer.Typer(help="SIEM streaming destinations (syslog, HTTPS, files).")
app.add_typer(destinations_app, name="destinations")

_ORG = typer.Option("--org", help="organisation id")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _via_cli() -> Changer:
    from streaming.destinations import Changer

    return Changer(via="cli")


@destinations_app.command("add")
def add(
    org: Annotated[str, _ORG],
    name: Annotated[str, typer.Argument(help="a name for the destination")],
    kind: Annotated[str, typer.Option("--kind", help="syslog, https or file")],
    payload: Annotated[str, typer.Option("--payload", help="json, ocsf or cef")] = "json",
    host: Annotated[str | None, typer.Option(help="syslog: receiver host")] = None,
    port: Annotated[int | None, typer.Option(help="syslog: receiver port")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="syslog: over TLS (RFC 5425)")] = False,
    ca_file: Annotated[str | None, typer.Option(help="TLS: trust only this CA file")] = None,
    url: Annotated[str | None, typer.Option(help="https: the endpoint")] = None,
    style: Annotated[str, typer.Option(help="https: ndjson, splunk or datadog")] = "ndjson",
    auth: Annotated[str, typer.Option(help="https: header or hmac")] = "header",
    header: Annotated[str | None, typer.Option(help="https: header carrying the secret")] = None,
    path: Annotated[str | None, typer.Option(help="file: where to write")] = None,
    max_bytes: Annotated[int | None, typer.Option(help="file: rotate above this size")] = None,
    max_seconds: Annotated[int | None, typer.Option(help="file: rotate after this age")] = None,
    query: Annotated[str, typer.Option(help="only events matching (Explore syntax)")] = "",
    start: Annotated[str | None, typer.Option("--from", help="also send events from then")] = None,
    findings: Annotated[bool, typer.Option(help="send findings too")] = True,
) -> None:
    """Add a destination; the secret (token, API key or HMAC key) comes from
    AUDITLENS_DESTINATION_SECRET, never from the command line."""
    from streaming import destinations as store
    from usecases.stream_destinations import parse_moment

    given: dict[str, Any] = {
        "host": host,
        "port": port,
        "tls": tls,
        "ca_file": ca_file,
        "url": url,
        "style": style,
        "auth": auth,
        "header": header,
        "path": path,
        "max_bytes": max_bytes,
        "max_seconds": max_seconds,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    moment = parse_moment(start, "from") if start else None
    with open_database() as db:
        destination = store.add(
            db,
            org,
            name,
            kind=kind,
            payload=payload,
            settings=settings,
            secret=os.environ.get(store.SECRET_VARIABLE) or None,
            query=query,
            start=moment,
            findings=findings,
            actor=_actor(),
            how=_via_cli(),
        )
    typer.echo(f"added {destination.describe()}")


@destinations_app.command("list")
def list_(org: Annotated[str, _ORG]) -> None:
    """Each destination with its health: state, lag, events sent, last success and error."""
    from usecases.stream_destinations import with_health

    with open_database() as db:
        found = with_health(db, org)
        if not found:
            typer.echo(f"{org}: no destinations")
        for destination, h in found:
            typer.echo(destination.describe())
            typer.echo(
                f"  state {h.state}; lag {h.lag_events} events, {h.lag_seconds:.0f} s;"
                f" sent {h.events_sent}; failures {h.consecutive_failures} in a row,"
                f" {h.failures_total} in all; last success {h.last_success_at or 'never'}"
            )
            if destination.query:
                typer.echo(f"  filter: {destination.query}")
            if h.last_error:
                typer.echo(f"  last error at {h.last_error_at}: {h.last_error!r}")


@destinations_app.command("test")
def test(org: Annotated[str, _ORG], name: str) -> None:
    """Send one real audit event (recording the test) to the destination now."""
    from usecases.stream_destinations import send_test_event

    with open_database() as db:
        event_id = send_test_event(db, org, name, actor=_actor(), how=_via_cli())
    typer.echo(f"{name}: the receiver took event {event_id}")


@destinations_app.command("pause")
def pause(org: Annotated[str, _ORG], name: str) -> None:
    from streaming import destinations as store

    with open_database() as db:
        store.pause(db, org, name, actor=_actor(), how=_via_cli())
    typer.echo(f"{name}: paused (its cursor stays; resume goes on from there)")


@destinations_app.command("resume")
def resume(org: Annotated[str, _ORG], name: str) -> None:
    from streaming import destinations as store

    with open_database() as db:
        store.resume(db, org, name, actor=_actor(), how=_via_cli())
    typer.echo(f"{name}: active")


@destinations_app.command("backfill")
def backfill(
    org: Annotated[str, _ORG],
    name: str,
    start: Annotated[str, typer.Option("--from", help="re-send events from this time")],
) -> None:
    """Re-send the events from a time on, in ingest order, then go on with new ones."""
    from streaming import destinations as store
    from usecases.stream_destinations import parse_moment

    with open_database() as db:
        store.backfill(db, org, name, parse_moment(start, "from"), actor=_actor(), how=_via_cli())
    typer.echo(f"{name}: re-sending events from {start}")


@destinations_app.command("remove")
def remove(org: Annotated[str, _ORG], name: str) -> None:
    from streaming import destinations as store

    with open_database() as db:
        store.remove(db, org, name, actor=_actor(), how=_via_cli())
    typer.echo(f"{name}: removed")


@app.command("stream")
def stream(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    poll: Annotated[float, typer.Option(help="seconds between idle passes")] = 1.0,
) -> None:
    """Send every active destination's events from its cursor until stopped (Ctrl-C)."""
    from streaming.service import Streamer

    with open_database() as db:
        streamer = Streamer(db, log=err_console.print)
        if once:
            typer.echo(f"sent {streamer.run_once()} events")
            streamer.close()
            return
        err_console.print("streaming (Ctrl-C stops it)")
        stop = threading.Event()
        try:
            streamer.run(stop, poll_seconds=poll)
        except KeyboardInterrupt:
            stop.set()
