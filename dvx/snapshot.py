"""What the dvx files of one revision say: lock entries and pointer files.

A revision is read straight from git objects (no checkout); ``rev=None`` is the
workspace. Both answer the same questions, so lineage, log, diff and the API
treat "the workspace" and "commit abc123" alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dvx import lockfile, pointer, yamlio
from dvx.hashing import Version
from dvx.lockfile import LockEntry, OutRecord

if TYPE_CHECKING:
    from dvx.context import Context


@dataclass
class Snapshot:
    rev: str | None  # as the user wrote it; None for the workspace
    commit: str | None
    lock: dict[str, LockEntry] = field(default_factory=dict)
    pointers: dict[str, pointer.Pointer] = field(default_factory=dict)  # by data path

    @property
    def label(self) -> str:
        return self.rev or "workspace"

    def producer(self, path: str) -> tuple[str, OutRecord] | None:
        """The stage whose output is ``path`` or a directory containing it."""
        for name, entry in self.lock.items():
            for o in entry.outs:
                if o.path == path or path.startswith(o.path + "/"):
                    return name, o
        return None

    def pointer_for(self, path: str) -> pointer.Pointer | None:
        for p in self.pointers.values():
            if p.path == path or path.startswith(p.path + "/"):
                return p
        return None

    def tracked(self) -> dict[str, Version]:
        """Every tracked path (stage outputs and pointer data) with its version."""
        found = {o.path: o.version for e in self.lock.values() for o in e.outs}
        found.update({p.path: p.version for p in self.pointers.values()})
        return found


def at(ctx: Context, rev: str | None) -> Snapshot:
    if rev is None:
        snap = Snapshot(None, None, dict(ctx.lock))
        skip = {o.path for s in ctx.stages for o in s.outs}
        for pfile in pointer.find_all(ctx.repo, skip):
            p = pointer.read(ctx.repo, pfile)
            snap.pointers[p.path] = p
        return snap
    from dvx.git import History

    history = History(ctx.repo.root)
    commit = history.resolve(rev)
    snap = Snapshot(rev, str(commit.id))
    blobs = history.dvx_blobs(str(commit.id))
    for path, blob in sorted(blobs.items()):
        source = f"{rev}:{path}"
        data = yamlio.loads(history.blob(blob).decode("utf-8"), source)
        if path == lockfile.LOCK_NAME:
            snap.lock = lockfile.parse(data, source)
        else:
            p = pointer.parse(data, path)
            snap.pointers[p.path] = p
    return snap
