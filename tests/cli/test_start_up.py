"""Start-up of the command line: loading it does not load what only some commands use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_loading_the_command_line_does_not_load_scikit_learn():
    # A fresh interpreter: this test process may have imported detection already.
    code = (
        "import sys, cli; "
        "print(sorted(m for m in ('sklearn', 'scipy', 'detection.model') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
