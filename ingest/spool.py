"""A durable local spool: NDJSON segment files that are appended to with fsync and replayed
into the database later (when it is back, and on the next start).

Layout: `<root>/<name>/seg-<number>-<token>.ndjson` (the random token makes every segment's
name unique for ever, even when numbering starts again in an emptied folder). The newest
segment is the one being appended to; replay takes the closed ones (it closes the active one
first), writes them in batches and deletes each segment only after its batches are committed.
Events carry their id before they are spooled, so a segment replayed twice (a crash between
commit and delete, or a later batch of it failing) adds no event twice; each line also has a
replay key (segment token and line number) so its reject is not recorded twice either.

Appends are group-committed: many threads appending at once share one fsync, and `append`
returns only after the data is on disk. A folder is owned by one process at a time (a lock
file); a second process with the same name gets `<name>.<pid>`, and whoever starts later
replays folders whose owner is gone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from filelock import FileLock, Timeout

from ingest import fastjson

SEGMENT_BYTES = 8 * 1024 * 1024


class Spool:
    """Append-only segments with group-committed fsync; see the module docstring."""

    def __init__(self, root: Path, name: str = "sdk", *, segment_bytes: int = SEGMENT_BYTES):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.folder, self._lock = self._claim(name)
        self._write_lock = threading.Lock()
        self._sync = threading.Condition()
        self._written = 0  # appends written to the OS
        self._synced = 0  # appends known to be on disk
        self._syncing = False
        self._fd: int | None = None
        self._size = 0
        self._number = max((self._seg_number(p) for p in self._segments()), default=0)

    def _claim(self, name: str) -> tuple[Path, FileLock]:
        for candidate in (name, f"{name}.{os.getpid()}"):
            folder = self.root / candidate
            folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(folder / "owner.lock"))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            return folder, lock
        raise RuntimeError(f"spool folder {self.root / name} is in use")  # pragma: no cover

    @staticmethod
    def _seg_number(path: Path) -> int:
        return int(path.stem.split("-")[1])

    @staticmethod
    def segment_key(path: Path) -> str:
        """A name for the segment no other segment ever has: its token, or (for a segment of
        an older version, without one) its folder, name and inode."""
        parts = path.stem.split("-")
        if len(parts) >= 3 and parts[2]:
            return parts[2]
        return f"{path.parent.name}/{path.name}@{path.stat().st_ino}"

    def _segments(self, folder: Path | None = None) -> list[Path]:
        return sorted((folder or self.folder).glob("seg-*.ndjson"), key=self._seg_number)

    # -- appending -------------------------------------------------------------------------

    def _open_next(self) -> int:
        self._number += 1
        path = self.folder / f"seg-{self._number:012d}-{secrets.token_hex(8)}.ndjson"
        self._fd = fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        _fsync_dir(self.folder)
        return fd

    def append(self, lines: list[bytes], *, durable: bool = True) -> None:
        """Append complete lines (each ending in a newline); with `durable`, return only once
        they are on disk (fsync shared with concurrent appenders)."""
        data = b"".join(lines)
        with self._write_lock:
            fd = self._fd
            if fd is None or self._size >= self.segment_bytes:
                self._close_active()
                fd = self._open_next()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            self._size += len(data)
            self._written += 1
            ticket = self._written
        if durable:
            self._wait_synced(ticket)

    def _wait_synced(self, ticket: int) -> None:
        with self._sync:
            while self._synced < ticket:
                if self._syncing:
                    self._sync.wait()
                    continue
                self._syncing = True
                # Not under the write lock (appenders take it, then this condition): every
                # append counted in _written has finished its write, and _close_active waits
                # for _syncing to clear before it closes this descriptor.
                target, fd = self._written, self._fd
                self._sync.release()
                try:
                    if fd is not None:
                        os.fsync(fd)
                finally:
                    self._sync.acquire()
                    self._syncing = False
                    self._synced = max(self._synced, target)
                    self._sync.notify_all()

    def _close_active(self) -> None:
        """Called with the write lock held: make the active segment durable and close it."""
        if self._fd is None:
            return
        with self._sync:
            while self._syncing:
                self._sync.wait()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
            self._synced = self._written
            self._sync.notify_all()

    def rotate(self) -> None:
        """Close the active segment so that replay can take it."""
        with self._write_lock:
            self._close_active()

    # -- replaying -------------------------------------------------------------------------

    def pending(self) -> int:
        """Bytes waiting in this spool's segments."""
        return sum(p.stat().st_size for p in self._segments() if p.exists())

    def orphan_folders(self) -> list[Path]:
        """Sibling folders of the same name whose owner process is gone."""
        base = self.folder.name.split(".")[0]
        found = []
        for folder in sorted(self.root.glob(f"{base}*")):
            if folder == self.folder or not folder.is_dir():
                continue
            if folder.name != base and not folder.name.startswith(base + "."):
                continue
            found.append(folder)
        return found

    def replay(
        self,
        write: Callable[[list[SpooledLine]], None],
        *,
        batch_size: int = 5_000,
    ) -> int:
        """Write every closed segment (this folder's and orphans') through `write`, which
        gets `SpooledLine`s (line number, raw line, decoded value or None when the line does
        not decode, replay key) and raises if the database is unavailable; returns the lines
        replayed. A segment is deleted once all its batches are written; if one fails, the
        whole segment is offered again next time, so `write` must make a second offer of a
        line a no-op (events by their id, rejects by the line's replay key)."""
        with self._write_lock:
            self._close_active()
            upto = self._number  # appends from now on open a newer segment
        total = 0
        for folder in [self.folder, *self.orphan_folders()]:
            lock = None
            if folder != self.folder:
                lock = FileLock(str(folder / "owner.lock"))
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    continue
            try:
                for segment in self._segments(folder):
                    if folder == self.folder and self._seg_number(segment) > upto:
                        break  # opened by an append during this replay: next time
                    for batch in _read_batches(segment, batch_size):
                        write(batch)
                        total += len(batch)
                    segment.unlink()
                    _fsync_dir(folder)
            finally:
                if lock is not None:
                    lock.release()
                    if not self._segments(folder):
                        _remove_quietly(folder)
        return total

    def close(self) -> None:
        self.rotate()
        self._lock.release()


class SpooledLine(NamedTuple):
    """One line of a segment: `key` is unique to this line of this segment, for ever."""

    line_no: int
    raw: bytes
    value: Any
    key: str


def _read_batches(segment: Path, size: int) -> Iterator[list[SpooledLine]]:
    batch: list[SpooledLine] = []
    prefix = Spool.segment_key(segment)
    with segment.open("rb") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                # A torn tail (crash mid-append): never acknowledged, since an append returns
                # only after its whole line is on disk.
                continue
            try:
                value = fastjson.loads(line)
            except (ValueError, RecursionError):
                value = None
            batch.append(SpooledLine(line_no, line.rstrip(b"\n"), value, f"{prefix}:{line_no}"))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(folder: Path) -> None:
    for child in folder.iterdir():
        child.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
