"""``dvx metrics show`` and ``dvx metrics diff``: the stages' metrics across revisions.

The metrics files are the ``metrics:`` outputs that the stage file of each
revision declares. At a commit a file is read from its git blob; a metric that
was not committed (``cache: true``, or simply not added to git) is read from the
local cache object whose hash that commit's ``dvx.lock`` records. A file found
nowhere is ``missing``; one that does not parse is ``invalid`` and logged as a
warning naming the file and the revision. Neither is an error.

Formats, by extension: JSON, YAML (``.yaml``/``.yml``), TOML, CSV and TSV.
Anything else is tried as JSON, then YAML. A CSV/TSV file's header row names the
metrics; with several data rows the last one is used (a training log whose last
line is the final epoch). Nested values are flattened to dotted keys.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from dvx import compare, yamlio
from dvx.compare import Diff, DiffRow
from dvx.context import Context
from dvx.errors import DvxError, UsageError
from dvx.revtree import WORKSPACE, Revisions, RevTree

log = logging.getLogger("dvx")

_HEX = re.compile(r"[0-9a-f]{8,128}")

JSON_VERSION = 1

FileStatus = Literal["ok", "missing", "invalid"]


class MetricsParseError(ValueError):
    pass


@dataclass
class MetricsFile:
    """One metrics file at one revision, its values flattened to dotted keys."""

    path: str
    status: FileStatus
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "metrics": self.values,
        }


@dataclass
class RevMetrics:
    rev: str
    commit: str | None
    files: dict[str, MetricsFile] = field(default_factory=dict)  # by path, sorted

    def to_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "commit": self.commit,
            "files": [f.to_json() for f in self.files.values()],
        }


@dataclass
class MetricsShow:
    revs: list[RevMetrics]

    def paths(self) -> list[str]:
        return sorted({p for r in self.revs for p in r.files})

    def keys(self, path: str) -> list[str]:
        """The metric names of a file over all revisions, in first-seen order."""
        return compare.keys(*(r.files[path].values for r in self.revs if path in r.files))

    def to_json(self) -> dict[str, Any]:
        return {"version": JSON_VERSION, "revs": [r.to_json() for r in self.revs]}


# ---- reading ------------------------------------------------------------------


def parse(data: bytes, path: str) -> dict[str, Any]:
    """Flat metrics of a file's bytes; :class:`MetricsParseError` when unreadable."""
    suffix = PurePosixPath(path).suffix.lower()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetricsParseError(f"not UTF-8 text: {exc}") from None
    try:
        if suffix in (".csv", ".tsv"):
            doc: Any = _parse_table(text, "\t" if suffix == ".tsv" else ",")
        elif suffix == ".json":
            doc = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            doc = yamlio.loads(text, path)
        elif suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            try:
                doc = json.loads(text)
            except ValueError:
                doc = yamlio.loads(text, path)
    except (ValueError, DvxError, csv.Error) as exc:
        msg = exc.message if isinstance(exc, DvxError) else str(exc)
        raise MetricsParseError(msg) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict | list):
        raise MetricsParseError(f"expected a mapping of metric names, not {type(doc).__name__}")
    return compare.flatten(doc)


def _parse_table(text: str, delimiter: str) -> dict[str, Any]:
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return {}
    header, body = rows[0], rows[1:]
    if not body:
        return {}
    last = body[-1]
    if len(last) != len(header):
        raise MetricsParseError(
            f"the last row has {len(last)} fields but the header has {len(header)}"
        )
    return {name.strip(): _number(cell.strip()) for name, cell in zip(header, last, strict=True)}


def _number(cell: str) -> Any:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            continue
    return cell


def metric_paths(tree: RevTree) -> list[str]:
    """The metrics files the revision's stage file declares; [] (with a warning) when
    a commit's stage file is invalid. The workspace's must be valid."""
    try:
        stages = tree.stages()
    except DvxError as exc:
        if tree.commit is None:
            raise
        log.warning("%s; skipping the metrics of that revision", exc.message)
        return []
    return sorted({o.path for s in stages for o in s.outs if o.metric})


def _read(ctx: Context, tree: RevTree, path: str) -> bytes | None:
    data = tree.read(path)
    if data is not None or tree.commit is None:
        return data
    # Not in git: a cached metric, found by the hash this commit's lock records.
    try:
        entries = tree.lock()
    except DvxError as exc:
        log.warning("%s; cannot look up '%s' in the cache", exc.message, path)
        return None
    for entry in entries.values():
        for out in entry.outs:
            digest = out.version.hash
            # The lock comes from a commit: a hash that is not hex could name any path.
            if out.path == path and not out.version.is_dir and _HEX.fullmatch(digest):
                obj = ctx.cache.object_path(digest)
                try:
                    return obj.read_bytes()
                except OSError:
                    log.debug("%s at %s: object %s is not in the cache", path, tree.rev, digest)
                    return None
    return None


def read_metrics(ctx: Context, tree: RevTree) -> RevMetrics:
    found = RevMetrics(tree.rev, tree.commit)
    for path in metric_paths(tree):
        data = _read(ctx, tree, path)
        if data is None:
            found.files[path] = MetricsFile(path, "missing")
            continue
        try:
            found.files[path] = MetricsFile(path, "ok", parse(data, path))
        except MetricsParseError as exc:
            where = "the workspace" if tree.commit is None else tree.rev
            log.warning("cannot parse metrics file '%s' in %s: %s", path, where, exc)
            found.files[path] = MetricsFile(path, "invalid", error=str(exc))
    return found


# ---- verbs --------------------------------------------------------------------


def show(
    ctx: Context, revs: list[str], *, all_commits: bool = False, limit: int | None = None
) -> MetricsShow:
    """Metrics of each revision (default: the workspace); ``all_commits``: every
    commit reachable from HEAD, newest first, at most ``limit``."""
    if revs and all_commits:
        raise UsageError("--rev and --all-commits cannot be used together")
    if limit is not None and not all_commits:
        raise UsageError("-n/--max-count needs --all-commits")
    sides = Revisions(ctx)
    if all_commits:
        trees = sides.head_history(limit)
    else:
        trees = [sides.open(r) for r in dict.fromkeys(revs or [WORKSPACE])]
    return MetricsShow([read_metrics(ctx, t) for t in trees])


def diff(ctx: Context, a: str | None, b: str | None, *, show_all: bool = False) -> Diff:
    old_tree, new_tree = Revisions(ctx).pair(a, b)
    old, new = read_metrics(ctx, old_tree), read_metrics(ctx, new_tree)
    rows: list[DiffRow] = []
    for path in sorted(set(old.files) | set(new.files)):
        sides = [side.files.get(path) for side in (old, new)]
        if any(f is not None and f.status == "invalid" for f in sides):
            continue  # already warned about; its metrics are unknown, not removed
        before, after = (f.values if f is not None else {} for f in sides)
        rows += [DiffRow(path, r) for r in compare.diff(before, after) if show_all or r.changed]
    return Diff(old_tree, new_tree, rows, "metrics")
