"""The README's streaming examples work as written: each `auditlens destinations add` uses
options the command has, with values it takes, and each rsyslog configuration passes
`rsyslogd -N1` and, run by a real rsyslogd, receives hostile events intact."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer.main

from cli import app
from streaming.destinations import HTTPS_AUTH, HTTPS_STYLES, KINDS
from streaming.formats import FORMATS, cef_event, native_event
from streaming.records import Record
from streaming.syslog import SyslogSender
from tests.streaming.rsyslog import RSYSLOGD, Rsyslog
from tests.streaming.test_formats import HOSTILE, event, parse_cef
from tests.streaming.test_syslog_rsyslog import parse
from tests.streaming.tls import make_certificates

README = Path(__file__).resolve().parents[2] / "README.md"
_TEXT = README.read_text(encoding="utf-8")
SECTION = _TEXT[_TEXT.index("## Streaming to a SIEM") : _TEXT.index("## Sending events")]
BLOCKS = re.findall(r"```\n(.*?)```", SECTION, re.DOTALL)
CHOICES = {
    "--kind": KINDS,
    "--style": HTTPS_STYLES,
    "--payload": tuple(FORMATS),
    "--auth": HTTPS_AUTH,
}


def add_examples() -> list[list[str]]:
    """Each `auditlens destinations add` command of the section, as its arguments."""
    found = []
    for block in BLOCKS:
        for command in block.replace("\\\n", " ").splitlines():
            if command.startswith("auditlens destinations add "):
                found.append(shlex.split(command)[3:])
    return found


def test_every_add_example_uses_options_and_values_the_command_takes() -> None:
    group = typer.main.get_command(app)
    add = group.commands["destinations"].commands["add"]  # type: ignore[attr-defined]
    options = {name for param in add.params for name in (*param.opts, *param.secondary_opts)}
    seen: dict[str, set[str]] = {name: set() for name in CHOICES}
    for args in add_examples():
        for i, arg in enumerate(args):
            if arg.startswith("--"):
                assert arg in options, f"{arg}: not an option of destinations add ({args})"
                if arg in CHOICES:
                    assert args[i + 1] in CHOICES[arg], f"{arg} {args[i + 1]}: not accepted"
                    seen[arg].add(args[i + 1])
    # One example per destination kind, and one for each of Splunk HEC and Datadog.
    assert seen["--kind"] == set(KINDS)
    assert {"splunk", "datadog"} <= seen["--style"]


def rsyslog_configuration(tls: bool) -> str:
    [block] = [b for b in BLOCKS if 'module(load="imtcp"' in b and ("gtls" in b) == tls]
    return block


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_the_rsyslog_configuration_receives_hostile_events_intact(
    tmp_path: Path, tls: bool
) -> None:
    certificates = make_certificates(tmp_path)
    rsyslog = Rsyslog(tmp_path, certificates if tls else None)
    text = rsyslog_configuration(tls)
    names = {
        "/var/log/auditlens.log": str(rsyslog.out),
        'port="6514"' if tls else 'port="10514"': f'port="{rsyslog.port}"',
    }
    if tls:
        names |= {
            "/etc/ssl/internal-ca.pem": str(certificates.ca),
            "/etc/ssl/logs.internal.pem": str(certificates.cert),
            "/etc/ssl/logs.internal.key": str(certificates.key),
        }
    for written, here in names.items():
        assert written in text, f"the README's configuration no longer holds {written}"
        text = text.replace(written, here)
    rsyslog.config.write_text(text)
    check = subprocess.run(
        [str(RSYSLOGD), "-N1", "-f", str(rsyslog.config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert check.returncode == 0, check.stderr
    rsyslog.start()
    settings: dict[str, object] = {"host": "127.0.0.1", "port": rsyslog.port, "timeout": 10}
    if tls:
        settings.update(host="localhost", tls=True, ca_file=str(certificates.ca))
    # The README sends JSON over TCP and CEF over TLS.
    encode = cef_event if tls else native_event
    hostile = event(id='evt_"1"]', user_id="u cs1=org_evil", details={"text": HOSTILE})
    sent = [hostile, event(id="evt_2")]
    sender = SyslogSender(settings)
    try:
        sender.send(
            [Record(e["id"], "org_a", "2025-01-15T14:32:15Z", "event", encode(e)) for e in sent]
        )
    finally:
        sender.close()
        rsyslog.stop()
    lines = rsyslog.lines()
    assert [parse(line)[0] for line in lines] == ['evt_"1"]', "evt_2"]
    payload = parse(lines[0])[1]
    if tls:
        _, pairs = parse_cef(payload)
        assert pairs["suid"] == "u cs1=org_evil" and pairs["cs1"] == "org_a"
        assert json.loads(pairs["cs5"])["text"] == HOSTILE
    else:
        assert json.loads(payload)["details"]["text"] == HOSTILE
