from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("dag")
def dag_cmd(
    targets: list[str] = typer.Argument(None, help="Show only what these stages need."),
    mermaid: bool = typer.Option(False, "--mermaid", help="Print a Mermaid flowchart."),
    as_json: bool = typer.Option(False, "--json", help="Print nodes and edges as JSON."),
) -> int:
    """Show the stage graph."""
    from dvx import ui
    from dvx.cli.common import context, stage_targets

    with context(write=False) as ctx:
        dag = ctx.dag
        names = dag.select(stage_targets(ctx, targets))
    ui.dag(dag, names, mermaid=mermaid, as_json=as_json)
    return 0
