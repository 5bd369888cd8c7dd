"""``dvx params diff``: the values of tracked params between two revisions.

Only params that some stage tracks are compared: the keys listed under
``params:`` in the stage file of either side (a key covers its subtree, a bare
``FILE:`` the whole file). Values are read from each side's own params files,
from git blobs at a commit, and flattened to leaf keys, so a change to
``train.optimizer.lr`` under a tracked ``train`` shows as that one key.

A params file that is missing on one side makes its keys ``added`` or
``removed``; one that does not parse is logged as a warning and treated as
empty.
"""

from __future__ import annotations

import logging
from typing import Any

from dvx import compare, params
from dvx.compare import Diff, DiffRow
from dvx.context import Context
from dvx.errors import DvxError
from dvx.revtree import Revisions, RevTree

log = logging.getLogger("dvx")

#: params file → tracked keys, or None for the whole file
Tracked = dict[str, set[str] | None]


def tracked(*trees: RevTree) -> Tracked:
    """The params each side's stages track, merged. A commit whose stage file is
    invalid contributes nothing (with a warning); the workspace's must be valid."""
    found: Tracked = {}
    for tree in trees:
        try:
            stages = tree.stages()
        except DvxError as exc:
            if tree.commit is None:
                raise
            log.warning("%s; ignoring the params that revision tracks", exc.message)
            continue
        for stage in stages:
            for ref in stage.params:
                old = found.get(ref.file, set())
                if ref.keys is None or old is None:
                    found[ref.file] = None
                else:
                    found[ref.file] = old | set(ref.keys)
    return found


def values(tree: RevTree, file: str, keys: set[str] | None) -> dict[str, Any]:
    """Leaf values of the tracked keys of one params file at one side."""
    raw = tree.read(file)
    if raw is None:
        return {}
    try:
        data = params.parse(raw.decode("utf-8"), file)
    except (DvxError, UnicodeDecodeError) as exc:
        msg = exc.message if isinstance(exc, DvxError) else str(exc)
        where = "the workspace" if tree.commit is None else tree.rev
        log.warning("cannot parse params file '%s' in %s: %s", file, where, msg)
        return {}
    if keys is None:
        return compare.flatten(data)
    found: dict[str, Any] = {}
    for key in sorted(keys):
        value = params.lookup(data, key)
        if not params.is_missing(value):
            found.update(compare.flatten(value, key))
    return found


def diff(ctx: Context, a: str | None, b: str | None, *, show_all: bool = False) -> Diff:
    """Tracked params of ``a`` (default HEAD) against ``b`` (default the workspace)."""
    old, new = Revisions(ctx).pair(a, b)
    rows: list[DiffRow] = []
    for file, keys in sorted(tracked(old, new).items()):
        before, after = values(old, file, keys), values(new, file, keys)
        rows += [DiffRow(file, r) for r in compare.diff(before, after) if show_all or r.changed]
    return Diff(old, new, rows, "params")
