"""install-hooks, and the hidden commands git calls: hook, merge-driver."""

from __future__ import annotations

import sys

import typer

from dvx.cli.app import app


@app.command("install-hooks")
def install_hooks_cmd(
    uninstall: bool = typer.Option(False, "--uninstall", help="Remove what dvx installed."),
) -> int:
    """Register the dvx.lock merge driver and install post-checkout, post-merge, pre-push hooks."""
    from dvx import hooks, ui
    from dvx.repo import open_repo

    repo = open_repo()
    if uninstall:
        res = hooks.uninstall(repo)
        ui.echo(f"removed hooks: {', '.join(res.removed) or 'none'}; merge driver unregistered")
        return 0
    res = hooks.install(repo)
    ui.echo(f"installed hooks in {res.hooks_dir}: {', '.join(res.installed)}")
    if res.chained:
        ui.echo(f"kept your existing hooks (they run first): {', '.join(res.chained)}")
    ui.echo("registered the 'dvx' merge driver for dvx.lock and *.dvx files")
    return 0


@app.command("hook", hidden=True)
def hook_cmd(
    name: str = typer.Argument(...),
    args: list[str] = typer.Argument(None),
) -> int:
    """Run by the git hooks that 'dvx install-hooks' writes."""
    from dvx import ui
    from dvx.errors import DvxError
    from dvx.repo import find_root

    if find_root() is None:
        return 0  # a commit from before 'dvx init': nothing to do
    args = args or []
    if name == "post-checkout" and args[-1:] == ["0"]:
        return 0  # a file checkout, not a branch switch
    if name in ("post-checkout", "post-merge"):
        from dvx.checkout import checkout
        from dvx.cli.common import context

        try:
            with context(write=True) as ctx:
                result = checkout(ctx, [])
            for path in result.changed:
                ui.echo(f"dvx: restored {path}")
            if result.missing:
                # Normal after pulling a teammate's commits: their data is on the remote.
                ui.echo(
                    f"dvx: {len(result.missing)} output(s) of this commit are not in the local "
                    "cache yet; 'dvx pull' fetches them ('dvx repro' pulls or rebuilds)",
                    "yellow",
                    err=True,
                )
        except DvxError as exc:
            ui.echo(f"dvx ({name}): {exc.message}", "yellow", err=True)
        return 0  # these hooks cannot undo git's work: warn and go on
    if name == "pre-push":
        from dvx.cli.common import context
        from dvx.remote import open_remote
        from dvx.transfer import push, refs_at_commits

        # git feeds "<local ref> <local sha> <remote ref> <remote sha>" per ref pushed:
        # push the data of the commits being sent, whichever branch is checked out.
        tips = [
            parts[1]
            for parts in (line.split() for line in sys.stdin.read().splitlines())
            if len(parts) == 4 and parts[1].strip("0")
        ]
        with context(write=False) as ctx:
            if not ctx.config.core.get("remote"):
                return 0
            remote = open_remote(ctx.config, None, ctx.repo.root)
            refs = refs_at_commits(ctx, tips) if tips else None
            pushed = push(ctx, remote, [], remote.jobs, refs=refs)
        ui.transfer_summary(pushed)
        if not pushed.ok:
            ui.echo(
                "dvx: refusing the git push: the remote lacks data this push references",
                "bold red",
                err=True,
            )
            return 1
        return 0
    ui.echo(f"dvx: unknown hook '{name}'", err=True)
    return 2


@app.command("merge-driver", hidden=True)
def merge_driver_cmd(
    base: str = typer.Argument(...),
    ours: str = typer.Argument(...),
    theirs: str = typer.Argument(...),
    path: str = typer.Argument("dvx.lock"),
) -> int:
    """Called by git as: dvx merge-driver %O %A %B %P."""
    from pathlib import Path

    from dvx.merge import merge

    result = merge(Path(base), Path(ours), Path(theirs), path)
    for stage in result.dropped:
        print(
            f"dvx: {path}: stage '{stage}' changed on both branches; dropped, "
            "'dvx repro' will recompute it",
            file=sys.stderr,
        )
    if result.message:
        print(f"dvx: {result.message}", file=sys.stderr)
    return 0 if result.clean else 1
