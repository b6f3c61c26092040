"""The dashboard's Streamlit settings hold however it is started: `auditlens run`, or
`streamlit run dashboard/server.py` from any working directory."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.run_command import APP_FILE, streamlit_command

ROOT = Path(__file__).resolve().parents[2]

# Streamlit's own config loading for `streamlit run SCRIPT`, in a fresh interpreter so this
# test's process keeps its defaults.
_LOAD = """
import json, sys
from streamlit import config
from streamlit.web import bootstrap
config._main_script_path = sys.argv[1]
bootstrap.load_config_options(flag_options={})
print(json.dumps({k: config.get_option(k) for k in sys.argv[2:]}))
"""


def _options_seen(script: Path, cwd: Path, home: Path, *keys: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, str(script), *keys],
        cwd=cwd,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


def test_auditlens_run_starts_the_dashboard_server():
    assert APP_FILE == ROOT / "dashboard" / "server.py"
    assert APP_FILE.is_file()
    command = streamlit_command("127.0.0.2", 8123)
    assert tuple(command[:5]) == (sys.executable, "-m", "streamlit", "run", str(APP_FILE))
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.2"
    assert options["--server.port"] == "8123"


def _spells_out_streamlit_run(path: Path) -> bool:
    """Whether a list literal in `path` holds "streamlit" followed by "run"."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.List):
            words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
            if any(a == "streamlit" and b == "run" for a, b in itertools.pairwise(words)):
                return True
    return False


def test_one_place_builds_the_dashboards_command_line():
    # `auditlens run`, the browser tests and the benchmarks start the same server the same way.
    builders = {
        path.relative_to(ROOT).as_posix()
        for folder in ("cli", "dashboard", "bench", "tests", "usecases")
        for path in (ROOT / folder).rglob("*.py")
        if _spells_out_streamlit_run(path)
    }
    assert builders == {"cli/run_command.py"}


@pytest.mark.parametrize("script", ["server.py", "app.py"])
def test_the_table_download_button_is_off_from_any_working_directory(tmp_path, script):
    # A working directory with a config of its own that would switch the side door back on.
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text(
        "[client]\ndisableDataExport = false\nshowErrorDetails = true\n"
    )
    seen = _options_seen(
        ROOT / "dashboard" / script,
        tmp_path,
        tmp_path,
        "client.disableDataExport",
        "client.showErrorDetails",
        "theme.primaryColor",
    )
    assert seen == {
        "client.disableDataExport": True,
        "client.showErrorDetails": False,
        "theme.primaryColor": "#1f4e79",
    }


@pytest.mark.parametrize("script", ["server.py", "app.py"])
def test_no_full_garbage_collection_after_each_run(tmp_path, script):
    # Streamlit's default collects every object of the process after each run, holding the GIL
    # while the run's last messages and the viewer's next click wait.
    seen = _options_seen(
        ROOT / "dashboard" / script,
        tmp_path,
        tmp_path,
        "runner.postScriptGC",
        "runner.magicEnabled",
    )
    assert seen == {"runner.postScriptGC": False, "runner.magicEnabled": False}


def test_no_page_relies_on_magic():
    # With magic off a bare expression on its own line shows nothing: pages call st.* instead.
    for page in [*(ROOT / "dashboard" / "pages").glob("*.py"), ROOT / "dashboard" / "app.py"]:
        for node in ast.walk(ast.parse(page.read_text())):
            body = getattr(node, "body", None)
            if not isinstance(body, list):
                continue
            for i, statement in enumerate(body):
                shown = isinstance(statement, ast.Expr) and not isinstance(
                    statement.value, ast.Call
                )
                docstring = (
                    i == 0
                    and isinstance(statement, ast.Expr)
                    and isinstance(statement.value, ast.Constant)
                    and isinstance(statement.value.value, str)
                )
                assert not shown or docstring, f"{page.name}:{statement.lineno} relies on magic"
