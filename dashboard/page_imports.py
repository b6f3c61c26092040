"""Every module the dashboard's pages import, imported once when the server starts.

Pages are scripts: Streamlit runs a page's imports on its first visit, in the viewer's click.
Some are slow (scikit-learn, through the detection pipeline, takes seconds), so the server
runs them before it answers anyone.
"""

from __future__ import annotations

import ast
from pathlib import Path

PAGE_DIR = Path(__file__).resolve().parent / "pages"


def page_import_statements(page_dir: Path = PAGE_DIR) -> list[ast.Import | ast.ImportFrom]:
    """The top-level import statements of every page file, in file order."""
    statements: list[ast.Import | ast.ImportFrom] = []
    for page in sorted(page_dir.glob("*.py")):
        tree = ast.parse(page.read_text(), filename=str(page))
        statements += [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return statements


def import_page_modules(page_dir: Path = PAGE_DIR) -> None:
    """Run the pages' import statements (and nothing else of the pages) in a scratch namespace."""
    module = ast.Module(body=list(page_import_statements(page_dir)), type_ignores=[])
    exec(compile(module, str(page_dir), "exec"), {"__name__": "auditlens_page_imports"})  # noqa: S102
