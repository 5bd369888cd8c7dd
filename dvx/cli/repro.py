from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("repro")
def repro_cmd(
    targets: list[str] = typer.Argument(None, help="Stages (or outputs) to bring up to date."),
    force: bool = typer.Option(False, "-f", "--force", help="Run the stages even if up to date."),
    dry: bool = typer.Option(False, "-n", "--dry", help="Print the plan; change nothing."),
    jobs: int = typer.Option(None, "-j", "--jobs", min=1, help="Stages to run in parallel."),
    downstream: bool = typer.Option(
        False, "--downstream", help="Targets and everything downstream of them."
    ),
    keep_going: bool = typer.Option(
        False, "--keep-going", help="After a failure, continue with independent stages."
    ),
    no_remote: bool = typer.Option(
        False, "--no-remote", help="Do not look for results in the remote action cache."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Bring outputs up to date: restore what any cache has, run the rest."""
    from dvx import ui
    from dvx.cli.common import context, stage_targets
    from dvx.repro import ReproOptions, repro
    from dvx.transfer import default_remote_tiers

    with context(write=not dry) as ctx:
        opts = ReproOptions(
            targets=stage_targets(ctx, targets),
            force=force,
            dry=dry,
            jobs=jobs or ctx.config.jobs or 1,
            downstream=downstream,
            keep_going=keep_going,
        )
        on_result = None if as_json else ui.stage_result
        remotes = [] if no_remote else default_remote_tiers(ctx)
        result = repro(ctx, opts, on_result=on_result, remotes=remotes)
    if as_json:
        ui.print_json(result.to_json())
    else:
        ui.repro_summary(result)
    return 1 if result.failed else 0
