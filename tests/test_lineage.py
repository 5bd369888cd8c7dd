"""`dvx lineage`: what data trained this model, with which code and params, and when
was it first committed? (SPEC §8, issue 7)

The story: ``data/raw.csv`` is added with ``dvx add``; ``prep`` cleans it;
``train`` fits a "model" from the clean data. An unrelated stage ``other`` lives
alongside. Commits: the code; the first lock; a param change of ``train``; a
change of ``other`` only.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, Result, git, run, write

import dvx
from dvx import yamlio
from dvx.git import History
from dvx.hashing import hash_file


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def commit(message: str) -> str:
    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD").strip()


def params(lr: float, n: int = 1) -> None:
    write("params.yaml", f"prep:\n  scale: 2\ntrain:\n  lr: {lr}\n  epochs: 5\nother:\n  n: {n}\n")


def project() -> None:
    write("data/raw.csv", "x\n1\n2\n3\n")
    write(
        "src/common.py",
        """
        import yaml  # an installed package: not a code file of the repo

        def load_params():
            return yaml.safe_load(open("params.yaml"))
        """,
    )
    write(
        "src/prep.py",
        """
        from common import load_params

        scale = load_params()["prep"]["scale"]
        rows = open("data/raw.csv").read().split()[1:]
        open("data/clean.csv", "w").write("".join(f"{int(r) * scale}\\n" for r in rows))
        """,
    )
    write(
        "src/train.py",
        """
        import os
        from common import load_params

        lr = load_params()["train"]["lr"]
        total = sum(int(x) for x in open("data/clean.csv").read().split())
        os.makedirs("models", exist_ok=True)
        open("models/model.txt", "w").write(f"weights {total * lr}\\n")
        """,
    )
    write(
        "src/other.py",
        """
        from common import load_params

        open("other.txt", "w").write(str(load_params()["other"]["n"]))
        """,
    )
    params(0.1)
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {PY} src/prep.py
            deps: [data/raw.csv]
            params: [prep.scale]
            outs: [data/clean.csv]
          train:
            cmd: {PY} src/train.py
            deps: [data/clean.csv]
            params: [train.lr]
            outs: [models/model.txt]
          other:
            cmd: {PY} src/other.py
            params: [other.n]
            outs: [other.txt]
        """,
    )


def lineage_json(*args: str) -> dict[str, Any]:
    return json.loads(ok(run("lineage", "--json", *args)).out)


def lock_out(stage: str) -> str:
    doc = yamlio.load(Path("dvx.lock"))
    return str(doc["stages"][stage]["outs"][0]["hash"])


class Story:
    """Commit ids of the story, oldest first."""

    def __init__(self) -> None:
        self.code = ""
        self.first = ""
        self.lr = ""
        self.other = ""


@pytest.fixture
def story(repo: Path) -> Story:
    s = Story()
    project()
    ok(run("add", "data/raw.csv"))
    s.code = commit("code and raw data")
    ok(run("repro"))
    s.first = commit("first model")
    return s


def advance(s: Story) -> None:
    params(0.01)
    ok(run("repro"))
    s.lr = commit("lr 0.01")
    params(0.01, n=2)
    ok(run("repro"))
    s.other = commit("other only")


# ---- one version ------------------------------------------------------------------


def test_lineage_of_the_model_goes_down_to_the_added_data(story: Story) -> None:
    doc = lineage_json("models/model.txt")
    assert doc["version"] == 1
    assert doc["rev"] is None
    root = doc["root"]
    assert root["path"] == "models/model.txt"
    assert root["kind"] == "stage"
    assert root["stage"] == "train"
    assert root["hash"] == lock_out("train") == hash_file("models/model.txt")
    assert root["cmd"] == [f"{PY} src/train.py"]
    assert root["params"] == {"params.yaml": {"train.lr": 0.1}}
    # Code files with their versions, including the imported helper; no site-packages.
    assert root["code"] == [
        {"path": "src/common.py", "hash": hash_file("src/common.py")},
        {"path": "src/train.py", "hash": hash_file("src/train.py")},
    ]
    assert root["first_commit"]["commit"] == story.first
    assert root["first_commit"]["summary"] == "first model"
    assert root["first_commit"]["author"] == "dvx tests <tests@dvx.invalid>"

    [clean] = root["inputs"]
    assert clean["path"] == "data/clean.csv"
    assert clean["kind"] == "stage" and clean["stage"] == "prep"
    assert clean["hash"] == hash_file("data/clean.csv")
    assert clean["params"] == {"params.yaml": {"prep.scale": 2}}
    assert clean["first_commit"]["commit"] == story.first

    [raw] = clean["inputs"]
    assert raw["path"] == "data/raw.csv"
    assert raw["kind"] == "pointer"
    assert raw["hash"] == hash_file("data/raw.csv")
    assert raw["size"] == len("x\n1\n2\n3\n")
    assert raw["inputs"] == [] and raw["stage"] is None and raw["run"] is None
    # The pointer file was committed with the code, before any stage ran.
    assert raw["first_commit"]["commit"] == story.code


def test_the_run_record_says_when_where_and_at_which_commit_it_ran(story: Story) -> None:
    run_record = lineage_json("models/model.txt")["root"]["run"]
    assert run_record["host"] == socket.gethostname()
    assert run_record["user"]
    assert run_record["started"][:4].isdigit() and "T" in run_record["started"]
    assert isinstance(run_record["duration"], int | float) and run_record["duration"] >= 0
    assert run_record["dvx_version"] == dvx.__version__
    assert run_record["exit_status"] == 0
    assert run_record["git_commit"] == story.code  # HEAD when `dvx repro` ran


def test_the_terminal_tree_names_every_part(story: Story) -> None:
    out = ok(run("lineage", "models/model.txt")).out
    assert "models/model.txt" in out and "[stage train]" in out
    assert f"cmd: {PY} src/train.py" in out
    assert "param params.yaml:train.lr = 0.1" in out
    assert f"code src/train.py {hash_file('src/train.py')[:12]}" in out
    assert f"first recorded in {story.first[:10]}" in out
    assert f"@{socket.gethostname()} (dvx {dvx.__version__})" in out  # the run record
    assert "data/clean.csv" in out and "[stage prep]" in out
    assert "data/raw.csv" in out and "[dvx add]" in out


def test_lineage_of_pointer_data(story: Story) -> None:
    root = lineage_json("data/raw.csv")["root"]
    assert root["kind"] == "pointer"
    assert root["first_commit"]["commit"] == story.code


# ---- across commits -----------------------------------------------------------------


def test_a_param_change_gives_a_new_version_first_recorded_by_its_commit(story: Story) -> None:
    advance(story)
    root = lineage_json("models/model.txt")["root"]
    assert root["params"] == {"params.yaml": {"train.lr": 0.01}}
    assert root["first_commit"]["commit"] == story.lr
    assert root["run"]["git_commit"] == story.first  # HEAD when the new version was made
    # Its input did not change: still the version the first model was trained on.
    assert root["inputs"][0]["first_commit"]["commit"] == story.first


def test_an_unrelated_stage_change_keeps_the_first_commit(story: Story) -> None:
    advance(story)
    assert lineage_json("other.txt")["root"]["first_commit"]["commit"] == story.other
    assert lineage_json("models/model.txt")["root"]["first_commit"]["commit"] == story.lr
    assert lineage_json("data/clean.csv")["root"]["first_commit"]["commit"] == story.first


def test_rev_shows_an_older_version(story: Story) -> None:
    old_hash = lock_out("train")
    advance(story)
    assert lock_out("train") != old_hash

    doc = lineage_json("models/model.txt", "--rev", story.first)
    assert doc["rev"] == story.first
    root = doc["root"]
    assert root["hash"] == old_hash
    assert root["params"] == {"params.yaml": {"train.lr": 0.1}}
    assert root["first_commit"]["commit"] == story.first
    assert root["inputs"][0]["inputs"][0]["kind"] == "pointer"

    # Symbolic revisions work too.
    assert lineage_json("models/model.txt", "--rev", "HEAD~2")["root"]["hash"] == old_hash


def test_commits_within_one_second_keep_their_order(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script (or a rebase) commits several times per second: history order, not
    the clock or the commit ids, decides which commit came first."""
    for var in ("GIT_COMMITTER_DATE", "GIT_AUTHOR_DATE"):
        monkeypatch.setenv(var, "2024-05-01T12:00:00+00:00")
    s = Story()
    project()
    ok(run("add", "data/raw.csv"))
    s.code = commit("code and raw data")
    ok(run("repro"))
    s.first = commit("first model")
    advance(s)
    # Three commits of one second record the same data/clean.csv.
    assert lineage_json("data/clean.csv")["root"]["first_commit"]["commit"] == s.first
    assert lineage_json("models/model.txt")["root"]["first_commit"]["commit"] == s.lr
    assert lineage_json("data/raw.csv")["root"]["first_commit"]["commit"] == s.code
    assert (
        lineage_json("models/model.txt", "--rev", s.first)["root"]["first_commit"]["commit"]
        == s.first
    )


# ---- options and errors ---------------------------------------------------------------


def test_depth_limits_the_levels_shown(story: Story) -> None:
    root = lineage_json("models/model.txt", "--depth", "0")["root"]
    assert root["inputs"] == [] and root["truncated"] is True
    assert root["stage"] == "train"

    root = lineage_json("models/model.txt", "--depth", "1")["root"]
    [clean] = root["inputs"]
    assert root["truncated"] is False
    assert clean["stage"] == "prep" and clean["inputs"] == [] and clean["truncated"] is True

    assert "raise --depth" in ok(run("lineage", "models/model.txt", "--depth", "1")).out
    root = lineage_json("models/model.txt", "--depth", "5")["root"]
    assert root["inputs"][0]["inputs"][0]["path"] == "data/raw.csv"


def test_json_nodes_have_every_documented_field(story: Story) -> None:
    fields = {
        "path", "hash", "kind", "size", "stage", "cmd", "key", "params", "code", "run",
        "first_commit", "note", "truncated", "inputs",
    }  # fmt: skip

    def walk(node: dict[str, Any]) -> int:
        assert set(node) == fields
        return 1 + sum(walk(n) for n in node["inputs"])

    doc = lineage_json("models/model.txt")
    assert set(doc) == {"version", "rev", "root"}
    assert walk(doc["root"]) == 3
    assert set(doc["root"]["first_commit"]) == {"commit", "time", "author", "summary"}


def test_an_untracked_path_is_a_usage_error_with_a_hint(story: Story) -> None:
    for path in ("src/train.py", "no/such/file"):
        res = run("lineage", path)
        assert res.code == 2, res.output
        assert f"dvx: error: '{path}' is not tracked by dvx at workspace" in res.err
        assert "hint:" in res.err
        assert "Traceback" not in res.output


def test_an_unknown_revision_is_a_usage_error(story: Story) -> None:
    res = run("lineage", "models/model.txt", "--rev", "no-such-branch")
    assert res.code == 2, res.output
    assert "unknown revision 'no-such-branch'" in res.err
    assert "Traceback" not in res.output


def test_a_path_tracked_only_later_is_unknown_at_an_older_revision(story: Story) -> None:
    res = run("lineage", "models/model.txt", "--rev", story.code)
    assert res.code == 2
    assert f"is not tracked by dvx at {story.code}" in res.err


def test_lineage_from_a_subdirectory_takes_paths_relative_to_it(
    story: Story, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo / "models")
    assert lineage_json("model.txt")["root"]["path"] == "models/model.txt"


# ---- the history index -------------------------------------------------------------


def test_the_second_call_does_not_walk_history_again(
    story: Story, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    advance(story)
    first = ok(run("lineage", "--json", "models/model.txt")).out
    index = repo / ".dvx" / "tmp" / "history.json"
    assert index.is_file()
    stamp = index.stat().st_mtime_ns

    def no_walk(self: History, known: set[str]) -> Any:
        raise AssertionError("history walked again although no ref moved")

    monkeypatch.setattr(History, "new_commits", no_walk)
    assert ok(run("lineage", "--json", "models/model.txt")).out == first
    assert ok(run("lineage", "--json", "data/clean.csv", "--rev", "HEAD~1")).code == 0
    assert index.stat().st_mtime_ns == stamp


def test_a_new_commit_is_read_incrementally(
    story: Story, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(run("lineage", "models/model.txt"))  # warm the index
    advance(story)
    seen: list[str] = []
    real = History.new_commits

    def spy(self: History, known: set[str]) -> Any:
        for info in real(self, known):
            seen.append(info.id)
            yield info

    monkeypatch.setattr(History, "new_commits", spy)
    root = lineage_json("models/model.txt")["root"]
    assert root["first_commit"]["commit"] == story.lr
    assert sorted(seen) == sorted([story.lr, story.other])


def test_a_deleted_index_is_rebuilt(story: Story, repo: Path) -> None:
    before = lineage_json("models/model.txt")
    (repo / ".dvx" / "tmp" / "history.json").unlink()
    assert lineage_json("models/model.txt") == before


def test_an_amended_commit_is_not_named_after_it_left_history(story: Story) -> None:
    assert lineage_json("models/model.txt")["root"]["first_commit"]["commit"] == story.first
    git("commit", "-q", "--amend", "-m", "first model, reworded")
    amended = git("rev-parse", "HEAD").strip()
    fc = lineage_json("models/model.txt")["root"]["first_commit"]
    assert fc["commit"] == amended
    assert fc["summary"] == "first model, reworded"
    versions = json.loads(ok(run("log", "--json", "models/model.txt")).out)["versions"]
    assert [v["commit"] for v in versions] == [amended]
