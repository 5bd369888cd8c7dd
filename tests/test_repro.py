"""`dvx repro` as users run it: what runs, what is restored, and what the lock records.

Stages use ``tools/step.py``, a tiny command that appends its label to the file
named by ``$STEP_LOG`` (outside the repo, so it is not part of any stage) and
writes its output from its inputs. The log proves whether a command really ran.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PY, git, run, write
from ruamel.yaml import YAML
from stepcmd import STEP, install_step, lock_doc, ran, replace, snapshot, step

from dvx.hashing import hash_file


def obj_path(digest: str) -> Path:
    return Path(".dvx/cache/objects") / digest[:2] / digest[2:]


@pytest.fixture
def steps(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_step(tmp_path, monkeypatch)


def two_stage() -> None:
    """prep: raw.txt -> mid.txt; report: mid.txt + params.yaml:scale -> report.txt."""
    write("raw.txt", "b\na\nb\n")
    write("params.yaml", "scale: 2\nother: 1\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [mid.txt]
          report:
            cmd: {step("report", "--params", "params.yaml", "report.txt", "mid.txt")}
            deps: [mid.txt]
            params: [scale]
            outs: [report.txt]
        """,
    )


# ---- the basic cycle -------------------------------------------------------------


def test_first_run_runs_everything_then_nothing(steps: Path) -> None:
    two_stage()
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: ran in" in res.out and "report: ran in" in res.out
    assert "2 ran" in res.out
    assert ran(steps) == ["prep", "report"]
    assert Path("report.txt").read_text() == "b\na\nb\nscale: 2\nother: 1\n"
    lock = lock_doc()
    assert sorted(lock["stages"]) == ["prep", "report"]
    assert lock["stages"]["report"]["params"] == {"params.yaml": {"scale": 2}}

    again = run("repro")
    assert again.code == 0, again.output
    assert "prep: up to date" in again.out and "report: up to date" in again.out
    assert "2 up to date" in again.out
    assert ran(steps) == ["prep", "report"]  # nothing ran the second time


def test_param_change_then_revert_restores_without_running(steps: Path) -> None:
    two_stage()
    assert run("repro").code == 0
    first = Path("report.txt").read_text()

    write("params.yaml", "scale: 3\nother: 1\n")
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: up to date" in res.out
    assert "report: ran in" in res.out
    assert "scale: 3" in Path("report.txt").read_text()

    write("params.yaml", "scale: 2\nother: 1\n")
    res = run("repro")
    assert res.code == 0, res.output
    assert "report: restored" in res.out
    assert "1 restored" in res.out
    assert ran(steps) == ["prep", "report", "report"]  # the revert ran nothing
    assert Path("report.txt").read_text() == first
    assert run("status").out.strip() == "Everything is up to date."


def test_early_cutoff_identical_upstream_bytes_leave_downstream_alone(steps: Path) -> None:
    write(
        "tools/sort.py",
        "import sys\nlines = sorted(set(open(sys.argv[1]).read().split()))\n"
        "open(sys.argv[2], 'w').write('\\n'.join(lines) + '\\n')\n",
    )
    write("raw.txt", "b\na\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          norm:
            cmd: {PY} tools/sort.py raw.txt norm.txt
            deps: [raw.txt]
            outs: [norm.txt]
          report:
            cmd: {step("report", "report.txt", "norm.txt")}
            deps: [norm.txt]
            outs: [report.txt]
        """,
    )
    assert run("repro").code == 0
    assert ran(steps) == ["report"]

    write("raw.txt", "a\nb\na\n")  # different input, same normalized output
    res = run("repro")
    assert res.code == 0, res.output
    assert "norm: ran in" in res.out
    assert "report: up to date" in res.out
    assert ran(steps) == ["report"]


def test_params_from_yaml_json_and_toml_including_dates(steps: Path) -> None:
    write("params.yaml", "start: 2024-01-01\nwhen: 2024-01-01 10:00:00\n")
    write("conf/train.toml", "[opt]\nlr = 0.1\nat = 1979-05-27T07:32:00Z\nday = 10:30:00\n")
    write("conf/model.json", '{"layers": [64, 32], "act": "relu"}\n')
    write(
        "dvx.yaml",
        f"""
        stages:
          fit:
            cmd: {step("fit", "model.txt")}
            params:
              - start
              - when
              - conf/train.toml: [opt]
              - conf/model.json: [layers]
            outs: [model.txt]
        """,
    )
    res = run("repro")
    assert res.code == 0, res.output
    params = lock_doc()["stages"]["fit"]["params"]
    assert params["conf/model.json"] == {"layers": [64, 32]}
    assert params["conf/train.toml"]["opt"]["lr"] == 0.1
    assert str(params["params.yaml"]["start"]) == "2024-01-01"
    assert run("status").out == "Everything is up to date.\n"
    assert "fit: up to date" in run("repro").out

    write("params.yaml", "start: 2024-01-02\nwhen: 2024-01-01 10:00:00\n")
    assert "param changed: params.yaml:start" in run("status").out
    write("conf/train.toml", "[opt]\nlr = 0.1\nat = 1979-05-27T07:32:00Z\nday = 10:31:00\n")
    assert "param changed: conf/train.toml:opt" in run("status").out
    write("conf/model.json", '{"act": "tanh", "layers": [64, 32]}\n')  # untracked key
    assert "conf/model.json" not in run("status").out


def test_force_runs_up_to_date_stages(steps: Path) -> None:
    two_stage()
    assert run("repro").code == 0
    res = run("repro", "-f")
    assert res.code == 0, res.output
    assert "prep: ran in" in res.out and "report: ran in" in res.out
    assert ran(steps) == ["prep", "report", "prep", "report"]


def test_dry_run_changes_nothing_and_prints_the_plan(steps: Path, repo: Path) -> None:
    two_stage()
    # Nothing has run yet: everything would run, and nothing is created.
    before = snapshot(repo)
    res = run("repro", "--dry")
    assert res.code == 0, res.output
    assert "prep: would run" in res.out and "report: would run" in res.out
    assert "dry run" in res.out
    assert snapshot(repo) == before
    assert not Path("dvx.lock").exists()
    assert ran(steps) == []

    assert run("repro").code == 0
    write("params.yaml", "scale: 3\nother: 1\n")
    assert run("repro").code == 0
    write("params.yaml", "scale: 2\nother: 1\n")  # back to a value the cache knows
    Path("mid.txt").unlink()

    lock_before = Path("dvx.lock").read_bytes()
    before = snapshot(repo)
    res = run("repro", "-n")
    assert res.code == 0, res.output
    assert "prep: would restore" in res.out
    assert "report: would restore" in res.out
    assert Path("dvx.lock").read_bytes() == lock_before
    assert snapshot(repo) == before
    assert ran(steps) == ["prep", "report", "report"]


def test_dry_run_reports_would_run_for_changed_stage(steps: Path, repo: Path) -> None:
    two_stage()
    assert run("repro").code == 0
    write("raw.txt", "changed\n")
    lock_before = Path("dvx.lock").read_bytes()
    before = snapshot(repo)
    res = run("repro", "--dry")
    assert res.code == 0, res.output
    assert "prep: would run" in res.out
    assert "report: would run" in res.out
    assert Path("dvx.lock").read_bytes() == lock_before
    assert snapshot(repo) == before
    assert ran(steps) == ["prep", "report"]


# ---- parallelism -----------------------------------------------------------------


def test_jobs_run_independent_stages_concurrently(steps: Path) -> None:
    # Each command waits (up to 60 s) until the other one has started: with -j 2 both
    # finish; run one after the other, the first would give up with exit 9.
    write(
        "dvx.yaml",
        f"""
        stages:
          left:
            cmd: {step("left", "--mark", "left.started", "--wait-for", "right.started", "left.txt")}
            outs: [left.txt]
          right:
            cmd: {
            step("right", "--mark", "right.started", "--wait-for", "left.started", "right.txt")
        }
            outs: [right.txt]
        """,
    )
    res = run("repro", "-j", "2")
    assert res.code == 0, res.output
    assert "left: ran in" in res.out and "right: ran in" in res.out
    assert sorted(ran(steps)) == ["left", "right"]
    assert sorted(lock_doc()["stages"]) == ["left", "right"]


# ---- failures --------------------------------------------------------------------


def failing_pipeline() -> None:
    write("raw.txt", "x\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [mid.txt]
          bad:
            cmd: {step("bad", "--fail", "3", "bad.txt", "mid.txt")}
            deps: [mid.txt]
            outs: [bad.txt]
          after:
            cmd: {step("after", "after.txt", "bad.txt")}
            deps: [bad.txt]
            outs: [after.txt]
          other:
            cmd: {step("other", "other.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [other.txt]
        """,
    )


def test_failing_command_stops_the_repro_and_records_nothing_of_it(steps: Path) -> None:
    failing_pipeline()
    res = run("repro")
    assert res.code == 1, res.output
    assert "bad: FAILED (exit 3)" in res.out
    assert "stage 'bad' failed (exit status 3)" in res.err
    assert "Traceback" not in res.output
    assert ran(steps) == ["prep", "bad"]  # neither 'after' nor 'other' started
    # The lock was written after 'prep' finished, and holds nothing of 'bad'.
    assert sorted(lock_doc()["stages"]) == ["prep"]
    assert not Path("bad.txt").exists()


def test_keep_going_finishes_independent_branches(steps: Path) -> None:
    failing_pipeline()
    res = run("repro", "--keep-going")
    assert res.code == 1, res.output
    assert "bad: FAILED (exit 3)" in res.out
    assert "other: ran in" in res.out
    assert "after: skipped" in res.out
    assert sorted(ran(steps)) == ["bad", "other", "prep"]
    assert sorted(lock_doc()["stages"]) == ["other", "prep"]


def test_failure_with_jobs_lets_running_stages_finish(steps: Path) -> None:
    # 'slow' is still running when 'bad' fails: it finishes and is recorded.
    write(
        "dvx.yaml",
        f"""
        stages:
          bad:
            cmd: {
            step(
                "bad",
                "--mark",
                "bad.started",
                "--wait-for",
                "slow.started",
                "--fail",
                "5",
                "bad.txt",
            )
        }
            outs: [bad.txt]
          slow:
            cmd: {step("slow", "--mark", "slow.started", "--wait-for", "bad.started", "slow.txt")}
            outs: [slow.txt]
        """,
    )
    res = run("repro", "-j", "2")
    assert res.code == 1, res.output
    assert "bad: FAILED (exit 5)" in res.out
    assert "slow: ran in" in res.out
    assert sorted(lock_doc()["stages"]) == ["slow"]
    assert sorted(ran(steps)) == ["bad", "slow"]


def test_command_not_producing_a_declared_output_fails(steps: Path) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          lazy:
            cmd: {step("lazy", "--write", "no", "promised.txt")}
            outs: [promised.txt]
        """,
    )
    res = run("repro")
    assert res.code == 1, res.output
    assert "lazy: FAILED" in res.out
    assert "promised.txt" in res.output
    assert "Traceback" not in res.output
    assert not Path("dvx.lock").exists() or "lazy" not in (lock_doc()["stages"] or {})


def test_a_dangling_symlink_is_not_an_output(repo: Path) -> None:
    write(
        "dvx.yaml",
        """
        stages:
          link:
            cmd: ln -s nowhere out.txt
            outs: [out.txt]
        """,
    )
    res = run("repro")
    assert res.code == 1, res.output
    assert "link: FAILED" in res.out and "out.txt" in res.output
    assert "internal error" not in res.err
    res = run("commit")
    assert res.code == 1, res.output
    assert "output 'out.txt' does not exist" in res.err


def test_lock_is_written_after_each_stage(steps: Path) -> None:
    # Stage 2 fails: stage 1's finished work is in the lock and its output is cached.
    failing_pipeline()
    assert run("repro").code == 1
    entry = lock_doc()["stages"]["prep"]
    assert entry["outs"][0]["path"] == "mid.txt"
    assert entry["outs"][0]["hash"] == hash_file("mid.txt")
    assert run("status").out.count("prep") == 0


# ---- targets ---------------------------------------------------------------------


def three_stage() -> None:
    """a -> b, and c independent."""
    write("raw.txt", "r\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          a:
            cmd: {step("a", "a.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [a.txt]
          b:
            cmd: {step("b", "b.txt", "a.txt")}
            deps: [a.txt]
            outs: [b.txt]
          c:
            cmd: {step("c", "c.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [c.txt]
        """,
    )


def test_repro_target_runs_only_what_it_needs(steps: Path) -> None:
    three_stage()
    res = run("repro", "b")
    assert res.code == 0, res.output
    assert ran(steps) == ["a", "b"]
    assert not Path("c.txt").exists()
    assert "c:" not in res.out
    # An output path works as a target too.
    res = run("repro", "c.txt")
    assert res.code == 0, res.output
    assert ran(steps) == ["a", "b", "c"]


def test_unknown_target_is_a_usage_error_with_suggestion(steps: Path) -> None:
    three_stage()
    write("dvx.yaml", Path("dvx.yaml").read_text().replace("  b:\n", "  train:\n"))
    res = run("repro", "trian")
    assert res.code == 2, res.output
    assert "unknown stage 'trian'" in res.err
    assert "did you mean 'train'?" in res.err
    assert "Traceback" not in res.output
    assert ran(steps) == []


def test_downstream_runs_target_and_what_follows(steps: Path) -> None:
    three_stage()
    assert run("repro").code == 0
    write("raw.txt", "changed\n")
    res = run("repro", "a", "--downstream")
    assert res.code == 0, res.output
    assert ran(steps)[3:] == ["a", "b"]  # c's input changed too, but it is not downstream of a
    assert "c:" not in res.out


# ---- stage fields ----------------------------------------------------------------


def test_cmd_as_a_list_runs_each_command_in_order(steps: Path) -> None:
    write("raw.txt", "r\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          two:
            cmd:
              - {step("first", "tmp.txt", "raw.txt")}
              - {step("second", "--extra", "!", "out.txt", "tmp.txt")}
            deps: [raw.txt]
            outs: [out.txt]
        """,
    )
    res = run("repro")
    assert res.code == 0, res.output
    assert ran(steps) == ["first", "second"]
    assert Path("out.txt").read_text() == "r\n!"
    cmd = lock_doc()["stages"]["two"]["cmd"]
    assert isinstance(cmd, list) and len(cmd) == 2


def test_failing_first_command_of_a_list_stops_the_stage(steps: Path) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          two:
            cmd:
              - {step("first", "--fail", "4", "x")}
              - {step("second", "out.txt")}
            outs: [out.txt]
        """,
    )
    res = run("repro")
    assert res.code == 1
    assert "two: FAILED (exit 4)" in res.out
    assert ran(steps) == ["first"]


def test_wdir_runs_the_command_there_with_paths_relative_to_it(steps: Path) -> None:
    write("sub/tools/step.py", STEP)
    write("sub/in.txt", "inside\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          nested:
            wdir: sub
            cmd: {step("nested", "out/result.txt", "in.txt")}
            deps: [in.txt]
            outs: [out/result.txt]
        """,
    )
    res = run("repro")
    assert res.code == 0, res.output
    assert Path("sub/out/result.txt").read_text() == "inside\n"
    entry = lock_doc()["stages"]["nested"]
    assert [d["path"] for d in entry["deps"]] == ["sub/in.txt"]
    assert [o["path"] for o in entry["outs"]] == ["sub/out/result.txt"]
    assert "/result.txt" in Path("sub/out/.gitignore").read_text().splitlines()


def test_declared_env_values_enter_the_key(steps: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        "tools/env.py",
        "import os\nopen('mode.txt', 'w').write(os.environ.get('MODE', 'unset'))\n"
        "open(os.environ['STEP_LOG'], 'a').write('env\\n')\n",
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          env:
            cmd: {PY} tools/env.py
            env: [MODE]
            outs: [mode.txt]
        """,
    )
    monkeypatch.setenv("MODE", "fast")
    assert run("repro").code == 0
    assert Path("mode.txt").read_text() == "fast"
    assert run("repro").out.startswith("env: up to date")

    monkeypatch.setenv("MODE", "slow")
    assert run("status").out != "Everything is up to date.\n"
    res = run("repro")
    assert "env: ran in" in res.out
    assert Path("mode.txt").read_text() == "slow"

    monkeypatch.setenv("MODE", "fast")
    res = run("repro")
    assert "env: restored" in res.out
    assert Path("mode.txt").read_text() == "fast"
    assert ran(steps) == ["env", "env"]

    # An undeclared variable does not matter.
    monkeypatch.setenv("OTHER", "x")
    assert "env: up to date" in run("repro").out


def test_always_changed_stage_runs_every_time(steps: Path) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          poll:
            cmd: {step("poll", "now.txt")}
            outs: [now.txt]
            always_changed: true
        """,
    )
    assert run("repro").code == 0
    res = run("repro")
    assert "poll: ran in" in res.out
    assert ran(steps) == ["poll", "poll"]
    assert "always changed" in run("status").out


def test_frozen_stage_is_not_rerun_when_its_deps_change(steps: Path) -> None:
    two_stage()
    assert run("repro").code == 0
    text = (
        Path("dvx.yaml").read_text().replace("outs: [mid.txt]", "outs: [mid.txt]\n    frozen: true")
    )
    write("dvx.yaml", text)
    write("raw.txt", "new raw\n")
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: up to date (frozen)" in res.out
    assert "report: up to date" in res.out
    assert ran(steps) == ["prep", "report"]
    assert Path("mid.txt").read_text() == "b\na\nb\n"
    # A missing output of a frozen stage comes back from the cache, without running.
    Path("mid.txt").unlink()
    res = run("repro")
    assert "prep: restored" in res.out
    assert Path("mid.txt").read_text() == "b\na\nb\n"
    assert ran(steps) == ["prep", "report"]


def test_persist_output_is_kept_between_runs_and_others_are_removed(steps: Path) -> None:
    write(
        "tools/append.py",
        """
        import os, sys
        from pathlib import Path
        assert not Path("fresh.txt").exists(), "non-persist output was not removed"
        os.makedirs("logs", exist_ok=True)
        with open("logs/history.txt", "a") as f:
            f.write(Path("raw.txt").read_text())
        Path("fresh.txt").write_text(Path("raw.txt").read_text())
        """,
    )
    write("raw.txt", "one\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          grow:
            cmd: {PY} tools/append.py
            deps: [raw.txt]
            outs:
              - logs/: {{persist: true}}
              - fresh.txt
        """,
    )
    assert run("repro").code == 0, run("repro").output
    write("raw.txt", "two\n")
    res = run("repro")
    assert res.code == 0, res.output
    assert "grow: ran in" in res.out
    assert Path("logs/history.txt").read_text() == "one\ntwo\n"
    assert Path("fresh.txt").read_text() == "two\n"
    out = {o["path"]: o for o in lock_doc()["stages"]["grow"]["outs"]}
    assert out["logs"]["persist"] is True


def test_directory_output_is_recorded_and_restored(steps: Path) -> None:
    write(
        "tools/tree.py",
        """
        import os
        os.makedirs("model/parts/deep", exist_ok=True)
        open("model/a.bin", "w").write("A")
        open("model/parts/b.bin", "w").write("B")
        open("model/parts/deep/c.bin", "w").write("C")
        open(os.environ["STEP_LOG"], "a").write("tree\\n")
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          tree:
            cmd: {PY} tools/tree.py
            outs: [model]
        """,
    )
    assert run("repro").code == 0
    out = lock_doc()["stages"]["tree"]["outs"][0]
    assert out["path"] == "model" and out["nfiles"] == 3 and out["size"] == 3

    Path("model/parts/b.bin").unlink()
    write("model/stray.txt", "not mine")
    res = run("repro")
    assert res.code == 0, res.output
    assert "tree: restored" in res.out
    assert ran(steps) == ["tree"]
    files = sorted(
        p.relative_to("model").as_posix() for p in Path("model").rglob("*") if p.is_file()
    )
    assert files == ["a.bin", "parts/b.bin", "parts/deep/c.bin"]
    assert Path("model/parts/b.bin").read_text() == "B"


def test_a_file_in_the_way_of_an_output_directory_is_saved_then_replaced(
    steps: Path,
) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          nest:
            cmd: {step("nest", "out/deep/result.txt")}
            outs: [out/deep/result.txt]
        """,
    )
    assert run("repro").code == 0
    shutil.rmtree("out")
    write("out", "I was here first\n")
    digest = hash_file("out")
    for args in (["repro"], ["repro", "-f"]):
        res = run(*args)
        assert res.code == 0, res.output
        assert Path("out/deep/result.txt").read_text() == ""
        assert obj_path(digest).read_text() == "I was here first\n"
        shutil.rmtree("out")
        write("out", "I was here first\n")
    assert ran(steps) == ["nest", "nest"]  # restored once, ran once


def test_persist_output_never_corrupts_the_cache_through_a_hardlink(steps: Path) -> None:
    write(".dvx/config.yaml", "version: 1\ncore:\n  link: [hardlink, copy]\n")
    write(
        "tools/append.py",
        """
        import os
        os.makedirs("logs", exist_ok=True)
        with open("logs/history.txt", "a") as f:
            f.write(open("raw.txt").read())
        """,
    )
    write("raw.txt", "one\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          grow:
            cmd: {PY} tools/append.py
            deps: [raw.txt]
            outs:
              - logs: {{persist: true}}
        """,
    )
    assert run("repro").code == 0
    assert os.stat("logs/history.txt").st_nlink == 2  # the workspace file is the object
    write("raw.txt", "two\n")
    res = run("repro")
    assert res.code == 0, res.output
    assert Path("logs/history.txt").read_text() == "one\ntwo\n"
    objects = [p for p in Path(".dvx/cache/objects").rglob("*") if p.is_file()]
    assert len(objects) >= 4  # two versions of the file and of the directory manifest
    for o in objects:
        assert hash_file(o) == o.parent.name + o.name, o


def test_dep_inside_a_tracked_directory_is_checked_out_from_the_cache(steps: Path) -> None:
    write("data/imgs/a.txt", "A\n")
    write("data/imgs/b.txt", "B\n")
    assert run("add", "data/imgs").code == 0
    write(
        "dvx.yaml",
        f"""
        stages:
          use:
            cmd: {step("use", "out.txt", "data/imgs/a.txt")}
            deps: [data/imgs/a.txt]
            outs: [out.txt]
        """,
    )
    assert run("repro").code == 0
    # A fresh checkout of the repo: the tracked data is only in the cache.
    shutil.rmtree("data/imgs")
    Path("out.txt").unlink()
    status = run("status", "--json")
    assert "dep missing" not in status.out
    dry = run("repro", "--dry")
    assert dry.code == 0, dry.output
    assert "use: would restore" in dry.out
    res = run("repro")
    assert res.code == 0, res.output
    assert "use: restored" in res.out
    assert Path("data/imgs/a.txt").read_text() == "A\n"
    assert ran(steps) == ["use"]


def test_hand_edited_output_is_restored_by_repro_and_the_edit_kept_in_cache(
    steps: Path,
) -> None:
    two_stage()
    assert run("repro").code == 0
    replace("report.txt", "my hand edit\n")
    digest = hash_file("report.txt")
    res = run("repro")
    assert res.code == 0, res.output
    assert "report: restored" in res.out
    assert Path("report.txt").read_text().startswith("b\na\nb\n")
    assert obj_path(digest).read_text() == "my hand edit\n"
    assert digest in res.err
    assert ran(steps) == ["prep", "report"]


def test_uncached_output_stays_in_git_and_out_of_the_cache(steps: Path) -> None:
    write("raw.txt", "r\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          small:
            cmd: {step("small", "summary.txt", "raw.txt")}
            deps: [raw.txt]
            outs:
              - summary.txt: {{cache: false}}
        """,
    )
    assert run("repro").code == 0
    out = lock_doc()["stages"]["small"]["outs"][0]
    assert out["cache"] is False and out["hash"] == hash_file("summary.txt")
    assert not obj_path(out["hash"]).exists()
    assert not Path(".gitignore").exists() or "/summary.txt" not in Path(".gitignore").read_text()
    replace("summary.txt", "edited\n")
    assert "out modified: summary.txt" in run("status").out
    res = run("repro")
    assert "small: ran in" in res.out  # nothing to restore it from
    assert Path("summary.txt").read_text() == "r\n"


def test_outputs_are_gitignored_next_to_them_but_metrics_are_not(steps: Path) -> None:
    write(
        "tools/many.py",
        """
        import os
        os.makedirs("data/deep", exist_ok=True)
        open("data/deep/out.csv", "w").write("x")
        open("top.txt", "w").write("t")
        open("metrics.json", "w").write('{"acc": 1}')
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          many:
            cmd: {PY} tools/many.py
            outs: [data/deep/out.csv, top.txt]
            metrics: [metrics.json]
        """,
    )
    assert run("repro").code == 0
    assert Path("data/deep/.gitignore").read_text().splitlines() == ["/out.csv"]
    root_ignore = Path(".gitignore").read_text().splitlines()
    assert "/top.txt" in root_ignore
    assert "/metrics.json" not in root_ignore
    ignored = subprocess.run(
        ["git", "check-ignore", "data/deep/out.csv", "top.txt", "metrics.json"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert ignored == ["data/deep/out.csv", "top.txt"]
    # Metrics are recorded in the lock all the same.
    outs = {o["path"]: o for o in lock_doc()["stages"]["many"]["outs"]}
    assert outs["metrics.json"]["metric"] is True


# ---- the lock file ---------------------------------------------------------------


def deterministic_project() -> None:
    write("tools/step.py", STEP)
    write("b.txt", "bee\n")
    write("a.txt", "ay\n")
    write("params.yaml", "z: 1\na:\n  y: 2\n  x: 3\n")
    zeta = [step("zeta", "out/z.txt", "b.txt", "a.txt"), step("zeta2", "out/m.txt", "a.txt")]
    write(
        "dvx.yaml",
        f"""
        stages:
          zeta:
            cmd: [{zeta[0]}, {zeta[1]}]
            deps: [b.txt, a.txt]
            params: [z, a]
            outs: [out/z.txt, out/m.txt]
          alpha:
            cmd: {step("alpha", "out/a.txt", "out/z.txt")}
            deps: [out/z.txt]
            outs: [out/a.txt]
        """,
    )


def test_lock_is_deterministic_across_clean_repos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEP_LOG", raising=False)
    locks = []
    for name in ("one", "two"):
        root = tmp_path / name / "project"
        root.mkdir(parents=True)
        monkeypatch.chdir(root)
        git("init", "-q", "-b", "main")
        assert run("init").code == 0
        deterministic_project()
        res = run("repro")
        assert res.code == 0, res.output
        locks.append(Path("dvx.lock").read_bytes())
    assert locks[0] == locks[1]

    text = locks[0].decode()
    doc = YAML(typ="safe").load(text)
    assert list(doc["stages"]) == ["alpha", "zeta"]
    zeta = doc["stages"]["zeta"]
    assert [d["path"] for d in zeta["deps"]] == ["a.txt", "b.txt"]
    assert [o["path"] for o in zeta["outs"]] == ["out/m.txt", "out/z.txt"]
    assert list(zeta["params"]["params.yaml"]) == ["a", "z"]
    assert list(zeta["params"]["params.yaml"]["a"]) == ["x", "y"]
    assert not re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", text)
    for word in ("duration", "host", "started", "user"):
        assert word not in text
    hostname = socket.gethostname()
    if len(hostname) > 4 and not re.fullmatch(r"[0-9a-f]+", hostname):
        assert hostname not in text


def test_removed_stage_is_dropped_from_the_lock(steps: Path) -> None:
    three_stage()
    assert run("repro").code == 0
    assert sorted(lock_doc()["stages"]) == ["a", "b", "c"]
    text = Path("dvx.yaml").read_text()
    write("dvx.yaml", text[: text.index("  c:\n")])
    res = run("repro")
    assert res.code == 0, res.output
    assert sorted(lock_doc()["stages"]) == ["a", "b"]


def test_identical_work_under_another_name_is_restored_not_run(steps: Path) -> None:
    # The key does not include the stage name: renaming a stage finds its results.
    two_stage()
    assert run("repro").code == 0
    Path("report.txt").unlink()
    write("dvx.yaml", Path("dvx.yaml").read_text().replace("  report:\n", "  summary:\n"))
    res = run("repro")
    assert res.code == 0, res.output
    assert "summary: restored" in res.out
    assert ran(steps) == ["prep", "report"]
    doc = lock_doc()["stages"]
    assert sorted(doc) == ["prep", "summary"]
    assert Path("report.txt").exists()


def test_matrix_stages_each_get_a_lock_entry(steps: Path) -> None:
    write("raw.txt", "r\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          fit:
            matrix:
              model: [cnn, rnn]
              lr: [1, 2]
            cmd: {
            step(
                "fit-${item.model}-${item.lr}",
                "--extra",
                "${item.lr}",
                "out/${item.model}-${item.lr}.txt",
                "raw.txt",
            )
        }
            deps: [raw.txt]
            outs: ["out/${{item.model}}-${{item.lr}}.txt"]
        """,
    )
    res = run("repro")
    assert res.code == 0, res.output
    names = ["fit@cnn-1", "fit@cnn-2", "fit@rnn-1", "fit@rnn-2"]
    assert sorted(lock_doc()["stages"]) == names
    assert sorted(ran(steps)) == ["fit-cnn-1", "fit-cnn-2", "fit-rnn-1", "fit-rnn-2"]
    assert Path("out/rnn-2.txt").read_text() == "r\n2"
    # The group name targets all of them.
    res = run("repro", "fit", "-f")
    assert res.code == 0
    assert len(ran(steps)) == 8


# ---- Ctrl-C ----------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting to be reaped by init is gone for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(cond, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_ctrl_c_stops_the_command_and_leaves_lock_and_cache_valid(steps: Path, repo: Path) -> None:
    write(
        "tools/slow.py",
        """
        import os, sys, time
        from pathlib import Path
        Path("partial.bin").write_bytes(b"x" * 100000)
        Path(sys.argv[1]).write_text(str(os.getpid()))
        time.sleep(120)
        """,
    )
    write("raw.txt", "r\n")
    pidfile = repo.parent / "child.pid"
    write(
        "dvx.yaml",
        f"""
        stages:
          fast:
            cmd: {step("fast", "fast.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [fast.txt]
          slow:
            cmd: {PY} tools/slow.py {pidfile}
            deps: [fast.txt]
            outs: [partial.bin]
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvx", "repro"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != ""), (
            "the stage's command never started"
        )
        child = int(pidfile.read_text())
        assert _alive(child)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    assert b"Traceback" not in err
    assert _wait_for(lambda: not _alive(child), timeout=30), "the command survived Ctrl-C"

    # The lock is valid, keeps the finished stage, and nothing of the interrupted one.
    status = run("status", "--json")
    assert status.code == 0, status.output
    assert sorted(lock_doc()["stages"]) == ["fast"]
    assert "slow" in status.out
    # Every cache object is complete: its bytes hash to its name.
    objects = [p for p in (repo / ".dvx/cache/objects").rglob("*") if p.is_file()]
    assert objects
    for obj in objects:
        assert hash_file(obj) == obj.parent.name + obj.name, obj


def test_ctrl_c_with_parallel_stages_stops_every_process_tree(steps: Path, repo: Path) -> None:
    write(
        "tools/tree_sleep.py",
        """
        import os, subprocess, sys, time
        from pathlib import Path
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        Path(sys.argv[1]).write_text(f"{os.getpid()} {child.pid}")
        time.sleep(120)
        """,
    )
    pids = [repo.parent / "one.pids", repo.parent / "two.pids"]
    write(
        "dvx.yaml",
        f"""
        stages:
          one:
            cmd: {PY} tools/tree_sleep.py {pids[0]}
            outs: [one.txt]
          two:
            cmd: {PY} tools/tree_sleep.py {pids[1]}
            outs: [two.txt]
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvx", "repro", "-j", "2"],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert _wait_for(
            lambda: all(p.exists() and len(p.read_text().split()) == 2 for p in pids)
        ), "the commands never started"
        children = [int(x) for p in pids for x in p.read_text().split()]
        assert all(_alive(c) for c in children)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (out, err)
    for c in children:
        assert _wait_for(lambda c=c: not _alive(c), timeout=30), f"process {c} survived"
    assert not Path("dvx.lock").exists() or not lock_doc()["stages"]
    assert run("status").code == 0
