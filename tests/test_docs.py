"""The README stays honest: every setting the code reads is documented there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["sql", "ingest", "detection", "dashboard", "tests", "bench"]


def _settings_in_code() -> set[str]:
    names: set[str] = set()
    for folder in SOURCES:
        for path in (ROOT / folder).rglob("*.py"):
            names.update(re.findall(r"\bAUDITLENS_[A-Z0-9_]+\b", path.read_text(encoding="utf-8")))
    return names


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(AUDITLENS_[A-Z0-9_]+)`", readme))
    missing = _settings_in_code() - documented
    assert not missing, f"settings read by the code but not documented in README.md: {missing}"


def test_readme_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
