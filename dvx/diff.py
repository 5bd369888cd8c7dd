"""``dvx diff``: tracked data added, modified or deleted between two versions (SPEC §8).

A side is a git revision or the workspace. At a revision, ``dvx.lock`` and the
``*.dvx`` pointer files are read straight from git objects (:mod:`dvx.snapshot`):
nothing is checked out, and no blob other than those files is read, unless
``--stats`` needs the bytes of an output kept in git. In the workspace, the
tracked paths are the outputs of the current lock and the current pointer files,
and their versions are those of the actual data (hashed through the stat cache),
or the recorded ones when the data is absent: a fresh clone before ``dvx pull``
has no changes, not a list of deletions.

Directory outputs are compared file by file through their manifests. A manifest
missing locally is fetched from the default remote; when no one has it, the
report says the directory changed but not how. ``--stats`` reads tabular files
(:mod:`dvx.tablestats`) from the version's bytes wherever they are found: the
workspace, the local cache, the git blob, or the default remote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvx import lockfile, pointer, snapshot
from dvx.context import Context
from dvx.errors import DvxError, UsageError
from dvx.git import GitRepo
from dvx.hashing import ManifestEntry, Version, hash_bytes

if TYPE_CHECKING:
    from dvx.snapshot import Snapshot
    from dvx.tablestats import Source, TableDiff
    from dvx.transfer import Fetcher

log = logging.getLogger("dvx")

DIFF_JSON_VERSION = 1
WORKSPACE = "workspace"
ADDED, MODIFIED, DELETED = "added", "modified", "deleted"


@dataclass(frozen=True)
class Tracked:
    """One tracked path on one side, and what records it there."""

    path: str
    version: Version
    stage: str | None = None  # the stage whose lock entry lists it as an output
    pointer: str | None = None  # or the pointer file written by ``dvx add``


@dataclass
class FileChange:
    """A file inside a directory output; ``path`` is repo-relative."""

    path: str
    status: str
    old: Version | None
    new: Version | None
    stats: TableDiff | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "old": _version_json(self.old),
            "new": _version_json(self.new),
            "stats": None if self.stats is None else self.stats.to_json(),
        }


@dataclass
class Change:
    path: str
    status: str
    old: Tracked | None
    new: Tracked | None
    # Directories: the files that changed inside, or None when a manifest is
    # unavailable (``files_error`` says why).
    files: list[FileChange] | None = None
    files_error: str | None = None
    stats: TableDiff | None = None

    @property
    def is_dir(self) -> bool:
        return any(t is not None and t.version.is_dir for t in (self.old, self.new))

    @property
    def latest(self) -> Tracked:
        """The newest record of the path (the old one for a deletion)."""
        t = self.new or self.old
        assert t is not None
        return t

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "type": "directory" if self.is_dir else "file",
            "stage": self.latest.stage,
            "pointer": self.latest.pointer,
            "old": _version_json(self.old.version if self.old else None),
            "new": _version_json(self.new.version if self.new else None),
            "files": None if self.files is None else [f.to_json() for f in self.files],
            "files_error": self.files_error,
            "stats": None if self.stats is None else self.stats.to_json(),
        }


@dataclass
class DiffReport:
    a: str  # revision as given, e.g. "HEAD"
    a_commit: str | None
    b: str  # a revision, or "workspace"
    b_commit: str | None
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = {ADDED: 0, MODIFIED: 0, DELETED: 0}
        for c in self.changes:
            found[c.status] += 1
        return found

    def to_json(self) -> dict[str, Any]:
        return {
            "version": DIFF_JSON_VERSION,
            "a": {"rev": self.a, "commit": self.a_commit},
            "b": {"rev": self.b, "commit": self.b_commit},
            "changes": [c.to_json() for c in self.changes],
            "summary": self.counts(),
        }


def _version_json(v: Version | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {"hash": v.hash, "size": v.size, "nfiles": v.nfiles}


# ---- where object bytes come from --------------------------------------------


class _Objects:
    """Objects of the local cache, fetched from the default remote when missing."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._fetcher: Fetcher | None = None
        self._remote_state = "unopened"  # "unopened", "open", or why there is none

    def _fetch(self, digest: str) -> bool:
        if self._remote_state == "unopened":
            self._open_remote()
        if self._fetcher is None:
            return False
        return self._fetcher.fetch_versions([Version(digest, 0)]) and self.ctx.cache.has(digest)

    def _open_remote(self) -> None:
        from dvx.remote import open_remote
        from dvx.transfer import DEFAULT_JOBS, Fetcher

        if not self.ctx.config.core.get("remote"):
            self._remote_state = "no default remote to fetch it from"
            return
        try:
            remote = open_remote(self.ctx.config, None, self.ctx.repo.root)
        except DvxError as exc:
            # A diff of hashes is still worth printing without the remote.
            log.warning("cannot use the default remote: %s", exc.message)
            self._remote_state = f"default remote unusable: {exc.message}"
            return
        self._fetcher = Fetcher(self.ctx, remote, DEFAULT_JOBS)
        self._remote_state = "open"

    def why_missing(self, digest: str) -> str:
        if self._fetcher is None:
            return f"not in the local cache ({self._remote_state})"
        name = self._fetcher.remote.name
        for h, error in self._fetcher.result.failed:
            if h == digest:
                return (
                    f"not in the local cache, and fetching it from remote '{name}' failed: {error}"
                )
        if digest in self._fetcher.result.corrupt:
            return f"not in the local cache, and corrupt on remote '{name}'"
        return f"not in the local cache or on remote '{name}'"

    def local(self, digest: str) -> Path | None:
        return self.ctx.cache.object_path(digest) if self.ctx.cache.is_intact(digest) else None

    def fetched(self, digest: str) -> Path | None:
        return self.ctx.cache.object_path(digest) if self._fetch(digest) else None

    def manifest(self, digest: str) -> list[ManifestEntry] | None:
        if self.local(digest) is None and self.fetched(digest) is None:
            return None
        return self.ctx.cache.read_manifest(digest)


# ---- the two sides -------------------------------------------------------------


class _Side:
    label: str
    commit: str | None
    objects: _Objects

    def tracked(self, selected: Callable[[str], bool]) -> dict[str, Tracked]:
        raise NotImplementedError

    def manifest(self, t: Tracked) -> list[ManifestEntry] | None:
        raise NotImplementedError

    def file_source(self, path: str, digest: str) -> Source | None:
        raise NotImplementedError


def _recorded(snap: Snapshot) -> dict[str, Tracked]:
    """Every path the lock and pointer files of a snapshot track, with what tracks it."""
    found: dict[str, Tracked] = {}
    for name, entry in sorted(snap.lock.items()):
        for o in entry.outs:
            found.setdefault(o.path, Tracked(o.path, o.version, stage=name))
    for p in sorted(snap.pointers.values(), key=lambda p: p.file):
        found.setdefault(p.path, Tracked(p.path, p.version, pointer=p.file))
    return found


class _Revision(_Side):
    def __init__(self, ctx: Context, history: GitRepo, rev: str, objects: _Objects) -> None:
        # Reads only the lock and pointer blobs of the commit; nothing is checked out.
        snap = snapshot.at(ctx, rev)
        self.label = snap.label
        self.commit = snap.commit
        self.history = history
        self._commit = history.resolve(rev)
        self._recorded = _recorded(snap)
        self.objects = objects

    def tracked(self, selected: Callable[[str], bool]) -> dict[str, Tracked]:
        return {p: t for p, t in self._recorded.items() if selected(p)}

    def manifest(self, t: Tracked) -> list[ManifestEntry] | None:
        return self.objects.manifest(t.version.hash)

    def file_source(self, path: str, digest: str) -> Source | None:
        local = self.objects.local(digest)
        if local is not None:
            return local
        # Outputs kept in git (metrics, cache: false) have their bytes in the commit.
        blob = self.history.read(self._commit, path)
        if blob is not None and hash_bytes(blob) == digest:
            return blob
        return self.objects.fetched(digest)


class _Workspace(_Side):
    def __init__(self, ctx: Context, objects: _Objects) -> None:
        self.ctx = ctx
        self.label = WORKSPACE
        self.commit = None
        self.objects = objects
        self._present: set[str] = set()  # tracked paths whose data is in the workspace

    def tracked(self, selected: Callable[[str], bool]) -> dict[str, Tracked]:
        found = {}
        for path, rec in _recorded(snapshot.at(self.ctx, None)).items():
            if not selected(path):
                continue
            source = rec.pointer or f"{lockfile.LOCK_NAME}: stage '{rec.stage}'"
            v = self.ctx.hasher.version(self.ctx.repo.safe_path(path, source))
            if v is None:
                found[path] = rec
            else:
                self._present.add(path)
                found[path] = Tracked(path, v, rec.stage, rec.pointer)
        return found

    def manifest(self, t: Tracked) -> list[ManifestEntry] | None:
        if t.path in self._present:
            # Hashed a moment ago by tracked(): the stat cache makes this a re-walk only.
            _, entries = self.ctx.hasher.dir_manifest(self.ctx.repo.abspath(t.path))
            return entries
        return self.objects.manifest(t.version.hash)

    def file_source(self, path: str, digest: str) -> Source | None:
        abspath = self.ctx.repo.abspath(path)
        if abspath.is_file() and self.ctx.hasher.file_version(abspath).hash == digest:
            return abspath
        return self.objects.local(digest) or self.objects.fetched(digest)


# ---- targets -------------------------------------------------------------------


class _Targets:
    """Repo-relative target paths; no targets selects everything."""

    def __init__(self, targets: list[str]) -> None:
        self.paths = targets

    def selects(self, path: str) -> bool:
        """A tracked path is kept when it is a target, under one, or contains one."""
        if not self.paths:
            return True
        return any(_under(path, t) or _under(t, path) for t in self.paths)

    def covers(self, path: str) -> bool:
        """A file inside a directory output is listed when it is a target or under one."""
        return not self.paths or any(_under(path, t) for t in self.paths)


def _under(path: str, parent: str) -> bool:
    return parent == "." or path == parent or path.startswith(parent + "/")


def normalize_targets(ctx: Context, targets: list[str]) -> list[str]:
    """Repo-relative paths of user-given targets; a pointer file stands for its data."""
    found = []
    for t in targets:
        rel = ctx.repo.relpath(t)
        if rel.endswith(pointer.SUFFIX) and ctx.repo.abspath(rel).is_file():
            rel = rel[: -len(pointer.SUFFIX)]
        found.append(rel)
    return found


def split_args(ctx: Context, args: list[str]) -> tuple[list[str], list[str]]:
    """Revisions and targets from positional arguments given without ``--``.

    As in git: leading arguments that name a revision are revisions (at most two),
    unless they are also paths in the workspace or tracked by dvx; the rest are
    targets. A leading argument that is neither is an error rather than a target
    that silently matches nothing.
    """
    history = GitRepo(ctx.repo.root)
    lock_outs = {o.path for e in ctx.lock.values() for o in e.outs}
    revs: list[str] = []
    targets: list[str] = []
    for arg in args:
        if targets or len(revs) == 2:
            targets.append(arg)
            continue
        if _is_path(ctx, arg, lock_outs):
            targets.append(arg)
        elif _is_revision(history, arg):
            revs.append(arg)
        else:
            raise UsageError(
                f"unknown revision or path '{arg}'",
                hint="separate revisions from paths with '--': dvx diff [REV_A [REV_B]] -- PATH…",
            )
    return revs, targets


def _is_path(ctx: Context, arg: str, lock_outs: set[str]) -> bool:
    if os.path.lexists(arg):
        return True
    try:
        rel = ctx.repo.relpath(arg)
    except DvxError:
        return False
    return (
        any(_under(o, rel) or _under(rel, o) for o in lock_outs)
        or ctx.repo.abspath(pointer.pointer_file_for(rel)).is_file()
    )


def _is_revision(history: GitRepo, arg: str) -> bool:
    try:
        history.resolve(arg)
    except UsageError:
        return False
    return True


# ---- the comparison -------------------------------------------------------------


def diff(
    ctx: Context,
    rev_a: str | None = None,
    rev_b: str | None = None,
    targets: list[str] | None = None,
    stats: bool = False,
) -> DiffReport:
    """Compare ``rev_a`` (default HEAD) with ``rev_b`` (default: the workspace)."""
    if rev_b is not None and rev_a is None:
        raise UsageError("a second revision needs a first one")
    if stats:
        from dvx import tablestats

        tablestats.require()
    history = GitRepo(ctx.repo.root)
    objects = _Objects(ctx)
    a: _Side = _Revision(ctx, history, rev_a or "HEAD", objects)
    b: _Side = _Revision(ctx, history, rev_b, objects) if rev_b else _Workspace(ctx, objects)
    chosen = _Targets(normalize_targets(ctx, targets or []))
    old = a.tracked(chosen.selects)
    new = b.tracked(chosen.selects)
    report = DiffReport(a.label, a.commit, b.label, b.commit)
    for path in sorted(set(old) | set(new)):
        o, n = old.get(path), new.get(path)
        if o is not None and n is not None and o.version.hash == n.version.hash:
            continue
        status = ADDED if o is None else DELETED if n is None else MODIFIED
        change = Change(path, status, o, n)
        if change.is_dir:
            _dir_changes(change, a, b, chosen, stats)
            if change.files == [] and not chosen.covers(path):
                continue  # a target inside the directory, and nothing under it changed
        elif stats:
            ov, nv = (o.version if o else None), (n.version if n else None)
            change.stats = _table_diff(path, a, ov, b, nv)
        report.changes.append(change)
    return report


def _entries(side: _Side, t: Tracked | None) -> list[ManifestEntry] | None:
    if t is None or not t.version.is_dir:
        return []  # absent, or a file on this side: no files inside
    return side.manifest(t)


def _dir_changes(change: Change, a: _Side, b: _Side, chosen: _Targets, stats: bool) -> None:
    before = _entries(a, change.old)
    after = _entries(b, change.new)
    if before is None or after is None:
        missing = change.old if before is None else change.new
        assert missing is not None
        digest = missing.version.hash
        why = (a if before is None else b).objects.why_missing(digest)
        what = "old" if before is None else "new"
        change.files_error = f"manifest of the {what} version ({digest}) is {why}"
        return
    old_files = {e.path: Version(e.hash, e.size) for e in before}
    new_files = {e.path: Version(e.hash, e.size) for e in after}
    files = []
    for rel in sorted(set(old_files) | set(new_files)):
        path = f"{change.path}/{rel}"
        ov, nv = old_files.get(rel), new_files.get(rel)
        if (ov is not None and nv is not None and ov.hash == nv.hash) or not chosen.covers(path):
            continue
        status = ADDED if ov is None else DELETED if nv is None else MODIFIED
        fc = FileChange(path, status, ov, nv)
        if stats:
            fc.stats = _table_diff(path, a, ov, b, nv)
        files.append(fc)
    change.files = files


def _table_diff(
    path: str, a: _Side, old: Version | None, b: _Side, new: Version | None
) -> TableDiff | None:
    from dvx import tablestats

    fmt = tablestats.table_format(path)
    if fmt is None:
        return None
    sources: list[Source | None] = []
    errors = []
    for side, what, v in ((a, "old", old), (b, "new", new)):
        source = None if v is None else side.file_source(path, v.hash)
        if v is not None and source is None:
            errors.append(f"{what} version ({v.hash}) is {side.objects.why_missing(v.hash)}")
        sources.append(source)
    result = tablestats.compare(fmt, sources[0], sources[1])
    result.errors[:0] = errors
    return result
