"""Helpers shared by command modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from dvx.context import Context, open_context


@contextmanager
def context(*, write: bool) -> Iterator[Context]:
    """Open the repo at the current directory; writers hold the repo lock."""
    with ExitStack() as stack:
        ctx = open_context()
        if write:
            from dvx.lock import repo_lock

            stack.enter_context(repo_lock(ctx.repo.tmp_dir))
        try:
            yield ctx
        finally:
            ctx.close()


def stage_targets(ctx: Context, targets: list[str] | None) -> list[str]:
    """Stage names stay as they are; anything else is a path relative to the
    current directory (as in git), turned into a repo-relative one."""
    stages = ctx.dag.stages
    out = []
    for t in targets or []:
        if t in stages or any(n.startswith(t + "@") for n in stages):
            out.append(t)
        else:
            out.append(ctx.repo.relpath(t))
    return out


def value_diff(kind: str, a: str | None, b: str | None, show_all: bool, as_json: bool) -> int:
    """``dvx metrics diff`` and ``dvx params diff``: the same table of changed values."""
    from dvx import ui

    with context(write=False) as ctx:
        if kind == "metrics":
            from dvx.metrics import diff
        else:
            from dvx.paramdiff import diff
        result = diff(ctx, a, b, show_all=show_all)
    if as_json:
        ui.print_json(result.to_json())
    else:
        ui.value_diff(result)
    return 0
