from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("check")
def check_cmd(
    targets: list[str] = typer.Argument(None, help="Stages to check (default: all)."),
    remote: str = typer.Option(
        None,
        "--remote",
        metavar="[NAME]",
        help="Also verify the remote (default one if no NAME) has every referenced object.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> int:
    """CI gate: exit 0 iff dvx.lock matches the committed code, params and data pointers."""
    from dvx import ui
    from dvx.check import check, check_remote
    from dvx.cli.common import context, stage_targets

    with context(write=False) as ctx:
        report = check(ctx, stage_targets(ctx, targets))
        if remote is not None:
            check_remote(ctx, report, remote)
    if as_json:
        ui.print_json(report.to_json())
    else:
        ui.check_report(report)
    return 0 if report.ok else 1
