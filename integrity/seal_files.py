"""Seal files: each seal also written as JSON, one file per seal, for WORM storage outside the
database; verification compares them with the chain the database holds."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from integrity.seal_record import Seal

SEAL_DIR_ENV = "AUDITLENS_SEAL_DIR"


def seal_dir_from_env() -> Path | None:
    raw = os.environ.get(SEAL_DIR_ENV)
    return Path(raw) if raw else None


def seal_file_path(seal_dir: Path, org: str, seal_seq: int) -> Path:
    return seal_dir / org / f"{seal_seq:012d}.json"


def write_seal_file(seal: Seal, seal_dir: Path) -> Path:
    """Write the seal as JSON for WORM storage; an existing file is never overwritten."""
    path = seal_file_path(seal_dir, seal.organization_id, seal.seal_seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as out:
        json.dump(seal.to_json(), out, indent=1, sort_keys=True)
        out.write("\n")
    return path


def read_seal_files(seal_dir: Path, org: str) -> Iterator[tuple[Path, Seal | str]]:
    """Each seal file of `org`, parsed, or the reason it could not be."""
    folder = seal_dir / org
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            yield path, Seal.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            yield path, str(exc)
