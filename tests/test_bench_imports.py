"""Every benchmark's imports resolve, the ones inside functions too: benchmarks are not run
by the suite, so a name moved elsewhere (a helper renamed in the test harness) would break a
benchmark unseen until someone needs its figures."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
FIRST_PARTY = {"bench", "cli", "dashboard", "detection", "ingest", "integrity", "simulator"}
FIRST_PARTY |= {"sql", "streaming", "tests", "usecases"}


def _imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name or None) of every first-party import in `path`, at any depth."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in FIRST_PARTY:
                found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.split(".")[0] in FIRST_PARTY
            ]
    return found


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_every_first_party_import_of_a_benchmark_resolves(path: Path) -> None:
    missing = []
    for line, module, name in _imports(path):
        try:
            loaded = importlib.import_module(module)
        except ImportError as error:
            missing.append(f"{path.name}:{line}: {module}: {error}")
            continue
        if name is not None and name != "*" and not hasattr(loaded, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                missing.append(f"{path.name}:{line}: {module} has no {name}")
    assert not missing, "\n".join(missing)
