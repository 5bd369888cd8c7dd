"""The typer application and options shared by every command."""

from __future__ import annotations

from dataclasses import dataclass

import typer

from dvx import __version__

app = typer.Typer(
    name="dvx",
    help="Data versioning and pipelines keyed by lineage. See 'dvx COMMAND --help'.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    verbose: bool = False


GLOBALS = Globals()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dvx {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    verbose: bool = typer.Option(
        False, "-v", "--verbose", help="Show debug output and tracebacks."
    ),
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_version, help="Print the version and exit."
    ),
) -> None:
    GLOBALS.verbose = verbose
    from dvx import ui

    ui.install_logging(verbose)
