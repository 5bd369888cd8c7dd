"""``dvx lineage``: how a version of a path came to be (SPEC §8, issue 7).

For a tracked output or pointer data at a revision: the stage that produced it,
with its command, params values, code versions and each input's version,
recursively down to the sources; for each node its run record (when, where, by
whom) and the first commit whose dvx files recorded that version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dvx import snapshot
from dvx.context import Context
from dvx.errors import UsageError
from dvx.git import CommitInfo
from dvx.history import HistoryIndex
from dvx.snapshot import Snapshot

LINEAGE_JSON_VERSION = 1


@dataclass
class Node:
    path: str
    hash: str | None
    # "stage", "pointer" (dvx add), "directory" (holding tracked outputs), "source" (other)
    kind: str
    size: int | None = None
    stage: str | None = None
    cmd: list[str] | None = None
    key: str | None = None
    params: dict[str, dict[str, Any]] | None = None
    code: list[dict[str, str]] | None = None
    run: dict[str, Any] | None = None
    first_commit: CommitInfo | None = None
    inputs: list[Node] = field(default_factory=list)
    note: str | None = None
    truncated: bool = False

    def to_json(self) -> dict[str, Any]:
        fc = self.first_commit
        return {
            "path": self.path,
            "hash": self.hash,
            "kind": self.kind,
            "size": self.size,
            "stage": self.stage,
            "cmd": self.cmd,
            "key": self.key,
            "params": self.params,
            "code": self.code,
            "run": self.run,
            "first_commit": None
            if fc is None
            else {"commit": fc.id, "time": fc.time, "author": fc.author, "summary": fc.summary},
            "note": self.note,
            "truncated": self.truncated,
            "inputs": [n.to_json() for n in self.inputs],
        }


@dataclass
class Lineage:
    rev: str | None
    root: Node

    def to_json(self) -> dict[str, Any]:
        return {"version": LINEAGE_JSON_VERSION, "rev": self.rev, "root": self.root.to_json()}


class _Builder:
    def __init__(self, ctx: Context, snap: Snapshot, depth: int | None) -> None:
        self.ctx = ctx
        self.snap = snap
        self.depth = depth
        self.index: HistoryIndex | None = None
        try:
            self.index = HistoryIndex(ctx)
            self.index.update()
        except UsageError:
            self.index = None  # not a git repo: no commits to name

    def first_commit(self, path: str, digest: str | None) -> CommitInfo | None:
        if self.index is None or digest is None:
            return None
        return self.index.first_commit(path, digest)

    def run_record(self, key: str) -> dict[str, Any] | None:
        entry = self.ctx.cache.get_run(key)
        if entry is None:
            entry = _remote_run(self.ctx, key)
        record = entry.get("record") if entry else None
        return record if isinstance(record, dict) else None

    def node(self, path: str, digest: str | None, level: int, seen: frozenset[str]) -> Node:
        hit = self.snap.producer(path)
        if hit is not None:
            name, out = hit
            entry = self.snap.lock[name]
            own = out.version.hash if out.path == path else digest
            n = Node(path, digest or own, "stage", out.version.size if out.path == path else None)
            if digest is not None and out.path == path and digest != out.version.hash:
                n.note = f"stage '{name}' now records version {out.version.hash}"
            n.stage, n.cmd, n.key = name, list(entry.cmd), entry.key
            n.params = entry.params or None
            n.code = [{"path": p, "hash": h} for p, h in entry.code] or None
            n.run = self.run_record(entry.key)
            n.first_commit = self.first_commit(out.path, out.version.hash)
            if name in seen:
                n.note = "cycle"
                return n
            if self.depth is not None and level >= self.depth:
                n.truncated = bool(entry.deps)
                return n
            n.inputs = [
                self.node(d.path, d.version.hash, level + 1, seen | {name})
                for d in sorted(entry.deps, key=lambda d: d.path)
            ]
            return n
        p = self.snap.pointer_for(path)
        if p is not None:
            n = Node(path, digest or p.version.hash, "pointer", p.version.size)
            n.first_commit = self.first_commit(p.path, p.version.hash)
            return n
        inside = self._tracked_inside(path)
        if not inside:
            return Node(path, digest, "source")
        # A dep on a directory whose files other stages wrote (e.g. foreach partitions):
        # its inputs are those outputs and the pointer data inside it.
        n = Node(path, digest, "directory")
        if self.depth is not None and level >= self.depth:
            n.truncated = True
            return n
        n.inputs = [self.node(p, None, level + 1, seen) for p in inside]
        return n

    def _tracked_inside(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        found = {o.path for e in self.snap.lock.values() for o in e.outs}
        found |= {p.path for p in self.snap.pointers.values()}
        return sorted(p for p in found if p.startswith(prefix))


def _remote_run(ctx: Context, key: str) -> dict[str, Any] | None:
    if not ctx.config.core.get("remote"):
        return None
    try:
        from dvx.transfer import default_remote_tiers

        for tier in default_remote_tiers(ctx):
            doc = tier.get_run(key)
            if doc is not None:
                return doc
    except Exception:  # lineage is still useful without the remote's records
        return None
    return None


def lineage(ctx: Context, path: str, rev: str | None = None, depth: int | None = None) -> Lineage:
    snap = snapshot.at(ctx, rev)
    if snap.producer(path) is None and snap.pointer_for(path) is None:
        raise UsageError(
            f"'{path}' is not tracked by dvx at {snap.label}",
            hint="give the path of a stage output or of data added with 'dvx add' "
            "(see 'dvx dag' and 'dvx status')",
        )
    builder = _Builder(ctx, snap, depth)
    return Lineage(rev, builder.node(path, None, 0, frozenset()))
