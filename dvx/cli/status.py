from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("status")
def status_cmd(
    targets: list[str] = typer.Argument(None, help="Stages to check (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> int:
    """List every stage that is not up to date, with all its reasons."""
    from dvx import ui
    from dvx.cli.common import context, stage_targets
    from dvx.status import status

    with context(write=False) as ctx:
        report = status(ctx, stage_targets(ctx, targets))
    if as_json:
        ui.print_json(report.to_json())
    else:
        ui.status_report(report)
    return 0
