"""Groups for `--dist loadgroup`: the tests of a group run in one xdist worker, one after
another. A test names its group with `pytest.mark.xdist_group`; a test using a fixture wider
than a function (module, class, package) is put in its module's group, or each worker running
some of the module's tests would build the fixture again.

xdist reads the groups by renaming each test's node id in the worker, which pytest 9's
structured node ids no longer allow (the rename is silently lost, and every test is then
scheduled on its own). So each worker writes its tests' groups to a folder the controller
gave it, and the controller's scheduler reads them: the node ids stay pytest's own."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

WORKERINPUT_KEY = "auditlens_groups_dir"
_dir: Path | None = None


def group_of(item: pytest.Item) -> str | None:
    """The group `item` runs in, or None (any worker, on its own)."""
    mark = item.get_closest_marker("xdist_group")
    if mark is not None:
        return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
    if _uses_wide_fixture(item):
        return item.nodeid.split("::")[0]
    return None


def _uses_wide_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        definition.scope in ("module", "class", "package")
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def groups_dir() -> Path:
    """The controller's folder for the workers' groups, made once per run."""
    global _dir
    if _dir is None:
        _dir = Path(tempfile.mkdtemp(prefix="auditlens-xdist-groups-"))
    return _dir


def remove_groups_dir() -> None:
    global _dir
    if _dir is not None:
        shutil.rmtree(_dir, ignore_errors=True)
        _dir = None


def write_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker: record the group of each of its tests for the controller's scheduler."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or WORKERINPUT_KEY not in workerinput:
        return
    groups = {item.nodeid: group for item in items if (group := group_of(item)) is not None}
    out = Path(workerinput[WORKERINPUT_KEY]) / f"{workerinput['workerid']}.json"
    partial = out.with_suffix(".partial")
    partial.write_text(json.dumps(groups), encoding="utf-8")
    os.replace(partial, out)  # whole or absent, never half-written


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Controller: xdist's loadgroup scheduler, with each test's group as its workers wrote it
    (every worker collects every test, and they all agree)."""
    from xdist.scheduler import LoadGroupScheduling

    folder = groups_dir()

    class RecordedGroupScheduling(LoadGroupScheduling):
        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:
                self._groups = {}
                for path in sorted(folder.glob("*.json")):
                    self._groups.update(json.loads(path.read_text(encoding="utf-8")))
            group = self._groups.get(nodeid)
            return f"group {group}" if group is not None else super()._split_scope(nodeid)

    return RecordedGroupScheduling(config, log)
