"""The local content-addressed cache: objects and the action cache (SPEC §5, §7).

Layout under ``.dvx/cache`` (see docs/FORMAT.md)::

    objects/ab/cdef…   file contents and directory manifests, named by their hash
    runs/ab/cdef…      action-cache entries, named by the stage key (JSON)
    tmp/               partial writes; renamed into place only when complete

Objects are written once, made read-only, and renamed into their final name only
after their bytes are complete, so a killed dvx never leaves a corrupt object
under a final name. Reading an object never trusts it blindly: ``is_intact``
re-hashes it unless the stat cache vouches for it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import logging
import os
import shutil
import stat as statmod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import xxhash

from dvx import hashing
from dvx.errors import CacheMissError, CorruptObjectError, FormatVersionError
from dvx.fsutil import copy_new, parallel, read_small, write_new, write_replace
from dvx.hashing import Hasher, ManifestEntry, Version

log = logging.getLogger("dvx")

RUN_VERSION = 1
_FICLONE = 0x40049409  # linux/fs.h
_READ_ONLY = 0o444


class Cache:
    def __init__(self, cache_dir: Path, hasher: Hasher, link_types: tuple[str, ...]) -> None:
        self.dir = cache_dir
        self.objects = cache_dir / "objects"
        self.runs = cache_dir / "runs"
        self.tmp = cache_dir / "tmp"
        self.hasher = hasher
        self.link_types = list(link_types)

    # ---- objects -------------------------------------------------------

    def object_path(self, digest: str) -> Path:
        return self.objects / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return os.path.isfile(f"{self.objects}/{digest[:2]}/{digest[2:]}")  # no Path: hot

    def is_intact(self, digest: str) -> bool:
        """True when the object exists and its bytes hash to its name.

        A corrupt object is moved aside, so it is never linked into a workspace.
        """
        path = self.object_path(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            return False
        actual = self.hasher.hash_files({str(path): st})[str(path)]
        if actual == digest:
            return True
        self._quarantine(path, digest)
        return False

    def _quarantine(self, path: Path, digest: str) -> None:
        bad = self.dir / "corrupt"
        bad.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(path, bad / digest)
        except FileNotFoundError:
            pass
        log.warning("cache object %s was corrupt; moved to %s", digest, bad / digest)

    @contextmanager
    def _tmpfile(self) -> Iterator[Path]:
        tmp = self.new_tmp()
        try:
            yield tmp
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass

    def _publish(self, tmp: Path, digest: str) -> None:
        """Make a complete temporary file the object ``digest`` (write-once)."""
        os.chmod(tmp, _READ_ONLY)
        final = self.object_path(digest)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # first object under this prefix
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        self._record(str(final), final.stat(), digest)

    def _store(self, digest: str, data: bytes) -> None:
        """Write bytes known to hash to ``digest`` as that object: created read-only
        under a temporary name beside the final one, renamed when complete."""
        head = f"{self.objects}/{digest[:2]}"
        final = f"{head}/{digest[2:]}"
        tmp = f"{head}/.{digest[2:]}.{os.getpid()}-{next(_counter)}.part"
        st = write_replace(tmp, final, data, _READ_ONLY)
        self._record(final, st, digest)

    def adopt_file(self, src: str | Path, digest: str) -> int | None:
        """Copy a local file (a download, an object of a local remote) into the cache
        as object ``digest``, hashing the bytes it stores.

        Returns the size, or None when the bytes do not hash to ``digest`` (nothing
        is kept: a corrupt download never gets a final name).
        """
        data = read_small(src)
        if data is None:
            with open(src, "rb") as f:
                return self.adopt_stream(f, digest)
        return self.adopt_bytes(data, digest)

    def adopt_tmp(self, tmp: Path, digest: str) -> int | None:
        """Make a complete download in the cache's ``tmp/`` (see :meth:`new_tmp`) the
        object ``digest`` by renaming it, if its bytes hash to ``digest``; a big
        object is read once more, never copied. None (and ``tmp`` removed) when
        the bytes do not match."""
        try:
            if hashing.hash_file(tmp) != digest:
                return None
            size = tmp.stat().st_size
            self._publish(tmp, digest)
            return size
        finally:
            tmp.unlink(missing_ok=True)

    def adopt_bytes(self, data: bytes, digest: str) -> int | None:
        """Store downloaded bytes as object ``digest``; None (nothing kept) when
        they do not hash to it."""
        if hashing.hash_bytes(data) != digest:
            return None
        self._store(digest, data)
        return len(data)

    def _tmp_beside(self, digest: str) -> Path:
        """A temporary name in the object's own directory. Renaming within one small
        directory is far cheaper than funnelling every object through one shared
        ``tmp/``, and a leftover (dot-named) never counts as an object."""
        final = self.object_path(digest)
        return final.with_name(f".{final.name}.{os.getpid()}-{next(_counter)}.part")

    def new_tmp(self) -> Path:
        """A fresh, empty temporary file inside the cache (same filesystem as the objects)."""
        name = self.tmp / f".dvx-{os.getpid()}-{next(_counter)}.part"
        try:
            open(name, "xb").close()
        except FileNotFoundError:
            self.tmp.mkdir(parents=True, exist_ok=True)
            open(name, "xb").close()
        except FileExistsError:  # left by an earlier process with our pid
            os.unlink(name)
            open(name, "xb").close()
        return name

    def adopt_stream(self, src: BinaryIO, digest: str) -> int | None:
        """Copy a download into the cache as object ``digest``, hashing as it goes.

        Returns the size, or None when the bytes do not hash to ``digest`` (the
        file is deleted: a corrupt download never gets a final name).
        """
        tmp = self._tmp_beside(digest)
        try:
            h = xxhash.xxh3_128()
            size = 0
            with _create(tmp, tmp.parent) as out:
                while chunk := src.read(4 * 1024 * 1024):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if h.hexdigest() != digest:
                tmp.unlink(missing_ok=True)
                return None
            self._publish(tmp, digest)
            return size
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_bytes(self, data: bytes) -> str:
        digest = hashing.hash_bytes(data)
        if not self.has(digest):
            with self._tmpfile() as tmp:
                tmp.write_bytes(data)
                self._publish(tmp, digest)
        return digest

    def put_file(self, src: Path, digest: str) -> None:
        """Store the content of ``src`` (known to hash to ``digest``) as an object.

        With hardlinks the workspace file becomes the (read-only) object itself,
        which is cheap and protects the cache from edits through the link.
        """
        if self.has(digest):
            return
        if self.link_types[0] == "copy":
            self._put_copy(src, digest)
            return
        before = src.stat()
        copied: list[str] = []

        def copy_hashing(s: Path, d: Path) -> None:
            # One pass: the bytes written are the bytes hashed, so what gets the
            # object's name is verified without reading it a second time.
            copied.append(_copy_with_hash(s, d))

        with self._tmpfile() as tmp:
            method = self._place(src, tmp, copy=copy_hashing)
            if method == "copy":
                ok = copied[0] == digest
            else:
                # A link or clone holds the file's bytes as they are now: if the file
                # changed since it was hashed (its stat moved), hash what was stored.
                after = tmp.stat() if method == "hardlink" else src.stat()
                moved = (before.st_mtime_ns, before.st_size) != (after.st_mtime_ns, after.st_size)
                ok = not moved or hashing.hash_file(tmp) == digest
            if not ok:
                raise _changed(src)
            self._publish(tmp, digest)

    def _put_copy(self, src: Path, digest: str) -> None:
        """The copy-only path of :meth:`put_file`, lean because ``dvx add`` of tens of
        thousands of small files spends its time here: one read, hashed while written."""
        data = read_small(src)
        if data is not None:
            if hashing.hash_bytes(data) != digest:
                raise _changed(src)
            self._store(digest, data)
            return
        tmp = self._tmp_beside(digest)
        try:
            try:
                actual = _copy_with_hash(src, tmp)
            except FileNotFoundError:
                if not src.exists():
                    raise
                tmp.parent.mkdir(parents=True, exist_ok=True)
                actual = _copy_with_hash(src, tmp)
            if actual != digest:
                raise _changed(src)
            self._publish(tmp, digest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_path(self, path: Path) -> Version:
        """Store a workspace file or directory; returns its version."""
        if path.is_dir():
            data, entries = self.hasher.dir_manifest(path)
            parallel(lambda e: self.put_file(path / e.path, e.hash), entries, group=_prefix)
            digest = self.put_bytes(data)
            return Version(digest, sum(e.size for e in entries), len(entries))
        version = self.hasher.file_version(path)
        self.put_file(path, version.hash)
        return version

    def read_manifest(self, digest: str) -> list[ManifestEntry]:
        path = self.object_path(digest)
        return hashing.parse_manifest(path.read_bytes(), f"manifest {digest}")

    def missing(self, version: Version) -> list[str]:
        """Object hashes needed for ``version`` that are absent or corrupt locally."""
        if not self.is_intact(version.hash):
            return [version.hash]
        if not version.is_dir:
            return []
        entries = self.read_manifest(version.hash)
        return self.lacking([e.hash for e in entries])

    def lacking(self, digests: list[str]) -> list[str]:
        """The objects among ``digests`` that are absent or corrupt (one batched pass).

        Corrupt ones are moved aside, so they are fetched again rather than used.
        """
        objects = str(self.objects)
        paths = {f"{objects}/{d[:2]}/{d[2:]}": d for d in set(digests)}
        stats = {}
        lacking = []
        for p, digest in paths.items():
            try:
                stats[p] = os.stat(p)
            except FileNotFoundError:
                lacking.append(digest)
        for p, actual in self.hasher.hash_files(stats).items():
            if actual != paths[p]:
                self._quarantine(Path(p), paths[p])
                lacking.append(paths[p])
        return sorted(set(lacking))

    # ---- linking into the workspace ----------------------------------

    def _place(
        self, src: Path, dest: Path, *, copy: Callable[[Path, Path], None] | None = None
    ) -> str:
        """Put ``src``'s content at ``dest`` (replacing it) by the first link type that works.

        ``copy`` replaces the plain copy (``dest`` is then a private temporary file).
        """
        for method in list(self.link_types):
            try:
                if method == "reflink":
                    _reflink(src, dest)
                elif method == "hardlink":
                    tmp = dest.with_name(dest.name + ".lnk")
                    os.link(src, tmp)
                    os.replace(tmp, dest)
                elif copy is not None:
                    copy(src, dest)
                else:
                    os.replace(_copy_to_tmp(src, dest), dest)
                return method
            except OSError as exc:
                if method == "copy" or exc.errno not in _LINK_UNSUPPORTED:
                    raise
                # This filesystem cannot do it: never try again in this process.
                with contextlib.suppress(ValueError):  # another thread got there first
                    self.link_types.remove(method)
        raise OSError(f"no link type could place {dest}")

    def link_file(self, digest: str, dest: str | Path, *, new: bool = False) -> None:
        """Check out object ``digest`` at ``dest`` (atomically replacing what is there).

        ``new``: the caller just created dest's directory, so nothing is there to
        replace and a copy is written in place (as git does), saving a rename.
        """
        obj = f"{self.objects}/{digest[:2]}/{digest[2:]}"
        head, name = os.path.split(dest)
        tmp = f"{head}/.{name}.dvx-tmp"
        if self.link_types[0] == "copy":
            try:
                data = read_small(obj)
            except FileNotFoundError:
                raise CacheMissError(f"object {digest} for '{dest}' is not in the cache") from None
            if data is not None:
                if new and self._write_new_checkout(dest, data, digest):
                    return
                self._write_checkout(tmp, dest, data, digest)
                return
        if not os.path.isfile(obj):
            raise CacheMissError(f"object {digest} for '{dest}' is not in the cache")
        try:
            self._place(Path(obj), Path(tmp), copy=_plain_copy)
        except FileNotFoundError:
            os.makedirs(head, exist_ok=True)
            self._place(Path(obj), Path(tmp), copy=_plain_copy)
        os.replace(tmp, dest)
        st = os.stat(dest)
        self._record(dest, st, digest)

    def _record(self, path: str | Path, st: os.stat_result, digest: str) -> None:
        """Tell the stat cache that ``path`` holds ``digest``: dvx wrote these bytes
        from a verified object and closed the file just now. Recorded at once, or
        the next status would re-read every file of a fresh checkout (a write by
        someone else moves mtime past this one)."""
        if self.hasher.state is not None:
            self.hasher.state.put(str(path), st, digest, trusted=True)

    def _write_new_checkout(self, dest: str | Path, data: bytes, digest: str) -> bool:
        """Write a small checked-out copy where nothing is; False if something is."""
        try:
            st = write_new(dest, data)
        except FileExistsError:
            return False
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(dest)  # never leave a partial file that looks like data
            raise
        self._record(dest, st, digest)
        return True

    def _write_checkout(self, tmp: str, dest: str | Path, data: bytes, digest: str) -> None:
        """A small checked-out copy: written to ``tmp`` (default mode, so writable),
        then renamed over ``dest``; recorded as verified."""
        st = write_replace(tmp, dest, data)
        self._record(dest, st, digest)

    # ---- action cache ----------------------------------------------------

    def run_path(self, key: str) -> Path:
        return self.runs / key[:2] / key[2:]

    def get_run(self, key: str) -> dict[str, Any] | None:
        try:
            data = self.run_path(key).read_bytes()
        except FileNotFoundError:
            return None
        try:
            return parse_run(data, f"action-cache entry {key}")
        except FormatVersionError as exc:
            log.warning("%s; treating it as a miss", exc.message)
            return None

    def put_run(self, key: str, entry: dict[str, Any]) -> None:
        """Publish an action-cache entry; callers store every object it names first."""
        from dvx.yamlio import atomic_write

        path = self.run_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": RUN_VERSION, "key": key, **entry}
        atomic_write(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


def parse_run(data: bytes, source: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(data)
    except ValueError:
        log.warning("%s is not valid JSON; ignoring it", source)
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, int):
        log.warning("%s has no format version; ignoring it", source)
        return None
    if version > RUN_VERSION:
        raise FormatVersionError(
            f"{source}: action-cache format version {version} is newer than this dvx reads",
            hint="upgrade dvx",
        )
    assert isinstance(doc, dict)
    return doc


_LINK_UNSUPPORTED = {
    errno.EXDEV,
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.EINVAL,
    errno.ENOTTY,
    errno.EPERM,
    errno.EMLINK,
    errno.ENOSYS,
}


def _reflink(src: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".ref")
    with open(src, "rb") as s, open(tmp, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        except OSError:
            d.close()
            os.unlink(tmp)
            raise
    os.replace(tmp, dest)


_counter = itertools.count()


def _changed(src: Path) -> CorruptObjectError:
    return CorruptObjectError(
        f"'{src}' changed while dvx was storing it",
        hint="let the process writing it finish, then try again",
    )


def _prefix(e: ManifestEntry) -> str:
    return e.hash[:2]  # objects sharing a cache directory


def _create(path: Path, parent: Path) -> BinaryIO:
    """Open a new file for writing, creating its directory on first use."""
    try:
        return open(path, "xb", buffering=0)
    except FileNotFoundError:
        parent.mkdir(parents=True, exist_ok=True)
        return open(path, "xb", buffering=0)


def _plain_copy(src: Path, dest: Path) -> None:
    # A fresh file gets the default mode: writable, as a checkout should be.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest)  # a leftover temp file of a killed run may be read-only
    copy_new(src, dest)


def _copy_with_hash(src: Path, dest: Path) -> str:
    h = xxhash.xxh3_128()
    with open(src, "rb", buffering=0) as f, open(dest, "wb", buffering=0) as out:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


def _copy_to_tmp(src: Path, dest: Path) -> Path:
    tmp = dest.with_name(dest.name + ".cp")
    shutil.copyfile(src, tmp)
    return tmp


def make_writable(path: Path) -> None:
    """Turn a linked (read-only) workspace file into a private writable copy."""
    st = path.stat()
    if st.st_nlink > 1 or not st.st_mode & statmod.S_IWUSR:
        os.replace(_copy_to_tmp(path, path), path)
        os.chmod(path, 0o644)
