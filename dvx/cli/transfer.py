"""dvx push / pull / fetch."""

from __future__ import annotations

import typer

from dvx.cli.app import app

_TARGETS = typer.Argument(None, help="Stages, outputs or tracked data (default: everything).")
_REMOTE = typer.Option(None, "-r", "--remote", help="Remote name (default: core.remote).")
_JOBS = typer.Option(
    None,
    "-j",
    "--jobs",
    min=1,
    help="Parallel transfers (default: 1 per CPU, up to 4, local; 32 object stores).",
)
_JSON = typer.Option(False, "--json", help="Print the result as JSON.")


def _transfer(
    verb: str,
    targets: list[str] | None,
    remote: str | None,
    jobs: int | None,
    as_json: bool,
    full: bool = False,
) -> int:
    from dvx import transfer, ui
    from dvx.cli.common import context
    from dvx.remote import open_remote

    with context(write=verb != "push") as ctx:
        rem = open_remote(ctx.config, remote, ctx.repo.root)
        with ui.transfer_progress(verb, enabled=not as_json) as progress:
            if verb == "push":
                result = transfer.push(
                    ctx, rem, targets or [], jobs or rem.jobs, progress, full=full
                )
            else:
                fn = transfer.pull if verb == "pull" else transfer.fetch
                result = fn(ctx, rem, targets or [], jobs or rem.jobs, progress)
    if as_json:
        ui.print_json(result.to_json())
    else:
        ui.transfer_summary(result)
    return 0 if result.ok else 1


@app.command("push")
def push_cmd(
    targets: list[str] = _TARGETS,
    remote: str = _REMOTE,
    jobs: int = _JOBS,
    full: bool = typer.Option(
        False,
        "--full",
        help="Check every file on the remote, even in directories whose manifest is there.",
    ),
    as_json: bool = _JSON,
) -> int:
    """Upload the objects and action-cache entries the remote lacks."""
    return _transfer("push", targets, remote, jobs, as_json, full)


@app.command("pull")
def pull_cmd(
    targets: list[str] = _TARGETS, remote: str = _REMOTE, jobs: int = _JOBS, as_json: bool = _JSON
) -> int:
    """Fetch what the local cache lacks, then check it out."""
    return _transfer("pull", targets, remote, jobs, as_json)


@app.command("fetch")
def fetch_cmd(
    targets: list[str] = _TARGETS, remote: str = _REMOTE, jobs: int = _JOBS, as_json: bool = _JSON
) -> int:
    """Download what the local cache lacks, without touching the workspace."""
    return _transfer("fetch", targets, remote, jobs, as_json)
