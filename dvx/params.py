"""Parameter files (YAML, JSON, TOML) and the values of the keys a stage tracks."""

from __future__ import annotations

import datetime
import json
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from dvx import yamlio
from dvx.errors import ConfigError

_MISSING = object()


def load_file(path: Path, source: str) -> Any:
    """Parse a params file by its extension (YAML for anything unknown)."""
    if not path.is_file():
        raise ConfigError(
            f"{source}: params file '{path.name}' not found",
            hint=f"create {path} or list another file under 'params:'",
        )
    return parse(path.read_text(encoding="utf-8"), path.name)


def parse(text: str, name: str) -> Any:
    """Parse params-file text by the extension of ``name`` (YAML for anything unknown);
    errors name ``name``. For files read from a git commit as well as from disk."""
    suffix = PurePosixPath(name).suffix.lower()
    try:
        if suffix == ".json":
            return json.loads(text)
        if suffix == ".toml":
            return tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{name}: invalid {suffix[1:].upper()}: {exc}", hint=f"fix the syntax of {name}"
        ) from None
    return yamlio.loads(text, name)


def lookup(data: Any, dotted: str) -> Any:
    """The value at a dotted path (``train.lr``, ``layers.0.size``), or ``_MISSING``."""
    cur = data
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif (
            isinstance(cur, list)
            and part.lstrip("-").isdigit()
            and -len(cur) <= int(part) < len(cur)
        ):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def canonical(value: Any) -> Any:
    """A copy with mapping keys sorted, so the lock does not depend on file order."""
    if isinstance(value, dict):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()  # YAML/TOML dates: keys and action-cache entries are JSON
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=repr)  # YAML !!set
    return value


def values(data: Any, keys: tuple[str, ...] | None, source: str, name: str) -> dict[str, Any]:
    """``{key: value}`` for the tracked keys of a parsed file; ``keys`` None: the whole file."""
    if keys is None:
        if not isinstance(data, dict):
            return {"": canonical(data)}
        return {str(k): canonical(v) for k, v in data.items()}
    found: dict[str, Any] = {}
    for key in keys:
        value = lookup(data, key)
        if value is _MISSING:
            raise ConfigError(
                f"{source}: param '{key}' not found in {name}",
                hint=f"add '{key}' to {name} or remove it from the stage's params",
            )
        found[key] = canonical(value)
    return found


def changed_keys(key: str, old: Any, new: Any) -> list[tuple[str, Any, Any]]:
    """Leaf-level differences under a tracked key: ``train`` → ``train.lr`` etc.

    A missing side is ``_MISSING``; lists are compared whole.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for k in sorted(set(old) | set(new), key=str):
            out += changed_keys(f"{key}.{k}", old.get(k, _MISSING), new.get(k, _MISSING))
        return out
    return [] if old == new else [(key, old, new)]


def is_missing(value: Any) -> bool:
    return value is _MISSING
