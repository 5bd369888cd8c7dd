"""dvx lineage, dvx log."""

from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("lineage")
def lineage_cmd(
    path: str = typer.Argument(..., help="A stage output or dvx-added data path."),
    rev: str = typer.Option(None, "--rev", help="Git revision (default: the workspace)."),
    depth: int = typer.Option(None, "--depth", min=0, help="Levels of inputs to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the lineage as JSON."),
) -> int:
    """Which stage made this version, from which code, params and inputs, and when."""
    from dvx import ui
    from dvx.cli.common import context
    from dvx.lineage import lineage

    with context(write=False) as ctx:
        result = lineage(ctx, ctx.repo.relpath(path), rev, depth)
    if as_json:
        ui.print_json(result.to_json())
    else:
        ui.lineage_tree(result)
    return 0


@app.command("log")
def log_cmd(
    path: str = typer.Argument(..., help="A stage output or dvx-added data path."),
    n: int = typer.Option(None, "-n", "--max-count", min=1, help="Show at most N versions."),
    rev: str = typer.Option("HEAD", "--rev", help="Start from this revision."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> int:
    """The versions of an output across git history, newest first, with what changed."""
    from dvx import ui
    from dvx.cli.common import context
    from dvx.history import log

    with context(write=False) as ctx:
        rel = ctx.repo.relpath(path)
        entries = log(ctx, rel, rev, n)
    if as_json:
        ui.print_json({"version": 1, "path": rel, "versions": [e.to_json() for e in entries]})
    else:
        ui.log_entries(entries)
    return 0
