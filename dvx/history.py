"""An index of git history as dvx sees it, and ``dvx log`` (SPEC §8, issue 7).

The index (``.dvx/tmp/history.json``) records, for every commit reachable from
any ref, its metadata and the blob ids of its ``dvx.lock`` and pointer files,
plus a summary of each distinct blob (output path → version). It is updated
incrementally: when no ref moved since the last call, history is not walked at
all; otherwise only the new commits are read. It is a cache, safe to delete.
"""

from __future__ import annotations

import heapq
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dvx import lockfile, pointer, yamlio
from dvx.context import Context
from dvx.errors import UsageError
from dvx.git import CommitInfo, History
from dvx.params import changed_keys, is_missing

INDEX_VERSION = 1


class HistoryIndex:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.path = ctx.repo.tmp_dir / "history.json"
        self.git = History(ctx.repo.root)
        self.data: dict[str, Any] = {
            "version": INDEX_VERSION,
            "tips": [],
            "commits": {},
            "blobs": {},
        }
        try:
            loaded = json.loads(self.path.read_text())
            if loaded.get("version") == INDEX_VERSION:
                self.data = loaded
        except (OSError, ValueError, AttributeError):
            pass
        self._first: dict[tuple[str, str], str] | None = None

    # ---- building ---------------------------------------------------------------

    def update(self) -> bool:
        """Read commits not indexed yet; False when nothing moved (no history walk)."""
        tips = self.git.tip_ids()
        if tips == self.data["tips"]:
            return False
        commits = self.data["commits"]
        scan = self.git.scanner()
        for info in self.git.new_commits(set(commits)):
            blobs = self.git.dvx_blobs(info.id, scan)
            for path, blob in blobs.items():
                if blob not in self.data["blobs"]:
                    self.data["blobs"][blob] = self._summarize(path, blob)
            commits[info.id] = [info.time, info.author, info.summary, list(info.parents), blobs]
        self.data["tips"] = tips
        self._forget_unreachable(tips)
        self._first = None
        self.ctx.repo.tmp_dir.mkdir(parents=True, exist_ok=True)
        yamlio.atomic_write(self.path, json.dumps(self.data, separators=(",", ":")))
        return True

    def _forget_unreachable(self, tips: list[str]) -> None:
        """Drop commits no ref reaches any more (amended, rebased, deleted branches), so
        that lineage and log never name a commit that has left history."""
        commits = self.data["commits"]
        reachable: set[str] = set()
        todo = [t for t in tips if t in commits]
        while todo:
            c = todo.pop()
            if c not in reachable:
                reachable.add(c)
                todo += [p for p in commits[c][3] if p in commits]
        for c in set(commits) - reachable:
            del commits[c]

    def _summarize(self, path: str, blob: str) -> dict[str, Any]:
        try:
            data = yamlio.loads(self.git.blob(blob).decode("utf-8"), path)
            if path == lockfile.LOCK_NAME:
                lock = lockfile.parse(data, path)
                return {
                    "outs": {o.path: [o.version.hash, n] for n, e in lock.items() for o in e.outs}
                }
            p = pointer.parse(data, posixpath.basename(path))
            return {"pointer": [p.path, p.version.hash]}
        except Exception:  # an unreadable old file records nothing, but stops nothing
            return {}

    # ---- queries ----------------------------------------------------------------

    def info(self, sha: str) -> CommitInfo:
        t, author, summary, parents, _ = self.data["commits"][sha]
        return CommitInfo(sha, t, author, summary, tuple(parents))

    def versions_at(self, sha: str) -> dict[str, tuple[str, str | None]]:
        """Tracked path → (hash, producing stage or None for pointer data) at a commit."""
        found: dict[str, tuple[str, str | None]] = {}
        for path, blob in self.data["commits"][sha][4].items():
            summary = self.data["blobs"].get(blob, {})
            for out, (h, stage) in summary.get("outs", {}).items():
                found[out] = (h, stage)
            if "pointer" in summary:
                rel, h = summary["pointer"]
                parent = posixpath.dirname(path)
                found[posixpath.normpath(posixpath.join(parent, rel))] = (h, None)
        return found

    def first_commit(self, path: str, digest: str) -> CommitInfo | None:
        """The oldest commit whose dvx files record ``digest`` for ``path``."""
        if self._first is None:
            first: dict[tuple[str, str], str] = {}
            order = self._oldest_first(self.data["commits"])
            for c in order:
                for p, (h, _) in self.versions_at(c).items():
                    first.setdefault((p, h), c)
            self._first = first
        sha = self._first.get((path, digest))
        return None if sha is None else self.info(sha)

    def ancestry(self, sha: str) -> list[str]:
        """Commits reachable from ``sha``, newest first (children before parents)."""
        seen = {sha}
        todo = [sha]
        while todo:
            for p in self.data["commits"][todo.pop()][3]:
                if p not in seen and p in self.data["commits"]:
                    seen.add(p)
                    todo.append(p)
        return self._oldest_first(seen)[::-1]

    def _oldest_first(self, shas: Iterable[str]) -> list[str]:
        """Parents before children, then by committer time. A script or a rebase makes
        several commits within one second, so time alone cannot order them."""
        commits = self.data["commits"]
        chosen = set(shas)
        children: dict[str, list[str]] = {}
        waiting: dict[str, int] = {}
        for c in chosen:
            parents = [p for p in commits[c][3] if p in chosen]
            waiting[c] = len(parents)
            for p in parents:
                children.setdefault(p, []).append(c)
        ready = [(commits[c][0], c) for c, n in waiting.items() if n == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, c = heapq.heappop(ready)
            order.append(c)
            for child in children.get(c, ()):
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (commits[child][0], child))
        return order

    def lock_at(self, sha: str) -> dict[str, lockfile.LockEntry]:
        blob = self.data["commits"][sha][4].get(lockfile.LOCK_NAME)
        if blob is None:
            return {}
        data = yamlio.loads(self.git.blob(blob).decode("utf-8"), f"{sha[:8]}:dvx.lock")
        return lockfile.parse(data, f"{sha[:8]}:dvx.lock")


# ---- dvx log ------------------------------------------------------------------------


@dataclass
class LogEntry:
    commit: CommitInfo
    hash: str
    stage: str | None
    changes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "commit": self.commit.id,
            "time": self.commit.time,
            "author": self.commit.author,
            "summary": self.commit.summary,
            "hash": self.hash,
            "stage": self.stage,
            "changes": self.changes,
        }


def entry_changes(old: lockfile.LockEntry | None, new: lockfile.LockEntry | None) -> list[str]:
    """What differs in a stage's lineage between two lock entries, in words."""
    if old is None or new is None:
        return ["new stage"] if new is not None else []
    changes: list[str] = []
    if old.cmd != new.cmd:
        changes.append("cmd")
    for f in sorted(set(old.params) | set(new.params)):
        a, b = old.params.get(f, {}), new.params.get(f, {})
        for k in sorted(set(a) | set(b)):
            for leaf, x, y in changed_keys(k, a.get(k, _GONE), b.get(k, _GONE)):
                changes.append(f"param {leaf} {_short(x)} → {_short(y)}")
    oc, nc = dict(old.code), dict(new.code)
    changes += [f"code {p}" for p in sorted(set(oc) | set(nc)) if oc.get(p) != nc.get(p)]
    od = {d.path: d.version.hash for d in old.deps}
    nd = {d.path: d.version.hash for d in new.deps}
    changes += [f"dep {p}" for p in sorted(set(od) | set(nd)) if od.get(p) != nd.get(p)]
    return changes


_GONE = object()


def _short(value: Any) -> str:
    if value is _GONE or is_missing(value):
        return "(none)"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def log(ctx: Context, path: str, rev: str = "HEAD", limit: int | None = None) -> list[LogEntry]:
    index = HistoryIndex(ctx)
    index.update()
    head = index.git.commit_id(rev)
    commits = index.ancestry(head)
    found: list[LogEntry] = []
    tracked_anywhere = False
    # Oldest first, so each entry can name what changed since the previous version.
    prev_hash: str | None = None
    prev_sha: str | None = None
    for sha in reversed(commits):
        hit = index.versions_at(sha).get(path)
        if hit is None:
            prev_hash = None
            continue
        tracked_anywhere = True
        digest, stage = hit
        if digest != prev_hash:
            entry = LogEntry(index.info(sha), digest, stage)
            if stage is not None and prev_sha is not None:
                old = index.lock_at(prev_sha).get(stage)
                entry.changes = entry_changes(old, index.lock_at(sha).get(stage))
            elif prev_hash is not None:
                entry.changes = ["data"]
            found.append(entry)
        prev_hash, prev_sha = digest, sha
    if not tracked_anywhere:
        raise UsageError(
            f"'{path}' is not a tracked output or pointer data in the history of {rev}",
            hint="give the path of a stage output or of data added with 'dvx add'",
        )
    found.reverse()
    return found[:limit] if limit else found
