"""Every user error of SPEC §10, as the CLI reports it: the right exit code, the file
and line (or stage and path) at fault, a hint, and never a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import PY, Result, run, write


def assert_usage_error(res: Result, *needles: str, line: int | None = None) -> None:
    assert res.code == 2, res.output
    assert "Traceback" not in res.output
    assert res.out == ""
    first = res.err.splitlines()[0]
    assert first.startswith("dvx: error: "), res.err
    if line is not None:
        assert f"dvx.yaml:{line}:" in first, first
    for n in needles:
        assert n in res.err, (n, res.err)
    assert re.search(r"^hint: \S", res.err, re.M), f"no hint in {res.err!r}"


def stage_file(text: str) -> None:
    write("dvx.yaml", textwrap.dedent(text).lstrip("\n"))


CMD = f"{PY} -c pass"


@pytest.mark.parametrize("command", [["repro"], ["status"], ["dag"]])
def test_unknown_field_suggests_the_closest(repo: Path, command: list[str]) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            dpes: [data.csv]
        """
    )
    res = run(*command)
    assert_usage_error(res, "stage 'train'", "unknown field 'dpes'", "did you mean 'deps'?", line=4)


def test_unknown_output_flag_suggests_the_closest(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            outs:
              - logs: {{persits: true}}
        """
    )
    assert_usage_error(run("repro"), "stage 'train'", "persits", "did you mean 'persist'?", line=5)


def test_outs_not_a_list(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          prepare:
            cmd: {CMD}
          train:
            cmd: {CMD}
            outs: model.pkl
        """
    )
    assert_usage_error(run("repro"), "stage 'train'", "outs must be a list", line=6)


def test_cycle_names_every_stage_on_it(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          a:
            cmd: {CMD}
            deps: [c.txt]
            outs: [a.txt]
          b:
            cmd: {CMD}
            deps: [a.txt]
            outs: [b.txt]
          c:
            cmd: {CMD}
            deps: [b.txt]
            outs: [c.txt]
          free:
            cmd: {CMD}
            outs: [free.txt]
        """
    )
    res = run("repro")
    assert_usage_error(res, "cycle", "a -> b -> c -> a", line=2)
    assert "free" not in res.err


def test_two_stages_with_one_output_name_both(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          first:
            cmd: {CMD}
            outs: [shared/model.pkl]
          second:
            cmd: {CMD}
            outs: [shared/model.pkl]
        """
    )
    res = run("repro")
    assert_usage_error(res, "stage 'second'", "stage 'first'", "shared/model.pkl", line=7)
    assert "line 4" in res.err  # where the first one declared it


@pytest.mark.parametrize(
    ("out", "word"),
    [
        ("../elsewhere/model.pkl", "outside the repository"),
        ("/tmp/model.pkl", "outside the repository"),
        ("sub/../../model.pkl", "outside the repository"),
        (".git/hooks/pre-commit", ".git"),
        (".dvx/cache/x", ".dvx"),
        ("sub/../.git/config", ".git"),
    ],
)
def test_outputs_outside_the_repo_or_in_git_or_dvx_are_refused(
    repo: Path, out: str, word: str
) -> None:
    stage_file(
        f"""
        stages:
          ok:
            cmd: {CMD}
          bad:
            cmd: {CMD}
            outs:
              - other.txt
              - {out}
        """
    )
    assert_usage_error(run("repro"), "stage 'bad'", word, out, line=8)


def test_missing_dep_is_named_with_its_stage_on_repro(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    stage_file(
        f"""
        stages:
          first:
            cmd: {PY} -c "open('{marker}', 'w')"
            outs: [first.txt]
          train:
            cmd: {CMD}
            deps: [data/missing.csv]
            outs: [model.pkl]
        """
    )
    res = run("repro")
    assert_usage_error(res, "stage 'train'", "data/missing.csv", line=5)
    assert not marker.exists()  # refused before running anything
    assert "dep missing: data/missing.csv" in run("status").out


def test_missing_params_file(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            params:
              - conf/train.yaml: [lr]
        """
    )
    for command in ("repro", "status"):
        assert_usage_error(run(command), "stage 'train'", "train.yaml", "not found", line=2)


def test_missing_param_key(repo: Path) -> None:
    write("params.yaml", "train:\n  lr: 0.1\n")
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            params: [train.epochs]
        """
    )
    assert_usage_error(
        run("repro"), "stage 'train'", "param 'train.epochs' not found in params.yaml", line=2
    )


def test_invalid_yaml_names_the_line(repo: Path) -> None:
    write("dvx.yaml", f"stages:\n  train:\n    cmd: {CMD}\n    deps: [a.csv\n    outs: [b]\n")
    res = run("repro")
    assert_usage_error(res, "invalid YAML")
    assert re.match(r"dvx: error: dvx\.yaml:\d+: ", res.err)


def test_invalid_yaml_with_interpolation_hints_at_quoting(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          fit:
            matrix:
              n: [1, 2]
            cmd: {CMD}
            outs: [out/${{item.n}}.txt]
        """
    )
    assert_usage_error(run("repro"), "invalid YAML", "quote", line=6)


@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("params.yaml", "lr: [0.1\nepochs: 3\n", "params.yaml:2:"),
        ("conf.json", '{"lr": 0.1,}', "conf.json:"),
        ("conf.toml", "lr = \n", "conf.toml:"),
    ],
)
def test_invalid_params_file(repo: Path, name: str, text: str, where: str) -> None:
    write(name, text)
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            params:
              - {name}: [lr]
        """
    )
    for command in ("repro", "status"):
        assert_usage_error(run(command), where, "invalid")


def test_lock_with_conflict_markers(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
        """
    )
    write(
        "dvx.lock",
        "version: 1\nstages:\n<<<<<<< HEAD\n  train:\n    key: a\n=======\n"
        "  train:\n    key: b\n>>>>>>> other\n",
    )
    res = run("status")
    assert_usage_error(res, "dvx.lock:")


def test_lock_with_a_newer_format_version_is_refused(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
        """
    )
    write("dvx.lock", "version: 99\nalgorithm: xxh3-128\nstages: {}\n")
    for command in ("repro", "status", "checkout"):
        res = run(command)
        assert_usage_error(res, "dvx.lock", "newer", "upgrade")
    assert Path("dvx.lock").read_text().startswith("version: 99")  # not overwritten


def test_pointer_file_with_a_newer_format_version_is_refused(repo: Path) -> None:
    write("data.csv.dvx", "version: 7\nalgorithm: xxh3-128\npath: data.csv\nhash: ab\nsize: 1\n")
    for command in ("status", "checkout"):
        res = run(command)
        assert_usage_error(res, "data.csv.dvx", "newer", "upgrade")


def test_malformed_lock_is_a_config_error(repo: Path) -> None:
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
        """
    )
    write("dvx.lock", "version: 1\nstages:\n  train:\n    cmd: x\n")  # no key
    assert_usage_error(run("status"), "dvx.lock", "stage 'train'")


def test_not_a_dvx_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_usage_error(run("status"), "not inside a dvx repository", "dvx init")


def test_verbose_shows_the_traceback(repo: Path) -> None:
    write("dvx.yaml", "stages:\n  x:\n    cmd: [\n")
    res = run("-v", "status")
    assert res.code == 2
    assert "Traceback" in res.err


# ---- one writer at a time -------------------------------------------------------

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0)
os.pwrite(fd, f"{os.getpid()}\\n".encode(), 0)
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin
"""


def test_second_writer_is_refused_naming_the_holder(repo: Path) -> None:
    write("data.txt", "d")
    stage_file(
        f"""
        stages:
          train:
            cmd: {CMD}
            outs: [never.txt]
        """
    )
    lockfile = repo / ".dvx/tmp/lock"
    lockfile.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lockfile)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        for command in (["repro"], ["add", "data.txt"], ["checkout"], ["commit"]):
            res = run(*command)
            assert res.code == 1, (command, res.output)
            assert f"another dvx process (pid {holder.pid}) holds the repo lock" in res.err
            assert "Traceback" not in res.output
        assert not Path("data.txt.dvx").exists()
        assert not Path("dvx.lock").exists()
        # Readers are not writers: status still works.
        assert run("status").code == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    # Once the holder is gone, the lock is free again.
    assert run("add", "data.txt").code == 0


def test_second_repro_while_one_is_running(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "started"
    release = tmp_path / "release"
    write(
        "slow.py",
        f"""
        import pathlib, time
        pathlib.Path({str(started)!r}).write_text("x")
        deadline = time.monotonic() + 60
        while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        pathlib.Path("out.txt").write_text("done")
        """,
    )
    stage_file(
        f"""
        stages:
          slow:
            cmd: {PY} slow.py
            outs: [out.txt]
        """
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "dvx", "repro"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first repro never started"
            time.sleep(0.02)
        res = run("repro")
        assert res.code == 1, res.output
        assert f"another dvx process (pid {first.pid}) holds the repo lock" in res.err
    finally:
        release.write_text("go")
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, (out, err)
    assert "slow: ran in" in out
