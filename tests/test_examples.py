"""Each example's run.sh, end to end, as a user would run it.

The scripts check their own claims (they exit non-zero on any unexpected dvx
output); these tests run them in a temporary directory with this environment's
``dvx`` and ``python`` first on PATH, with small data (``DVX_EXAMPLE_SMALL=1``),
and spot-check a few lines of what they printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, tmp_path: Path) -> str:
    env = {
        k: v
        for k, v in os.environ.items()
        # The scripts set their own git identities (alice and bob in the team example).
        if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(tmp_path / "home"),
        GIT_CONFIG_NOSYSTEM="1",
        DVX_EXAMPLE_SMALL="1",
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    work = tmp_path / "work"
    proc = subprocess.run(
        ["bash", str(EXAMPLES / name / "run.sh"), str(work)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    return output


def lines(output: str) -> list[str]:
    return output.splitlines()


def test_quickstart(tmp_path: Path) -> None:
    out = run_example("quickstart", tmp_path)
    assert "    param changed: params.yaml:train.epochs" in lines(out)
    assert any(line.startswith("2 ran, 1 up to date in") for line in lines(out))
    assert any(line.startswith("2 restored, 1 up to date in") for line in lines(out))
    # The teammate's clone gets everything from the local-folder remote.
    assert "prepare: pulled from shared" in lines(out)
    assert "train: pulled from shared" in lines(out)


def test_streams(tmp_path: Path) -> None:
    out = run_example("streams", tmp_path)
    got = lines(out)
    assert any(line.startswith("9 ran in") for line in got)  # 7 partitions + 2
    assert any(line.startswith("3 ran, 7 up to date in") for line in got)  # an eighth day
    assert "    code changed: src/aggregate.py" in got
    assert any(line.startswith("2 ran, 8 up to date in") for line in got)
    assert any(line.startswith("2 restored, 8 up to date in") for line in got)  # reverted
    assert any("[directory of 8 tracked outputs]" in line for line in got)  # lineage
    assert "streams example: all checks passed" in out


def test_ml(tmp_path: Path) -> None:
    pytest.importorskip("numpy", reason="examples/ml needs numpy (pip install -e '.[test]')")
    pytest.importorskip("pyarrow", reason="examples/ml needs pyarrow")
    out = run_example("ml", tmp_path)
    got = lines(out)
    assert any(line.startswith("4 ran in") for line in got)
    assert any(line.startswith("2 ran, 2 up to date in") for line in got)
    assert any(line.startswith("metrics.json  auc") for line in got)
    assert "    param train.lr 0.02 → 0.3" in got
    assert any(line.startswith("models/model.json @ HEAD~1: lr=0.02") for line in got)
    assert "ml example: all checks passed" in out


def test_team(tmp_path: Path) -> None:
    out = run_example("team", tmp_path)
    got = lines(out)
    assert any(line.startswith("7 pulled in") for line in got)  # bob's first repro
    assert "dashboard: pulled from storage" in got
    assert any(line.startswith("1 ran, 1 pulled, 5 up to date in") for line in got)  # merge
    assert any(line.startswith("2 pulled, ") for line in got)  # bob, after the merge
    assert "team example: all checks passed" in out
    # Both clones and the two shared places live under the work directory.
    for d in ("alice", "bob", "origin.git", "storage"):
        assert (tmp_path / "work" / d).is_dir()
