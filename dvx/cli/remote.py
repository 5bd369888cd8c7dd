"""dvx remote add/modify/list/remove."""

from __future__ import annotations

from pathlib import Path

import typer

from dvx.cli.app import app

remote_app = typer.Typer(help="Manage remotes (shared caches).", no_args_is_help=True)
app.add_typer(remote_app, name="remote")


def _dvx_dir() -> Path:
    from dvx.repo import open_repo

    return open_repo().dvx_dir


@remote_app.command("add")
def remote_add(
    name: str = typer.Argument(..., help="Remote name."),
    url: str = typer.Argument(..., help="s3://…, gs://…, az://…, ssh://…, or a local path."),
    default: bool = typer.Option(False, "-d", "--default", help="Make it the default remote."),
    local: bool = typer.Option(False, "--local", help="Write to .dvx/config.local.yaml."),
) -> int:
    """Add a remote."""
    from dvx import config, ui

    config.add_remote(_dvx_dir(), name, url, default=default, local=local)
    ui.echo(f"added remote '{name}' -> {url}" + (" (default)" if default else ""))
    return 0


@remote_app.command("modify")
def remote_modify(
    name: str = typer.Argument(..., help="Remote name."),
    key: str = typer.Argument(..., help="Option, e.g. url, endpoint_url, region, profile."),
    value: str = typer.Argument(None, help="New value (omit with --unset)."),
    local: bool = typer.Option(
        False, "--local", help="Write to .dvx/config.local.yaml (required for credentials)."
    ),
    unset: bool = typer.Option(False, "--unset", help="Remove the option."),
) -> int:
    """Set or unset an option of a remote."""
    from dvx import config, ui
    from dvx.errors import UsageError

    if value is None and not unset:
        raise UsageError("missing VALUE", hint="give a value, or --unset to remove the option")
    config.modify_remote(_dvx_dir(), name, key, None if unset else value, local=local)
    ui.echo(f"remote '{name}': {key} " + ("unset" if unset else "set"))
    return 0


@remote_app.command("default")
def remote_default(
    name: str = typer.Argument(..., help="Remote name."),
    local: bool = typer.Option(False, "--local", help="Only for this machine."),
) -> int:
    """Make a remote the default one."""
    from dvx import config, ui

    dvx_dir = _dvx_dir()
    if name not in config.load(dvx_dir).remotes:
        from dvx.errors import ConfigError

        raise ConfigError(f"unknown remote '{name}'", hint="'dvx remote list' shows the remotes")
    config.set_default_remote(dvx_dir, name, local=local)
    ui.echo(f"default remote: {name}")
    return 0


@remote_app.command("list")
def remote_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> int:
    """List remotes (credentials are never printed)."""
    from dvx import config, ui
    from dvx.remote import redact

    cfg = config.load(_dvx_dir())
    default = cfg.core.get("remote")
    rows = [
        {"name": n, "default": n == default, **redact(opts)}
        for n, opts in sorted(cfg.remotes.items())
    ]
    if as_json:
        ui.print_json({"version": 1, "remotes": rows})
        return 0
    if not rows:
        ui.echo("no remotes (add one with 'dvx remote add -d NAME URL')")
    for r in rows:
        extra = " ".join(f"{k}={v}" for k, v in r.items() if k not in ("name", "default", "url"))
        ui.echo(
            f"{r['name']}\t{r.get('url', '')}"
            + ("\t(default)" if r["default"] else "")
            + (f"\t{extra}" if extra else "")
        )
    return 0


@remote_app.command("remove")
def remote_remove(name: str = typer.Argument(..., help="Remote name.")) -> int:
    """Remove a remote from both config files."""
    from dvx import config, ui

    config.remove_remote(_dvx_dir(), name)
    ui.echo(f"removed remote '{name}'")
    return 0
