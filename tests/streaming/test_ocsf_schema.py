"""Every OCSF record AuditLens writes is valid OCSF 1.8.0: checked against the schema as the
OCSF project's own compiler builds it (`ocsf_1_8_0.json`: see its "source"), trimmed to the
classes we emit and the objects they reach. Attributes a profile adds are left out unless
the record claims the profile (ours claim none)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streaming.formats import ocsf_event, ocsf_finding
from streaming.mapping import ACTIONS, FAMILY_DEFAULTS
from tests.streaming.test_formats import event, finding

SCHEMA = json.loads((Path(__file__).parent / "ocsf_1_8_0.json").read_text())
INTEGERS = {"integer_t", "long_t", "timestamp_t", "port_t"}
NUMBERS = {"float_t"}


def _base(type_name: str) -> str:
    while SCHEMA["types"].get(type_name) is not None:  # a base type maps to None
        type_name = SCHEMA["types"][type_name]
    return type_name


def problems(value: dict[str, Any], attributes: dict[str, Any], path: str) -> list[str]:
    found = [
        f"{path}.{name}: required, missing"
        for name, spec in attributes.items()
        if spec.get("required") and not spec.get("profile") and name not in value
    ]
    for name, given in value.items():
        spec = attributes.get(name)
        if spec is None:
            found.append(f"{path}.{name}: not an attribute of this class or object")
            continue
        if spec.get("is_array") and not isinstance(given, list):
            found.append(f"{path}.{name}: must be an array")
            continue
        for item in given if spec.get("is_array") else [given]:
            kind = spec["type"]
            if kind == "object":  # any JSON object (unmapped)
                continue
            if kind in SCHEMA["objects"]:
                if not isinstance(item, dict):
                    found.append(f"{path}.{name}: must be a {kind} object")
                else:
                    found += problems(item, SCHEMA["objects"][kind]["attributes"], f"{path}.{name}")
                continue
            base = _base(kind)
            if base in INTEGERS and (type(item) is not int):
                found.append(f"{path}.{name}: {kind} must be an integer, got {item!r}")
            elif base in NUMBERS and type(item) not in (int, float):
                found.append(f"{path}.{name}: {kind} must be a number, got {item!r}")
            elif base not in INTEGERS | NUMBERS | {"boolean_t", "json_t"} and type(item) is not str:
                found.append(f"{path}.{name}: {kind} must be a string, got {item!r}")
            if "enum" in spec and str(item) not in spec["enum"]:
                found.append(f"{path}.{name}: {item!r} is not one of {spec['enum']}")
    return found


def check(record: dict[str, Any]) -> list[str]:
    cls = SCHEMA["classes"].get(str(record.get("class_uid")))
    if cls is None:
        return [f"class_uid {record.get('class_uid')}: not a class of OCSF {SCHEMA['version']}"]
    found = problems(record, cls["attributes"], cls["name"])
    if record["type_uid"] != record["class_uid"] * 100 + record["activity_id"]:
        found.append(f"type_uid {record['type_uid']}: not class_uid * 100 + activity_id")
    if record["metadata"]["version"] != SCHEMA["version"]:
        found.append(f"metadata.version {record['metadata']['version']}")
    return found


KEYS = sorted({*ACTIONS, *((family, "something_new") for family in FAMILY_DEFAULTS)})


@pytest.mark.parametrize(("family", "action"), KEYS)
@pytest.mark.parametrize("resource_type", ["user", "source", None])
def test_every_event_is_valid_ocsf_1_8(family: str, action: str, resource_type: str | None) -> None:
    stored = event(
        event_type=family,
        event_action=action,
        resource_type=resource_type,
        resource_id=None if resource_type is None else "r1",
        details={"role": "admin"} if action == "change_role" else {"q": 1},
    )
    assert check(json.loads(ocsf_event(stored))) == []


def test_an_event_without_a_user_or_a_session_is_valid_ocsf_1_8() -> None:
    stored = event(event_type="login", event_action="login_failed", user_id=None, user_email=None)
    stored.update(session_id=None, ip_address=None, user_agent=None)
    assert check(json.loads(ocsf_event(stored))) == []


def test_a_finding_is_valid_ocsf_1_8() -> None:
    assert check(json.loads(ocsf_finding(finding()))) == []
