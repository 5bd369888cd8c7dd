"""``dvx.lock``: what each stage was last built from and what it produced (SPEC §3).

The lock is deterministic: stages sorted by name, paths sorted, no timestamps,
so identical inputs give byte-identical files and git diffs show only real
changes. It is rewritten atomically (temp file + rename) after every stage.
Paths in it come from other people's commits and are validated before use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dvx import yamlio
from dvx.errors import ConfigError, FormatVersionError
from dvx.hashing import HASH_NAME, Version
from dvx.repo import check_rel_path

LOCK_VERSION = 1
LOCK_NAME = "dvx.lock"


@dataclass(frozen=True)
class PathVersion:
    path: str
    version: Version


@dataclass(frozen=True)
class OutRecord:
    path: str
    version: Version
    cache: bool = True
    persist: bool = False
    metric: bool = False

    @property
    def stored(self) -> bool:
        """Whether the cache holds this output. Metrics stay in git (not gitignored)
        but a copy goes to the cache too, so the action cache can restore a stage whole."""
        return self.cache or self.metric


@dataclass
class LockEntry:
    key: str
    cmd: tuple[str, ...]
    deps: list[PathVersion] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)  # (path, hash)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: list[OutRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"key": self.key}
        doc["cmd"] = self.cmd[0] if len(self.cmd) == 1 else list(self.cmd)
        if self.deps:
            doc["deps"] = [_version_dict(d.path, d.version) for d in sorted_paths(self.deps)]
        if self.code:
            doc["code"] = [{"path": p, "hash": h} for p, h in sorted(self.code)]
        if self.params:
            doc["params"] = {
                f: {k: self.params[f][k] for k in sorted(self.params[f])}
                for f in sorted(self.params)
            }
        if self.outs:
            outs = []
            for o in sorted_paths(self.outs):
                d = _version_dict(o.path, o.version)
                if not o.cache:
                    d["cache"] = False
                if o.persist:
                    d["persist"] = True
                if o.metric:
                    d["metric"] = True
                outs.append(d)
            doc["outs"] = outs
        return doc


T = TypeVar("T", PathVersion, OutRecord)


def sorted_paths(items: list[T]) -> list[T]:
    return sorted(items, key=lambda i: i.path)


def _version_dict(path: str, v: Version) -> dict[str, Any]:
    d: dict[str, Any] = {"path": path, "hash": v.hash, "size": v.size}
    if v.nfiles is not None:
        d["nfiles"] = v.nfiles
    return d


# name → (entry, its YAML block): repro rewrites the lock after every stage, and
# re-serializing a few unchanged entries is cheap but a hundred of them is not.
_blocks: dict[str, tuple[LockEntry, str]] = {}


def _block(name: str, entry: LockEntry) -> str:
    from dvx import fastyaml

    hit = _blocks.get(name)
    if hit is not None and hit[0] is entry:
        return hit[1]
    text = fastyaml.dumps({name: entry.to_dict()}, indent=2)
    _blocks[name] = (entry, text)
    return text


def dumps(entries: dict[str, LockEntry]) -> str:
    head = yamlio.dumps({"version": LOCK_VERSION, "algorithm": HASH_NAME})
    if not entries:
        return head + "stages: {}\n"
    return head + "stages:\n" + "".join(_block(n, entries[n]) for n in sorted(entries))


def write(path: Path, entries: dict[str, LockEntry]) -> None:
    yamlio.atomic_write(path, dumps(entries))


def read(path: Path) -> dict[str, LockEntry]:
    data = yamlio.load(path, missing_ok=True)
    return parse(data, path.name)


def parse(data: Any, source: str = LOCK_NAME) -> dict[str, LockEntry]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    version = data.get("version")
    if not isinstance(version, int):
        raise ConfigError(f"{source}: missing format 'version'", hint="was it written by dvx?")
    if version > LOCK_VERSION:
        raise FormatVersionError(
            f"{source}: lock format version {version} is newer than this dvx reads "
            f"({LOCK_VERSION})",
            hint="upgrade dvx",
        )
    algo = data.get("algorithm", HASH_NAME)
    if algo != HASH_NAME:
        raise ConfigError(f"{source}: unknown hash algorithm '{algo}'", hint="upgrade dvx")
    stages = data.get("stages") or {}
    if not isinstance(stages, dict):
        raise ConfigError(f"{source}: 'stages' must be a mapping")
    return {str(name): parse_entry(str(name), raw, source) for name, raw in stages.items()}


def parse_entry(name: str, raw: Any, source: str) -> LockEntry:
    where = f"{source}: stage '{name}'"
    try:
        cmd = raw["cmd"]
        entry = LockEntry(
            key=str(raw["key"]),
            cmd=(cmd,) if isinstance(cmd, str) else tuple(str(c) for c in cmd),
            deps=[PathVersion(_path(d, where), _version(d)) for d in raw.get("deps") or []],
            code=[(_path(c, where), str(c["hash"])) for c in raw.get("code") or []],
            params={str(f): dict(v or {}) for f, v in (raw.get("params") or {}).items()},
            outs=[
                OutRecord(
                    _path(o, where),
                    _version(o),
                    cache=bool(o.get("cache", True)),
                    persist=bool(o.get("persist", False)),
                    metric=bool(o.get("metric", False)),
                )
                for o in raw.get("outs") or []
            ],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"{where}: malformed entry ({exc.__class__.__name__}: {exc})",
            hint="the lock is written by dvx; resolve merge conflicts with 'dvx install-hooks'",
        ) from None
    for f in entry.params:
        check_rel_path(f, where)
    return entry


def _path(d: dict[str, Any], where: str) -> str:
    path = d["path"]
    check_rel_path(path, where)
    return str(path)


def _version(d: dict[str, Any]) -> Version:
    nfiles = d.get("nfiles")
    return Version(str(d["hash"]), int(d["size"]), None if nfiles is None else int(nfiles))
