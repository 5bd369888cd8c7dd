"""Command-line interface: parse arguments, call the core, print the result.

``main`` maps outcomes to exit codes (SPEC §10): 0 success, 1 failed work,
2 usage or configuration error, 3 an internal error, 130 interrupted.
"""

from __future__ import annotations

import sys

from dvx.cli import (  # noqa: F401  (each module registers its commands)
    check,
    data,
    diff,
    gc,
    graph,
    hooks,
    init,
    lineage,
    metrics,
    params,
    remote,
    repro,
    status,
    transfer,
)
from dvx.cli.app import GLOBALS, app
from dvx.errors import EXIT_CRASH, EXIT_INTERRUPTED, EXIT_USAGE

__all__ = ["app", "main"]


# Options whose value may be left out (``dvx check --remote [NAME]``): the parser
# needs a value, so a bare option gets an empty one, meaning "the default".
_OPTIONAL_VALUE = {"check": ("--remote",)}


def _optional_values(args: list[str]) -> list[str]:
    verb = next((a for a in args if not a.startswith("-")), None)
    for opt in _OPTIONAL_VALUE.get(verb or "", ()):
        for i, a in enumerate(args):
            if a == opt and (i + 1 == len(args) or args[i + 1].startswith("-")):
                args[i] = opt + "="
    return args


def main(argv: list[str] | None = None) -> int:
    import signal

    # A CI job cancelled with SIGTERM gets the same clean stop as Ctrl-C: running
    # stage commands are killed and the lock stays valid.
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _main(argv: list[str] | None) -> int:
    import typer

    from dvx import ui
    from dvx.errors import DvxError

    command = typer.main.get_command(app)
    args = _optional_values(list(sys.argv[1:] if argv is None else argv))
    try:
        rv = command.main(args=args, prog_name="dvx", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        # typer turns Ctrl-C into Abort; by now running stages have been stopped.
        ui.echo("dvx: interrupted", err=True)
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
    except Exception:
        ui.crash(GLOBALS.verbose)
        return EXIT_CRASH
    finally:
        sys.stdout.flush()
    return rv if isinstance(rv, int) else 0
