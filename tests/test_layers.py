"""The layers of DESIGN.md, checked over every import: an arrow means "may import"."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each package and the first-party packages it may import.
MAY_IMPORT: dict[str, set[str]] = {
    "sql": set(),
    "ingest": {"sql"},
    "integrity": {"sql", "ingest"},
    "detection": {"sql", "ingest"},
    "streaming": {"sql", "ingest"},
    "simulator": {"sql", "ingest", "detection"},
    "usecases": {"sql", "ingest", "integrity", "detection", "streaming"},
    "cli": {"sql", "ingest", "integrity", "detection", "streaming", "simulator", "usecases"},
    "dashboard": {"sql", "ingest", "integrity", "detection", "streaming", "usecases"},
}

# Known back-edges still to remove, each with where it is; the test fails when one goes away
# too, so this list never outlives the edge.
KNOWN: set[tuple[str, str]] = set()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & MAY_IMPORT.keys()


def test_no_package_imports_a_layer_above_it() -> None:
    edges: set[tuple[str, str]] = set()
    for package, allowed in MAY_IMPORT.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for target in _imports(path) - allowed - {package}:
                edges.add((path.relative_to(ROOT).as_posix(), target))
    assert edges - KNOWN == set(), "imports against the layers"
    assert KNOWN - edges == set(), "a known back-edge is gone: drop it from KNOWN"


def test_every_first_party_package_has_a_layer() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == MAY_IMPORT.keys()


def test_no_page_file_shadows_a_package() -> None:
    # Streamlit runs a page with its folder first on sys.path: a page named like a package
    # would be imported in its place.
    pages = {p.stem for p in (ROOT / "dashboard" / "pages").glob("*.py")}
    assert pages & MAY_IMPORT.keys() == set()
