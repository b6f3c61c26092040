"""Proof for one row: an exported event carries its Merkle inclusion proof and its signed
seal, so anyone holding only the public key can check it offline.

A proof (format ``auditlens-proof-v1``) is a JSON object:

    {"format": "auditlens-proof-v1",
     "received_at": ..., "retention_guaranteed_until": ..., "ingest_seq": ...,
                          # the fields AuditLens set at ingest (canonical text)
     "nulls": [...],      # fields that are NULL (CSV cannot tell NULL from "")
     "leaf_index": i, "tree_size": n, "path": ["hex", ...],
     "seal": {...}}       # the seal as in seal files (`Seal.to_json`)

The verifier rebuilds the canonical bytes from the row's visible fields plus the proof's
ingest fields, hashes the leaf, walks the path to the root, and checks that the seal's text
hashes to its seal hash, names that root and count, and is signed by a trusted key. Editing
any visible field of the row breaks the walk; editing the seal breaks the signature.

Files: CSV with every export's header (``sql.vocabulary.EXPORT_COLUMNS``: ``event_time``,
..., ``ingest_seq``; the organisation is the seal's) and a ``proof`` column; cells that
begin with ``= + - @ '``, tab or CR are written with a leading ``'`` (so spreadsheets never
run them as formulas) and read back without it. NDJSON: one object
per line with the same names, ``details`` as a JSON object and ``proof`` as an object.
"""

from __future__ import annotations

import bisect
import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ingest.spreadsheet import escape_cell
from integrity.canonical import (
    FIELDS,
    apply_sql_settings,
    format_time,
    leaf_hash,
    parse_details,
)
from integrity.keys import PublicKeys
from integrity.leaf_index import entry_leaves, entry_seqs, root_and_digest
from integrity.merkle import MerkleTree, verify_inclusion
from integrity.seal_formats import seal_format
from integrity.seal_record import Seal
from sql.gateway import Database, ScopedSession, check_org_id
from sql.vocabulary import EXPORT_COLUMNS, SYSTEM_COLUMNS

PROOF_FORMAT = "auditlens-proof-v1"
# Export columns: every export's (sql.vocabulary.EXPORT_COLUMNS), in order; `proof` follows.
# The organisation is not a column (an export is one organisation's): the proof's seal names it.


@dataclass
class _SealTree:
    seal: Seal
    tree: MerkleTree
    index_of: dict[int, int]


def _seal_tree(session: ScopedSession, seal: Seal) -> _SealTree | None:
    result = session.execute(
        "SELECT entries, event_ids FROM org_audit_seal_leaves"
        " WHERE seal_seq = :seq ORDER BY chunk_no",
        {"seq": seal.seal_seq},
        max_rows=1_000_000,
    )
    entries = b"".join(bytes(r[0]) for r in result.rows)
    ids = b"".join(bytes(r[1]) for r in result.rows)
    if root_and_digest(entries, ids) != (seal.merkle_root, seal.index_digest):
        return None  # an altered index proves nothing; `auditlens verify` names it
    positions = {seq: i for i, seq in enumerate(entry_seqs(entries))}
    return _SealTree(seal, MerkleTree.build(entry_leaves(entries)), positions)


_EVENT_INFO_SQL = (
    "SELECT id, ingest_seq, ingest_xid::text AS xid, received_at, retention_guaranteed_until,"
    " user_id IS NULL AS n_user_id, user_email IS NULL AS n_user_email,"
    " ip_address IS NULL AS n_ip_address, user_agent IS NULL AS n_user_agent,"
    " resource_type IS NULL AS n_resource_type, resource_id IS NULL AS n_resource_id,"
    " session_id IS NULL AS n_session_id"
    " FROM org_audit_events WHERE id = ANY(CAST(:ids AS text[]))"
)


class ProofBuilder:
    """Proofs for many events of one organisation, in its reader session; each seal's tree
    is built once and reused (an export touches the same seals again and again)."""

    def __init__(self, session: ScopedSession) -> None:
        self.session = session
        apply_sql_settings(session)
        result = session.execute(
            "SELECT * FROM org_audit_seals ORDER BY seal_seq", max_rows=100_000_000
        )
        self.seals = [Seal.from_row(r) for r in result.dicts()]
        self._ends = [s.xid_to for s in self.seals]
        self._trees: dict[int, _SealTree | None] = {}

    def _seal_of(self, xid: int) -> Seal | None:
        k = bisect.bisect_right(self._ends, xid)
        if k < len(self.seals) and self.seals[k].xid_from <= xid:
            return self.seals[k]
        return None

    def proofs(self, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return {}
        rows = self.session.execute(_EVENT_INFO_SQL, {"ids": ids}, max_rows=10 * len(ids)).dicts()
        proofs: dict[str, dict[str, Any]] = {}
        for row in rows:
            seal = self._seal_of(int(row["xid"]))
            if seal is None:
                continue  # not sealed yet
            if seal.seal_seq not in self._trees:
                self._trees[seal.seal_seq] = _seal_tree(self.session, seal)
            st = self._trees[seal.seal_seq]
            index = st.index_of.get(int(row["ingest_seq"])) if st else None
            if st is None or index is None:
                continue
            proofs[row["id"]] = {
                "format": PROOF_FORMAT,
                "received_at": format_time(row["received_at"]),
                "retention_guaranteed_until": format_time(row["retention_guaranteed_until"]),
                "ingest_seq": int(row["ingest_seq"]),
                "nulls": sorted(k[2:] for k, v in row.items() if k.startswith("n_") and v),
                "leaf_index": index,
                "tree_size": st.tree.size,
                "path": [h.hex() for h in st.tree.proof(index)],
                "seal": seal.to_json(),
            }
        return proofs


def proofs_for(db: Database, org: str, event_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Proof objects for the sealed events of `org` among `event_ids` (id -> proof).

    For exporters: put ``json.dumps(proofs[id])`` in a ``proof`` column (CSV) or the object
    under ``"proof"`` (NDJSON), and write the row's fields as `write_export` does. Events not
    sealed yet have no proof and are absent. Runs in the organisation's reader session, so
    it can only ever prove `org`'s own rows.
    """
    check_org_id(org)
    with db.org_session(org) as session:
        return ProofBuilder(session).proofs(event_ids)


# ---------------------------------------------------------------------------- writing


_CASTS = {"ip_address": "ip_address::text AS ip_address", "details": "details::text AS details"}
_EXPORT_COLUMNS = ", ".join(_CASTS.get(c, c) for c in EXPORT_COLUMNS)


def filtered_export_sql(where: str) -> str:
    """Rows of `org_audit_events` matching the WHERE fragment `where` (its values bound by
    the caller), in the column order `write_export` expects, oldest first."""
    return (
        f"SELECT {_EXPORT_COLUMNS} FROM org_audit_events WHERE {where}"  # noqa: S608 - fixed columns; the fragment binds its values
        " ORDER BY event_time, ingest_seq"
    )


def _export_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "event_time":
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if name == "ip_address" and isinstance(value, str) and value.endswith(("/32", "/128")):
        return value.rsplit("/", 1)[0]
    return value


def csv_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula (see the module docstring)."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return escape_cell(text, reversible=True)


def write_export(
    rows: Iterable[tuple[Any, ...]],
    proofs: dict[str, dict[str, Any]],
    out: IO[str],
    fmt: str,
) -> int:
    """Write rows (in `filtered_export_sql` column order) with their proofs; returns the
    rows written."""
    if fmt not in ("csv", "ndjson"):
        raise ValueError(f"export format must be csv or ndjson, got: {fmt}")
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow([*EXPORT_COLUMNS, "proof"])
    n = 0
    for row in rows:
        values = {name: _export_value(name, v) for name, v in zip(EXPORT_COLUMNS, row, strict=True)}
        proof = proofs.get(values["id"])
        if writer is not None:
            writer.writerow(
                [csv_cell(values[f]) for f in EXPORT_COLUMNS]
                + [json.dumps(proof, separators=(",", ":")) if proof else ""]
            )
        else:
            # details is written as PostgreSQL's jsonb text, spliced in: re-serialising
            # through Python floats would change numbers like 1.50.
            parts = [
                f"{json.dumps(k)}:{v if k == 'details' else json.dumps(v, ensure_ascii=False)}"
                for k, v in values.items()
            ]
            parts.append(f'"proof":{json.dumps(proof, separators=(",", ":"))}')
            out.write("{" + ",".join(parts) + "}\n")
        n += 1
    return n


# ---------------------------------------------------------------------------- checking


@dataclass
class ExportCheck:
    rows: int = 0
    verified: int = 0
    problems: list[str] = field(default_factory=list)
    seals: set[tuple[str, int]] = field(default_factory=set)

    @property
    def clean(self) -> bool:
        return not self.problems and self.rows == self.verified


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row mapping or the reason it cannot be read)."""
    with path.open(encoding="utf-8", newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        if first.lstrip().startswith("{"):
            for no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line, parse_float=Decimal)
                except ValueError as exc:
                    yield no, f"not JSON: {exc}"
                    continue
                yield no, obj if isinstance(obj, dict) else "not a JSON object"
            return
        reader = csv.DictReader(handle)
        for record in reader:
            row: dict[str, Any] = {
                k: _uncell(v) for k, v in record.items() if k is not None and v is not None
            }
            if isinstance(row.get("proof"), str) and row["proof"]:
                try:
                    row["proof"] = json.loads(row["proof"])
                except ValueError:
                    yield reader.line_num, "its proof cell is not JSON"
                    continue
            for name in row.get("proof", {}).get("nulls", []) if row.get("proof") else []:
                if row.get(name) == "":
                    row[name] = None
            yield reader.line_num, row


def _event_from_row(row: dict[str, Any], proof: dict[str, Any], org: str) -> dict[str, Any]:
    event: dict[str, Any] = dict(row)
    event["organization_id"] = org  # the seal's: an export holds one organisation's rows
    if "ingest_seq" in row and str(row["ingest_seq"]) != str(proof["ingest_seq"]):
        raise ValueError(f"ingest_seq {row['ingest_seq']} is not the proof's")
    for name in SYSTEM_COLUMNS:  # an export proof carries them
        event[name] = proof[name]
    if isinstance(event.get("details"), str):
        event["details"] = parse_details(event["details"])
    return {name: event.get(name) for name in FIELDS}


def check_export(path: Path, keys: PublicKeys) -> ExportCheck:
    """Check every row of a CSV or NDJSON export against its proof, offline."""
    report = ExportCheck()
    seal_texts: dict[tuple[str, int], bytes] = {}
    for no, parsed in _rows(path):
        report.rows += 1
        if isinstance(parsed, str):
            report.problems.append(f"line {no}: {parsed}")
            continue
        event_id = parsed.get("id", "?")
        proof = parsed.pop("proof", None)
        if not proof:
            report.problems.append(f"line {no}: event {event_id}: no proof (not sealed yet?)")
            continue
        try:
            seal = Seal.from_json(proof["seal"])
            event = _event_from_row(parsed, proof, seal.organization_id)
            leaf = leaf_hash(event, seal_format(seal.format).event_format)
            path_hashes = [bytes.fromhex(h) for h in proof["path"]]
            index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"line {no}: event {event_id}: unreadable proof or row: {exc}")
            continue
        seal_key = (seal.organization_id, seal.seal_seq)
        text = seal.canonical()
        if seal_texts.setdefault(seal_key, text) != text:
            report.problems.append(
                f"line {no}: event {event_id}: seal {seal.seal_seq} differs from the same seal"
                " on an earlier line"
            )
            continue
        reason = keys.verify(seal.key_id, seal.signature, text)
        if seal.computed_hash() != seal.seal_hash:
            reason = "its fields do not hash to its seal hash"
        if reason is not None:
            report.problems.append(f"line {no}: event {event_id}: seal {seal.seal_seq}: {reason}")
            continue
        if size != seal.event_count:
            report.problems.append(
                f"line {no}: event {event_id}: proof is for a tree of {size} leaves, seal"
                f" {seal.seal_seq} sealed {seal.event_count}"
            )
            continue
        if event.get("organization_id") != seal.organization_id:
            report.problems.append(
                f"line {no}: event {event_id}: organisation differs from its seal's"
            )
            continue
        if not verify_inclusion(leaf, index, size, path_hashes, seal.merkle_root):
            report.problems.append(
                f"line {no}: event {event_id}: the row does not match its sealed leaf"
                f" (seal {seal.seal_seq}): it was edited after sealing"
            )
            continue
        report.verified += 1
        report.seals.add(seal_key)
    return report
