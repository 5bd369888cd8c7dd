"""``dvx gc``: remove cache objects nothing references (SPEC §7).

What is kept: every object that the workspace's lock and pointer files
reference (directory manifests with every file they list), and with
``--all-commits`` what any commit's lock and pointer files reference, read from
git history with pygit2. Action-cache entries survive when every object they
name is kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dvx import lockfile, pointer
from dvx.cache import parse_run
from dvx.context import Context
from dvx.hashing import Version
from dvx.repo import Repo


@dataclass
class GcResult:
    where: str  # "local" or the remote's name
    removed_objects: list[str] = field(default_factory=list)
    removed_runs: list[str] = field(default_factory=list)
    kept_objects: int = 0
    freed_bytes: int = 0
    dry: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "where": self.where,
            "dry": self.dry,
            "removed_objects": len(self.removed_objects),
            "removed_runs": len(self.removed_runs),
            "kept_objects": self.kept_objects,
            "freed_bytes": self.freed_bytes,
        }


@dataclass
class Keep:
    versions: set[Version] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)


def _add_lock(keep: Keep, entries: dict[str, lockfile.LockEntry]) -> None:
    for e in entries.values():
        keep.keys.add(e.key)
        keep.versions.update(o.version for o in e.outs if o.stored)


def referenced(ctx: Context, *, all_commits: bool) -> Keep:
    keep = Keep()
    _add_lock(keep, ctx.lock)
    skip = {o.path for s in ctx.stages for o in s.outs}
    for pfile in pointer.find_all(ctx.repo, skip):
        keep.versions.add(pointer.read(ctx.repo, pfile).version)
    if all_commits:
        _add_history(ctx.repo, keep)
    return keep


def _add_history(repo: Repo, keep: Keep) -> None:
    from ruamel.yaml import YAML

    from dvx.git import GitRepo

    history = GitRepo(repo.root)
    yaml = YAML(typ="safe")
    seen_blobs: set[bytes] = set()
    for commit in history.all_commits():
        for path, data in history.files(
            commit, lambda p: p == lockfile.LOCK_NAME or p.endswith(pointer.SUFFIX)
        ):
            if data in seen_blobs:
                continue
            seen_blobs.add(data)
            try:
                doc = yaml.load(data)
                if path == lockfile.LOCK_NAME:
                    _add_lock(keep, lockfile.parse(doc, f"{commit.short_id}:{path}"))
                elif isinstance(doc, dict) and "hash" in doc:
                    nfiles = doc.get("nfiles")
                    keep.versions.add(
                        Version(str(doc["hash"]), int(doc.get("size", 0)), nfiles and int(nfiles))
                    )
            except Exception:  # an unreadable old file keeps nothing, but stops nothing
                continue


def _expand(ctx: Context, versions: Iterable[Version], read: Any) -> set[str]:
    """Every object hash of the versions, following directory manifests."""
    from dvx.hashing import parse_manifest

    objects: set[str] = set()
    for v in versions:
        objects.add(v.hash)
        if v.is_dir:
            data = read(v.hash)
            if data is not None:
                objects.update(e.hash for e in parse_manifest(data, f"manifest {v.hash}"))
    return objects


def _run_objects(doc: dict[str, Any] | None) -> set[str] | None:
    if doc is None:
        return None
    try:
        entry = lockfile.parse_entry("run", doc.get("entry") or {}, "action-cache entry")
    except Exception:
        return None
    return {o.version.hash for o in entry.outs if o.stored}


def gc_local(ctx: Context, keep: Keep, *, dry: bool = False) -> GcResult:
    cache = ctx.cache

    def read(h: str) -> bytes | None:
        p = cache.object_path(h)
        return p.read_bytes() if p.is_file() else None

    live = _expand(ctx, keep.versions, read)
    result = GcResult("local", dry=dry)
    for run_file in _walk(cache.runs):
        key = run_file.parent.name + run_file.name
        objs = _run_objects(cache.get_run(key))
        if key in keep.keys or (objs is not None and objs <= live):
            continue
        result.removed_runs.append(key)
        if not dry:
            run_file.unlink()
    for obj in _walk(cache.objects):
        h = obj.parent.name + obj.name
        if h in live:
            result.kept_objects += 1
            continue
        result.removed_objects.append(h)
        result.freed_bytes += obj.stat().st_size
        if not dry:
            obj.unlink()
    return result


def gc_remote(ctx: Context, keep: Keep, remote_name: str, *, dry: bool = False) -> GcResult:
    from dvx.remote import open_remote

    remote = open_remote(ctx.config, remote_name, ctx.repo.root)

    def read(h: str) -> bytes | None:
        p = ctx.cache.object_path(h)
        return p.read_bytes() if p.is_file() else remote.read(remote.object_path(h))

    live = _expand(ctx, keep.versions, read)
    result = GcResult(remote.name, dry=dry)
    stale_runs = []
    for key in sorted(remote.list_runs()):
        if key in keep.keys:
            continue
        data = remote.read(remote.run_path(key))
        objs = _run_objects(parse_run(data, f"remote entry {key}") if data else None)
        if objs is not None and objs <= live:
            continue
        stale_runs.append(key)
    stale = sorted(remote.list_loose() - live)
    # A pack goes only when none of its objects is live (packs are not rewritten).
    packs: dict[str, list[str]] = {}
    for h, where in remote.packed().items():
        packs.setdefault(where.pack, []).append(h)
    dead_packs = sorted(name for name, objs in packs.items() if not live.intersection(objs))
    result.kept_objects = len(live)
    result.removed_runs = stale_runs
    result.removed_objects = sorted(set(stale).union(*(packs[n] for n in dead_packs)))
    if not dry:
        # Entries first: an entry must never outlive the objects it names.
        remote.delete([remote.run_path(k) for k in stale_runs])
        remote.delete([remote.object_path(h) for h in stale])
        remote.delete_packs(dead_packs)
    return result


def _walk(base: os.PathLike[str]) -> Iterable[Any]:
    from pathlib import Path

    root = Path(base)
    if not root.is_dir():
        return []
    return [f for d in sorted(root.iterdir()) if d.is_dir() for f in sorted(d.iterdir())]
