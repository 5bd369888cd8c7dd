"""add, checkout, commit: moving data between the workspace and the cache."""

from __future__ import annotations

import posixpath

import typer

from dvx.cli.app import app


@app.command("add")
def add_cmd(
    paths: list[str] = typer.Argument(..., help="Files or directories to track."),
) -> int:
    """Track data no stage produces: cache it, write PATH.dvx, gitignore PATH."""
    from dvx import ui
    from dvx.add import add
    from dvx.cli.common import context

    with context(write=True) as ctx:
        result = add(ctx, paths)
    for rel, pfile, version in result.added:
        what = f"{version.nfiles} files" if version.is_dir else f"{version.size} bytes"
        ui.echo(f"added {rel} ({what}) -> {pfile}")
    if result.added:
        pfiles = [p for _, p, _ in result.added]
        # Each data path is ignored in the .gitignore of its own directory.
        ignores = sorted({posixpath.join(posixpath.dirname(p), ".gitignore") for p in pfiles})
        files = " ".join(pfiles + ignores)
        ui.echo(f"To track the changes with git, run: git add {files}", "dim")
    return 0


@app.command("checkout")
def checkout_cmd(
    targets: list[str] = typer.Argument(None, help="Stages, outputs or tracked data."),
) -> int:
    """Make the workspace match dvx.lock and the pointer files."""
    from dvx import ui
    from dvx.checkout import checkout
    from dvx.cli.common import context

    with context(write=True) as ctx:
        result = checkout(ctx, targets or [])
    return ui.checkout_result(result)


@app.command("commit")
def commit_cmd(
    targets: list[str] = typer.Argument(None, help="Stages or tracked data (default: all)."),
) -> int:
    """Record outputs produced by hand (and edited pointer data) in the lock and cache."""
    from dvx import ui
    from dvx.cli.common import context
    from dvx.commit import commit

    with context(write=True) as ctx:
        result = commit(ctx, targets or [])
    for name in result.committed:
        ui.echo(f"committed {name}")
    if not result.committed:
        ui.echo("nothing to commit")
    return 0
