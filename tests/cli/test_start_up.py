"""Start-up of the command line: loading it does not load what only some commands use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What only some commands need, and what costs most of a start-up to import.
HEAVY = ("pandas", "sklearn", "scipy", "plotly", "streamlit", "detection.model")

# A fresh interpreter (this test process has imported most of these already): which of them
# are loaded after `import cli`, then after each command line given as a JSON argument.
_LOADED_BY = """
import json, sys
import cli
def loaded():
    print(sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
loaded()
for args in json.loads(sys.argv[1]):
    sys.argv = ["auditlens", *args]
    try:
        cli.main()
    except SystemExit:
        pass
    loaded()
"""


def _loaded(*command_lines: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_BY.format(heavy=HEAVY), json.dumps(command_lines)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return done.stderr.strip().splitlines()[-1 - len(command_lines) :]


def test_loading_the_command_line_and_its_help_loads_no_data_or_web_library():
    helps = [["--help"], ["evidence", "create", "--help"], ["resources", "--help"]]
    assert _loaded(*helps) == ["[]"] * (1 + len(helps))


def test_help_names_every_value_the_deferred_modules_accept():
    # These helps name their values rather than import them (the modules load pandas or the
    # proofs' libraries); a value added to the module must reach the help too.
    from typer.testing import CliRunner

    from cli import app
    from usecases.evidence import FORMATS as PACK_FORMATS
    from usecases.evidence_schedule import CADENCES
    from usecases.exports import FORMATS as EXPORT_FORMATS

    runner = CliRunner()
    for args, values in (
        (["evidence", "schedule", "--help"], CADENCES),
        (["evidence", "schedule", "--help"], PACK_FORMATS),
        (["evidence", "create", "--help"], PACK_FORMATS),
        (["export", "events", "--help"], EXPORT_FORMATS),
    ):
        shown = runner.invoke(app, args, terminal_width=200)
        assert shown.exit_code == 0, shown.output
        for value in values:
            assert value in shown.output, (args, value)
