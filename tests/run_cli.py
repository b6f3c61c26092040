"""The `auditlens` command run inside the test process, answered as `subprocess.run` would.

Starting Python and importing the command's dependencies costs more than most commands under
test; tests of the entry point itself (tracebacks, hash seeds) still start a real process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout


def run_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`auditlens ARGS` through `cli.main`, with `env` added to this process's environment for
    the command's duration: its exit code, stdout and stderr. An exception the command lets
    escape is printed to stderr with exit code 1, as the interpreter would."""
    from cli import main

    saved_env, saved_argv = dict(os.environ), sys.argv
    out, err = io.StringIO(), io.StringIO()
    os.environ.update(env)
    sys.argv = ["auditlens", *args]
    code: int | str | None = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code
            except Exception:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    if isinstance(code, str):  # sys.exit("message") prints it and exits 1
        err.write(code + "\n")
        code = 1
    return subprocess.CompletedProcess(
        ["auditlens", *args], code or 0, out.getvalue(), err.getvalue()
    )
