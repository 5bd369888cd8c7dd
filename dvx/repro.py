"""``dvx repro``: bring outputs up to date (SPEC §5).

For each needed stage, in dependency order: compute its key from the workspace;
if the lock has that key and the outputs match, it is up to date; if a cache tier
(the local action cache, the lock itself, then remotes) has every output of that
key, restore them; otherwise run the command, store its outputs, write the
action-cache entry and the stage's lock entry. The lock is rewritten atomically
after every stage, so an interrupted repro keeps all finished work.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from dvx import __version__, keys, lockfile, pointer
from dvx.cache import make_writable
from dvx.checkout import make_parents, place, remove
from dvx.context import Context
from dvx.errors import ConfigError, UsageError
from dvx.gitignore import ensure_ignored, forget
from dvx.hashing import Version, walk_files
from dvx.keys import StageInputs
from dvx.lockfile import LockEntry, OutRecord
from dvx.runner import INTERRUPTED, Runner
from dvx.stagefile import Stage
from dvx.status import MissingDeps, collect_inputs, output_reasons, workspace_dep_version

log = logging.getLogger("dvx")

UP_TO_DATE = "up to date"
RESTORED = "restored"
PULLED = "pulled"
RAN = "ran"
FAILED = "failed"
SKIPPED = "skipped"
INTERRUPTED_OUTCOME = "interrupted"
WOULD_RUN = "would run"
WOULD_RESTORE = "would restore"
WOULD_PULL = "would pull"


class RemoteTier(Protocol):
    """A remote action cache consulted before running a stage (see dvx.remote)."""

    name: str

    def get_run(self, key: str) -> dict[str, Any] | None: ...

    def fetch(self, versions: list[Version]) -> bool:
        """Fetch every object of ``versions`` into the local cache; False if any is missing."""
        ...


@dataclass
class ReproOptions:
    targets: list[str] = field(default_factory=list)
    force: bool = False
    dry: bool = False
    jobs: int = 1
    downstream: bool = False
    keep_going: bool = False


@dataclass
class StageResult:
    name: str
    outcome: str
    seconds: float = 0.0
    exit_status: int | None = None
    detail: str = ""


@dataclass
class ReproResult:
    results: list[StageResult]
    seconds: float
    dry: bool = False

    @property
    def failed(self) -> list[StageResult]:
        return [r for r in self.results if r.outcome in (FAILED, INTERRUPTED_OUTCOME)]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "dry": self.dry,
            "seconds": round(self.seconds, 3),
            "stages": [
                {
                    "name": r.name,
                    "outcome": r.outcome,
                    "seconds": round(r.seconds, 3),
                    "exit_status": r.exit_status,
                    "detail": r.detail,
                }
                for r in self.results
            ],
        }


class _Repro:
    def __init__(
        self,
        ctx: Context,
        opts: ReproOptions,
        on_result: Callable[[StageResult], None] | None,
        remotes: Sequence[RemoteTier],
    ) -> None:
        self.ctx = ctx
        self.opts = opts
        self.on_result = on_result
        self.remotes = remotes
        self.runner = Runner()
        self.stage_names = set(ctx.dag.stages)
        # Entries for stages that left the stage file are dropped at the first write.
        self.entries = {n: e for n, e in ctx.lock.items() if n in self.stage_names}
        self.lock_mutex = threading.Lock()
        self.dry_changed: set[str] = set()
        self._head: Any = None

    # ---- per stage -----------------------------------------------------

    def process(self, name: str) -> StageResult:
        t0 = time.monotonic()
        res = self._process(name)
        res.seconds = res.seconds or time.monotonic() - t0
        return res

    def _process(self, name: str) -> StageResult:
        ctx = self.ctx
        stage = ctx.dag.stages[name]
        entry = self.entries.get(name)
        if stage.frozen and entry is not None:
            return self._frozen(stage, entry)
        if self.opts.dry and ctx.dag.upstream[name] & self.dry_changed:
            self.dry_changed.add(name)
            return StageResult(name, WOULD_RUN, detail="after upstream")
        try:
            inputs = collect_inputs(ctx, stage, workspace_dep_version(ctx))
        except MissingDeps as exc:
            return StageResult(name, FAILED, detail=f"dep missing: {', '.join(exc.paths)}")
        key = keys.compute(stage, inputs)
        if not self.opts.force and not stage.always_changed:
            if entry is not None and entry.key == key and not output_reasons(ctx, entry.outs):
                return StageResult(name, UP_TO_DATE)
            res = self._from_caches(stage, key, inputs, entry)
            if res is not None:
                return res
        if self.opts.dry:
            self.dry_changed.add(name)
            return StageResult(name, WOULD_RUN)
        return self._run(stage, key, inputs)

    def _frozen(self, stage: Stage, entry: LockEntry) -> StageResult:
        if not output_reasons(self.ctx, entry.outs):
            return StageResult(stage.name, UP_TO_DATE, detail="frozen")
        if self._restorable(entry.outs):
            if self.opts.dry:
                return StageResult(stage.name, WOULD_RESTORE, detail="frozen")
            self._restore(stage, entry.outs)
            return StageResult(stage.name, RESTORED, detail="frozen")
        return StageResult(
            stage.name, FAILED, detail="frozen stage's outputs are missing and not in the cache"
        )

    def _restorable(self, outs: list[OutRecord]) -> bool:
        for o in outs:
            if not o.stored:
                current = self.ctx.hasher.version(self.ctx.repo.abspath(o.path))
                if current is None or current.hash != o.version.hash:
                    return False
            elif self.ctx.cache.missing(o.version):
                return False
        return True

    def _from_caches(
        self, stage: Stage, key: str, inputs: StageInputs, entry: LockEntry | None
    ) -> StageResult | None:
        candidates: list[list[OutRecord]] = []
        run = self.ctx.cache.get_run(key)
        if run is not None and _matches_declared(stage, outs := _run_outs(run, key)):
            candidates.append(outs)
        if entry is not None and entry.key == key:
            candidates.append(entry.outs)
        for outs in candidates:
            if self._restorable(outs):
                if self.opts.dry:
                    return StageResult(stage.name, WOULD_RESTORE)
                self._restore(stage, outs)
                self._record(stage, keys.lock_entry(stage, key, inputs, outs))
                return StageResult(stage.name, RESTORED)
        for remote in self.remotes:
            remote_run = remote.get_run(key)
            if remote_run is None:
                continue
            outs = _run_outs(remote_run, key)
            if not _matches_declared(stage, outs):
                continue
            if self.opts.dry:
                return StageResult(stage.name, WOULD_PULL, detail=remote.name)
            if remote.fetch([o.version for o in outs if o.stored]) and self._restorable(outs):
                self.ctx.cache.put_run(key, {k: v for k, v in remote_run.items() if k != "key"})
                self._restore(stage, outs)
                self._record(stage, keys.lock_entry(stage, key, inputs, outs))
                return StageResult(stage.name, PULLED, detail=remote.name)
        return None

    def _restore(self, stage: Stage, outs: list[OutRecord]) -> None:
        for o in outs:
            if o.stored:
                place(self.ctx, o.path, o.version, f"action cache for stage '{stage.name}'")
                if not o.metric:
                    ensure_ignored(self.ctx.repo, o.path)

    def _run(self, stage: Stage, key: str, inputs: StageInputs) -> StageResult:
        ctx = self.ctx
        for o in stage.outs:
            path = ctx.repo.safe_path(o.path, stage.where())
            if o.persist:
                for f in [path] if path.is_file() else walk_files(path) if path.is_dir() else []:
                    make_writable(path / f if isinstance(f, str) else f)
            else:
                remove(ctx, path)
            make_parents(ctx, path)
        started = datetime.now(UTC)
        t0 = time.monotonic()
        rc = self.runner.run(stage.cmd, ctx.repo.abspath(stage.wdir))
        seconds = time.monotonic() - t0
        if rc == INTERRUPTED:
            return StageResult(stage.name, INTERRUPTED_OUTCOME, seconds)
        if rc != 0:
            return StageResult(stage.name, FAILED, seconds, exit_status=rc)
        missing = [o.path for o in stage.outs if not os.path.exists(ctx.repo.abspath(o.path))]
        if missing:
            return StageResult(
                stage.name,
                FAILED,
                seconds,
                exit_status=0,
                detail=f"command did not produce declared output(s): {', '.join(missing)}",
            )
        outs: list[OutRecord] = []
        for o in stage.outs:
            path = ctx.repo.abspath(o.path)
            stored = o.cache or o.metric
            version = ctx.cache.put_path(path) if stored else ctx.hasher.version(path)
            assert version is not None
            outs.append(OutRecord(o.path, version, o.cache, o.persist, o.metric))
            if o.cache and not o.metric:
                ensure_ignored(ctx.repo, o.path)
        entry = keys.lock_entry(stage, key, inputs, outs)
        ctx.cache.put_run(
            key, {"entry": entry.to_dict(), "record": self._run_record(started, seconds, rc)}
        )
        self._record(stage, entry)
        return StageResult(stage.name, RAN, seconds, exit_status=0)

    def _run_record(self, started: datetime, seconds: float, rc: int) -> dict[str, Any]:
        if self._head is None:
            from dvx.git import head_info

            self._head = head_info(self.ctx.repo.root)
        return {
            "started": started.isoformat(timespec="milliseconds"),
            "duration": round(seconds, 3),
            "host": socket.gethostname(),
            "user": _user(),
            "dvx_version": __version__,
            "exit_status": rc,
            "git_commit": self._head.commit,
            "git_dirty": self._head.dirty,
        }

    def _record(self, stage: Stage, entry: LockEntry) -> None:
        with self.lock_mutex:
            self.entries[stage.name] = entry
            lockfile.write(self.ctx.repo.lock_path, self.entries)

    # ---- scheduling -----------------------------------------------------

    def preflight(self, names: list[str]) -> None:
        """Refuse to start when a stage reads a path that nothing can provide."""
        ctx = self.ctx
        for name in names:
            stage = ctx.dag.stages[name]
            for dep in stage.deps:
                if ctx.dag.producer(dep) or ctx.dag.producers_within(dep):
                    continue
                path = ctx.repo.abspath(dep)
                if os.path.lexists(path):
                    continue
                pfile = pointer.tracking(ctx.repo, dep)  # the dep or a directory holding it
                if pfile is not None:
                    p = pointer.read(ctx.repo, pfile)
                    if not self.opts.dry and ctx.cache.missing(p.version):
                        # A teammate's data: fetch it from a remote that has it.
                        any(r.fetch([p.version]) for r in self.remotes)
                    if not ctx.cache.missing(p.version):
                        if not self.opts.dry:
                            place(ctx, p.path, p.version, pfile)
                        continue
                    if self.opts.dry and self.remotes:
                        # The plan needs only the pointer's version; a real run fetches it.
                        continue
                    raise UsageError(
                        f"{stage.where()}: dep '{dep}' is tracked by {pfile} but its data "
                        "is neither in the workspace nor in the cache",
                        hint="run 'dvx pull' to fetch it"
                        + ("" if self.remotes else " (no default remote is configured)"),
                    )
                raise UsageError(
                    f"{stage.where()}: dep '{dep}' does not exist and no stage produces it",
                    hint="create it, track it with 'dvx add', or fix the path in dvx.yaml",
                )

    def run_all(self, names: list[str]) -> list[StageResult]:
        selected = set(names)
        ups = {n: self.ctx.dag.upstream[n] & selected for n in names}
        pending = list(names)
        done: dict[str, StageResult] = {}
        ordered: list[StageResult] = []
        running: dict[Future[StageResult], str] = {}
        stop = False

        def finish(res: StageResult) -> None:
            nonlocal stop
            done[res.name] = res
            ordered.append(res)
            if res.outcome in (FAILED, INTERRUPTED_OUTCOME) and not self.opts.keep_going:
                stop = True
            if self.on_result is not None:
                self.on_result(res)

        with ThreadPoolExecutor(max(1, self.opts.jobs)) as pool:
            try:
                while pending or running:
                    for n in list(pending):
                        if not all(u in done for u in ups[n]):
                            continue
                        bad = [u for u in sorted(ups[n]) if done[u].outcome in (FAILED, SKIPPED)]
                        if bad or stop:
                            pending.remove(n)
                            if bad:
                                finish(StageResult(n, SKIPPED, detail=f"upstream {bad[0]} failed"))
                            continue
                        if len(running) >= max(1, self.opts.jobs):
                            break
                        pending.remove(n)
                        running[pool.submit(self.process, n)] = n
                    if not running:
                        if stop or not pending:
                            break
                        continue
                    finished, _ = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        running.pop(fut)
                        finish(fut.result())
            except KeyboardInterrupt:
                self.runner.stop_all()
                for fut in running:
                    try:
                        fut.result()
                    except Exception:
                        pass
                raise
        return ordered


def _run_outs(run: dict[str, Any], key: str) -> list[OutRecord]:
    try:
        entry = lockfile.parse_entry("run", run.get("entry") or {}, f"action-cache entry {key}")
    except ConfigError as exc:
        log.warning("ignoring %s", exc.message)
        return []
    return entry.outs


def remove_orphans(ctx: Context) -> list[str]:
    """Delete the workspace outputs of stages that left the stage file.

    A removed ``foreach`` partition must not leave its output behind for a
    downstream stage that reads the whole directory. Outputs that a current stage
    also declares (a renamed stage) stay; anything removed is in the cache first.
    """
    declared = set(ctx.dag.outs)
    removed: list[str] = []
    entries = dict(ctx.lock)
    for name, entry in sorted(ctx.lock.items()):
        if name in ctx.dag.stages:
            continue
        for o in entry.outs:
            if o.cache and not o.metric and o.path not in declared:
                path = ctx.repo.safe_path(o.path, f"dvx.lock: stage '{name}'")
                if os.path.lexists(path):
                    remove(ctx, path)
                    removed.append(o.path)
                forget(ctx.repo, o.path)
        del entries[name]
    if len(entries) != len(ctx.lock):
        lockfile.write(ctx.repo.lock_path, entries)
    return removed


def _matches_declared(stage: Stage, outs: list[OutRecord]) -> bool:
    """An entry must describe exactly the stage's outputs; the key covers them, so a
    mismatch means a damaged or forged entry, which is ignored rather than trusted."""
    declared = sorted((o.path, o.cache, o.persist, o.metric) for o in stage.outs)
    return declared == sorted((o.path, o.cache, o.persist, o.metric) for o in outs)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def repro(
    ctx: Context,
    opts: ReproOptions,
    on_result: Callable[[StageResult], None] | None = None,
    remotes: Sequence[RemoteTier] | None = None,
) -> ReproResult:
    t0 = time.monotonic()
    names = ctx.dag.select(opts.targets, downstream=opts.downstream)
    r = _Repro(ctx, opts, on_result, remotes or [])
    if not opts.dry:
        remove_orphans(ctx)
    r.preflight(names)
    results = r.run_all(names)
    if not opts.dry and set(r.entries) != set(ctx.lock):
        with r.lock_mutex:
            lockfile.write(ctx.repo.lock_path, r.entries)
    return ReproResult(results, time.monotonic() - t0, dry=opts.dry)
