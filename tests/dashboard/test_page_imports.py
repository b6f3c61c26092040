"""The server imports what the pages import before it answers anyone: no first visit of a
page waits seconds for scikit-learn."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from dashboard.page_imports import page_import_statements

ROOT = Path(__file__).resolve().parents[2]

# A fresh interpreter: this test process has imported half the project already.
_LOADED_AFTER_SERVER = """
import json, sys
import dashboard.server
print(json.dumps(sorted(sys.modules)))
"""


def _page_modules() -> set[str]:
    names: set[str] = set()
    for statement in page_import_statements():
        if isinstance(statement, ast.Import):
            names |= {alias.name for alias in statement.names}
        elif statement.module and statement.module != "__future__":
            names.add(statement.module)
    return names


def test_every_module_a_page_imports_is_loaded_with_the_server(tmp_path):
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED_AFTER_SERVER],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    missing = _page_modules() - set(json.loads(loaded.stdout))
    assert "usecases.search_alerts" in _page_modules()
    assert not missing


def test_only_imports_run(tmp_path):
    # A page's body (st.* calls, queries) must not run at server start.
    (tmp_path / "page.py").write_text("import json\nraise SystemExit('the page body ran')\n")
    from dashboard.page_imports import import_page_modules

    import_page_modules(tmp_path)
