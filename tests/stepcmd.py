"""Helpers shared by the functional tests: a stage command that logs when it runs.

``tools/step.py LABEL [--OPT VALUE…] OUT [IN…]`` appends LABEL to the file named by
``$STEP_LOG`` (outside the repo, so it is no input of any stage), then writes OUT as
the concatenation of its inputs (plus ``--params FILE``'s text and ``--extra``).
Options: ``--fail N`` exits N; ``--write no`` produces nothing; ``--mark PATH``
writes the command's pid to PATH; ``--wait-for PATH`` waits (60 s at most, then
exits 9) until PATH exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import PY, write
from ruamel.yaml import YAML

STEP = """
import os, sys, time
from pathlib import Path

args = sys.argv[1:]
label = args.pop(0)
opts = {}
while args and args[0].startswith("--"):
    key = args.pop(0)[2:]
    opts[key] = args.pop(0)
log = os.environ.get("STEP_LOG")
if log:
    with open(log, "a") as f:
        f.write(label + "\\n")
if "mark" in opts:
    Path(opts["mark"]).write_text(str(os.getpid()))
if "wait-for" in opts:
    deadline = time.monotonic() + 60
    while not Path(opts["wait-for"]).exists():
        if time.monotonic() > deadline:
            sys.exit(9)
        time.sleep(0.02)
if "fail" in opts:
    sys.exit(int(opts["fail"]))
out, *ins = args
text = "".join(Path(p).read_text() for p in ins)
if "params" in opts:
    text += Path(opts["params"]).read_text()
text += opts.get("extra", "")
if opts.get("write", "yes") == "yes":
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text)
"""


def step(label: str, *args: str) -> str:
    """The command line of a step stage."""
    return " ".join([PY, "tools/step.py", label, *args])


def install_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Write tools/step.py in the current repo; returns the run log (one line per run)."""
    write("tools/step.py", STEP)
    log = tmp_path / "runs.log"
    monkeypatch.setenv("STEP_LOG", str(log))
    return log


def ran(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def lock_doc() -> dict[str, Any]:
    return YAML(typ="safe").load(Path("dvx.lock").read_text())


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the workspace (not .git or .dvx) with its bytes."""
    found = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if rel.parts[0] in (".git", ".dvx") or not p.is_file():
            continue
        found[rel.as_posix()] = p.read_bytes()
    return found


def replace(path: str | Path, text: str) -> None:
    """Edit a file as a user would, even when dvx linked it read-only from the cache."""
    p = Path(path)
    if p.exists():
        p.unlink()
    write(p, text)
