"""The shared vocabulary: the own-action registry refuses a name twice, the organisation-id
pattern is one, and no module writes the columns or the families out again."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from sql import vocabulary
from sql.vocabulary import (
    EVENT_COLUMNS,
    FAMILIES,
    OWN_ACTIONS,
    USER_DAY_COLUMNS,
    DuplicateAction,
    OwnActions,
    is_org_id,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sql", "ingest", "integrity", "detection", "simulator", "usecases", "cli", "dashboard")


def test_an_action_registered_twice_is_refused() -> None:
    registry = OwnActions()
    registry.add("export", "data_modification", "events exported")
    with pytest.raises(DuplicateAction, match="'export' is already registered"):
        registry.add("export", "log_access", "the same name with another family")
    assert registry.get("export").family == "data_modification"


def test_the_shared_registry_refuses_a_second_export() -> None:
    with pytest.raises(DuplicateAction, match="'export'"):
        OWN_ACTIONS.add("export", "log_access", "a second meaning")
    assert OWN_ACTIONS.get("export").family == "data_modification"


@pytest.mark.parametrize(
    ("name", "family", "message"),
    [
        ("Export", "data_modification", "lower_snake_case"),
        ("export\n", "data_modification", "lower_snake_case"),
        ("x" * 51, "data_modification", "lower_snake_case"),
        ("shred", "shredding", "unknown family 'shredding'"),
    ],
)
def test_a_malformed_action_is_refused(name: str, family: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OwnActions().add(name, family, "what")


def test_an_unknown_action_is_named() -> None:
    with pytest.raises(ValueError, match="unknown own action 'exprot'"):
        OWN_ACTIONS.get("exprot")


def test_every_own_action_is_a_module_constant() -> None:
    constants = {v.name for v in vars(vocabulary).values() if isinstance(v, vocabulary.OwnAction)}
    assert constants == {a.name for a in OWN_ACTIONS}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("org_123", True),
        ("a", True),
        ("x" * 128, True),
        ("acme.eu:prod@1-a", True),
        ("x" * 129, False),
        ("", False),
        ("_org", False),
        ("org_a\n", False),
        ("org a", False),
        ("org'; --", False),
        (123, False),
        (None, False),
    ],
)
def test_the_organisation_id_pattern(value: object, ok: bool) -> None:
    assert is_org_id(value) is ok


# A list holding all but at most one of a fact's names is a copy of it (a projection for a
# table or a chart picks fewer). Known copies, each with why; the test fails when one goes.
KNOWN: set[tuple[str, str]] = {
    # The wire format: the producers' names (`timestamp`), not the stored columns.
    ("ingest/model.py", "EVENT_COLUMNS"),
}
FACTS = {
    "FAMILIES": set(FAMILIES),
    "EVENT_COLUMNS": set(EVENT_COLUMNS),
    "USER_DAY_COLUMNS": set(USER_DAY_COLUMNS) - set(FAMILIES),
}


def _string_lists(path: Path) -> list[set[str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple | ast.Set)
    ]


def test_no_module_writes_the_columns_or_the_families_again() -> None:
    copies: set[tuple[str, str]] = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name == "sql/vocabulary.py":
                continue
            for words in _string_lists(path):
                copies |= {
                    (name, fact)
                    for fact, names in FACTS.items()
                    if len(words & names) >= len(names) - 1
                }
    assert copies - KNOWN == set(), "import these from sql.vocabulary instead"
    assert KNOWN - copies == set(), "a known copy is gone: drop it from KNOWN"


@pytest.mark.parametrize("name", [["export"], None, 7])
def test_a_name_that_is_no_string_is_unknown_not_a_crash(name: object) -> None:
    assert name not in OWN_ACTIONS
    with pytest.raises(ValueError, match="unknown own action"):
        OWN_ACTIONS.get(name)  # type: ignore[arg-type]
