"""``dvx check``: does the committed lock match the committed code? (SPEC §6)

The CI and pre-commit gate. Keys are computed from the stage file, code, params
and pointer files, with the *locked* versions of upstream outputs, so it needs
no data, no outputs and no cache: it passes on a fresh ``git clone``.
With ``--remote`` it also verifies that the remote holds every object the lock
and pointer files reference ("did someone forget to push?").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dvx import pointer
from dvx.context import Context
from dvx.hashing import Version, parse_manifest
from dvx.status import StageStatus, _produced, evaluate, recorded_version


@dataclass
class CheckReport:
    mismatched: list[StageStatus] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # lock entries without a stage
    checked: int = 0
    remote: str | None = None
    missing_on_remote: list[tuple[str, str]] = field(default_factory=list)  # path, object

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.removed or self.missing_on_remote)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "ok": self.ok,
            "checked": self.checked,
            "stages": [{"name": s.name, "reasons": s.reasons} for s in self.mismatched],
            "removed": self.removed,
            "remote": self.remote,
            "missing_on_remote": [{"path": p, "object": h} for p, h in self.missing_on_remote],
        }


def _committed_dep_version(ctx: Context, name: str) -> Any:
    entry = ctx.lock.get(name)
    locked_deps = {d.path: d.version for d in entry.deps} if entry else {}

    def version(path: str) -> Version | None:
        if ctx.repo.abspath(pointer.pointer_file_for(path)).is_file():
            return pointer.read(ctx.repo, pointer.pointer_file_for(path)).version
        if _produced(ctx, path):
            exact = recorded_version(ctx, path)
            if exact is not None:
                return exact
            # Inside (or around) an upstream directory output: without its data the
            # stage's own record is the best evidence; the upstream's own check
            # covers whether that output is current.
            return locked_deps.get(path)
        return ctx.hasher.version(ctx.repo.abspath(path))

    return version


def check(ctx: Context, targets: list[str] | None = None) -> CheckReport:
    report = CheckReport()
    dag = ctx.dag
    names = dag.select(targets or [])
    changed: set[str] = set()
    for name in names:
        stage = dag.stages[name]
        ups = sorted(u for u in dag.upstream[name] if u in changed)
        st = evaluate(ctx, stage, ups, _committed_dep_version(ctx, name))
        # Outputs are not part of the gate: a clone without data passes.
        st.reasons = [r for r in st.reasons if not r.startswith(("out missing", "out modified"))]
        if stage.always_changed:
            st.reasons = [r for r in st.reasons if r != "always changed"]
        report.checked += 1
        if st.reasons:
            changed.add(name)
            report.mismatched.append(st)
    if not targets:
        report.removed = sorted(set(ctx.lock) - set(dag.stages))
    return report


def check_remote(ctx: Context, report: CheckReport, remote_name: str | None) -> None:
    """Add to ``report`` every referenced object the remote lacks."""
    from dvx.remote import open_remote
    from dvx.transfer import remote_has

    remote = open_remote(ctx.config, remote_name or None, ctx.repo.root)
    report.remote = remote.name
    tracked: list[tuple[str, Version]] = [
        (o.path, o.version) for e in ctx.lock.values() for o in e.outs if o.stored
    ]
    skip = {o.path for s in ctx.stages for o in s.outs}
    for pfile in pointer.find_all(ctx.repo, skip):
        p = pointer.read(ctx.repo, pfile)
        tracked.append((p.path, p.version))
    wanted: dict[str, str] = {}  # object → a path it belongs to
    for path, v in sorted(tracked, key=lambda t: t[0]):
        wanted.setdefault(v.hash, path)
        if not v.is_dir:
            continue
        local = ctx.cache.object_path(v.hash)
        data = local.read_bytes() if local.is_file() else remote.read(remote.object_path(v.hash))
        if data is None:
            continue  # the manifest itself is reported missing below
        for e in parse_manifest(data, f"manifest of {path}"):
            wanted.setdefault(e.hash, f"{path}/{e.path}")
    have = remote_has(remote, sorted(wanted), 8)
    report.missing_on_remote = sorted((wanted[h], h) for h in wanted if h not in have)
