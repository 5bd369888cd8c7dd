"""Command-line interface: parse arguments, call the core, print the result.

``main`` maps outcomes to exit codes (SPEC §10): 0 success, 1 failed work,
2 usage or configuration error, 3 an internal error, 130 interrupted.
"""

from __future__ import annotations

import sys

from dvx.cli import data, graph, init, remote, repro, status, transfer  # noqa: F401
from dvx.cli.app import GLOBALS, app
from dvx.errors import EXIT_CRASH, EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    import typer

    from dvx import ui
    from dvx.errors import DvxError

    command = typer.main.get_command(app)
    try:
        rv = command.main(args=argv, prog_name="dvx", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except typer.TyperException as exc:  # bad arguments: typer prints usage and the error
        exc.show()  # type: ignore[attr-defined]
        return getattr(exc, "exit_code", EXIT_USAGE)
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
