"""Suggestions and finding a resource by what someone typed (no database)."""

from __future__ import annotations

import json

import pytest

from sql.resource_names import name_words, suggest_from_name
from usecases.resource_catalogue import Known, find_resource, parse_file, suggest


@pytest.mark.parametrize(
    ("rid", "level", "tags"),
    [
        ("payment-logs", "restricted", ("pci", "financial")),
        ("customer_data", "restricted", ("pii", "customer")),
        ("source_payment_logs", "restricted", ("pci", "financial")),
        ("HR-Events", "restricted", ("hr", "pii")),
        ("payrollExports", "restricted", ("hr", "financial")),
        ("vault-secrets", "restricted", ("credentials",)),
        ("github-api-keys", "restricted", ("credentials",)),
        ("billing-events", "confidential", ("financial",)),
    ],
)
def test_names_suggest_levels_and_tags(rid, level, tags):
    found = suggest_from_name(rid)
    assert found is not None and (found.level, found.tags) == (level, tags)


@pytest.mark.parametrize(
    "rid", ["build-logs", "chrome-logs", "discard-queue", "key_old_00001a", "keyboard", "shrink"]
)
def test_whole_words_only(rid):
    assert suggest_from_name(rid) is None


def test_words_of_ids():
    assert name_words("HR-Events") == ("hr", "event")
    assert name_words("customerData") == ("customer", "data")


@pytest.mark.parametrize(
    ("rid", "word"),
    [
        ("payroll2024", "payroll"),
        ("hr2023_exports", "hr"),
        ("customers2023", "customer"),
        ("SSNRecords", "ssn"),
        ("PIIExport", "pii"),
        ("APIKeys", "key"),
        ("PIIs", "pii"),
    ],
)
def test_a_year_or_an_acronym_glued_to_a_word_does_not_hide_it(rid, word):
    # Ids name years and acronyms without separators; the word beside them still counts.
    found = suggest_from_name(rid)
    assert found is not None and word in " ".join(found.matched)


def test_few_people_suggest_confidential_only_where_it_means_something():
    few = suggest("build-logs", "source", users=2, events=500, org_users=120)
    assert few is not None and few.level == "confidential" and "2 of 120" in few.reason
    assert suggest("build-logs", "source", users=40, events=500, org_users=120) is None
    # A person's own account, a handful of events, a tiny organisation: no signal.
    assert suggest("user_42", "user", users=1, events=500, org_users=120) is None
    assert suggest("build-logs", "source", users=1, events=5, org_users=120) is None
    assert suggest("build-logs", "source", users=1, events=500, org_users=8) is None
    # The name decides the level; few people add to the reason.
    both = suggest("hr-events", "source", users=2, events=500, org_users=120)
    assert both is not None and both.level == "restricted" and "2 of 120" in both.reason


KNOWN = [
    Known("source_payment_logs", "Payment logs"),
    Known("retention_source_payment_logs", "Retention of payment-logs"),
    Known("source_hr_events", None),
]


def test_find_by_id_name_or_near_match():
    assert find_resource("source_hr_events", KNOWN).exact == KNOWN[2]
    assert find_resource("PAYMENT LOGS", KNOWN).exact == KNOWN[0]
    near = find_resource("payment-logs", KNOWN)
    assert near.exact is None and near.near[:2] == (KNOWN[0], KNOWN[1])
    assert find_resource("hr events", KNOWN).near == (KNOWN[2],)
    assert find_resource("kubernetes", KNOWN) == find_resource("kubernetes", [])
    assert find_resource("kubernetes", KNOWN).near == ()


def test_a_json_list_names_the_bad_item(tmp_path):
    file = tmp_path / "c.json"
    file.write_text(
        json.dumps(
            [
                {"resource_id": "a", "sensitivity": "internal"},
                {"resource_id": "b"},
                "not an object",
                {"resource_id": "c", "sensitivity": "restricted", "tags": "pii,hr"},
            ]
        ),
        encoding="utf-8",
    )
    good, errors = parse_file(file)
    assert [e.resource_id for _w, e in good] == ["a", "c"]
    assert errors[0].startswith("item 2: sensitivity: must be one of")
    assert errors[1].startswith("item 3: must be an object")


def test_one_pretty_printed_object_and_json_lines(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"resource_id": "a", "sensitivity": "internal"}, indent=2))
    assert [e.resource_id for _w, e in parse_file(one)[0]] == ["a"]
    lines = tmp_path / "many.json"
    lines.write_text('{"resource_id": "a", "sensitivity": "internal"}\n{"resource_id": "b"}\n')
    good, errors = parse_file(lines)
    assert [e.resource_id for _w, e in good] == ["a"]
    assert errors == [
        "line 2: sensitivity: must be one of internal, confidential, restricted, got None"
    ]


def test_a_huge_typed_text_is_matched_exactly_or_not_at_all():
    long_id = "x" * 600
    assert find_resource(long_id, [*KNOWN, Known(long_id, None)]).exact is not None
    assert find_resource("payment " * 200, KNOWN) == find_resource("", [])


def test_an_unknown_field_name_is_reported_as_text(tmp_path):
    # The field name is the file's text: a newline or an escape in it must not reach the
    # terminal as one, in JSON keys or in a CSV header.
    hostile = "x\n\x1b[2Jall good"
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(
        json.dumps({"resource_id": "a", "sensitivity": "restricted", hostile: 1}) + "\n"
    )
    csv_file = tmp_path / "c.csv"
    csv_file.write_text(f'resource_id,sensitivity,"{hostile}"\r\na,restricted,1\r\n')
    for path in (jsonl, csv_file):
        good, errors = parse_file(path)
        assert good == [] and len(errors) == 1
        assert errors[0].isprintable(), errors[0]
        assert "unknown" in errors[0]
