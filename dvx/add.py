"""``dvx add``: track data that no stage produces, through a pointer file (SPEC §7)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dvx import pointer
from dvx.context import Context
from dvx.errors import UsageError
from dvx.gitignore import ensure_ignored
from dvx.hashing import Version

_RESERVED = {"dvx.yaml", "dvx.lock", ".gitignore", ".gitattributes"}


@dataclass
class AddResult:
    added: list[tuple[str, str, Version]] = field(default_factory=list)  # data, pointer, version


def _check(ctx: Context, rel: str, given: str) -> None:
    if rel == ".":
        raise UsageError("cannot track the whole repository", hint="name a file or directory")
    parts = rel.split("/")
    if parts[0] in (".git", ".dvx"):
        raise UsageError(f"'{given}' is inside {parts[0]}/", hint="dvx never tracks its own files")
    if parts[-1] in _RESERVED or rel.endswith(pointer.SUFFIX):
        raise UsageError(f"'{given}' is a dvx or git file and cannot be tracked as data")
    if not ctx.repo.abspath(rel).exists():
        raise UsageError(f"'{given}' does not exist", hint="check the path")
    hit = ctx.dag.producer(rel) or next(iter(ctx.dag.producers_within(rel)), None)
    if hit is not None:
        stage = ctx.dag.stages[hit[0]]
        raise UsageError(
            f"'{given}' overlaps output '{hit[1].path}' of stage '{stage.name}'",
            hint="stage outputs are tracked by dvx.lock; use 'dvx commit' after editing them",
        )
    for i in range(1, len(parts)):
        parent = "/".join(parts[:i])
        if ctx.repo.abspath(pointer.pointer_file_for(parent)).is_file():
            raise UsageError(
                f"'{given}' is inside '{parent}', which is already tracked",
                hint=f"run 'dvx add {parent}' to record the whole directory again",
            )


def add(ctx: Context, paths: list[str]) -> AddResult:
    result = AddResult()
    rels = []
    for given in paths:
        rel = ctx.repo.relpath(given.rstrip("/") or given)
        _check(ctx, rel, given)
        rels.append(rel)
    for rel in rels:
        path = ctx.repo.safe_path(rel, "dvx add")
        version = ctx.cache.put_path(path)
        pfile = pointer.write(ctx.repo, rel, version)
        ensure_ignored(ctx.repo, rel)
        result.added.append((rel, pfile, version))
    return result
