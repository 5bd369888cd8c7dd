"""Command-line interface: parse arguments, call the core, print the result.

``main`` maps outcomes to exit codes (SPEC §10): 0 success, 1 failed work,
2 usage or configuration error, 3 an internal error, 130 interrupted.
"""

from __future__ import annotations

import sys

from dvx.cli import data, graph, init, repro, status  # noqa: F401  (registers commands)
from dvx.cli.app import GLOBALS, app
from dvx.errors import EXIT_CRASH, EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    import click
    import typer

    from dvx import ui
    from dvx.errors import DvxError

    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="dvx", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except DvxError as exc:
        ui.error(exc)
        if GLOBALS.verbose:
            import traceback

            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        ui.echo("dvx: interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception:
        ui.crash(GLOBALS.verbose)
        return EXIT_CRASH
    finally:
        sys.stdout.flush()
    return rv if isinstance(rv, int) else 0
