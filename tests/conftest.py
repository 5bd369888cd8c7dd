"""Fixtures: temporary git repos with dvx initialized, and a way to run the real CLI.

``dvx(...)`` runs the CLI in-process (``dvx.cli.main``), capturing what it prints;
``dvx_proc(...)`` runs the installed ``dvx`` executable in a subprocess, for tests
that need signals, concurrency or a real process boundary.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dvx.cli import main

GIT_ENV = {
    "GIT_AUTHOR_NAME": "dvx tests",
    "GIT_AUTHOR_EMAIL": "tests@dvx.invalid",
    "GIT_COMMITTER_NAME": "dvx tests",
    "GIT_COMMITTER_EMAIL": "tests@dvx.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def run(*args: str | Path) -> Result:
    """Run ``dvx ARGS`` in-process in the current directory."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())


def run_proc(*args: str | Path, cwd: Path | None = None, **kw: object) -> Result:
    """Run the ``dvx`` executable of this interpreter's environment in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvx", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        **kw,  # type: ignore[arg-type]
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


def write(path: str | Path, text: str) -> Path:
    """Write a file (dedented), creating parent directories."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip("\n") if "\n" in text else text)
    return p


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    # Tests must not see the developer's own git config.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir(exist_ok=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty git repository with ``dvx init`` done; the current directory."""
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    git("init", "-q", "-b", "main")
    res = run("init")
    assert res.code == 0, res.output
    yield root


PY = sys.executable


@pytest.fixture
def pipeline(repo: Path) -> Path:
    """A two-stage pipeline: data/raw.txt (dvx add) → double → total (with params)."""
    write("data/raw.txt", "".join(f"{i}\n" for i in range(1, 101)))
    write(
        "src/double.py",
        """
        import sys
        with open(sys.argv[1]) as f, open(sys.argv[2], "w") as g:
            for line in f:
                g.write(f"{int(line) * 2}\\n")
        """,
    )
    write(
        "src/total.py",
        """
        import json, sys
        from pathlib import Path
        params = json.loads(Path("params.json").read_text())
        total = sum(int(x) for x in open("data/doubled.txt")) * params["train"]["scale"]
        Path("out").mkdir(exist_ok=True)
        Path("out/total.txt").write_text(f"{total}\\n")
        Path("metrics.json").write_text(json.dumps({"total": total}))
        """,
    )
    write("params.json", '{"train": {"scale": 2, "unused": 1}}\n')
    write(
        "dvx.yaml",
        f"""
        stages:
          double:
            cmd: {PY} src/double.py data/raw.txt data/doubled.txt
            deps: [data/raw.txt]
            outs: [data/doubled.txt]
          total:
            cmd: {PY} src/total.py
            deps: [data/doubled.txt]
            params:
              - params.json: [train.scale]
            outs: [out/total.txt]
            metrics: [metrics.json]
        """,
    )
    assert run("add", "data/raw.txt").code == 0
    return repo
