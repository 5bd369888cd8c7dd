"""Remotes: a narrow protocol over fsspec (SPEC §7). The only fsspec importer.

A remote stores what the local cache stores, in the same layout::

    URL/objects/ab/cdef…   content-addressed objects (files and directory manifests)
    URL/packs/ab/cdef….pack/.idx  many small objects in one file, and where each lies
    URL/runs/ab/cdef…      action-cache entries, named by stage key
    URL/tmp/…              partial uploads over SSH (local folders write a
                           dot-named temporary file beside the final name)

Contracts every backend keeps (see docs/FORMAT.md, "Remote layout"):

* ``put`` is atomic and write-once: a reader never sees a partial object under
  its final name. Object stores (S3, GCS, Azure) give this per PUT; on
  filesystems (local, SSH) dvx uploads to ``tmp/`` and renames.
* ``get`` downloads to a local path; the caller verifies the hash before use.
* ``list_loose`` lists every object name under ``objects/`` in one pass, which
  is far cheaper than one existence request per object on S3; ``packed`` reads
  the pack indexes.
* a pack is put before its index, a manifest after its files.
* an action-cache entry is put only after every object it names is present.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import logging
import os
import posixpath
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvx.config import SECRET_KEYS, Config
from dvx.errors import ConfigError, FormatVersionError, UsageError
from dvx.fsutil import SMALL, copy_new, default_jobs, write_replace

_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gs",
    "gcs": "gs",
    "az": "azure",
    "abfs": "azure",
    "azure": "azure",
    "ssh": "ssh",
    "sftp": "ssh",
}
_RENAME_PROTOCOLS = {"file", "local", "ssh", "sftp"}
_DVX_OPTIONS = {"url", "pack_size"}  # read by dvx, never passed to fsspec
log = logging.getLogger("dvx")


PACK_VERSION = 1
PACK_SIZE = 32 * 1024 * 1024  # default upper bound of a pack's bytes
PACK_MIN_OBJECTS = 64  # pack only when a push sends at least this many small objects


@dataclass(frozen=True)
class Packed:
    """Where a packed object lies: bytes ``offset`` to ``offset + size`` of a pack."""

    pack: str
    offset: int
    size: int


@dataclass
class Remote:
    name: str
    url: str
    fs: Any  # fsspec.AbstractFileSystem; kept behind this class's methods
    root: str
    pack_size: int = PACK_SIZE  # 0: never pack (one file per object, as DVC)
    index_dir: Path | None = None  # local copies of pack indexes (immutable, by pack name)
    _packed: dict[str, Packed] | None = field(default=None, init=False, repr=False)

    @property
    def atomic_put(self) -> bool:
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)
        return not (set(protocols) & _RENAME_PROTOCOLS)

    def _path(self, kind: str, name: str) -> str:
        return posixpath.join(self.root, kind, name[:2], name[2:])

    def object_path(self, digest: str) -> str:
        return self._path("objects", digest)

    def run_path(self, key: str) -> str:
        return self._path("runs", key)

    def pack_path(self, name: str, suffix: str) -> str:
        return self._path("packs", name + suffix)

    def list_objects(self) -> set[str]:
        """Every object hash on the remote: loose ones and packed ones."""
        return self.list_loose() | set(self.packed())

    def list_loose(self) -> set[str]:
        """Object hashes stored one file each under ``objects/`` (one recursive listing)."""
        return set(self._list("objects"))

    def packed(self) -> dict[str, Packed]:
        """Every packed object and where it lies: one listing of ``packs/`` and one
        read per pack index, remembered for the life of this object."""
        if self._packed is None:
            names = sorted(n[: -len(".idx")] for n in self._list("packs") if n.endswith(".idx"))
            found: dict[str, Packed] = {}
            for name in names:
                data = self._pack_index(name)
                if data is None:
                    continue
                for h, offset, size in parse_pack_index(data, f"remote '{self.name}' pack {name}"):
                    found.setdefault(h, Packed(name, offset, size))
            self._packed = found
        return self._packed

    def _pack_index(self, name: str) -> bytes | None:
        """A pack's index, read from the remote once per machine: a pack is named
        by its bytes and never rewritten, so its index never changes."""
        local = self.index_dir / f"{name}.idx" if self.index_dir is not None else None
        if local is not None:
            with contextlib.suppress(OSError):
                return local.read_bytes()
        data = self.read(self.pack_path(name, ".idx"))
        if data is not None and local is not None:
            with contextlib.suppress(OSError):
                local.parent.mkdir(parents=True, exist_ok=True)
                write_replace(f"{local}.{os.getpid()}.tmp", local, data)
        return data

    def put_pack(self, name: str, data: bytes, index: bytes) -> None:
        """Upload a pack, then its index: its objects exist once the index does."""
        self.put_bytes(self.pack_path(name, ".pack"), data)
        self.put_bytes(self.pack_path(name, ".idx"), index)
        self._packed = None

    def put_bytes(self, path: str, data: bytes) -> None:
        """Write ``data`` at ``path`` with one atomic PUT (object stores only)."""
        self.fs.pipe_file(path, data)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` of ``path``; FileNotFoundError when absent."""
        data: bytes = self.fs.cat_file(path, start=start, end=end)
        return data

    def delete_packs(self, names: list[str]) -> None:
        """Index first: a pack without its index holds nothing."""
        self.delete([self.pack_path(n, ".idx") for n in names])
        self.delete([self.pack_path(n, ".pack") for n in names])
        self._packed = None

    def list_runs(self) -> set[str]:
        return set(self._list("runs"))

    def _list(self, kind: str) -> Iterator[str]:
        base = posixpath.join(self.root, kind)
        try:
            found = self.fs.find(base)
        except FileNotFoundError:
            return
        for p in found:
            p = self.fs._strip_protocol(p) if hasattr(self.fs, "_strip_protocol") else p
            parts = p.rstrip("/").split("/")
            if len(parts) >= 2 and len(parts[-2]) == 2 and not parts[-1].startswith("."):
                yield parts[-2] + parts[-1]

    def exists(self, path: str) -> bool:
        return bool(self.fs.exists(path))

    def put(self, local: Path, path: str) -> None:
        """Upload a local file to ``path``, atomically (see module docstring)."""
        if self.atomic_put:
            self.fs.put_file(str(local), path)
            return
        tmp = posixpath.join(self.root, "tmp", f"{uuid.uuid4().hex}.tmp")
        self.fs.makedirs(posixpath.dirname(tmp), exist_ok=True)
        try:
            self.fs.put_file(str(local), tmp)
            self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
            self.fs.mv(tmp, path)
        except BaseException:
            # A failed upload leaves nothing behind (a killed one may; nothing reads tmp/).
            try:
                self.fs.rm_file(tmp)
            except Exception:
                pass
            raise

    @property
    def batched(self) -> bool:
        """True when many transfers can be sent as one batch of concurrent requests
        (fsspec's async backends: S3, GCS, Azure) instead of a pool of threads."""
        return bool(getattr(self.fs, "async_impl", False)) and self.atomic_put

    def put_many(
        self,
        items: list[tuple[Path, str]],
        jobs: int,
        done: Callable[[int, BaseException | None], None],
    ) -> None:
        """Upload ``(local file, remote path)`` pairs, ``jobs`` requests in flight.

        ``done(index, error)`` is called once per item as it finishes (on one
        thread, never concurrently). Only for :attr:`batched` remotes.
        """
        fs = self.fs
        parts = _parts(fs._put_file, len(items))

        async def one(i: int) -> None:
            local, path = items[i]
            await fs._put_file(str(local), path, **parts)

        self._batch(len(items), jobs, one, done)

    def get_many(
        self,
        items: list[tuple[str, int | None]],
        jobs: int,
        new_tmp: Callable[[], Path],
        done: Callable[[int, bytes | Path | BaseException], None],
    ) -> None:
        """Download ``(remote path, size if known)`` items, ``jobs`` requests in flight.

        A small object arrives as bytes, a big or unknown one as a local temporary
        file from ``new_tmp`` (the callback owns it). ``done(index, result)`` is
        called once per item (on one thread); a missing object's result is a
        FileNotFoundError. Only for :attr:`batched` remotes.
        """
        fs = self.fs
        parts = _parts(fs._get_file, len(items))
        # One GET per small object: with more than one part allowed, s3fs asks
        # for the size first.
        whole = _parts(fs._cat_file, 2)

        async def one(i: int) -> bytes | Path:
            path, size = items[i]
            if size is not None and size <= SMALL:
                data: bytes = await fs._cat_file(path, **whole)
                return data
            tmp = new_tmp()
            try:
                await fs._get_file(path, str(tmp), **parts)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            return tmp

        self._batch(len(items), jobs, one, done)

    def _batch(
        self,
        n: int,
        jobs: int,
        one: Callable[[int], Awaitable[Any]],
        done: Callable[[int, Any], None],
    ) -> None:
        """Run ``one(i)`` for i < n on fsspec's event loop, at most ``jobs`` at once;
        ``done(i, result or exception)`` runs on that loop as each one ends."""
        import asyncio

        from fsspec.asyn import sync

        async def run() -> None:
            gate = asyncio.Semaphore(max(1, jobs))

            async def guarded(i: int) -> None:
                async with gate:
                    try:
                        result = await one(i)
                    except Exception as exc:  # reported per item, like a thread pool's
                        result = exc
                done(i, result)

            await asyncio.gather(*(guarded(i) for i in range(n)))

        if n:
            sync(self.fs.loop, run)

    def get(self, path: str, local: Path) -> None:
        """Download ``path`` into a local file; FileNotFoundError when absent."""
        self.fs.get_file(path, str(local))

    @property
    def jobs(self) -> int:
        """Transfers to run at once by default: network round trips, not the disk,
        bound an object store, so many requests stay in flight."""
        return 32

    def read(self, path: str) -> bytes | None:
        try:
            with self.fs.open(path, "rb") as f:
                data: bytes = f.read()
                return data
        except FileNotFoundError:
            return None

    def delete(self, paths: list[str]) -> None:
        if paths:
            self.fs.rm(paths)


def _parts(method: Callable[..., Any], items: int) -> dict[str, Any]:
    """Keyword arguments limiting the requests per object for the parts of a big
    one: the backend's default for a lone object, one when a batch of many
    already keeps ``jobs`` requests in flight (never jobs × parts connections).
    Only for backends whose ``method`` takes ``max_concurrency`` (s3fs does)."""
    if items == 1 or "max_concurrency" not in inspect.signature(method).parameters:
        return {}
    return {"max_concurrency": 1}


_TMP_PREFIX = uuid.uuid4().hex[:12]
_COUNTER = itertools.count()


_copy = copy_new  # a module name, so tests can make an upload fail midway


class LocalRemote(Remote):
    """A folder on this machine (or a mounted share), through plain system calls.

    fsspec's local filesystem works too, but per-call path handling costs more
    than the copy itself when pushing tens of thousands of small objects; the
    contracts (atomic write-once put via ``tmp/`` and rename) are the same.
    """

    def _list(self, kind: str) -> Iterator[str]:
        base = os.path.join(self.root, kind)
        try:
            prefixes = [d for d in os.scandir(base) if d.is_dir() and len(d.name) == 2]
        except FileNotFoundError:
            return
        for d in prefixes:
            for f in os.scandir(d.path):
                if not f.name.startswith(".") and f.is_file():
                    yield d.name + f.name

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def put(self, local: Path, path: str) -> None:
        # Written beside its final name (a rename within one small directory is
        # cheap) under a dot-name listings skip; pid and a counter keep concurrent
        # pushers on one machine apart, the random part other machines.
        head, name = os.path.split(path)
        tmp = os.path.join(head, f".{name}.{_TMP_PREFIX}-{os.getpid()}-{next(_COUNTER)}.tmp")
        try:
            try:
                _copy(local, tmp)
            except FileNotFoundError:
                if not os.path.exists(local):
                    raise
                os.makedirs(head, exist_ok=True)
                _copy(local, tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def get(self, path: str, local: Path) -> None:
        shutil.copyfile(path, local)

    @property
    def jobs(self) -> int:
        return default_jobs()  # the disk, not round trips, bounds a local copy

    def read(self, path: str) -> bytes | None:
        try:
            with open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_range(self, path: str, start: int, end: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read(end - start)

    def delete(self, paths: list[str]) -> None:
        for p in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def pack_index(entries: list[tuple[str, int, int]]) -> bytes:
    """The index of a pack: ``[hash, offset, size]`` of each object in it."""
    doc = {"version": PACK_VERSION, "objects": [list(e) for e in entries]}
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


def parse_pack_index(data: bytes, source: str) -> list[tuple[str, int, int]]:
    """A pack index's entries; a malformed index holds nothing (with a warning),
    one of a newer format is an error."""
    try:
        doc = json.loads(data)
        version = doc["version"]
        objects = doc["objects"]
    except (ValueError, KeyError, TypeError):
        log.warning("%s: not a pack index; ignoring it", source)
        return []
    if not isinstance(version, int) or version > PACK_VERSION:
        raise FormatVersionError(
            f"{source}: pack format version {version} is newer than this dvx reads",
            hint="upgrade dvx",
        )
    out = []
    for item in objects if isinstance(objects, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and len(item[0]) == 32
            and all(isinstance(n, int) and n >= 0 for n in item[1:])
        ):
            out.append((item[0], item[1], item[2]))
        else:
            log.warning("%s: malformed entry %r; ignoring it", source, item)
    return out


def _protocol(url: str) -> str:
    if "://" in url:
        return url.split("://", 1)[0].lower()
    return "file"


def _fs_options(protocol: str, opts: dict[str, Any]) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if protocol in ("s3", "s3a"):
        if opts.get("endpoint_url"):
            kw["endpoint_url"] = opts["endpoint_url"]
        if opts.get("region"):
            kw["client_kwargs"] = {"region_name": opts["region"]}
        if opts.get("profile"):
            kw["profile"] = opts["profile"]
        if opts.get("access_key_id"):
            kw["key"] = opts["access_key_id"]
        if opts.get("secret_access_key"):
            kw["secret"] = opts["secret_access_key"]
        if opts.get("session_token"):
            kw["token"] = opts["session_token"]
        return kw
    return {k: v for k, v in opts.items() if k not in _DVX_OPTIONS}


def open_remote(cfg: Config, name: str | None, repo_root: Path) -> Remote:
    """The named remote, or the default one (``core.remote``)."""
    name = name or cfg.core.get("remote")
    if not name:
        raise UsageError(
            "no remote given and no default remote configured",
            hint="add one with 'dvx remote add -d NAME URL', or pass -r NAME",
        )
    opts = cfg.remotes.get(name)
    if opts is None:
        known = ", ".join(sorted(cfg.remotes)) or "none"
        raise UsageError(
            f"unknown remote '{name}' (configured: {known})",
            hint="'dvx remote list' shows the remotes",
        )
    url = str(opts.get("url") or "")
    if not url:
        raise ConfigError(f"config: remote '{name}' has no url")
    protocol = _protocol(url)
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency
        raise ConfigError("fsspec is not installed", hint="pip install fsspec") from None
    if protocol == "file":
        path = url.removeprefix("file://")
        root = Path(path).expanduser()
        if not root.is_absolute():
            # A relative local remote is relative to the repo, as in DVC's config.
            root = (repo_root / root).resolve()
        return LocalRemote(
            name,
            url,
            fsspec.filesystem("file"),
            root.as_posix(),
            _pack_size(name, opts),
            repo_root / ".dvx" / "tmp" / "packs",
        )
    try:
        fs = fsspec.filesystem(protocol, **_fs_options(protocol, opts))
    except ImportError:
        extra = _EXTRAS.get(protocol, protocol)
        raise ConfigError(
            f"remote '{name}' ({protocol}://) needs an optional package",
            hint=f"pip install 'dvx[{extra}]'",
        ) from None
    except ValueError as exc:
        raise ConfigError(f"remote '{name}': {exc}") from None
    root = fs._strip_protocol(url).rstrip("/")
    return Remote(name, url, fs, root, _pack_size(name, opts), repo_root / ".dvx" / "tmp" / "packs")


def _pack_size(name: str, opts: dict[str, Any]) -> int:
    raw = opts.get("pack_size", PACK_SIZE)
    try:
        size = int(raw)
        if size < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(
            f"config: remote '{name}': pack_size must be a number of bytes, not {raw!r}",
            hint="0 stores one file per object; the default is 33554432 (32 MiB)",
        ) from None
    return size


def redact(opts: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if k in SECRET_KEYS else v) for k, v in opts.items()}
