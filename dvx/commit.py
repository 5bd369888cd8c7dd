"""``dvx commit``: record outputs produced by hand, or data edited in place (SPEC §7)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dvx import __version__, keys, lockfile, pointer
from dvx.checkout import split_targets
from dvx.context import Context
from dvx.errors import MissingOutputError, UsageError
from dvx.gitignore import ensure_ignored
from dvx.lockfile import OutRecord
from dvx.status import MissingDeps, collect_inputs, output_reasons, workspace_dep_version


@dataclass
class CommitResult:
    committed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def commit(ctx: Context, targets: list[str] | None = None) -> CommitResult:
    result = CommitResult()
    targets = targets or []
    stage_targets, pointer_targets = split_targets(ctx, targets)
    entries = dict(ctx.lock)
    names: list[str] = []
    if stage_targets or not targets:
        chosen = ctx.dag.resolve_targets(stage_targets) if stage_targets else set(ctx.dag.stages)
        names = [n for n in ctx.dag.order if n in chosen]
    dep_version = workspace_dep_version(ctx)
    for name in names:
        stage = ctx.dag.stages[name]
        try:
            inputs = collect_inputs(ctx, stage, dep_version)
        except MissingDeps as exc:
            raise UsageError(
                f"{stage.where()}: dep '{exc.paths[0]}' does not exist",
                hint="a stage is committed from its current inputs; create them first",
            ) from None
        key = keys.compute(stage, inputs)
        old = entries.get(name)
        if old is not None and old.key == key and not output_reasons(ctx, old.outs):
            result.unchanged.append(name)
            continue
        missing = [o.path for o in stage.outs if not os.path.exists(ctx.repo.abspath(o.path))]
        if missing:
            raise MissingOutputError(
                f"{stage.where()}: output '{missing[0]}' does not exist",
                hint=f"produce it first, or run 'dvx repro {name}'",
            )
        outs = []
        for o in stage.outs:
            path = ctx.repo.safe_path(o.path, stage.where())
            v = ctx.cache.put_path(path) if (o.cache or o.metric) else ctx.hasher.version(path)
            assert v is not None
            outs.append(OutRecord(o.path, v, o.cache, o.persist, o.metric))
            if o.cache and not o.metric:
                ensure_ignored(ctx.repo, o.path)
        entry = keys.lock_entry(stage, key, inputs, outs)
        record = {
            "started": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "committed": True,
            "dvx_version": __version__,
        }
        ctx.cache.put_run(key, {"entry": entry.to_dict(), "record": record})
        entries[name] = entry
        lockfile.write(
            ctx.repo.lock_path, {n: e for n, e in entries.items() if n in ctx.dag.stages}
        )
        result.committed.append(name)
    if pointer_targets or not targets:
        skip = {o.path for s in ctx.stages for o in s.outs}
        for pfile in pointer_targets or pointer.find_all(ctx.repo, skip):
            p = pointer.read(ctx.repo, pfile)
            path = ctx.repo.safe_path(p.path, pfile)
            if not os.path.lexists(path):
                continue
            v = ctx.hasher.version(path)
            if v is not None and v.hash == p.version.hash:
                result.unchanged.append(p.path)
                continue
            pointer.write(ctx.repo, p.path, ctx.cache.put_path(path))
            result.committed.append(p.path)
    return result
