"""How the workspace compares with the lock, stage by stage (SPEC §6 ``status``).

This module also holds the evaluation that ``repro`` and ``check`` share:
collecting a stage's current inputs, computing its key, and explaining every
difference from its lock entry as a reason.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dvx import keys, pointer
from dvx.context import Context
from dvx.hashing import Version
from dvx.keys import StageInputs
from dvx.lockfile import LockEntry, OutRecord, PathVersion
from dvx.params import changed_keys
from dvx.params import values as param_values
from dvx.stagefile import Stage

DepVersion = Callable[[str], Version | None]

# Reasons that leave the key unchanged: the stage's outputs only need restoring.
_OUTPUT_REASONS = ("out missing: ", "out modified: ")
STATUS_JSON_VERSION = 1


@dataclass
class StageStatus:
    name: str
    reasons: list[str] = field(default_factory=list)
    key: str | None = None
    inputs: StageInputs | None = None

    @property
    def key_changed(self) -> bool:
        return any(not r.startswith(_OUTPUT_REASONS) for r in self.reasons)


@dataclass
class DataStatus:
    path: str
    pointer: str
    reasons: list[str]


@dataclass
class StatusReport:
    stages: list[StageStatus]
    data: list[DataStatus]
    removed: list[str] = field(default_factory=list)  # lock entries whose stage is gone

    @property
    def clean(self) -> bool:
        return not self.stages and not self.data and not self.removed

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATUS_JSON_VERSION,
            "clean": self.clean,
            "stages": [{"name": s.name, "reasons": s.reasons} for s in self.stages],
            "data": [
                {"path": d.path, "pointer": d.pointer, "reasons": d.reasons} for d in self.data
            ],
            "removed": self.removed,
        }


class MissingDeps(Exception):
    def __init__(self, paths: list[str]) -> None:
        super().__init__(", ".join(paths))
        self.paths = paths


def collect_inputs(ctx: Context, stage: Stage, dep_version: DepVersion) -> StageInputs:
    """Current versions of a stage's deps, code and params, and its env values.

    Raises :class:`MissingDeps` naming deps that have no version anywhere.
    """
    inputs = StageInputs()
    missing = []
    for dep in stage.deps:
        v = dep_version(dep)
        if v is None:
            missing.append(dep)
        else:
            inputs.deps.append(PathVersion(dep, v))
    if missing:
        raise MissingDeps(missing)
    for path in ctx.code_scanner.find(stage):
        v = ctx.hasher.version(ctx.repo.abspath(path))
        if v is not None:
            inputs.code.append((path, v.hash))
    for ref in stage.params:
        data = ctx.params_file(ctx.repo.abspath(ref.file), stage.where())
        inputs.params[ref.file] = param_values(data, ref.keys, stage.where(), ref.file)
    inputs.env = {var: os.environ.get(var) for var in stage.env}
    return inputs


def workspace_dep_version(ctx: Context) -> DepVersion:
    """Dep versions as the workspace has them, falling back to pointer files and the
    lock for data not checked out yet (a fresh clone before ``dvx pull``)."""

    def version(path: str) -> Version | None:
        v = ctx.hasher.version(ctx.repo.abspath(path))
        if v is not None:
            return v
        return recorded_version(ctx, path)

    return version


def recorded_version(ctx: Context, path: str) -> Version | None:
    """The version the committed files say ``path`` has: its pointer file, or the
    lock entry of the stage producing it."""
    pfile = pointer.tracking(ctx.repo, path)
    if pfile is not None:
        p = pointer.read(ctx.repo, pfile)
        if p.path == path:
            return p.version
        if path.startswith(p.path + "/") and p.version.is_dir and ctx.cache.has(p.version.hash):
            rel = path[len(p.path) + 1 :]  # a file inside tracked directory
            for e in ctx.cache.read_manifest(p.version.hash):
                if e.path == rel:
                    return Version(e.hash, e.size)
        return None
    hit = ctx.dag.producer(path)
    if hit is None:
        return None
    entry = ctx.lock.get(hit[0])
    if entry is None:
        return None
    for o in entry.outs:
        if o.path == path:
            return o.version
        if path.startswith(o.path + "/") and o.version.is_dir and ctx.cache.has(o.version.hash):
            rel = path[len(o.path) + 1 :]
            for e in ctx.cache.read_manifest(o.version.hash):
                if e.path == rel:
                    return Version(e.hash, e.size)
    return None


def _produced(ctx: Context, path: str) -> bool:
    return bool(ctx.dag.producer(path) or ctx.dag.producers_within(path))


def compare(stage: Stage, inputs: StageInputs, entry: LockEntry) -> list[str]:
    """Reasons why ``inputs`` differ from what ``entry`` was built from."""
    reasons: list[str] = []
    if tuple(stage.cmd) != tuple(entry.cmd):
        reasons.append("cmd changed")
    locked_deps = {d.path: d.version.hash for d in entry.deps}
    now_deps = {d.path: d.version.hash for d in inputs.deps}
    for p in sorted(set(locked_deps) | set(now_deps)):
        if locked_deps.get(p) != now_deps.get(p):
            reasons.append(f"dep changed: {p}")
    locked_code = dict(entry.code)
    now_code = dict(inputs.code)
    for p in sorted(set(locked_code) | set(now_code)):
        if locked_code.get(p) != now_code.get(p):
            reasons.append(f"code changed: {p}")
    for f in sorted(set(entry.params) | set(inputs.params)):
        old, new = entry.params.get(f, {}), inputs.params.get(f, {})
        for k in sorted(set(old) | set(new)):
            if k not in old or k not in new:
                reasons.append(f"param changed: {f}:{k}")
            else:
                reasons += [
                    f"param changed: {f}:{leaf}" for leaf, _, _ in changed_keys(k, old[k], new[k])
                ]
    declared = sorted((o.path, o.cache, o.persist, o.metric) for o in stage.outs)
    locked = sorted((o.path, o.cache, o.persist, o.metric) for o in entry.outs)
    if declared != locked:
        reasons.append("outs changed")
    return reasons


def output_reasons(ctx: Context, outs: list[OutRecord]) -> list[str]:
    reasons = []
    for o in sorted(outs, key=lambda o: o.path):
        v = ctx.hasher.version(ctx.repo.abspath(o.path))
        if v is None:
            reasons.append(f"out missing: {o.path}")
        elif v.hash != o.version.hash:
            reasons.append(f"out modified: {o.path}")
    return reasons


def evaluate(
    ctx: Context, stage: Stage, changed_upstream: list[str], dep_version: DepVersion
) -> StageStatus:
    st = StageStatus(stage.name)
    entry = ctx.lock.get(stage.name)
    if stage.frozen and entry is not None:
        st.reasons = output_reasons(ctx, entry.outs)
        st.key = entry.key
        return st
    try:
        st.inputs = collect_inputs(ctx, stage, dep_version)
    except MissingDeps as exc:
        # A dep some stage will produce is not missing, only not built yet.
        st.reasons += [f"dep missing: {p}" for p in exc.paths if not _produced(ctx, p)]
    else:
        st.key = keys.compute(stage, st.inputs)
    if entry is None:
        st.reasons.insert(0, "new")
        return st
    if stage.always_changed:
        st.reasons.append("always changed")
    if st.inputs is not None and st.key != entry.key:
        found = compare(stage, st.inputs, entry)
        st.reasons += found or ["definition changed (wdir or env)"]
    st.reasons += [f"upstream changed: {u}" for u in changed_upstream]
    st.reasons += output_reasons(ctx, entry.outs)
    return st


def status(ctx: Context, targets: list[str] | None = None) -> StatusReport:
    dag = ctx.dag
    names = dag.select(targets or [])
    dep_version = workspace_dep_version(ctx)
    key_changed: set[str] = set()
    report: list[StageStatus] = []
    for name in names:
        ups = sorted(u for u in dag.upstream[name] if u in key_changed)
        st = evaluate(ctx, dag.stages[name], ups, dep_version)
        if st.key_changed:
            key_changed.add(name)
        if st.reasons:
            report.append(st)
    removed = {} if targets else removed_stages(ctx)
    for st in report:
        st.reasons += [f"upstream removed: {r}" for r in removed.get(st.name, [])]
    touched = {st.name for st in report}
    for name in names:
        if name in removed and name not in touched:
            report.append(StageStatus(name, [f"upstream removed: {r}" for r in removed[name]]))
    data = [] if targets else data_status(ctx)
    gone = [] if targets else sorted(set(ctx.lock) - set(dag.stages))
    return StatusReport(report, data, gone)


def removed_stages(ctx: Context) -> dict[str, list[str]]:
    """Current stages reading an output of a stage that left the stage file
    (``dvx repro`` deletes such outputs), mapped to the removed stages' names."""
    affected: dict[str, list[str]] = {}
    for name, entry in sorted(ctx.lock.items()):
        if name in ctx.dag.stages:
            continue
        for o in entry.outs:
            for stage in ctx.stages:
                if any(_overlaps(d, o.path) for d in stage.deps):
                    affected.setdefault(stage.name, []).append(name)
    return {k: sorted(set(v)) for k, v in affected.items()}


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def data_status(ctx: Context) -> list[DataStatus]:
    """Pointer-file data whose workspace copy differs from its pointer."""
    skip = {o.path for s in ctx.stages for o in s.outs}
    found = []
    for pfile in pointer.find_all(ctx.repo, skip):
        p = pointer.read(ctx.repo, pfile)
        v = ctx.hasher.version(ctx.repo.safe_path(p.path, pfile))
        if v is None:
            found.append(DataStatus(p.path, pfile, ["missing"]))
        elif v.hash != p.version.hash:
            found.append(DataStatus(p.path, pfile, ["modified"]))
    return found
