"""`dvx params diff`, `dvx metrics show` and `dvx metrics diff` across git revisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, git, run, write

from dvx.compare import MISSING, diff, flatten


def ok(*args: str) -> str:
    res = run(*args)
    assert res.code == 0, res.output
    return res.out


def as_json(*args: str) -> Any:
    return json.loads(ok(*args, "--json"))


def commit(msg: str) -> None:
    git("add", "-A")
    git("commit", "-q", "-m", msg)


def changes(doc: dict[str, Any]) -> dict[tuple[str, str], tuple[Any, Any, str]]:
    rows: list[dict[str, Any]] = doc["params"] if "params" in doc else doc["metrics"]
    return {(r["path"], r["key"]): (r["old"], r["new"], r["status"]) for r in rows}


def set_params(scale: int, unused: int = 1) -> None:
    write("params.json", json.dumps({"train": {"scale": scale, "unused": unused}}) + "\n")


# ---- params diff ---------------------------------------------------------------


def test_params_diff_shows_a_tracked_key_and_not_an_untracked_one(pipeline: Path) -> None:
    commit("pipeline")
    set_params(scale=3, unused=7)

    doc = as_json("params", "diff")
    assert doc["version"] == 1
    assert doc["a"]["rev"] == "HEAD" and len(doc["a"]["commit"]) == 40
    assert doc["b"] == {"rev": "workspace", "commit": None}
    assert doc["params"] == [
        {"path": "params.json", "key": "train.scale", "status": "modified", "old": 2, "new": 3}
    ]
    out = ok("params", "diff")
    assert "train.scale" in out and "unused" not in out
    assert out.splitlines()[0].split() == ["path", "param", "HEAD", "workspace"]


def test_params_diff_untracked_change_only(pipeline: Path) -> None:
    commit("pipeline")
    set_params(scale=2, unused=9)

    assert as_json("params", "diff")["params"] == []
    assert "no param changes between HEAD and workspace" in ok("params", "diff")
    everything = changes(as_json("params", "diff", "--all"))
    assert everything == {("params.json", "train.scale"): (2, 2, "unchanged")}


def test_params_diff_between_two_commits(pipeline: Path) -> None:
    commit("scale 2")
    set_params(scale=5)
    commit("scale 5")
    set_params(scale=7)

    between = changes(as_json("params", "diff", "HEAD~1", "HEAD"))
    assert between == {("params.json", "train.scale"): (2, 5, "modified")}
    to_workspace = changes(as_json("params", "diff", "HEAD~1"))
    assert to_workspace == {("params.json", "train.scale"): (2, 7, "modified")}
    assert as_json("params", "diff", "HEAD", "HEAD")["params"] == []


def test_params_formats_and_subtrees(repo: Path) -> None:
    write(
        "params.yaml",
        """
        train:
          opt: {lr: 0.1, momentum: 0.9}
          epochs: 3
        other: x
        """,
    )
    write("conf.toml", '[model]\nlayers = [{size = 8}, {size = 4}]\nname = "cnn"\n')
    write("extra.json", '{"seed": 1, "tags": ["a"]}\n')
    write(
        "dvx.yaml",
        """
        stages:
          train:
            cmd: echo train
            params:
              - train
              - conf.toml: [model.layers]
              - extra.json:
        """,
    )
    commit("params")
    write(
        "params.yaml",
        """
        train:
          opt: {lr: 0.01, momentum: 0.9}
          epochs: 3
          batch: 32
        other: y
        """,
    )
    write("conf.toml", '[model]\nlayers = [{size = 8}, {size = 16}]\nname = "rnn"\n')
    write("extra.json", '{"seed": 2, "tags": []}\n')

    assert changes(as_json("params", "diff")) == {
        ("params.yaml", "train.opt.lr"): (0.1, 0.01, "modified"),
        ("params.yaml", "train.batch"): (None, 32, "added"),
        ("conf.toml", "model.layers.1.size"): (4, 16, "modified"),
        ("extra.json", "seed"): (1, 2, "modified"),
        ("extra.json", "tags.0"): ("a", None, "removed"),
        ("extra.json", "tags"): (None, [], "added"),
    }
    every = changes(as_json("params", "diff", "--all"))
    assert every[("params.yaml", "train.epochs")] == (3, 3, "unchanged")
    assert every[("conf.toml", "model.layers.0.size")] == (8, 8, "unchanged")
    assert not any(key in ("other", "model.name") for _, key in every)


def test_params_tracked_at_either_side(repo: Path) -> None:
    write("params.yaml", "a: 1\nb: 1\n")
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    params: [a]\n")
    commit("tracks a")
    write("params.yaml", "a: 2\nb: 2\n")
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    params: [b]\n")

    # a is tracked at HEAD, b in the workspace: both are compared.
    assert changes(as_json("params", "diff")) == {
        ("params.yaml", "a"): (1, 2, "modified"),
        ("params.yaml", "b"): (1, 2, "modified"),
    }


def test_params_file_broken_at_a_revision_warns(repo: Path) -> None:
    write("params.yaml", "a: [1\n")
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    params: [a]\n")
    commit("broken params")
    write("params.yaml", "a: 1\n")

    res = run("params", "diff", "--json")
    assert res.code == 0, res.output
    assert changes(json.loads(res.out)) == {("params.yaml", "a"): (None, 1, "added")}
    assert "params.yaml" in res.err and "HEAD" in res.err and "warning" in res.err


# ---- metrics -------------------------------------------------------------------


@pytest.fixture
def built(pipeline: Path) -> Path:
    assert run("repro").code == 0
    commit("scale 2")
    return pipeline


def test_metrics_show_workspace_and_revisions(built: Path) -> None:
    out = ok("metrics", "show")
    assert out.splitlines()[0].split() == ["path", "metric", "workspace"]
    assert out.splitlines()[1].split() == ["metrics.json", "total", "20200"]

    set_params(scale=3)
    assert run("repro").code == 0
    doc = as_json("metrics", "show", "--rev", "HEAD", "--rev", "workspace")
    assert doc["version"] == 1
    assert [(r["rev"], r["commit"] is None) for r in doc["revs"]] == [
        ("HEAD", False),
        ("workspace", True),
    ]
    files = [r["files"] for r in doc["revs"]]
    assert files[0] == [
        {"path": "metrics.json", "status": "ok", "error": None, "metrics": {"total": 20200}}
    ]
    assert files[1][0]["metrics"] == {"total": 30300}
    text = ok("metrics", "show", "--rev", "HEAD", "--rev", "workspace")
    assert text.splitlines()[1].split() == ["metrics.json", "total", "20200", "30300"]


def test_metrics_diff_after_changing_a_hyperparameter(built: Path) -> None:
    set_params(scale=3)
    assert run("repro").code == 0

    doc = as_json("metrics", "diff")
    assert doc["version"] == 1
    assert doc["a"]["rev"] == "HEAD" and doc["b"]["rev"] == "workspace"
    assert doc["metrics"] == [
        {
            "path": "metrics.json",
            "key": "total",
            "status": "modified",
            "old": 20200,
            "new": 30300,
            "delta": 10100,
            "pct": 50.0,
        }
    ]
    out = ok("metrics", "diff")
    assert out.splitlines()[0].split() == ["path", "metric", "HEAD", "workspace", "change"]
    assert "+10100 (+50.0%)" in out

    commit("scale 3")
    assert changes(as_json("metrics", "diff", "HEAD~1", "HEAD")) == {
        ("metrics.json", "total"): (20200, 30300, "modified")
    }
    assert as_json("metrics", "diff")["metrics"] == []
    assert "no metric changes" in ok("metrics", "diff")
    unchanged = as_json("metrics", "diff", "--all")["metrics"]
    assert [(m["status"], m["delta"]) for m in unchanged] == [("unchanged", 0)]


def test_metrics_all_commits_newest_first(built: Path) -> None:
    for scale in (3, 4):
        set_params(scale=scale)
        assert run("repro").code == 0
        commit(f"scale {scale}")

    doc = as_json("metrics", "show", "--all-commits")
    totals = [r["files"][0]["metrics"]["total"] for r in doc["revs"]]
    assert totals == [40400, 30300, 20200]
    head = git("rev-parse", "HEAD").strip()
    assert doc["revs"][0]["commit"] == head and head.startswith(doc["revs"][0]["rev"])
    assert len(as_json("metrics", "show", "--all-commits", "-n", "2")["revs"]) == 2

    res = run("metrics", "show", "--all-commits", "--rev", "HEAD")
    assert res.code == 2 and "cannot be used together" in res.err


def test_metric_not_in_git_is_read_from_the_cache(built: Path) -> None:
    git("rm", "-q", "--cached", "metrics.json")
    git("commit", "-q", "-m", "metrics only in the cache")
    Path("metrics.json").unlink()

    doc = as_json("metrics", "show", "--rev", "HEAD", "--rev", "workspace")
    head, workspace = (r["files"][0] for r in doc["revs"])
    assert head["status"] == "ok" and head["metrics"] == {"total": 20200}
    assert workspace["status"] == "missing" and workspace["metrics"] == {}
    assert "missing" in ok("metrics", "show")


def test_csv_tsv_and_yaml_metrics(repo: Path) -> None:
    write(
        "dvx.yaml",
        """
        stages:
          eval:
            cmd: echo eval
            metrics: [scores.yaml, log.csv, one.csv, table.tsv, plain.txt]
        """,
    )
    write("scores.yaml", "val:\n  auc: 0.9\n  classes: [{f1: 0.5}]\nok: true\n")
    write("log.csv", "epoch,loss,note\n1,0.9,warmup\n2,0.5,\n3,0.25,final\n")
    write("one.csv", "acc,n\n0.8,100\n")
    write("table.tsv", "acc\tn\n0.7\t10\n")
    write("plain.txt", '{"x": 1}')
    commit("metrics")

    files = {f["path"]: f for f in as_json("metrics", "show")["revs"][0]["files"]}
    assert files["scores.yaml"]["metrics"] == {"val.auc": 0.9, "val.classes.0.f1": 0.5, "ok": True}
    assert files["log.csv"]["metrics"] == {"epoch": 3, "loss": 0.25, "note": "final"}
    assert files["one.csv"]["metrics"] == {"acc": 0.8, "n": 100}
    assert files["table.tsv"]["metrics"] == {"acc": 0.7, "n": 10}
    assert files["plain.txt"]["metrics"] == {"x": 1}

    write("log.csv", "epoch,loss,note\n1,0.9,warmup\n4,0.2,more\n")
    write("scores.yaml", "val:\n  auc: 0.95\n  classes: [{f1: 0.5}]\nok: false\n")
    rows = changes(as_json("metrics", "diff"))
    assert rows[("log.csv", "epoch")] == (3, 4, "modified")
    assert rows[("scores.yaml", "ok")] == (True, False, "modified")
    delta = {(m["path"], m["key"]): m["delta"] for m in as_json("metrics", "diff")["metrics"]}
    assert delta[("scores.yaml", "val.auc")] == 0.05
    assert delta[("scores.yaml", "ok")] is None  # booleans are not numbers
    assert delta[("log.csv", "loss")] == -0.05


def test_missing_and_invalid_metrics_are_not_errors(repo: Path) -> None:
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    metrics: [m.json, n.json]\n")
    write("m.json", "{not json")
    commit("declared, m.json broken, n.json not produced")
    write("n.json", '{"a": 1}')

    res = run("metrics", "show", "--rev", "HEAD", "--json")
    assert res.code == 0, res.output
    m, n = json.loads(res.out)["revs"][0]["files"]
    assert (m["path"], m["status"], m["metrics"]) == ("m.json", "invalid", {})
    assert m["error"]
    assert (n["path"], n["status"]) == ("n.json", "missing")
    assert "m.json" in res.err and "HEAD" in res.err and "warning" in res.err
    assert "Traceback" not in res.output

    text = run("metrics", "show", "--rev", "HEAD")
    assert text.code == 0
    assert {tuple(line.split()) for line in text.out.splitlines()[1:]} == {
        ("m.json", "invalid"),
        ("n.json", "missing"),
    }
    # Invalid on one side: its metrics are unknown there, not removed.
    res = run("metrics", "diff", "--json")
    assert res.code == 0
    assert changes(json.loads(res.out)) == {("n.json", "a"): (None, 1, "added")}


def test_stage_file_broken_at_a_revision(repo: Path) -> None:
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    metrics: [m.json\n")
    commit("broken stage file")
    write("dvx.yaml", "stages:\n  s:\n    cmd: echo\n    metrics: [m.json]\n")
    write("m.json", '{"a": 1}')

    res = run("metrics", "diff", "--json")
    assert res.code == 0, res.output
    assert changes(json.loads(res.out)) == {("m.json", "a"): (None, 1, "added")}
    assert "HEAD:dvx.yaml:" in res.err


def test_foreach_globs_the_revision_tree(repo: Path) -> None:
    write("days/mon.txt", "1\n")
    write("days/tue.txt", "2\n")
    write("metrics/mon.json", '{"n": 1}')
    write("metrics/tue.json", '{"n": 2}')
    write(
        "dvx.yaml",
        """
        stages:
          count:
            foreach: days/*.txt
            cmd: echo ${item}
            deps: ["days/${item.name}"]
            metrics: ["metrics/${item.stem}.json"]
        """,
    )
    commit("two days")
    write("days/wed.txt", "3\n")
    write("metrics/wed.json", '{"n": 3}')

    doc = as_json("metrics", "show", "--rev", "HEAD", "--rev", "workspace")
    paths = [[f["path"] for f in r["files"]] for r in doc["revs"]]
    assert paths == [
        ["metrics/mon.json", "metrics/tue.json"],
        ["metrics/mon.json", "metrics/tue.json", "metrics/wed.json"],
    ]


@pytest.mark.parametrize(
    "args",
    [
        ("params", "diff", "nope"),
        ("params", "diff", "HEAD", "nope"),
        ("metrics", "diff", "nope"),
        ("metrics", "show", "--rev", "nope"),
        ("metrics", "show", "--rev", "HEAD", "--rev", "nope", "--json"),
    ],
)
def test_unknown_revision_is_a_usage_error(built: Path, args: tuple[str, ...]) -> None:
    res = run(*args)
    assert res.code == 2, res.output
    assert "unknown revision 'nope'" in res.err
    assert "hint:" in res.err
    assert "Traceback" not in res.output
    assert res.out == ""


def test_metrics_in_a_subdirectory_dvx_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "mono"
    (top / "proj").mkdir(parents=True)
    monkeypatch.chdir(top)
    git("init", "-q", "-b", "main")
    monkeypatch.chdir(top / "proj")
    assert run("init").code == 0
    write("dvx.yaml", f"stages:\n  s:\n    cmd: {PY} -c pass\n    metrics: [m.json]\n")
    write("m.json", '{"a": 1}')
    commit("sub")
    write("m.json", '{"a": 3}')

    assert changes(as_json("metrics", "diff")) == {("m.json", "a"): (1, 3, "modified")}


# ---- the comparison itself -------------------------------------------------------


def test_flatten_and_diff() -> None:
    nested = {"train": {"lr": 0.1, "layers": [{"size": 8}, 4]}, "empty": {}, "none": None}
    assert flatten(nested) == {
        "train.lr": 0.1,
        "train.layers.0.size": 8,
        "train.layers.1": 4,
        "empty": {},
        "none": None,
    }
    assert flatten(3, "x") == {"x": 3}

    rows = {
        r.key: r
        for r in diff({"a": 1, "b": 0.3, "c": True, "d": 0}, {"a": 1.0, "b": 0.1, "e": 1, "d": 5})
    }
    assert rows["a"].status == "modified" and rows["a"].delta == 0  # 1 vs 1.0
    assert rows["b"].delta == -0.2 and rows["b"].pct == pytest.approx(-66.6666666667)
    assert rows["c"].status == "removed" and rows["c"].new is MISSING
    assert rows["e"].status == "added" and rows["e"].old is MISSING
    assert rows["d"].delta == 5 and rows["d"].pct is None  # no percentage of 0
    assert list(rows) == ["a", "b", "e", "d", "c"]
