"""`dvx log OUTPUT`: the versions of an output across history, newest first, each
with what changed in its lineage (issue 7).

The story, one commit each: the first model; ``train.lr`` 0.1 → 0.01; a commit that
only touches the README (no new version); an edit of ``src/x.py``; new raw data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, Result, git, run, write
from stepcmd import replace

from dvx.hashing import hash_file

SCRIPT = """
import os
import yaml

lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
raw = open("data/raw.csv").read()
os.makedirs("models", exist_ok=True)
open("models/model.txt", "w").write(f"{VARIANT} lr={lr} rows={len(raw.split())}\\n")
"""


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def commit(message: str) -> str:
    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD").strip()


def script(variant: str) -> None:
    write("src/x.py", f"VARIANT = {variant!r}\n" + SCRIPT.lstrip("\n"))


def log_json(*args: str) -> dict[str, Any]:
    return json.loads(ok(run("log", "--json", *args)).out)


class History:
    def __init__(self) -> None:
        self.commits: dict[str, str] = {}  # what → commit id
        self.hashes: dict[str, str] = {}  # what → model version


@pytest.fixture
def history(repo: Path) -> History:
    h = History()

    def record(what: str, message: str) -> None:
        ok(run("repro"))
        h.hashes[what] = hash_file("models/model.txt")
        h.commits[what] = commit(message)

    write("data/raw.csv", "a\nb\n")
    write("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n")
    script("v1")
    write(
        "dvx.yaml",
        f"""
        stages:
          train:
            cmd: {PY} src/x.py
            deps: [data/raw.csv]
            params: [train.lr]
            outs: [models/model.txt]
        """,
    )
    ok(run("add", "data/raw.csv"))
    record("first", "first model")

    write("params.yaml", "train:\n  lr: 0.01\n  epochs: 3\n")
    record("param", "lower the learning rate")

    write("README.md", "# the model\n")
    h.commits["docs"] = commit("docs only")

    script("v2")
    record("code", "new training code")

    replace("data/raw.csv", "a\nb\nc\n")
    ok(run("add", "data/raw.csv"))
    record("dep", "more data")
    return h


def test_log_lists_versions_newest_first_with_what_changed(history: History) -> None:
    doc = log_json("models/model.txt")
    assert doc["version"] == 1
    assert doc["path"] == "models/model.txt"
    versions = doc["versions"]
    order = ["dep", "code", "param", "first"]
    assert [v["commit"] for v in versions] == [history.commits[w] for w in order]
    assert [v["hash"] for v in versions] == [history.hashes[w] for w in order]
    assert [v["changes"] for v in versions] == [
        ["dep data/raw.csv"],
        ["code src/x.py"],
        ["param train.lr 0.1 → 0.01"],
        [],
    ]
    # The README commit made no new version.
    assert history.commits["docs"] not in [v["commit"] for v in versions]


def test_json_fields(history: History) -> None:
    newest = log_json("models/model.txt")["versions"][0]
    assert set(newest) == {"commit", "time", "author", "summary", "hash", "stage", "changes"}
    assert newest["summary"] == "more data"
    assert newest["author"] == "dvx tests <tests@dvx.invalid>"
    assert newest["stage"] == "train"
    assert newest["time"] == int(git("log", "-1", "--format=%ct").strip())


def test_n_limits_to_the_newest_versions(history: History) -> None:
    versions = log_json("models/model.txt", "-n", "2")["versions"]
    assert [v["commit"] for v in versions] == [history.commits["dep"], history.commits["code"]]
    text = ok(run("log", "models/model.txt", "-n", "1")).out
    assert "more data" in text and "new training code" not in text


def test_text_output(history: History) -> None:
    out = ok(run("log", "models/model.txt")).out
    lines = out.splitlines()
    heads = [line for line in lines if not line.startswith(" ")]
    assert [h.split()[0] for h in heads] == [
        history.commits[w][:10] for w in ("dep", "code", "param", "first")
    ]
    assert history.hashes["param"][:12] in heads[2]
    assert heads[2].endswith("lower the learning rate")
    assert "    param train.lr 0.1 → 0.01" in lines
    assert "    code src/x.py" in lines
    assert "    dep data/raw.csv" in lines
    assert "    author: dvx tests <tests@dvx.invalid>  stage: train" in lines


def test_rev_starts_from_an_older_commit(history: History) -> None:
    versions = log_json("models/model.txt", "--rev", history.commits["docs"])["versions"]
    assert [v["commit"] for v in versions] == [history.commits["param"], history.commits["first"]]


def test_log_of_added_data(history: History) -> None:
    versions = log_json("data/raw.csv")["versions"]
    assert [v["summary"] for v in versions] == ["more data", "first model"]
    assert [v["changes"] for v in versions] == [["data"], []]
    assert versions[0]["stage"] is None


def test_untracked_path_and_unknown_revision_are_usage_errors(history: History) -> None:
    res = run("log", "src/x.py")
    assert res.code == 2
    assert "'src/x.py' is not a tracked output or pointer data" in res.err
    assert "hint:" in res.err and "Traceback" not in res.output
    res = run("log", "models/model.txt", "--rev", "nope")
    assert res.code == 2
    assert "unknown revision 'nope'" in res.err
