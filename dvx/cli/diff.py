"""dvx diff [REV_A [REV_B]] [--json] [--stats] [TARGET…]"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from dvx.cli.app import app

# ctx.meta key: the arguments after a literal ``--``, which are always targets.
_AFTER_DASHDASH = "dvx.diff.after_dashdash"


class _DiffCommand(TyperCommand):
    """Keeps what follows ``--`` apart: the parser would drop the ``--`` itself, and
    with it the user's way to say that a name is a path even if a branch has it too."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta[_AFTER_DASHDASH] = args[i + 1 :]
            args = args[:i]
        return super().parse_args(ctx, args)


@app.command("diff", cls=_DiffCommand)
def diff_cmd(
    cli_ctx: typer.Context,
    args: list[str] = typer.Argument(
        None,
        metavar="REV|TARGET",
        help="Revisions (default: HEAD against the workspace), then paths to limit the "
        "diff to. Put '--' before paths that could be taken for revisions.",
    ),
    targets: list[str] = typer.Option(
        None, "-t", "--target", metavar="PATH", help="Only paths equal to or under PATH."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    stats: bool = typer.Option(
        False,
        "--stats",
        help="Row counts and schema changes of Parquet, CSV and Arrow files "
        "(needs pyarrow: the 'table' extra).",
    ),
) -> int:
    """Show tracked outputs and data added, modified or deleted between two versions."""
    from dvx import ui
    from dvx.cli.common import context
    from dvx.diff import diff, split_args
    from dvx.errors import UsageError

    positional = list(args or [])
    chosen = list(targets or [])
    with context(write=False) as ctx:
        after = cli_ctx.meta.get(_AFTER_DASHDASH)
        if after is None:
            revs, more = split_args(ctx, positional)
        else:
            revs, more = positional, list(after)
        if len(revs) > 2:
            raise UsageError(
                f"at most two revisions, got {len(revs)}: {' '.join(revs)}",
                hint="put paths after '--': dvx diff [REV_A [REV_B]] -- PATH…",
            )
        report = diff(
            ctx,
            revs[0] if revs else None,
            revs[1] if len(revs) > 1 else None,
            chosen + more,
            stats=stats,
        )
    if as_json:
        ui.print_json(report.to_json())
    else:
        ui.diff_report(report)
    return 0
