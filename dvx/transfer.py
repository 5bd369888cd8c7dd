"""push, pull, fetch: move objects and action-cache entries (SPEC §7).

Only what the other side lacks is sent. Existence on the remote is learned with
one listing when many objects are involved (one request per object is far
slower on S3), or with parallel existence checks when few are. Every downloaded
object is hashed before it gets its final name in the local cache; an
action-cache entry is uploaded only after every object it names is on the
remote. Rerunning an interrupted push or pull finishes the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvx import pointer
from dvx.cache import parse_run
from dvx.checkout import CheckoutResult, checkout, split_targets
from dvx.context import Context
from dvx.errors import FormatVersionError
from dvx.fsutil import SMALL, parallel, read_small
from dvx.hashing import Version, hash_bytes
from dvx.remote import PACK_MIN_OBJECTS, LocalRemote, Packed, Remote, pack_index

log = logging.getLogger("dvx")

LIST_THRESHOLD = 64  # above this many objects, one listing beats per-object requests
DEFAULT_JOBS = 8

# on_progress(phase, files, bytes): phase "total" announces the work, "step" reports progress.
Progress = Callable[[str, int, int], None]


@dataclass
class TransferResult:
    remote: str
    direction: str  # "push" or "pull" / "fetch"
    objects: int = 0
    bytes: int = 0
    runs: int = 0
    present: int = 0  # objects the other side already had
    missing: list[str] = field(default_factory=list)  # not found on the source side
    corrupt: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    checkout: CheckoutResult | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, nbytes: int) -> None:
        with self._lock:
            self.objects += 1
            self.bytes += nbytes

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.failed) and not (
            self.checkout is not None and self.checkout.missing
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "remote": self.remote,
            "direction": self.direction,
            "objects": self.objects,
            "bytes": self.bytes,
            "runs": self.runs,
            "present": self.present,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "failed": [{"object": h, "error": e} for h, e in self.failed],
            "ok": self.ok,
        }


@dataclass
class Refs:
    versions: list[Version] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


def collect_refs(ctx: Context, targets: list[str]) -> Refs:
    """Versions and action-cache keys that the lock and pointer files reference."""
    refs = Refs()
    stage_targets, pointer_targets = split_targets(ctx, targets)
    if stage_targets or not targets:
        chosen = ctx.dag.resolve_targets(stage_targets) if stage_targets else set(ctx.lock)
        for name in sorted(chosen):
            entry = ctx.lock.get(name)
            if entry is None:
                continue
            refs.keys.append(entry.key)
            refs.versions += [o.version for o in entry.outs if o.stored]
    if not targets:
        skip = {o.path for s in ctx.stages for o in s.outs}
        pointer_targets = pointer.find_all(ctx.repo, skip)
    for pfile in pointer_targets:
        refs.versions.append(pointer.read(ctx.repo, pfile).version)
    return refs


def refs_at_commits(ctx: Context, commits: list[str]) -> Refs:
    """What the dvx files of these commits reference (e.g. the tips a git push sends)."""
    from dvx import snapshot

    refs = Refs()
    for sha in commits:
        snap = snapshot.at(ctx, sha)
        for entry in snap.lock.values():
            refs.keys.append(entry.key)
            refs.versions += [o.version for o in entry.outs if o.stored]
        refs.versions += [p.version for p in snap.pointers.values()]
    return refs


def _pool_map(jobs: int, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    items = list(items)
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(fn, items))


def _prefix(h: str) -> str:
    return h[:2]  # objects sharing a directory on the remote and in the cache


def remote_has(remote: Remote, hashes: list[str], jobs: int) -> set[str]:
    """Which of ``hashes`` the remote has: loose objects first (one listing, or
    one question each when few), then pack indexes for the rest, read only when
    something was not found loose."""
    if not hashes:
        return set()
    if len(hashes) > LIST_THRESHOLD:
        found = remote.list_loose() & set(hashes)
    else:
        flags = _pool_map(jobs, lambda h: remote.exists(remote.object_path(h)), hashes)
        found = {h for h, ok in zip(hashes, flags, strict=True) if ok}
    if len(found) < len(set(hashes)):
        packed = remote.packed()
        found.update(h for h in hashes if h in packed)
    return found


# ---- push ---------------------------------------------------------------------


def push(
    ctx: Context,
    remote: Remote,
    targets: list[str] | None = None,
    jobs: int = DEFAULT_JOBS,
    on_progress: Progress | None = None,
    refs: Refs | None = None,
    full: bool = False,
) -> TransferResult:
    """Upload what ``refs`` (default: the workspace's lock and pointers) needs.

    Order on the remote: file objects, then the directory manifests that list
    them, then action-cache entries. So a manifest found on the remote vouches
    for every file it lists, and a no-op push asks one question per directory
    instead of one per file. ``full`` checks every file anyway (after objects
    were deleted from the remote by hand).
    """
    result = TransferResult(remote.name, "push")
    refs = refs if refs is not None else collect_refs(ctx, targets or [])
    needed: dict[str, int] = {}
    manifests: dict[str, Version] = {}  # directory versions whose manifest is local
    for v in refs.versions:
        if v.is_dir and ctx.cache.has(v.hash):
            manifests[v.hash] = v
        else:
            needed[v.hash] = v.size
    on_remote = remote_has(remote, sorted(manifests), jobs)
    for d in sorted(manifests):
        if d in on_remote and not full:
            result.present += 1 + (manifests[d].nfiles or 0)  # vouched for, not read
            continue
        needed.update((e.hash, e.size) for e in ctx.cache.read_manifest(d))
    for d in on_remote:
        needed.pop(d, None)
    have = remote_has(remote, sorted(needed), jobs)
    todo = [h for h in sorted(needed) if h not in have]
    result.present += len(have)
    # Missing locally is only a problem when the remote lacks it too.
    result.missing = [h for h in todo if not ctx.cache.has(h)]
    if result.missing:
        absent = set(result.missing)
        todo = [h for h in todo if h not in absent]
    later = [d for d in sorted(manifests) if d not in on_remote]
    needed.update((d, ctx.cache.object_path(d).stat().st_size) for d in later)
    if on_progress:
        on_progress("total", len(todo) + len(later), sum(needed[h] for h in todo + later))

    def sent(h: str, error: BaseException | None) -> None:
        if error is not None:  # network and permission errors are reported per object
            result.failed.append((h, f"{error.__class__.__name__}: {error}"))
            return
        result.count(needed[h])
        if on_progress:
            on_progress("step", 1, needed[h])

    def send(h: str) -> None:
        try:
            remote.put(ctx.cache.object_path(h), remote.object_path(h))
        except Exception as exc:
            sent(h, exc)
            return
        sent(h, None)

    def upload(hashes: list[str]) -> None:
        if remote.batched:
            pairs = [(ctx.cache.object_path(h), remote.object_path(h)) for h in hashes]
            remote.put_many(pairs, jobs, lambda i, error: sent(hashes[i], error))
        else:
            parallel(send, hashes, group=_prefix, jobs=jobs)

    if remote.batched and remote.pack_size:
        small = [h for h in todo if needed[h] <= min(SMALL, remote.pack_size)]
        if len(small) >= PACK_MIN_OBJECTS:
            packing = set(small)
            todo = [h for h in todo if h not in packing]
            _push_packs(ctx, remote, small, jobs, sent)
    upload(todo)
    if result.failed or result.missing:
        # A manifest or an action-cache entry must never name objects the remote lacks.
        return result
    upload(later)
    if result.failed:
        return result
    keys = sorted(set(refs.keys))
    remote_runs = _pool_map(jobs, lambda k: remote.exists(remote.run_path(k)), keys)
    for key, present in zip(keys, remote_runs, strict=True):
        if present or not ctx.cache.run_path(key).is_file():
            continue
        try:
            remote.put(ctx.cache.run_path(key), remote.run_path(key))
            result.runs += 1
        except Exception as exc:
            result.failed.append((key, f"{exc.__class__.__name__}: {exc}"))
    return result


def _push_packs(
    ctx: Context,
    remote: Remote,
    hashes: list[str],
    jobs: int,
    sent: Callable[[str, BaseException | None], None],
) -> None:
    """Upload small objects as packs of up to ``remote.pack_size`` bytes: a pack's
    bytes, then its index (docs/FORMAT.md, "Packs"). Packs are built while earlier
    ones upload, at most ``uploads`` of them in memory at once."""
    uploads = min(4, max(1, jobs))
    room = threading.Semaphore(uploads)

    def send(group: list[tuple[str, bytes]]) -> None:
        try:
            entries = []
            offset = 0
            for h, data in group:
                entries.append((h, offset, len(data)))
                offset += len(data)
            blob = b"".join(data for _, data in group)
            try:
                remote.put_pack(hash_bytes(blob), blob, pack_index(entries))
            except Exception as exc:
                for h, _ in group:
                    sent(h, exc)
                return
            for h, _ in group:
                sent(h, None)
        finally:
            room.release()

    futures = []
    with ThreadPoolExecutor(uploads) as pool:
        group: list[tuple[str, bytes]] = []
        size = 0
        for h in hashes:
            try:
                data = read_small(ctx.cache.object_path(h))
            except OSError as exc:  # gone from the cache since it was listed
                sent(h, exc)
                continue
            assert data is not None  # chosen by size
            if group and size + len(data) > remote.pack_size:
                room.acquire()
                futures.append(pool.submit(send, group))
                group, size = [], 0
            group.append((h, data))
            size += len(data)
        if group:
            room.acquire()
            futures.append(pool.submit(send, group))
    for f in futures:
        f.result()  # an unexpected error must not pass for a finished upload


# ---- pull / fetch -------------------------------------------------------------


class Fetcher:
    """Downloads objects into the local cache, verifying each against its hash."""

    def __init__(
        self, ctx: Context, remote: Remote, jobs: int, on_progress: Progress | None = None
    ) -> None:
        self.ctx = ctx
        self.remote = remote
        self.jobs = jobs
        self.on_progress = on_progress
        self.result = TransferResult(remote.name, "fetch")

    def _download(self, h: str) -> None:
        """One object, on a worker thread (local folders, SSH)."""
        if isinstance(self.remote, LocalRemote):
            self._adopt(h, Path(self.remote.object_path(h)), owned=False)
            return
        tmp = self.ctx.cache.new_tmp()
        try:
            self.remote.get(self.remote.object_path(h), tmp)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            self._adopt(h, exc)
            return
        self._adopt(h, tmp)

    def _adopt(self, h: str, got: bytes | Path | BaseException, *, owned: bool = True) -> None:
        """Store a download as object ``h`` if it hashes to ``h``; record the outcome.
        ``got`` is the bytes, a local file (a temporary download in the cache when
        ``owned``, else a local remote's object) or the error of the download."""
        try:
            if isinstance(got, BaseException):
                raise got
            if isinstance(got, bytes):
                size = self.ctx.cache.adopt_bytes(got, h)
            elif owned:  # a download in the cache's tmp/: renamed into place
                size = self.ctx.cache.adopt_tmp(got, h)
            else:
                size = self.ctx.cache.adopt_file(got, h)
        except FileNotFoundError:
            self.result.missing.append(h)
            return
        except Exception as exc:
            self.result.failed.append((h, f"{exc.__class__.__name__}: {exc}"))
            return
        if size is None:
            log.error("object %s on remote '%s' is corrupt; not used", h, self.remote.name)
            self.result.corrupt.append(h)
            return
        self.result.count(size)
        if self.on_progress:
            self.on_progress("step", 1, size)

    def _get_many(self, hashes: list[str], sizes: dict[str, int] | None = None) -> None:
        todo = self.ctx.cache.lacking(hashes)
        self.result.present += len(set(hashes)) - len(todo)
        if self.on_progress and todo:
            self.on_progress("total", len(todo), 0)
        packed = self.remote.packed() if todo else {}
        if packed:
            self._get_packed([h for h in todo if h in packed], packed)
            todo = [h for h in todo if h not in packed]
        if self.remote.batched:
            sizes = sizes or {}
            items = [(self.remote.object_path(h), sizes.get(h)) for h in todo]
            self.remote.get_many(
                items, self.jobs, self.ctx.cache.new_tmp, lambda i, got: self._adopt(todo[i], got)
            )
        else:
            parallel(self._download, todo, group=_prefix, jobs=self.jobs)

    def _get_packed(self, hashes: list[str], packed: dict[str, Packed]) -> None:
        """Packed objects: one ranged read per pack, spanning the objects needed."""
        by_pack: dict[str, list[str]] = {}
        for h in hashes:
            by_pack.setdefault(packed[h].pack, []).append(h)

        def get(pack: str) -> None:
            want = by_pack[pack]
            start = min(packed[h].offset for h in want)
            end = max(packed[h].offset + packed[h].size for h in want)
            try:
                data = self.remote.read_range(self.remote.pack_path(pack, ".pack"), start, end)
            except Exception as exc:
                for h in want:
                    self._adopt(h, exc)
                return
            for h in want:
                p = packed[h]
                self._adopt(h, data[p.offset - start : p.offset - start + p.size])

        _pool_map(min(8, max(1, self.jobs)), get, sorted(by_pack))

    def fetch_versions(self, versions: list[Version]) -> bool:
        """Bring every object of ``versions`` into the local cache; True if all arrived."""
        before = len(self.result.missing) + len(self.result.corrupt) + len(self.result.failed)
        self._get_many(
            [v.hash for v in versions], {v.hash: v.size for v in versions if not v.is_dir}
        )
        files: dict[str, int] = {}
        for v in versions:
            if v.is_dir and self.ctx.cache.has(v.hash):
                files.update((e.hash, e.size) for e in self.ctx.cache.read_manifest(v.hash))
        self._get_many(list(files), files)
        after = len(self.result.missing) + len(self.result.corrupt) + len(self.result.failed)
        return after == before

    def fetch_runs(self, keys: list[str]) -> None:
        for key in sorted(set(keys)):
            if self.ctx.cache.run_path(key).is_file():
                continue
            data = self.remote.read(self.remote.run_path(key))
            if data is None:
                continue
            doc = parse_run(data, f"remote '{self.remote.name}' entry {key}")
            if doc is not None and doc.get("key") == key:
                self.ctx.cache.put_run(key, {k: v for k, v in doc.items() if k not in ("key",)})
                self.result.runs += 1


def fetch(
    ctx: Context,
    remote: Remote,
    targets: list[str] | None = None,
    jobs: int = DEFAULT_JOBS,
    on_progress: Progress | None = None,
) -> TransferResult:
    refs = collect_refs(ctx, targets or [])
    f = Fetcher(ctx, remote, jobs, on_progress)
    f.fetch_versions(refs.versions)
    f.fetch_runs(refs.keys)
    return f.result


def pull(
    ctx: Context,
    remote: Remote,
    targets: list[str] | None = None,
    jobs: int = DEFAULT_JOBS,
    on_progress: Progress | None = None,
) -> TransferResult:
    result = fetch(ctx, remote, targets, jobs, on_progress)
    result.direction = "pull"
    result.checkout = checkout(ctx, targets or [])
    return result


# ---- the remote action cache, as a tier of dvx repro ---------------------------------


class RemoteActionCache:
    """Lets ``dvx repro`` pull a stage's outputs instead of running it (SPEC §5 step 4)."""

    def __init__(self, ctx: Context, remote: Remote, jobs: int = DEFAULT_JOBS) -> None:
        self.ctx = ctx
        self.remote = remote
        self.name = remote.name
        self.jobs = jobs

    def get_run(self, key: str) -> dict[str, Any] | None:
        data = self.remote.read(self.remote.run_path(key))
        if data is None:
            return None
        try:
            doc = parse_run(data, f"remote '{self.name}' entry {key}")
        except FormatVersionError as exc:
            # A teammate on a newer dvx must not break everyone's repro: a miss.
            log.warning("%s; treating it as a miss", exc.message)
            return None
        if doc is None or doc.get("key") != key:
            return None
        return doc

    def fetch(self, versions: list[Version]) -> bool:
        return Fetcher(self.ctx, self.remote, self.jobs).fetch_versions(versions)


def default_remote_tiers(ctx: Context) -> list[RemoteActionCache]:
    """The default remote as a repro tier, or nothing when none is configured."""
    from dvx.remote import open_remote

    if not ctx.config.core.get("remote"):
        return []
    remote = open_remote(ctx.config, None, ctx.repo.root)
    return [RemoteActionCache(ctx, remote, remote.jobs)]
