"""Python API for notebooks and scripts (SPEC §9).

Load any tracked dataset or model at any git revision without a checkout::

    import dvx.api

    with dvx.api.open("models/model.pkl", rev="v1.2") as f:
        model = pickle.load(f)
    table = dvx.api.read_table("data/features.parquet", rev="HEAD~3")
    print(dvx.api.lineage("models/model.pkl")["root"]["params"])

Paths are relative to the repository root. ``rev=None`` means the workspace.
Bytes come from the workspace (``rev=None``), the local cache, or — when the
object is missing locally — the remote (``remote=`` or the default remote),
verified against its hash before use. Errors are :class:`dvx.errors.DvxError`
subclasses carrying the same messages as the CLI.
"""

from __future__ import annotations

import builtins
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dvx.context import Context, open_context
from dvx.errors import CacheMissError, UsageError

if TYPE_CHECKING:
    import pyarrow

__all__ = ["lineage", "open", "read_bytes", "read_table", "read_text", "repro", "status"]


def _context(repo: str | os.PathLike[str]) -> Context:
    return open_context(Path(repo))


def _rel(ctx: Context, path: str | os.PathLike[str]) -> str:
    p = Path(path)
    return ctx.repo.relpath(p if p.is_absolute() else ctx.repo.root / p)


def _object(ctx: Context, digest: str, remote: str | None, what: str) -> Path:
    """The local cache path of an intact object, fetching it when missing."""
    if ctx.cache.is_intact(digest):
        return ctx.cache.object_path(digest)
    from dvx.hashing import Version
    from dvx.remote import open_remote
    from dvx.transfer import Fetcher

    if remote is None and not ctx.config.core.get("remote"):
        raise CacheMissError(
            f"{what}: object {digest} is not in the local cache and no remote is configured",
            hint="pass remote='NAME', or configure one with 'dvx remote add -d'",
        )
    fetcher = Fetcher(ctx, open_remote(ctx.config, remote, ctx.repo.root), jobs=4)
    if not fetcher.fetch_versions([Version(digest, 0)]):
        raise CacheMissError(
            f"{what}: object {digest} could not be fetched from remote "
            f"'{fetcher.remote.name}' (missing or corrupt)",
            hint="was it pushed? 'dvx check --remote' lists what a remote lacks",
        )
    return ctx.cache.object_path(digest)


def _locate(
    ctx: Context, path: str, rev: str | None, remote: str | None
) -> tuple[Path | None, bytes | None]:
    """Where the bytes of ``path`` at ``rev`` are: a local file, or bytes from git."""
    from dvx import snapshot

    if rev is None:
        workspace = ctx.repo.abspath(path)
        if workspace.is_file():
            return workspace, None
    snap = snapshot.at(ctx, rev)
    hit = snap.producer(path)
    version = hit[1].version if hit else None
    base = hit[1].path if hit else None
    if hit is None and (p := snap.pointer_for(path)) is not None:
        version, base = p.version, p.path
    what = f"'{path}' at {snap.label}"
    if version is not None and base is not None:
        if base == path and not version.is_dir:
            return _object(ctx, version.hash, remote, what), None
        if base == path:
            raise UsageError(f"{what} is a directory", hint="open a file inside it")
        manifest = _object(ctx, version.hash, remote, what)
        from dvx.hashing import parse_manifest

        inner = path[len(base) + 1 :]
        for e in parse_manifest(manifest.read_bytes(), f"manifest of {base}"):
            if e.path == inner:
                return _object(ctx, e.hash, remote, what), None
        raise UsageError(f"{what}: no file '{inner}' in directory '{base}'")
    if rev is not None:
        from dvx.git import GitRepo

        git = GitRepo(ctx.repo.root)
        data = git.read(git.resolve(rev), path)
        if data is not None:
            return None, data
    raise UsageError(
        f"{what} is neither tracked by dvx nor a file in git",
        hint="give a stage output, data added with 'dvx add', or a committed file",
    )


def read_bytes(
    path: str | os.PathLike[str],
    rev: str | None = None,
    remote: str | None = None,
    repo: str | os.PathLike[str] = ".",
) -> bytes:
    """The bytes of ``path`` at ``rev`` (default: the workspace)."""
    ctx = _context(repo)
    try:
        local, data = _locate(ctx, _rel(ctx, path), rev, remote)
    finally:
        ctx.close()
    return data if data is not None else Path(local or "").read_bytes()


def read_text(
    path: str | os.PathLike[str],
    rev: str | None = None,
    remote: str | None = None,
    repo: str | os.PathLike[str] = ".",
    encoding: str = "utf-8",
) -> str:
    return read_bytes(path, rev, remote, repo).decode(encoding)


def open(  # mirrors builtins.open, as dvc.api.open does
    path: str | os.PathLike[str],
    rev: str | None = None,
    remote: str | None = None,
    repo: str | os.PathLike[str] = ".",
    mode: str = "rb",
    encoding: str | None = None,
) -> IO[Any]:
    """A read-only file object (usable as a context manager) for ``path`` at ``rev``."""
    if mode not in ("r", "rb", "rt"):
        raise UsageError(f"dvx.api.open: mode '{mode}' is not supported", hint="use 'rb' or 'r'")
    ctx = _context(repo)
    try:
        local, data = _locate(ctx, _rel(ctx, path), rev, remote)
    finally:
        ctx.close()
    if local is not None:
        return builtins.open(local, mode, encoding=encoding if "b" not in mode else None)
    raw = io.BytesIO(data or b"")
    return raw if "b" in mode else io.TextIOWrapper(raw, encoding=encoding or "utf-8")


def read_table(
    path: str | os.PathLike[str],
    rev: str | None = None,
    remote: str | None = None,
    repo: str | os.PathLike[str] = ".",
    **kwargs: Any,
) -> pyarrow.Table:
    """A Parquet, CSV/TSV or Arrow/Feather file as a ``pyarrow.Table`` (by extension)."""
    from dvx import tablestats

    ctx = _context(repo)
    try:
        local, data = _locate(ctx, _rel(ctx, path), rev, remote)
    finally:
        ctx.close()
    source = local if local is not None else (data or b"")
    return tablestats.read_table(source, str(path), **kwargs)


def lineage(
    path: str | os.PathLike[str], rev: str | None = None, repo: str | os.PathLike[str] = "."
) -> dict[str, Any]:
    """The same content as ``dvx lineage PATH --json``."""
    from dvx import lineage as lineage_mod

    ctx = _context(repo)
    try:
        return lineage_mod.lineage(ctx, _rel(ctx, path), rev).to_json()
    finally:
        ctx.close()


def status(repo: str | os.PathLike[str] = ".") -> dict[str, Any]:
    """The same content as ``dvx status --json``."""
    from dvx import status as status_mod

    ctx = _context(repo)
    try:
        return status_mod.status(ctx).to_json()
    finally:
        ctx.close()


def repro(
    targets: Sequence[str] | None = None,
    repo: str | os.PathLike[str] = ".",
    *,
    force: bool = False,
    dry: bool = False,
    jobs: int = 1,
    downstream: bool = False,
    keep_going: bool = False,
    no_remote: bool = False,
) -> dict[str, Any]:
    """Run ``dvx repro``; returns the same content as ``dvx repro --json``.

    Stage commands print to this process's stdout and stderr. A failed stage does
    not raise: check ``result["stages"][i]["outcome"]``.
    """
    from dvx import repro as repro_mod
    from dvx.lock import repo_lock
    from dvx.transfer import default_remote_tiers

    ctx = _context(repo)
    try:
        opts = repro_mod.ReproOptions(list(targets or []), force, dry, jobs, downstream, keep_going)
        remotes = [] if no_remote else default_remote_tiers(ctx)
        if dry:
            return repro_mod.repro(ctx, opts, remotes=remotes).to_json()
        with repo_lock(ctx.repo.tmp_dir):
            return repro_mod.repro(ctx, opts, remotes=remotes).to_json()
    finally:
        ctx.close()
