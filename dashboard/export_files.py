"""Prepared export files live on disk, not in the session: a million-row export is written
to a private temporary file as it streams from the database, and the download button reads
it only when clicked (Streamlit's deferred download), so a session holds a path, not bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import streamlit as st

_DIR_NAME = "auditlens-exports"


def new_file(suffix: str) -> tuple[Path, IO[bytes]]:
    """A new private (0600) file for one export, open for writing."""
    folder = Path(tempfile.gettempdir()) / _DIR_NAME
    folder.mkdir(mode=0o700, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller closes it
        prefix="export-", suffix=f".{suffix}", dir=folder, delete=False
    )
    os.chmod(handle.name, 0o600)
    return Path(handle.name), handle


def discard(key: str) -> None:
    """Forget the file prepared under session key `key` and delete it."""
    prepared = st.session_state.pop(key, None)
    if prepared:
        Path(prepared["path"]).unlink(missing_ok=True)


def reader(path: Path) -> Callable[[], bytes]:
    """What the download button calls on click: the file's bytes, read then."""

    def read() -> bytes:
        return path.read_bytes()

    return read
