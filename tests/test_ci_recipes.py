"""The CI recipes in docs/ci.md: their dvx commands work as a CI job runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PY, git, run, write
from ruamel.yaml import YAML

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"


def _yaml_blocks() -> list[object]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    return [YAML(typ="safe").load(b) for b in blocks]


def github_commands() -> list[str]:
    workflow = next(b for b in _yaml_blocks() if isinstance(b, dict) and "jobs" in b)
    steps = workflow["jobs"]["dvx"]["steps"]
    return [s["run"] for s in steps if "run" in s]


def gitlab_commands() -> list[str]:
    job = next(b for b in _yaml_blocks() if isinstance(b, dict) and "dvx" in b)
    return list(job["dvx"]["script"])


@pytest.fixture
def ci_clone(repo: Path, tmp_path: Path) -> Path:
    """A teammate ran and pushed; CI starts from a fresh clone of the commit."""
    write("raw.txt", "1\n2\n3\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          double:
            cmd: {PY} -c "open('out.txt','w').write(open('raw.txt').read()*2)"
            deps: [raw.txt]
            outs: [out.txt]
        """,
    )
    assert run("remote", "add", "-d", "shared", str(tmp_path / "remote")).code == 0
    assert run("repro").code == 0
    assert run("push").code == 0
    git("add", "-A")
    git("commit", "-qm", "pipeline")
    clone = tmp_path / "ci"
    git("clone", "-q", str(repo), str(clone))
    return clone


def _run_job(commands: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    results = []
    for cmd in commands:
        if cmd.startswith("pip install"):
            continue  # dvx is installed in the test environment already
        proc = subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
        results.append(proc)
        if proc.returncode != 0:
            break
    return results


@pytest.mark.parametrize("recipe", [github_commands, gitlab_commands])
def test_recipe_passes_and_pulls_instead_of_running(recipe, ci_clone: Path) -> None:
    commands = recipe()
    assert any(c.startswith("dvx check --remote") for c in commands)
    results = _run_job(commands, ci_clone)
    assert [r.returncode for r in results] == [0] * len(results), results[-1].stderr
    repro_out = next(
        r.stdout
        for r, c in zip(results, [c for c in commands if not c.startswith("pip")], strict=True)
        if c == "dvx repro"
    )
    assert "double: pulled from shared" in repro_out
    assert (ci_clone / "out.txt").read_text() == "1\n2\n3\n" * 2


def test_gate_fails_when_someone_forgot_to_push(ci_clone: Path, tmp_path: Path) -> None:
    for obj in (tmp_path / "remote" / "objects").rglob("*"):
        if obj.is_file():
            obj.unlink()
    results = _run_job(github_commands(), ci_clone)
    assert results[-1].returncode == 1
    assert "is not on remote 'shared'" in results[-1].stdout
