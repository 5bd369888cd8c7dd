"""``dvx install-hooks``: the lock merge driver and git hooks (SPEC §8).

Hooks are small shell scripts that call back into ``dvx hook NAME``. A hook the
user already had is kept: it is renamed ``NAME.pre-dvx`` and our script runs it
first, so chaining is transparent and ``--uninstall`` can put it back.
``core.hooksPath`` is honoured.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field

from dvx import git
from dvx.errors import UsageError
from dvx.repo import Repo

MARKER = "# dvx-hook v1"
HOOKS = ("post-checkout", "post-merge", "pre-push")
DRIVER_NAME = "dvx lock and pointer merge driver"


@dataclass
class HooksResult:
    installed: list[str] = field(default_factory=list)
    chained: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    hooks_dir: str = ""


def _dvx_command() -> str:
    # The interpreter that runs dvx now: hooks keep working when dvx lives in a
    # virtualenv that is not on PATH when git runs them.
    return f"{shlex.quote(sys.executable)} -m dvx"


def _script(name: str, subdir: str = "") -> str:
    # git runs hooks at the work tree root; a dvx repo in a subdirectory is entered
    # first (and a checkout where it does not exist is left alone).
    cd = f"cd {shlex.quote(subdir)} 2>/dev/null || exit 0\n" if subdir else ""
    return (
        "#!/bin/sh\n"
        f"{MARKER}: installed by 'dvx install-hooks'; remove with 'dvx install-hooks --uninstall'\n"
        f'prev="$(dirname "$0")/{name}.pre-dvx"\n'
        'if [ -x "$prev" ]; then "$prev" "$@" || exit $?; fi\n'
        f"{cd}"
        f'exec {_dvx_command()} hook {name} "$@"\n'
    )


def install(repo: Repo) -> HooksResult:
    root = repo.root
    git.set_config(root, "merge.dvx.name", DRIVER_NAME)
    git.set_config(root, "merge.dvx.driver", f"{_dvx_command()} merge-driver %O %A %B %P")
    d = git.hooks_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    result = HooksResult(hooks_dir=str(d))
    subdir = git.GitRepo(root).prefix.rstrip("/")
    for name in HOOKS:
        path = d / name
        if path.exists() and MARKER not in path.read_text(errors="replace"):
            prev = d / f"{name}.pre-dvx"
            if prev.exists():
                raise UsageError(
                    f"{path} exists and so does {prev.name}",
                    hint="merge them by hand, then run 'dvx install-hooks' again",
                )
            path.rename(prev)
            result.chained.append(name)
        path.write_text(_script(name, subdir))
        path.chmod(0o755)
        result.installed.append(name)
    return result


def uninstall(repo: Repo) -> HooksResult:
    root = repo.root
    d = git.hooks_dir(root)
    result = HooksResult(hooks_dir=str(d))
    for name in HOOKS:
        path = d / name
        if path.exists() and MARKER in path.read_text(errors="replace"):
            path.unlink()
            result.removed.append(name)
            prev = d / f"{name}.pre-dvx"
            if prev.exists():
                prev.rename(path)
    git.unset_config_section(root, "merge.dvx")
    return result
