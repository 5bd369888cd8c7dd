from __future__ import annotations

from pathlib import Path

import typer

from dvx.cli.app import app


@app.command("init")
def init_cmd(
    no_git: bool = typer.Option(False, "--no-git", help="Allow a repository outside git."),
) -> int:
    """Create .dvx/ (config, cache) and register the dvx.lock merge driver attribute."""
    from dvx import ui
    from dvx.init import init

    result = init(Path.cwd(), no_git=no_git)
    if result.created:
        ui.echo(f"Initialized dvx repository in {result.repo.dvx_dir}", "green")
        ui.echo("Next: declare stages in dvx.yaml, then run 'dvx repro'.")
    else:
        ui.echo(f"dvx repository already initialized in {result.repo.dvx_dir}")
    return 0
