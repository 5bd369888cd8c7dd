"""Comparing values across revisions: flat dotted keys and row-by-row diffs.

Shared by ``dvx params diff`` and ``dvx metrics show/diff``. Nested mappings and
lists are flattened to dotted keys (``train.lr``, ``layers.0.size``), so that a
change deep inside a tracked subtree shows as the one leaf that changed. Nothing
here reads files or knows about revisions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from dvx.revtree import RevTree

Status = Literal["added", "removed", "modified", "unchanged"]


class _Missing:
    """The value of a key that one side does not have (``None`` is a real value)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def plain(value: Any) -> Any:
    """A JSON-safe leaf: dates and other YAML/TOML scalars become strings."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping | list | tuple):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.1}, "layers": [{"size": 8}]}`` → ``{"train.lr": 0.1,
    "layers.0.size": 8}``. Empty mappings and lists are leaves themselves, so that
    they still show; a scalar at the top level is keyed ``prefix`` (possibly ``""``)."""
    out: dict[str, Any] = {}

    def walk(v: Any, key: str) -> None:
        if isinstance(v, Mapping) and v:
            for k, sub in v.items():
                walk(sub, f"{key}.{k}" if key else str(k))
        elif isinstance(v, list | tuple) and v:
            for i, sub in enumerate(v):
                walk(sub, f"{key}.{i}" if key else str(i))
        elif isinstance(v, Mapping):
            out[key] = {}
        elif isinstance(v, list | tuple):
            out[key] = []
        else:
            out[key] = plain(v)

    walk(value, prefix)
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same(old: Any, new: Any) -> bool:
    """Equal values of the same type: ``1`` vs ``1.0`` or ``true`` vs ``1`` count as a
    change, because they are spelled differently in the file and hash differently."""
    if type(old) is not type(new):
        return False
    if isinstance(old, float) and math.isnan(old) and math.isnan(new):
        return True
    return bool(old == new)


def _round(x: float) -> float:
    # 0.3 - 0.1 is 0.19999999999999998; 12 significant digits hide the binary noise.
    return float(f"{x:.12g}")


@dataclass(frozen=True)
class Row:
    """One key compared between an old and a new side."""

    key: str
    old: Any  # MISSING when the old side lacks the key
    new: Any  # MISSING when the new side lacks the key
    status: Status
    delta: int | float | None = None  # new - old, when both are numbers
    pct: float | None = None  # delta as a percentage of old, when old != 0

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"


def compare(key: str, old: Any, new: Any) -> Row:
    if old is MISSING and new is MISSING:
        raise ValueError(f"key '{key}' is missing on both sides")
    if old is MISSING:
        return Row(key, old, new, "added")
    if new is MISSING:
        return Row(key, old, new, "removed")
    status: Status = "unchanged" if same(old, new) else "modified"
    delta: int | float | None = None
    pct: float | None = None
    if is_number(old) and is_number(new) and all(map(math.isfinite, (old, new))):
        delta = new - old
        if isinstance(delta, float):
            delta = _round(delta)
        if old != 0:
            pct = _round((new - old) / abs(old) * 100)
    return Row(key, old, new, status, delta, pct)


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Row]:
    """Rows for every key of either side: the new side's keys in its order, then the
    keys only the old side has."""
    return [compare(k, old.get(k, MISSING), new.get(k, MISSING)) for k in keys(new, old)]


def keys(*sides: Iterable[str]) -> list[str]:
    """The union of the keys of all sides, in first-seen order."""
    return list(dict.fromkeys(k for side in sides for k in side))


@dataclass(frozen=True)
class DiffRow:
    path: str  # the metrics or params file
    row: Row

    def to_json(self, *, deltas: bool = True) -> dict[str, Any]:
        r = self.row
        doc: dict[str, Any] = {
            "path": self.path,
            "key": r.key,
            "status": r.status,
            "old": None if r.old is MISSING else r.old,
            "new": None if r.new is MISSING else r.new,
        }
        if deltas:
            doc["delta"] = r.delta
            doc["pct"] = r.pct
        return doc


@dataclass
class Diff:
    """Rows of ``metrics diff`` or ``params diff`` between two sides."""

    a: RevTree
    b: RevTree
    rows: list[DiffRow]
    kind: Literal["metrics", "params"] = "metrics"

    def to_json(self) -> dict[str, Any]:
        deltas = self.kind == "metrics"
        return {
            "version": 1,
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            self.kind: [r.to_json(deltas=deltas) for r in self.rows],
        }
