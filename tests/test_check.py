"""`dvx check`, the CI gate (SPEC §6, issue 4).

The promise: the committed lock tells the truth about the committed code, params
and data pointers. CI proves it from a bare ``git clone`` with no data, no
outputs and no cache; anything that changes a key (even a helper module nobody
listed) without a repro fails the gate, naming the stage and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, Result, git, run, write
from stepcmd import install_step, lock_doc, ran, replace, step


def project() -> None:
    """data/raw.csv (dvx add) → prep (src/prep.py, imports src/helpers.py) → report.

    ``helpers.py`` is named nowhere: code detection must find it through the import.
    """
    write("data/raw.csv", "day,n\nmon,1\ntue,2\n")
    write(
        "src/helpers.py",
        """
        def scale(n, factor):
            return n * factor
        """,
    )
    write(
        "src/prep.py",
        """
        import sys
        import yaml_free  # noqa: F401  (a sibling module, found through sys.path[0])
        from helpers import scale

        factor = int(sys.argv[1])
        rows = open("data/raw.csv").read().splitlines()[1:]
        with open("data/prepped.csv", "w") as f:
            for row in rows:
                day, n = row.split(",")
                f.write(f"{day},{scale(int(n), factor)}\\n")
        """,
    )
    write("src/yaml_free.py", "VALUE = 1\n")
    write("params.yaml", "prep:\n  factor: 3\n  note: untracked\nreport:\n  title: weekly\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {PY} src/prep.py 3
            deps: [data/raw.csv]
            params: [prep.factor]
            outs: [data/prepped.csv]
          report:
            cmd: {step("report", "--params", "params.yaml", "out/report.txt", "data/prepped.csv")}
            deps: [data/prepped.csv]
            params: [report.title]
            outs: [out/report.txt]
        """,
    )


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def commit(message: str, cwd: Path | None = None) -> None:
    git("add", "-A", cwd=cwd)
    git("commit", "-q", "-m", message, cwd=cwd)


def check_json(*args: str) -> tuple[int, dict[str, Any]]:
    res = run("check", "--json", *args)
    assert res.code in (0, 1), res.output
    return res.code, json.loads(res.out)


def mismatches(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {s["name"]: s["reasons"] for s in doc["stages"]}


@pytest.fixture
def committed(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project, reproduced and committed with its lock; returns the step log."""
    log = install_step(tmp_path, monkeypatch)
    project()
    ok(run("add", "data/raw.csv"))
    ok(run("repro"))
    commit("pipeline")
    return log


@pytest.fixture
def clone(committed: Path, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``git clone`` of the committed repo, nothing pulled; the current directory."""
    dest = tmp_path / "clone"
    git("clone", "-q", str(repo), str(dest))
    monkeypatch.chdir(dest)
    return dest


# ---- a fresh clone passes ----------------------------------------------------------


def test_the_lock_records_the_imported_helper_module(committed: Path) -> None:
    code = {c["path"] for c in lock_doc()["stages"]["prep"]["code"]}
    assert code == {"src/prep.py", "src/helpers.py", "src/yaml_free.py"}


def test_fresh_clone_with_nothing_pulled_passes(clone: Path, committed: Path) -> None:
    assert not (clone / "data/raw.csv").exists()
    assert not (clone / "data/prepped.csv").exists()
    assert not (clone / "out/report.txt").exists()
    assert not (clone / ".dvx/cache/objects").exists() or not any(
        (clone / ".dvx/cache/objects").iterdir()
    )
    runs_before = ran(committed)

    res = ok(run("check"))
    assert "dvx.lock matches: 2 stage(s) checked" in res.out

    code, doc = check_json()
    assert code == 0
    assert doc["ok"] is True and doc["checked"] == 2 and doc["stages"] == []
    # The gate ran nothing and produced nothing.
    assert ran(committed) == runs_before
    assert not (clone / "data/prepped.csv").exists()


def test_check_passes_in_the_repo_that_wrote_the_lock(committed: Path) -> None:
    assert ok(run("check")).code == 0


# ---- what makes the gate fail -------------------------------------------------------


def test_editing_an_imported_helper_module_fails_naming_it(clone: Path) -> None:
    write("src/helpers.py", "def scale(n, factor):\n    return n * factor + 1\n")
    res = run("check")
    assert res.code == 1, res.output
    assert "prep: lock does not match" in res.out
    assert "code changed: src/helpers.py" in res.out
    assert "run 'dvx repro'" in res.err

    _, doc = check_json()
    assert doc["ok"] is False
    assert mismatches(doc) == {
        "prep": ["code changed: src/helpers.py"],
        # Propagated through the locked graph, with no data anywhere.
        "report": ["upstream changed: prep"],
    }


def test_editing_the_script_itself_fails(clone: Path) -> None:
    text = (clone / "src/prep.py").read_text()
    write("src/prep.py", text + "# tweak\n")
    code, doc = check_json()
    assert code == 1
    assert mismatches(doc)["prep"] == ["code changed: src/prep.py"]


def test_status_also_marks_downstream_without_data(clone: Path) -> None:
    write("src/helpers.py", "def scale(n, factor):\n    return -n\n")
    res = ok(run("status", "--json"))
    reasons = {s["name"]: s["reasons"] for s in json.loads(res.out)["stages"]}
    assert "code changed: src/helpers.py" in reasons["prep"]
    assert "upstream changed: prep" in reasons["report"]


def test_tracked_param_fails_but_untracked_key_of_the_same_file_does_not(clone: Path) -> None:
    write("params.yaml", "prep:\n  factor: 3\n  note: CHANGED\nreport:\n  title: weekly\n")
    assert ok(run("check")).code == 0

    write("params.yaml", "prep:\n  factor: 4\n  note: CHANGED\nreport:\n  title: weekly\n")
    code, doc = check_json()
    assert code == 1
    assert mismatches(doc) == {
        "prep": ["param changed: params.yaml:prep.factor"],
        "report": ["upstream changed: prep"],
    }


def test_a_changed_param_of_the_last_stage_fails_only_that_stage(clone: Path) -> None:
    write("params.yaml", "prep:\n  factor: 3\n  note: untracked\nreport:\n  title: monthly\n")
    code, doc = check_json()
    assert code == 1
    assert mismatches(doc) == {"report": ["param changed: params.yaml:report.title"]}


def test_changed_cmd_fails(clone: Path) -> None:
    text = (clone / "dvx.yaml").read_text().replace("src/prep.py 3", "src/prep.py 5")
    write("dvx.yaml", text)
    res = run("check")
    assert res.code == 1
    assert "prep: lock does not match" in res.out
    assert "cmd changed" in res.out
    _, doc = check_json()
    assert mismatches(doc) == {"prep": ["cmd changed"], "report": ["upstream changed: prep"]}


def test_added_stage_without_lock_entry_fails(clone: Path) -> None:
    text = (clone / "dvx.yaml").read_text()
    write(
        "dvx.yaml",
        text + f"  summary:\n    cmd: {step('summary', 'out/summary.txt', 'out/report.txt')}\n"
        "    deps: [out/report.txt]\n    outs: [out/summary.txt]\n",
    )
    res = run("check")
    assert res.code == 1
    assert "summary: lock does not match" in res.out
    assert "new" in res.out
    _, doc = check_json()
    assert mismatches(doc) == {"summary": ["new"]}


def test_removed_stage_with_lock_entry_fails(clone: Path) -> None:
    text = (clone / "dvx.yaml").read_text()
    write("dvx.yaml", text[: text.index("  report:")])
    res = run("check")
    assert res.code == 1
    assert "report: in dvx.lock but not in dvx.yaml (stage removed)" in res.out
    _, doc = check_json()
    assert doc["removed"] == ["report"]
    assert doc["stages"] == []


def test_pointer_file_changed_without_repro_fails_for_the_consumer(committed: Path) -> None:
    # Someone re-adds new data and commits the pointer file but forgets to repro.
    replace("data/raw.csv", "day,n\nmon,1\ntue,2\nwed,7\n")
    ok(run("add", "data/raw.csv"))
    commit("new raw data")

    res = run("check")
    assert res.code == 1, res.output
    _, doc = check_json()
    assert mismatches(doc) == {
        "prep": ["dep changed: data/raw.csv"],
        "report": ["upstream changed: prep"],
    }

    ok(run("repro"))
    assert ok(run("check")).code == 0


# ---- targets and JSON ----------------------------------------------------------------


def test_targets_limit_the_check_to_a_stage_and_its_upstream(clone: Path) -> None:
    write("params.yaml", "prep:\n  factor: 3\n  note: untracked\nreport:\n  title: monthly\n")
    code, doc = check_json("prep")
    assert code == 0
    assert doc["checked"] == 1
    code, doc = check_json("report")
    assert code == 1
    assert doc["checked"] == 2
    assert mismatches(doc) == {"report": ["param changed: params.yaml:report.title"]}
    # An output path names its stage.
    code, doc = check_json("out/report.txt")
    assert code == 1 and set(mismatches(doc)) == {"report"}


def test_targets_do_not_report_removed_stages(clone: Path) -> None:
    text = (clone / "dvx.yaml").read_text()
    write("dvx.yaml", text[: text.index("  report:")])
    code, doc = check_json("prep")
    assert code == 0 and doc["removed"] == []


def test_json_shape(clone: Path) -> None:
    write("src/helpers.py", "def scale(n, factor):\n    return 0\n")
    code, doc = check_json()
    assert code == 1
    assert doc == {
        "version": 1,
        "ok": False,
        "checked": 2,
        "stages": [
            {"name": "prep", "reasons": ["code changed: src/helpers.py"]},
            {"name": "report", "reasons": ["upstream changed: prep"]},
        ],
        "removed": [],
        "remote": None,
        "missing_on_remote": [],
    }


# ---- code detection on a fresh clone, wdir and imports -------------------------------


def test_fresh_clone_with_package_imports_and_wdir_passes(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write("pipeline/lib/__init__.py", "")
    write("pipeline/lib/util.py", "def f():\n    return 'u'\n")
    write(
        "pipeline/run.py",
        """
        import sys
        from lib.util import f

        open(sys.argv[1], "w").write(f())
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          run:
            wdir: pipeline
            cmd: {PY} run.py out.txt
            outs: [out.txt]
        """,
    )
    ok(run("repro"))
    assert {c["path"] for c in lock_doc()["stages"]["run"]["code"]} == {
        "pipeline/run.py",
        "pipeline/lib/__init__.py",
        "pipeline/lib/util.py",
    }
    commit("wdir pipeline")
    dest = tmp_path / "clone2"
    git("clone", "-q", str(repo), str(dest))
    monkeypatch.chdir(dest)
    assert ok(run("check")).code == 0
    write("pipeline/lib/util.py", "def f():\n    return 'v'\n")
    code, doc = check_json()
    assert code == 1
    assert mismatches(doc) == {"run": ["code changed: pipeline/lib/util.py"]}


# ---- --remote -----------------------------------------------------------------------


def test_check_remote_before_and_after_push(committed: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ok(run("remote", "add", "-d", "store", str(store)))
    commit("remote")
    lock = lock_doc()["stages"]
    prepped = lock["prep"]["outs"][0]["hash"]
    report = lock["report"]["outs"][0]["hash"]

    res = run("check", "--remote")
    assert res.code == 1, res.output
    assert f"data/prepped.csv: object {prepped} is not on remote 'store'" in res.out
    assert f"out/report.txt: object {report} is not on remote 'store'" in res.out
    assert "data/raw.csv: object" in res.out
    assert "run 'dvx push --full" in res.err

    code, doc = check_json("--remote")
    assert code == 1
    assert doc["remote"] == "store"
    assert doc["stages"] == [] and doc["removed"] == []
    missing = {m["path"]: m["object"] for m in doc["missing_on_remote"]}
    assert set(missing) == {"data/raw.csv", "data/prepped.csv", "out/report.txt"}
    assert missing["data/prepped.csv"] == prepped

    ok(run("push"))
    res = ok(run("check", "--remote"))
    assert "remote 'store' has every object" in res.out
    code, doc = check_json("--remote", "store")
    assert code == 0 and doc["missing_on_remote"] == [] and doc["remote"] == "store"


def test_check_remote_without_name_uses_the_default_remote(committed: Path, tmp_path: Path) -> None:
    ok(run("remote", "add", "full", str(tmp_path / "full")))
    ok(run("remote", "add", "-d", "empty", str(tmp_path / "empty")))
    ok(run("push", "-r", "full"))

    code, doc = check_json("--remote")
    assert code == 1 and doc["remote"] == "empty"
    code, doc = check_json("--remote", "full")
    assert code == 0 and doc["remote"] == "full"
    # The bare option may come before other options too.
    res = run("check", "--remote", "--json")
    assert res.code == 1 and json.loads(res.out)["remote"] == "empty"


def test_check_remote_from_a_fresh_clone_after_push(
    committed: Path, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(run("remote", "add", "-d", "store", str(tmp_path / "store")))
    commit("remote")
    ok(run("push"))
    dest = tmp_path / "ci"
    git("clone", "-q", str(repo), str(dest))
    monkeypatch.chdir(dest)
    assert ok(run("check", "--remote")).code == 0


def test_check_remote_lists_files_inside_a_directory_output(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_step(tmp_path, monkeypatch)
    write("in.txt", "x\n")
    a = step("a", "parts/a.txt", "in.txt")
    b = step("b", "--extra", "b", "parts/b.txt", "in.txt")  # other bytes than a.txt
    write(
        "dvx.yaml",
        f"""
        stages:
          split:
            cmd: {a} && {b}
            deps: [in.txt]
            outs: [parts]
        """,
    )
    ok(run("repro"))
    ok(run("remote", "add", "-d", "store", str(tmp_path / "store")))
    code, doc = check_json("--remote")
    assert code == 1
    paths = {m["path"] for m in doc["missing_on_remote"]}
    assert {"parts", "parts/a.txt", "parts/b.txt"} <= paths
    ok(run("push"))
    assert check_json("--remote")[0] == 0


def test_check_remote_with_an_unknown_remote_is_a_usage_error(committed: Path) -> None:
    res = run("check", "--remote", "nowhere")
    assert res.code == 2, res.output
    assert "nowhere" in res.err and "Traceback" not in res.output


def test_check_remote_covers_every_stored_output_metrics_included(
    pipeline: Path, tmp_path: Path
) -> None:
    """Metrics stay in git but a copy goes to the cache (docs/FORMAT.md), so that a
    teammate's restore brings back the whole stage: the remote must hold it too."""
    ok(run("repro"))
    ok(run("remote", "add", "-d", "store", str(tmp_path / "store")))
    _, doc = check_json("--remote")
    assert {m["path"] for m in doc["missing_on_remote"]} == {
        "data/raw.txt",
        "data/doubled.txt",
        "out/total.txt",
        "metrics.json",
    }
    ok(run("push"))
    assert check_json("--remote")[0] == 0


# ---- fresh clones of other shapes -------------------------------------------------------


def fresh_clone(repo: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commit("work", cwd=repo)
    git("clone", "-q", str(repo), str(dest))
    monkeypatch.chdir(dest)


def test_fresh_clone_passes_with_a_dep_inside_a_directory_output(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_step(tmp_path, monkeypatch)
    write("in.txt", "x\n")
    both = step("a", "parts/a.txt", "in.txt") + " && " + step("b", "parts/b.txt", "in.txt")
    write(
        "dvx.yaml",
        f"""
        stages:
          split:
            cmd: {both}
            deps: [in.txt]
            outs: [parts]
          use_a:
            cmd: {step("use_a", "a_copy.txt", "parts/a.txt")}
            deps: [parts/a.txt]
            outs: [a_copy.txt]
        """,
    )
    ok(run("repro"))
    fresh_clone(repo, tmp_path / "c", monkeypatch)
    assert not Path("parts").exists()
    code, doc = check_json()
    assert code == 0 and doc["ok"] is True
    write("in.txt", "y\n")
    code, doc = check_json()
    assert code == 1
    assert mismatches(doc) == {
        "split": ["dep changed: in.txt"],
        "use_a": ["upstream changed: split"],
    }


def test_fresh_clone_passes_with_partitions_of_added_data(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Daily files tracked with `dvx add` are absent from the clone; the foreach glob
    still expands to the same partitions through their pointer files."""
    install_step(tmp_path, monkeypatch)
    for day in ("mon", "tue", "wed"):
        write(f"days/{day}.txt", f"{day}\n")
        ok(run("add", f"days/{day}.txt"))
    write(
        "dvx.yaml",
        f"""
        stages:
          count:
            foreach: days/*.txt
            cmd: {PY} tools/step.py c counts/${{item.stem}}.txt ${{item}}
            deps: ['${{item}}']
            outs: ['counts/${{item.stem}}.txt']
          total:
            cmd: {step("total", "total.txt", "counts/mon.txt", "counts/tue.txt")}
            deps: [counts]
            outs: [total.txt]
        """,
    )
    ok(run("repro"))
    fresh_clone(repo, tmp_path / "c", monkeypatch)
    assert not Path("days/mon.txt").exists()
    code, doc = check_json()
    assert code == 0, doc
    assert doc["checked"] == 4


def test_always_changed_and_frozen_stages_pass_when_unchanged(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_step(tmp_path, monkeypatch)
    write("in.txt", "x\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          poll:
            cmd: {step("poll", "polled.txt", "in.txt")}
            deps: [in.txt]
            outs: [polled.txt]
            always_changed: true
          pinned:
            cmd: {step("pinned", "pinned.txt", "in.txt")}
            deps: [in.txt]
            outs: [pinned.txt]
        """,
    )
    ok(run("repro"))
    text = (
        Path("dvx.yaml")
        .read_text()
        .replace("outs: [pinned.txt]", "outs: [pinned.txt]\n    frozen: true")
    )
    write("dvx.yaml", text)
    fresh_clone(repo, tmp_path / "c", monkeypatch)
    assert check_json()[0] == 0
    # A frozen stage keeps its lock entry whatever its inputs do.
    write("in.txt", "changed\n")
    _, doc = check_json()
    assert mismatches(doc) == {"poll": ["dep changed: in.txt"]}
