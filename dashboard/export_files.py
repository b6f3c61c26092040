"""Prepared export files live on disk, not in the session: a million-row export is written
to a private temporary file as it streams from the database, and the download button reads
it only when clicked (Streamlit's deferred download), so a session holds a path, not bytes.

Streamlit's download button serves bytes it holds in memory, so the clicked file is read
whole at that moment (true streaming would need a download route of our own beside the
session-cookie routes). What this module guarantees is that no file outlives its use: a
prepared file is deleted when a new export replaces it, when the view changes, when the
viewer signs out, and, for sessions that simply went away (a closed tab, a restarted
server), by a sweep of files older than MAX_AGE_SECONDS whenever a new export is prepared.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import streamlit as st

_DIR_NAME = "auditlens-exports"
# Session keys holding prepared files, so sign-out can delete them all.
_KEYS = "auditlens_export_file_keys"
# A prepared export older than this is deleted by the next sweep (the viewer prepares it
# again); generous next to the minutes between preparing and clicking.
MAX_AGE_SECONDS = 2 * 3600


def folder() -> Path:
    """The private (0700) folder of prepared exports."""
    path = Path(tempfile.gettempdir()) / _DIR_NAME
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def sweep(now: float | None = None) -> int:
    """Delete prepared files older than MAX_AGE_SECONDS; returns how many were deleted."""
    cutoff = (time.time() if now is None else now) - MAX_AGE_SECONDS
    deleted = 0
    for path in folder().glob("export-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:  # another session's sweep got there first
            continue
    return deleted


def new_file(suffix: str) -> tuple[Path, IO[bytes]]:
    """A new private (0600) file for one export, open for writing (after a sweep)."""
    sweep()
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the caller closes it
        prefix="export-", suffix=f".{suffix}", dir=folder(), delete=False
    )
    os.chmod(handle.name, 0o600)
    return Path(handle.name), handle


def remember(key: str, prepared: dict[str, Any]) -> None:
    """Keep a prepared file (a dict with its "path") under session key `key`."""
    st.session_state[key] = prepared
    keys: list[str] = st.session_state.setdefault(_KEYS, [])
    if key not in keys:
        keys.append(key)


def discard(key: str) -> None:
    """Forget the file prepared under session key `key` and delete it."""
    prepared = st.session_state.pop(key, None)
    if prepared:
        Path(prepared["path"]).unlink(missing_ok=True)


def discard_all() -> None:
    """Delete every file this session prepared (sign-out)."""
    for key in st.session_state.pop(_KEYS, []):
        discard(key)


class ExpiredExport(FileNotFoundError):
    """The prepared file is gone (swept after MAX_AGE_SECONDS): prepare the export again."""


def reader(path: Path) -> Callable[[], bytes]:
    """What the download button calls on click: the file's bytes, read then."""

    def read() -> bytes:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise ExpiredExport(
                "this prepared export has expired: prepare the export again"
            ) from None

    return read


def through_file(suffix: str, write: Callable[[IO[bytes]], object]) -> bytes:
    """The bytes `write` produces, passed through a private file that is deleted at once:
    a download built on click holds one copy in memory, not a buffer and its copy."""
    path, handle = new_file(suffix)
    try:
        with handle:
            write(handle)
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)
