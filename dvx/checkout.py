"""Making workspace paths match recorded versions (SPEC §7 ``dvx checkout``).

Checkout never loses data: a workspace file about to be replaced or removed
whose content is not in the cache is first saved into the cache (and its hash
logged), so a hand-edited output can always be recovered. It never writes
outside the repository, and never links an object whose bytes do not match.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dvx import pointer
from dvx.context import Context
from dvx.errors import UnsafePathError
from dvx.fsutil import parallel
from dvx.hashing import ManifestEntry, Version, walk_files

log = logging.getLogger("dvx")


@dataclass
class CheckoutResult:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing: list[tuple[str, list[str]]] = field(default_factory=list)  # path, absent objects
    not_cached: list[str] = field(default_factory=list)


def preserve(ctx: Context, path: Path) -> None:
    """Save ``path``'s content into the cache if it is not there yet."""
    if not os.path.lexists(path):
        return
    if path.is_symlink() or not (path.is_file() or path.is_dir()):
        return
    v = ctx.hasher.version(path)
    if v is None:
        return
    if v.is_dir:
        data, entries = ctx.hasher.dir_manifest(path)
        saved = [e for e in entries if not ctx.cache.has(e.hash)]
        for e in saved:
            ctx.cache.put_file(path / e.path, e.hash)
        if saved:
            ctx.cache.put_bytes(data)
            log.warning(
                "saved %d unrecorded file(s) of '%s' to the cache (directory %s)",
                len(saved),
                path,
                v.hash,
            )
    elif not ctx.cache.has(v.hash):
        ctx.cache.put_file(path, v.hash)
        log.warning("saved unrecorded '%s' to the cache as %s", path, v.hash)


def remove(ctx: Context, path: Path) -> None:
    """Delete a workspace path after preserving any content the cache lacks."""
    preserve(ctx, path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def make_parents(ctx: Context, path: Path) -> None:
    """Create the directories above ``path``; a file in the way is preserved, then removed."""
    for rel in reversed(path.relative_to(ctx.repo.root).parents[:-1]):
        parent = ctx.repo.root / rel
        if os.path.lexists(parent) and not parent.is_dir():
            remove(ctx, parent)
    path.parent.mkdir(parents=True, exist_ok=True)


def _check_inside(ctx: Context, path: Path, source: str) -> None:
    real_root = os.path.realpath(ctx.repo.root)
    real = os.path.realpath(path)
    if not (real == real_root or real.startswith(real_root + os.sep)):
        raise UnsafePathError(
            f"{source}: '{path.relative_to(ctx.repo.root)}' leads out of the repository "
            "through a symlink",
            hint="remove the symlink",
        )


def place(ctx: Context, rel: str, version: Version, source: str, *, compare: bool = True) -> bool:
    """Make ``rel`` hold ``version`` from the cache; True if anything changed.

    Callers check ``ctx.cache.missing(version)`` first: every object must be intact.
    ``compare=False`` is for callers that already know the workspace differs
    (hashing a big directory twice is not free).
    """
    dest = ctx.repo.safe_path(rel, source)
    if compare:
        current = ctx.hasher.version(dest)
        if current is not None and current.hash == version.hash:
            return False
    if not version.is_dir:
        if dest.is_dir() and not dest.is_symlink():
            remove(ctx, dest)
        else:
            preserve(ctx, dest)
        make_parents(ctx, dest)
        ctx.cache.link_file(version.hash, dest)
        return True
    fresh = not os.path.lexists(dest)
    if not fresh and not dest.is_dir():
        remove(ctx, dest)
        fresh = True
    make_parents(ctx, dest)
    dest.mkdir(parents=True, exist_ok=True)
    _check_inside(ctx, dest, source)
    entries = ctx.cache.read_manifest(version.hash)
    base = str(dest)
    todo: list[tuple[str, str]]
    if fresh:
        # A directory dvx just created holds nothing to compare, preserve or remove.
        todo = [(e.hash, f"{base}/{e.path}") for e in entries]
        for d in sorted({os.path.dirname(t) for _, t in todo}):
            os.makedirs(d, exist_ok=True)
    else:
        todo = _update_dir(ctx, dest, entries, source)
    # Directories are ready and nothing is left to preserve: link in parallel.
    parallel(lambda item: ctx.cache.link_file(*item, new=fresh), todo, group=_dirname)
    if not fresh:
        _prune_empty_dirs(dest)
    return True


def _dirname(item: tuple[str, str]) -> str:
    return os.path.dirname(item[1])


def _update_dir(
    ctx: Context, dest: Path, entries: list[ManifestEntry], source: str
) -> list[tuple[str, str]]:
    """Prepare an existing directory for :func:`place`: remove files the version
    lacks and save what they held; return the (object, path) pairs to write."""
    wanted = {e.path: e for e in entries}
    have = walk_files(dest)
    have_hash = ctx.hasher.hash_files({str(dest / r): st for r, st in have.items()})
    for r in sorted(set(have) - set(wanted)):
        remove(ctx, dest / r)
    checked_dirs: set[Path] = set()
    todo: list[tuple[str, str]] = []
    for r, e in sorted(wanted.items()):
        target = dest / r
        if have_hash.get(str(target)) == e.hash:
            continue
        parent = target.parent
        if parent not in checked_dirs:
            if os.path.lexists(parent) and not parent.is_dir():
                remove(ctx, parent)
            parent.mkdir(parents=True, exist_ok=True)
            _check_inside(ctx, parent, source)
            checked_dirs.add(parent)
        if target.is_dir() and not target.is_symlink():
            remove(ctx, target)
        elif r in have:
            preserve(ctx, target)
        todo.append((e.hash, str(target)))
    return todo


def _prune_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        if dirpath != str(root):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def restore(ctx: Context, rel: str, version: Version, source: str, result: CheckoutResult) -> None:
    current = ctx.hasher.version(ctx.repo.safe_path(rel, source))
    if current is not None and current.hash == version.hash:
        result.unchanged.append(rel)  # e.g. metrics restored by git itself: no cache needed
        return
    missing = ctx.cache.missing(version)
    if missing:
        result.missing.append((rel, missing))
        return
    place(ctx, rel, version, source, compare=False)
    result.changed.append(rel)


def checkout(ctx: Context, targets: list[str] | None = None) -> CheckoutResult:
    """Make stage outputs match ``dvx.lock`` and pointer data match its pointer files."""
    from dvx.gitignore import ensure_ignored

    result = CheckoutResult()
    targets = targets or []
    stage_targets, pointer_targets = split_targets(ctx, targets)
    lock = ctx.lock
    if not targets or stage_targets:
        chosen = ctx.dag.resolve_targets(stage_targets) if stage_targets else set(ctx.dag.stages)
        for name in [n for n in ctx.dag.order if n in chosen]:
            entry = lock.get(name)
            if entry is None:
                continue
            for o in entry.outs:
                if not o.stored:
                    result.not_cached.append(o.path)
                    continue
                restore(ctx, o.path, o.version, "dvx.lock", result)
                if not o.metric:
                    ensure_ignored(ctx.repo, o.path)
    if not targets:
        skip = {o.path for s in ctx.stages for o in s.outs}
        pointer_targets = pointer.find_all(ctx.repo, skip)
    for pfile in pointer_targets:
        p = pointer.read(ctx.repo, pfile)
        restore(ctx, p.path, p.version, pfile, result)
    return result


def split_targets(ctx: Context, targets: list[str]) -> tuple[list[str], list[str]]:
    """Targets as stage names (or outputs) and as pointer files."""
    stages: list[str] = []
    pointers: list[str] = []
    for t in targets:
        if t in ctx.dag.stages or any(n.startswith(t + "@") for n in ctx.dag.stages):
            stages.append(t)
            continue
        rel = ctx.repo.relpath(t.removesuffix(pointer.SUFFIX))
        pfile = pointer.pointer_file_for(rel)
        if ctx.repo.abspath(pfile).is_file():
            pointers.append(pfile)
        else:
            stages.append(rel)  # an output path, or an unknown target dag reports
    return stages, pointers
