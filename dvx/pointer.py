"""Pointer files ``PATH.dvx`` for data tracked with ``dvx add`` (SPEC §1, §7).

Format (version 1)::

    version: 1
    algorithm: xxh3-128
    path: raw.csv      # relative to the pointer file's directory
    hash: 3f2a…
    size: 1048576
    nfiles: 12         # directories only
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dvx import yamlio
from dvx.errors import ConfigError, FormatVersionError
from dvx.hashing import HASH_NAME, Version
from dvx.repo import Repo, check_rel_path

POINTER_VERSION = 1
SUFFIX = ".dvx"
_SKIP_DIRS = {".git", ".dvx", "__pycache__", "node_modules", ".venv", "venv"}


@dataclass(frozen=True)
class Pointer:
    file: str  # repo-relative path of the .dvx file
    path: str  # repo-relative path of the data
    version: Version


def pointer_file_for(data_rel: str) -> str:
    return data_rel + SUFFIX


def read(repo: Repo, file_rel: str) -> Pointer:
    return parse(yamlio.load(repo.abspath(file_rel)), file_rel)


def parse(data: object, file_rel: str) -> Pointer:
    """A pointer from parsed YAML; ``file_rel`` is the pointer file's repo-relative path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{file_rel}: not a dvx pointer file")
    version = data.get("version")
    if not isinstance(version, int):
        raise ConfigError(f"{file_rel}: missing format 'version'")
    if version > POINTER_VERSION:
        raise FormatVersionError(
            f"{file_rel}: pointer format version {version} is newer than this dvx reads",
            hint="upgrade dvx",
        )
    if data.get("algorithm", HASH_NAME) != HASH_NAME:
        raise ConfigError(f"{file_rel}: unknown hash algorithm '{data.get('algorithm')}'")
    try:
        rel = str(data["path"])
        nfiles = data.get("nfiles")
        v = Version(str(data["hash"]), int(data["size"]), None if nfiles is None else int(nfiles))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{file_rel}: malformed pointer file ({exc})") from None
    parent = file_rel.rsplit("/", 1)[0] if "/" in file_rel else ""
    if rel.startswith("/") or "\\" in rel or rel[1:2] == ":":
        check_rel_path(rel, file_rel)  # absolute: refuse it rather than re-root it under parent
    data_rel = os.path.normpath(f"{parent}/{rel}" if parent else rel).replace(os.sep, "/")
    check_rel_path(data_rel, file_rel)
    return Pointer(file_rel, data_rel, v)


def tracking(repo: Repo, data_rel: str) -> str | None:
    """The pointer file tracking ``data_rel`` or the nearest directory containing it."""
    parts = data_rel.split("/")
    for i in range(len(parts), 0, -1):
        pfile = pointer_file_for("/".join(parts[:i]))
        if repo.abspath(pfile).is_file():
            return pfile
    return None


def write(repo: Repo, data_rel: str, version: Version) -> str:
    file_rel = pointer_file_for(data_rel)
    doc: dict[str, object] = {
        "version": POINTER_VERSION,
        "algorithm": HASH_NAME,
        "path": data_rel.rsplit("/", 1)[-1],
        "hash": version.hash,
        "size": version.size,
    }
    if version.nfiles is not None:
        doc["nfiles"] = version.nfiles
    yamlio.atomic_write(repo.abspath(file_rel), yamlio.dumps(doc))
    return file_rel


def find_all(repo: Repo, skip: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Repo-relative paths of every pointer file, not descending into tracked data.

    ``skip`` holds repo-relative directories known to be data (stage outputs).
    """
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(repo.root):
        rel_dir = os.path.relpath(dirpath, repo.root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        names = set(filenames)
        kept = []
        for d in dirnames:
            if d in _SKIP_DIRS or (prefix + d) in skip or (d + SUFFIX) in names:
                continue  # tracked data or tooling: never holds pointer files
            if os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg")):
                continue
            kept.append(d)
        dirnames[:] = kept
        found.extend(prefix + f for f in filenames if f.endswith(SUFFIX) and f != SUFFIX)
    return sorted(found)
