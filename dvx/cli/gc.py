from __future__ import annotations

import typer

from dvx.cli.app import app


@app.command("gc")
def gc_cmd(
    all_commits: bool = typer.Option(
        False, "--all-commits", help="Keep what any commit's dvx.lock or pointer files reference."
    ),
    remote: str = typer.Option(None, "--remote", "-r", help="Collect on this remote instead."),
    force: bool = typer.Option(False, "-f", "--force", help="Do not ask before deleting remotely."),
    dry: bool = typer.Option(False, "-n", "--dry", help="Only report what would be removed."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    """Remove cache objects that nothing references (local cache, or a remote)."""
    from dvx import gc, ui
    from dvx.cli.common import context

    with context(write=True) as ctx:
        keep = gc.referenced(ctx, all_commits=all_commits)
        if remote is None:
            result = gc.gc_local(ctx, keep, dry=dry)
        else:
            if not dry and not force:
                preview = gc.gc_remote(ctx, keep, remote, dry=True)
                if not preview.removed_objects and not preview.removed_runs:
                    result = preview
                    result.dry = False
                elif not ui.confirm(
                    f"remove {len(preview.removed_objects)} object(s) and "
                    f"{len(preview.removed_runs)} action-cache entries from remote "
                    f"'{preview.where}'?"
                ):
                    ui.echo("nothing removed")
                    return 1
                else:
                    result = gc.gc_remote(ctx, keep, remote)
            else:
                result = gc.gc_remote(ctx, keep, remote, dry=dry)
    if as_json:
        ui.print_json(result.to_json())
    else:
        verb = "would remove" if result.dry else "removed"
        ui.echo(
            f"{result.where}: {verb} {len(result.removed_objects)} object(s), "
            f"{len(result.removed_runs)} action-cache entries; kept {result.kept_objects} object(s)"
        )
    return 0
