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
