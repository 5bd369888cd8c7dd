"""Versions of files and directories (SPEC §3).

A file's version is the xxh3-128 hex digest of its raw bytes: nothing is
normalized before hashing, so a hash always matches the stored bytes. A
directory's version is the hash of its manifest, a canonical JSON document
listing every file below it (sorted POSIX relative paths, hashes, sizes).
"""

from __future__ import annotations

import json
import os
import stat as statmod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import xxhash

if TYPE_CHECKING:
    from dvx.state import State

HASH_NAME = "xxh3-128"
MANIFEST_VERSION = 1
_CHUNK = 4 * 1024 * 1024
_THREADS = 8


@dataclass(frozen=True)
class Version:
    """What the lock records of one path. ``nfiles`` is set only for directories."""

    hash: str
    size: int
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return self.nfiles is not None


@dataclass(frozen=True)
class ManifestEntry:
    path: str  # POSIX, relative to the directory
    hash: str
    size: int


def hash_bytes(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(path: str | os.PathLike[str]) -> str:
    h = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_name(rel: str, directory: Path) -> None:
    """Refuse a file name a manifest cannot record faithfully, naming it."""
    from dvx.errors import UsageError
    from dvx.repo import check_rel_path

    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(
            f"'{directory}': file name {rel.encode('utf-8', 'surrogateescape')!r} is not "
            "valid UTF-8",
            hint="rename the file: manifests record names as UTF-8",
        ) from None
    try:
        check_rel_path(rel, str(directory))
    except Exception:
        raise UsageError(
            f"'{directory}': cannot track file name '{rel}'",
            hint="names with a backslash, or a colon as second character, are refused "
            "because they are unsafe on other systems; rename the file",
        ) from None


def manifest_bytes(entries: Sequence[ManifestEntry]) -> bytes:
    files = [[e.path, e.hash, e.size] for e in sorted(entries, key=lambda e: e.path)]
    doc = {"version": MANIFEST_VERSION, "algorithm": HASH_NAME, "files": files}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_manifest(data: bytes, source: str) -> list[ManifestEntry]:
    from dvx.errors import ConfigError, FormatVersionError
    from dvx.repo import check_rel_path

    try:
        doc = json.loads(data)
        version = doc["version"]
        files = doc["files"]
        algorithm = doc.get("algorithm", HASH_NAME)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{source}: not a dvx directory manifest") from None
    if algorithm != HASH_NAME:
        raise ConfigError(f"{source}: unknown hash algorithm '{algorithm}'", hint="upgrade dvx")
    if not isinstance(version, int) or version > MANIFEST_VERSION:
        raise FormatVersionError(
            f"{source}: manifest format version {version} is newer than this dvx reads",
            hint="upgrade dvx",
        )
    out = []
    for item in files:
        if not (isinstance(item, list) and len(item) == 3):
            raise ConfigError(f"{source}: malformed manifest entry {item!r}")
        rel, digest, size = item
        check_rel_path(rel, source)
        out.append(ManifestEntry(rel, digest, int(size)))
    return out


def walk_files(root: Path) -> dict[str, os.stat_result]:
    """Every regular file below ``root`` (symlinks to files followed), keyed by POSIX path.

    Symlinked directories are not descended into: they could loop or leave the repo.
    """
    found: dict[str, os.stat_result] = {}
    stack = [(root, "")]
    while stack:
        d, prefix = stack.pop()
        with os.scandir(d) as it:
            for entry in it:
                rel = prefix + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), rel + "/"))
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # dangling symlink
                if statmod.S_ISREG(st.st_mode):
                    found[rel] = st
    return found


def _hash_all(paths: list[str]) -> list[tuple[str, str]]:
    return [(p, hash_file(p)) for p in paths]


class Hasher:
    """Hashes workspace paths through the stat cache, many files in parallel."""

    def __init__(self, state: State | None) -> None:
        self.state = state
        # Within one command the same file (a module many stages import) is asked
        # for again and again: remember answers by the same stat identity.
        self._memo: dict[str, tuple[tuple[int, int, int], str]] = {}

    def hash_files(self, stats: dict[str, os.stat_result]) -> dict[str, str]:
        """Hashes of absolute paths with known stats; only stat-cache misses are read."""
        known: dict[str, str] = {}
        ask: dict[str, os.stat_result] = {}
        for p, st in stats.items():
            hit = self._memo.get(p)
            if hit is not None and hit[0] == (st.st_ino, st.st_mtime_ns, st.st_size):
                known[p] = hit[1]
            else:
                ask[p] = st
        if ask and self.state is not None:
            known.update(self.state.get_many(ask))
        todo = [p for p in ask if p not in known]
        if len(todo) > 16:
            # A contiguous share per thread: one task per small file costs more in
            # handing work between threads than the hashing itself.
            n = min(_THREADS, 2 * (os.cpu_count() or 1))
            with ThreadPoolExecutor(n) as pool:
                shares = list(pool.map(_hash_all, [todo[i::n] for i in range(n)]))
            by_path = {p: d for share in shares for p, d in share}
            digests = [by_path[p] for p in todo]
        else:
            digests = [hash_file(p) for p in todo]
        for path, digest in zip(todo, digests, strict=True):
            known[path] = digest
            if self.state is not None:
                self.state.put(path, stats[path], digest)
        for p in ask:
            st = stats[p]
            self._memo[p] = ((st.st_ino, st.st_mtime_ns, st.st_size), known[p])
        return known

    def file_version(self, path: Path, st: os.stat_result | None = None) -> Version:
        st = st or path.stat()
        digest = self.hash_files({str(path): st})[str(path)]
        return Version(digest, st.st_size)

    def dir_manifest(self, path: Path) -> tuple[bytes, list[ManifestEntry]]:
        rel_stats = walk_files(path)
        for rel in rel_stats:
            if not rel.isascii() or "\\" in rel or ":" in rel:
                check_name(rel, path)
        prefix = str(path) + os.sep
        abs_stats = {prefix + rel.replace("/", os.sep): st for rel, st in rel_stats.items()}
        digests = self.hash_files(abs_stats)
        entries = [
            ManifestEntry(rel, digests[prefix + rel.replace("/", os.sep)], st.st_size)
            for rel, st in rel_stats.items()
        ]
        entries.sort(key=lambda e: e.path)
        return manifest_bytes(entries), entries

    def version(self, path: Path) -> Version | None:
        """The version of a file or directory, or None when it does not exist."""
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if statmod.S_ISDIR(st.st_mode):
            data, entries = self.dir_manifest(path)
            return Version(hash_bytes(data), sum(e.size for e in entries), len(entries))
        return self.file_version(path, st)
