"""dvx metrics show, dvx metrics diff."""

from __future__ import annotations

import typer

from dvx.cli.app import app

metrics_app = typer.Typer(
    help="Show and compare the stages' metrics across git revisions.", no_args_is_help=True
)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("show")
def metrics_show(
    revs: list[str] = typer.Option(
        None,
        "--rev",
        metavar="REV",
        help="Show the metrics at this git revision (repeatable; default: the workspace).",
    ),
    all_commits: bool = typer.Option(
        False, "--all-commits", help="Every commit reachable from HEAD, newest first."
    ),
    n: int = typer.Option(
        None, "-n", "--max-count", min=1, help="With --all-commits: at most N commits."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> int:
    """Show the metrics files of the stages, one column per revision."""
    from dvx import ui
    from dvx.cli.common import context
    from dvx.metrics import show

    with context(write=False) as ctx:
        result = show(ctx, list(revs or []), all_commits=all_commits, limit=n)
    if as_json:
        ui.print_json(result.to_json())
    else:
        ui.metrics_show(result)
    return 0


@metrics_app.command("diff")
def metrics_diff(
    a: str = typer.Argument(None, metavar="[A]", help="Old revision (default: HEAD)."),
    b: str = typer.Argument(None, metavar="[B]", help="New revision (default: the workspace)."),
    show_all: bool = typer.Option(False, "--all", help="Also list metrics that did not change."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> int:
    """Compare metrics between two revisions, with the change of each number."""
    from dvx.cli.common import value_diff

    return value_diff("metrics", a, b, show_all, as_json)
