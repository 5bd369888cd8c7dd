"""The git merge driver for ``dvx.lock`` and pointer files (SPEC §8).

``dvx.lock`` merges stage by stage: an entry changed on one side takes that
side; changed identically on both takes it; changed differently on both is
dropped, so ``dvx status`` shows the stage ``new`` and ``dvx repro`` recomputes
it (or pulls it when a teammate already did). The result is always a valid
lock: never conflict markers.

A pointer file changed differently on both sides names two versions of the
same data, which no driver can combine. The driver keeps ours, leaves the file
marked conflicted, and says how to choose — never a silent wrong answer.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvx import lockfile, yamlio
from dvx.errors import ConfigError
from dvx.pointer import SUFFIX


@dataclass
class MergeResult:
    path: str
    clean: bool = True
    dropped: list[str] = field(default_factory=list)  # lock stages recomputed later
    message: str = ""


def _lock(path: Path) -> dict[str, lockfile.LockEntry]:
    return lockfile.parse(yamlio.load(path, missing_ok=True), str(path))


def merge_lock(base: Path, ours: Path, theirs: Path, name: str = "dvx.lock") -> MergeResult:
    """Merge into ``ours`` (git's %A, which holds the result)."""
    o, a, b = _lock(base), _lock(ours), _lock(theirs)
    result = MergeResult(name)
    merged: dict[str, lockfile.LockEntry] = {}
    for stage in sorted(set(o) | set(a) | set(b)):
        eo, ea, eb = (_dict(x.get(stage)) for x in (o, a, b))
        if ea == eb:
            pick = a.get(stage)
        elif ea == eo:
            pick = b.get(stage)
        elif eb == eo:
            pick = a.get(stage)
        else:
            result.dropped.append(stage)
            continue
        if pick is not None:
            merged[stage] = pick
    lockfile.write(ours, merged)
    return result


def _dict(entry: lockfile.LockEntry | None) -> dict[str, Any] | None:
    return None if entry is None else entry.to_dict()


def merge_pointer(base: Path, ours: Path, theirs: Path, name: str) -> MergeResult:
    def load(p: Path) -> Any:
        return yamlio.load(p, missing_ok=True)

    o, a, b = load(base), load(ours), load(theirs)
    result = MergeResult(name)
    if a == b or b == o:
        return result
    if a == o:
        ours.write_bytes(theirs.read_bytes())
        return result

    def h(d: Any) -> str:
        return str(d.get("hash")) if isinstance(d, dict) else "(deleted)"

    result.clean = False
    q = shlex.quote(name)  # the commands are meant to be pasted into a shell
    result.message = (
        f"{name}: the data changed on both branches (ours {h(a)}, theirs {h(b)}); "
        f"kept ours. Choose with 'git checkout --ours {q}' or "
        f"'git checkout --theirs {q}', or combine the data and 'dvx add' it, "
        f"then 'git add {q}'"
    )
    return result


def merge(base: Path, ours: Path, theirs: Path, name: str) -> MergeResult:
    try:
        if name.endswith(SUFFIX):
            return merge_pointer(base, ours, theirs, name)
        return merge_lock(base, ours, theirs, name)
    except ConfigError as exc:
        return MergeResult(name, clean=False, message=f"{name}: cannot merge: {exc.message}")
