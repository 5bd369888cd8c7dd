"""Project config ``.dvx/config.yaml`` merged with per-machine ``.dvx/config.local.yaml``.

Format (version 1)::

    version: 1
    core:
      remote: NAME                 # default remote
      link: [reflink, hardlink, copy]
      jobs: 4
    remotes:
      NAME: {url: URL, OPTION: VALUE, ...}

The local file has the same shape and wins key by key; secrets belong there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvx import yamlio
from dvx.errors import ConfigError, FormatVersionError

CONFIG_VERSION = 1
LINK_TYPES = ("reflink", "hardlink", "copy")
DEFAULT_LINK = ("reflink", "hardlink", "copy")
_CORE_KEYS = {"remote", "link", "jobs"}


@dataclass
class Config:
    core: dict[str, Any] = field(default_factory=dict)
    remotes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def link_types(self) -> tuple[str, ...]:
        if "link" not in self.core:
            # Read-only objects keep an edit through a hardlink from reaching the
            # cache, but permissions do not stop root: as root, the default skips
            # hardlinks (an explicit core.link still may choose them).
            return DEFAULT_LINK if os.geteuid() != 0 else ("reflink", "copy")
        link = self.core["link"]
        if isinstance(link, str):
            link = [s.strip() for s in link.split(",")]
        if not isinstance(link, list | tuple) or not link:
            raise ConfigError("config: core.link must be a list of link types")
        for lt in link:
            if lt not in LINK_TYPES:
                raise ConfigError(
                    f"config: core.link: unknown link type '{lt}'",
                    hint=f"choose from {', '.join(LINK_TYPES)}",
                )
        return tuple(link)

    @property
    def jobs(self) -> int | None:
        jobs = self.core.get("jobs")
        if jobs is None:
            return None
        if not isinstance(jobs, int) or jobs < 1:
            raise ConfigError("config: core.jobs must be a positive integer")
        return jobs


def _read(path: Path) -> dict[str, Any]:
    data = yamlio.load(path, missing_ok=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    version = data.get("version", CONFIG_VERSION)
    if not isinstance(version, int) or version > CONFIG_VERSION:
        raise FormatVersionError(
            f"{path}: config format version {version} is newer than this dvx reads "
            f"({CONFIG_VERSION})",
            hint="upgrade dvx",
        )
    for key in data:
        if key not in ("version", "core", "remotes"):
            raise ConfigError(f"{path}: unknown section '{key}'", hint="sections: core, remotes")
    core = data.get("core") or {}
    if not isinstance(core, dict):
        raise ConfigError(f"{path}: 'core' must be a mapping")
    for key in core:
        if key not in _CORE_KEYS:
            raise ConfigError(
                f"{path}: unknown option 'core.{key}'",
                hint="options: " + ", ".join(sorted(_CORE_KEYS)),
            )
    remotes = data.get("remotes") or {}
    if not isinstance(remotes, dict):
        raise ConfigError(f"{path}: 'remotes' must be a mapping")
    if path.name == "config.yaml":
        for name, opts in remotes.items():
            leaked = sorted(set(opts or {}) & SECRET_KEYS)
            if leaked:
                raise ConfigError(
                    f"{path}: remote '{name}' has credential '{leaked[0]}' in the committed config",
                    hint=f"move it: 'dvx remote modify --local {name} {leaked[0]} VALUE', "
                    "then delete it from .dvx/config.yaml",
                )
    return {"core": core, "remotes": remotes}


def load(dvx_dir: Path) -> Config:
    shared = _read(dvx_dir / "config.yaml")
    local = _read(dvx_dir / "config.local.yaml")
    core = {**shared.get("core", {}), **local.get("core", {})}
    remotes: dict[str, dict[str, Any]] = {}
    for src in (shared.get("remotes", {}), local.get("remotes", {})):
        for name, opts in src.items():
            if not isinstance(opts, dict):
                raise ConfigError(f"config: remote '{name}' must be a mapping")
            remotes.setdefault(name, {}).update(opts)
    return Config(core=core, remotes=remotes)


def initial_text() -> str:
    return yamlio.dumps({"version": CONFIG_VERSION, "core": {}, "remotes": {}})


# ---- editing (dvx remote add/modify/remove) ------------------------------------

SECRET_KEYS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "session_token",
        "password",
        "key_file_passphrase",
        "account_key",
        "sas_token",
        "connection_string",
        "credentials",
        "token",
    }
)


def _file(dvx_dir: Path, local: bool) -> Path:
    return dvx_dir / ("config.local.yaml" if local else "config.yaml")


def _load_raw(path: Path) -> dict[str, Any]:
    data = yamlio.load(path, missing_ok=True) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data.setdefault("version", CONFIG_VERSION)
    data.setdefault("core", {})
    data.setdefault("remotes", {})
    data["core"] = data["core"] or {}
    data["remotes"] = data["remotes"] or {}
    return data


def _save_raw(path: Path, data: dict[str, Any]) -> None:
    yamlio.atomic_write(path, yamlio.dumps(data))


def add_remote(dvx_dir: Path, name: str, url: str, *, default: bool, local: bool) -> None:
    if not name or "/" in name or name.startswith("-"):
        raise ConfigError(f"invalid remote name '{name}'")
    merged = load(dvx_dir)
    if name in merged.remotes:
        raise ConfigError(
            f"remote '{name}' already exists",
            hint=f"change it with 'dvx remote modify {name} url URL'",
        )
    path = _file(dvx_dir, local)
    data = _load_raw(path)
    data["remotes"][name] = {"url": url}
    if default:
        data["core"]["remote"] = name
    _save_raw(path, data)


def modify_remote(dvx_dir: Path, name: str, key: str, value: str | None, *, local: bool) -> None:
    merged = load(dvx_dir)
    if name not in merged.remotes:
        raise ConfigError(f"unknown remote '{name}'", hint="'dvx remote list' shows the remotes")
    if key in SECRET_KEYS and not local:
        raise ConfigError(
            f"'{key}' is a credential and never goes in the committed .dvx/config.yaml",
            hint=f"use 'dvx remote modify --local {name} {key} VALUE'",
        )
    path = _file(dvx_dir, local)
    data = _load_raw(path)
    opts = data["remotes"].setdefault(name, {})
    if value is None:
        opts.pop(key, None)
    else:
        opts[key] = _coerce(value)
    _save_raw(path, data)


def _coerce(value: str) -> Any:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    return int(value) if value.isdigit() else value


def remove_remote(dvx_dir: Path, name: str) -> None:
    found = False
    for local in (False, True):
        path = _file(dvx_dir, local)
        if not path.exists():
            continue
        data = _load_raw(path)
        if name in data["remotes"]:
            del data["remotes"][name]
            found = True
        if data["core"].get("remote") == name:
            del data["core"]["remote"]
        _save_raw(path, data)
    if not found:
        raise ConfigError(f"unknown remote '{name}'", hint="'dvx remote list' shows the remotes")


def set_default_remote(dvx_dir: Path, name: str, *, local: bool) -> None:
    path = _file(dvx_dir, local)
    data = _load_raw(path)
    data["core"]["remote"] = name
    _save_raw(path, data)
