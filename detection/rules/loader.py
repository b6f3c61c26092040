"""Loading rule files: one YAML file per rule, every broken file reported in one pass."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from detection.rules.kinds import KINDS
from detection.rules.schema import SEVERITIES, Rule, RuleError, RuleLoadError

RULES_DIR = Path(__file__).resolve().parent
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,63}$")
_TOP_LEVEL = {"id", "title", "severity", "description", "kind", "parameters", "enabled"}


def _loc(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts)


def parse_rule(data: Any, source: Path | str) -> Rule:
    """One rule from its parsed YAML; raises RuleLoadError listing every bad field."""
    if not isinstance(data, dict):
        raise RuleLoadError([RuleError("a rule file must be a mapping of fields", source=source)])
    errors: list[RuleError] = []
    for key in sorted(set(data) - _TOP_LEVEL):
        errors.append(RuleError("unknown field", source=source, field=str(key)))
    for key in ("id", "title", "severity", "description", "kind"):
        if not isinstance(data.get(key), str) or not data.get(key, "").strip():
            errors.append(
                RuleError("required text field is missing or empty", source=source, field=key)
            )
    rule_id = data.get("id")
    if isinstance(rule_id, str) and not _ID.match(rule_id):
        errors.append(
            RuleError(
                f"must be 2-64 lowercase letters, digits, - or _, got: {rule_id!r}",
                source=source,
                field="id",
            )
        )
    severity = data.get("severity")
    if isinstance(severity, str) and severity not in SEVERITIES:
        errors.append(
            RuleError(
                f"must be one of {', '.join(SEVERITIES)}, got: {severity!r}",
                source=source,
                field="severity",
            )
        )
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(RuleError("must be true or false", source=source, field="enabled"))
    kind_name = data.get("kind")
    parameters: Any = None
    if isinstance(kind_name, str) and kind_name not in KINDS:
        errors.append(
            RuleError(
                f"unknown kind {kind_name!r}; known: {', '.join(sorted(KINDS))}",
                source=source,
                field="kind",
            )
        )
    elif isinstance(kind_name, str):
        raw = data.get("parameters", {})
        if not isinstance(raw, dict):
            errors.append(RuleError("must be a mapping", source=source, field="parameters"))
        else:
            try:
                parameters = KINDS[kind_name].parameters.model_validate(raw)
            except ValidationError as exc:
                for problem in exc.errors():
                    field = _loc(("parameters", *problem["loc"]))
                    message = problem["msg"]
                    if problem["type"] == "extra_forbidden":
                        message = "unknown parameter"
                    errors.append(RuleError(message, source=source, field=field))
    if errors:
        raise RuleLoadError(errors)
    return Rule(
        id=data["id"],
        title=data["title"].strip(),
        severity=data["severity"],
        description=data["description"].strip(),
        kind=data["kind"],
        parameters=parameters,
        source=str(source),
        enabled=enabled,
    )


def load_rule_file(path: Path) -> Rule:
    """One rule file; errors name the file (and line, for YAML syntax)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RuleLoadError(
            [RuleError(f"invalid YAML: {problem}", source=path, field=where)]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleLoadError([RuleError(f"cannot read: {exc}", source=path)]) from exc
    return parse_rule(data, path)


def load_rules(folder: Path | None = None, *, include_disabled: bool = False) -> list[Rule]:
    """Every `*.yml` rule in `folder` (default: the shipped rules), sorted by id.

    All files are read before failing: the error lists every broken file and field at once.
    """
    folder = Path(folder) if folder is not None else RULES_DIR
    errors: list[RuleError] = []
    rules: list[Rule] = []
    files = sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])
    for path in files:
        try:
            rules.append(load_rule_file(path))
        except RuleLoadError as exc:
            errors.extend(exc.errors)
    seen: dict[str, str] = {}
    for rule in rules:
        if rule.id in seen:
            errors.append(
                RuleError(
                    f"duplicate id {rule.id!r} (also in {seen[rule.id]})",
                    source=rule.source,
                    field="id",
                )
            )
        seen[rule.id] = rule.source
    if errors:
        raise RuleLoadError(errors)
    return sorted((r for r in rules if r.enabled or include_disabled), key=lambda r: r.id)
