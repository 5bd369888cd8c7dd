"""dvx params diff."""

from __future__ import annotations

import typer

from dvx.cli.app import app

params_app = typer.Typer(help="Compare the params that stages track.", no_args_is_help=True)
app.add_typer(params_app, name="params")


@params_app.command("diff")
def params_diff(
    a: str = typer.Argument(None, metavar="[A]", help="Old revision (default: HEAD)."),
    b: str = typer.Argument(None, metavar="[B]", help="New revision (default: the workspace)."),
    show_all: bool = typer.Option(False, "--all", help="Also list params that did not change."),
    as_json: bool = typer.Option(False, "--json", help="Print the changes as JSON."),
) -> int:
    """Compare the values of tracked params between two revisions."""
    from dvx.cli.common import value_diff

    return value_diff("params", a, b, show_all, as_json)
