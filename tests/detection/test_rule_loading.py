"""Rules are data: the shipped rules load, and broken files are reported by file and field."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from detection.rules import KINDS, RuleLoadError, kinds, load_rules, schema

SHIPPED = {
    "volume-5x-own-baseline",
    "off-hours-export",
    "identity-wildcard-search",
    "large-export",
    "alert-disabled-not-reenabled",
    "privilege-change-then-sensitive-access",
    "api-key-new-ip",
    "audit-log-export",
    "retention-lowered-before-purge",
    "dormant-account-activity",
}


def test_shipped_rules_load_and_cover_the_request_and_issue():
    rules = load_rules()
    ids = {r.id for r in rules}
    assert ids >= SHIPPED
    # Every kind of the registry is used: `search` by organisations' alerts from saved searches.
    assert {r.kind for r in rules} | {"search"} == set(KINDS)
    for rule in rules:
        assert (
            rule.title
            and rule.description
            and rule.severity in ("low", "medium", "high", "critical")
        )


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
id: good-rule
title: Good
severity: high
description: fine
kind: threshold
parameters: {feature: records_exported, op: ">", value: 10}
"""


def test_every_broken_rule_is_reported_in_one_pass_with_file_and_field(tmp_path):
    _write(tmp_path, "good.yml", GOOD)
    _write(
        tmp_path,
        "bad-ratio.yml",
        GOOD.replace("good-rule", "bad-ratio")
        .replace("kind: threshold", "kind: ratio_to_baseline")
        .replace("parameters: {feature: records_exported, op: \">\", value: 10}",
                 "parameters: {feature: exports, ratio: 0.5}"),
    )  # fmt: skip
    _write(
        tmp_path,
        "bad-kind.yml",
        GOOD.replace("good-rule", "bad-kind").replace("threshold", "magic"),
    )
    _write(
        tmp_path, "bad-severity.yml", GOOD.replace("good-rule", "bad-sev").replace("high", "urgent")
    )
    _write(
        tmp_path,
        "bad-feature.yml",
        GOOD.replace("good-rule", "bad-feat").replace("records_exported", "nope"),
    )
    _write(tmp_path, "bad-yaml.yml", "id: [unclosed\n")
    with pytest.raises(RuleLoadError) as caught:
        load_rules(tmp_path)
    errors = caught.value.errors
    where = {(Path(e.source).name, e.field) for e in errors}
    assert ("bad-ratio.yml", "parameters.ratio") in where
    assert ("bad-kind.yml", "kind") in where
    assert ("bad-severity.yml", "severity") in where
    assert ("bad-feature.yml", "parameters.feature") in where
    assert any(
        name == "bad-yaml.yml" and field and field.startswith("line ") for name, field in where
    )
    assert "good.yml" not in {n for n, _ in where}
    message = str(caught.value)
    assert "bad-ratio.yml: parameters.ratio" in message and "5 broken rule(s)" in message


def test_unknown_parameters_bad_regex_and_durations_name_their_field(tmp_path):
    _write(
        tmp_path,
        "pattern.yml",
        """
id: p1
title: t
severity: low
description: d
kind: pattern
parameters:
  match: {family: log_access, regex: {details.query: "(unclosed"}, colour: red}
""",
    )
    _write(
        tmp_path,
        "sequence.yml",
        """
id: s1
title: t
severity: low
description: d
kind: sequence
parameters:
  first: {family: user_management}
  then: {family: log_access}
  within: soon
  link_first: not_a_field
""",
    )
    with pytest.raises(RuleLoadError) as caught:
        load_rules(tmp_path)
    where = {(Path(e.source).name, e.field): e.message for e in caught.value.errors}
    assert ("pattern.yml", "parameters.match.colour") in where
    assert where[("pattern.yml", "parameters.match.colour")] == "unknown parameter"
    assert any(f == "parameters.match.regex" and "invalid regular expression" in m
               for (n, f), m in where.items() if n == "pattern.yml")  # fmt: skip
    assert any(n == "sequence.yml" and f == "parameters.within" for n, f in where)
    assert any(n == "sequence.yml" and "not_a_field" in m for (n, _), m in where.items())


def test_duplicate_ids_and_missing_fields(tmp_path):
    _write(tmp_path, "a.yml", GOOD)
    _write(tmp_path, "b.yml", GOOD)
    _write(tmp_path, "c.yml", "id: only-id\n")
    with pytest.raises(RuleLoadError) as caught:
        load_rules(tmp_path)
    where = {(Path(e.source).name, e.field) for e in caught.value.errors}
    assert ("b.yml", "id") in where
    assert {("c.yml", "title"), ("c.yml", "severity"), ("c.yml", "kind")} <= where


def test_the_load_error_chains_the_yaml_cause(tmp_path):
    _write(tmp_path, "x.yml", "id: [unclosed\n")
    from detection.rules import load_rule_file

    with pytest.raises(RuleLoadError) as caught:
        load_rule_file(tmp_path / "x.yml")
    assert caught.value.__cause__ is not None


def _imported(path: Path, package: str) -> set[str]:
    """Every module `path` imports, relative imports resolved against `package`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(part for part in [*base, node.module] if part)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_the_rule_model_imports_nothing_that_processes_rules():
    # pySigma's way: the registry looks rules up; a rule reaching for its registry is a cycle.
    imported = _imported(Path(schema.__file__), "detection.rules")
    assert not {m for m in imported if m.startswith(("detection.rules.", "detection.pipeline"))}
    assert not hasattr(schema.Rule, "evaluate")


def test_no_kind_imports_the_registry_that_looks_it_up():
    folder = Path(kinds.__file__).parent
    modules = sorted(p for p in folder.glob("*.py") if p.name not in {"__init__.py", "registry.py"})
    assert {p.stem for p in modules} >= {"features", "events", "sequences"}
    # The package itself re-exports the registry: importing it is importing the registry.
    registry = {
        "detection.rules",
        "detection.rules.kinds",
        "detection.rules.kinds.registry",
        "detection.rules.loader",
    }
    for path in modules:
        assert _imported(path, "detection.rules.kinds") & registry == set(), path.name


def test_the_registry_refuses_a_kind_registered_twice():
    registry = kinds.KindRegistry()
    registry.register("threshold", KINDS["threshold"])
    with pytest.raises(ValueError, match="'threshold' is already registered"):
        registry.register("threshold", KINDS["pattern"])
    assert registry["threshold"] is KINDS["threshold"]  # the first stays, never replaced
    assert list(registry) == ["threshold"]
