"""`dvx diff`: tracked data added, modified and deleted between git revisions and the
workspace, read from git objects; directory contents; `--stats` on tables (SPEC §8)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, git, run, write

from dvx.hashing import hash_file


def commit(message: str) -> str:
    git("add", "-A")
    git("commit", "-qm", message)
    return git("rev-parse", "HEAD").strip()


def ok(*args: str) -> str:
    res = run(*args)
    assert res.code == 0, res.output
    return res.out


def diff_json(*args: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok("diff", "--json", *args))
    return doc


def changes(doc: dict[str, Any]) -> dict[str, str]:
    return {c["path"]: c["status"] for c in doc["changes"]}


def set_params(**values: Any) -> None:
    write("params.json", json.dumps(values) + "\n")


def push_revision(rev: str) -> None:
    """Push what the lock of an older revision references (push reads the workspace lock)."""
    git("checkout", rev, "--", "dvx.lock")
    ok("push")
    git("checkout", "HEAD", "--", "dvx.lock")


def obj(digest: str) -> Path:
    return Path(".dvx/cache/objects") / digest[:2] / digest[2:]


@pytest.fixture
def built(pipeline: Path) -> Path:
    """The conftest pipeline, reproduced and committed."""
    ok("repro")
    commit("pipeline")
    return pipeline


# ---- files: outputs and pointer data ------------------------------------------------


def test_param_change_and_repro_shows_the_outputs_it_changed(built: Path) -> None:
    old_total = hash_file("out/total.txt")
    write("params.json", '{"train": {"scale": 3, "unused": 1}}\n')
    # Params alone change no data: diff is about outputs, not about staleness.
    assert ok("diff") == "no changes between HEAD and workspace\n"

    ok("repro")
    out = ok("diff")
    assert out.splitlines() == [
        "modified: metrics.json  (16 B → 16 B)",
        "modified: out/total.txt  (6 B → 6 B)",
        "2 modified (HEAD → workspace)",
    ]
    doc = diff_json()
    (total,) = [c for c in doc["changes"] if c["path"] == "out/total.txt"]
    assert total["stage"] == "total"
    assert total["old"]["hash"] == old_total
    assert total["new"]["hash"] == hash_file("out/total.txt")


def test_two_commits(built: Path) -> None:
    first = git("rev-parse", "HEAD").strip()
    git("tag", "v1")
    write("data/raw.txt", "".join(f"{i}\n" for i in range(1, 151)))
    ok("add", "data/raw.txt")
    ok("repro")
    second = commit("more raw data")

    doc = diff_json("HEAD~1", "HEAD")
    assert doc["a"] == {"rev": "HEAD~1", "commit": first}
    assert doc["b"] == {"rev": "HEAD", "commit": second}
    assert changes(doc) == {
        "data/doubled.txt": "modified",
        "data/raw.txt": "modified",
        "metrics.json": "modified",
        "out/total.txt": "modified",
    }
    raw = next(c for c in doc["changes"] if c["path"] == "data/raw.txt")
    assert raw["pointer"] == "data/raw.txt.dvx" and raw["stage"] is None
    assert raw["new"]["size"] > raw["old"]["size"]

    # Any revision syntax; the committed workspace has no changes of its own.
    assert changes(diff_json("v1", second[:10])) == changes(doc)
    assert changes(diff_json("v1")) == changes(doc)
    assert ok("diff", "HEAD").startswith("no changes between HEAD and workspace")
    swapped = diff_json("HEAD", "HEAD~1")
    assert next(c for c in swapped["changes"] if c["path"] == "data/raw.txt")["old"] == raw["new"]


def test_added_and_deleted_outputs_between_commits(built: Path) -> None:
    # Replace stage 'total' by a stage 'count' with another output.
    text = Path("dvx.yaml").read_text()
    text = text[: text.index("  total:")] + (
        f"  count:\n"
        f"    cmd: {PY} -c \"open('out/count.txt', 'w').write('100')\"\n"
        f"    deps: [data/doubled.txt]\n"
        f"    outs: [out/count.txt]\n"
    )
    write("dvx.yaml", text)
    ok("repro")
    commit("count instead of total")

    doc = diff_json("HEAD~1", "HEAD")
    assert changes(doc) == {
        "metrics.json": "deleted",
        "out/count.txt": "added",
        "out/total.txt": "deleted",
    }
    added = next(c for c in doc["changes"] if c["status"] == "added")
    assert added["old"] is None and added["new"]["size"] == 3 and added["stage"] == "count"
    out = ok("diff", "HEAD~1", "HEAD")
    assert "added: out/count.txt  (3 B)\n" in out
    assert "deleted: out/total.txt  (6 B)\n" in out
    assert out.endswith("1 added, 2 deleted (HEAD~1 → HEAD)\n")


def test_pointer_data_modified_in_the_workspace(built: Path) -> None:
    write("data/raw.txt", "1\n2\n")
    # Not yet re-added: the workspace bytes count, not the pointer file.
    out = ok("diff")
    assert out.splitlines()[0] == "modified: data/raw.txt  (292 B → 4 B)"
    doc = diff_json()
    assert changes(doc) == {"data/raw.txt": "modified"}
    assert doc["changes"][0]["pointer"] == "data/raw.txt.dvx"

    # Absent data is not a deletion (a fresh clone before 'dvx pull').
    os.remove("data/raw.txt")
    os.remove("data/doubled.txt")
    assert changes(diff_json()) == {}


def test_added_pointer_file(built: Path) -> None:
    write("data/extra.csv", "a\n1\n")
    ok("add", "data/extra.csv")
    doc = diff_json()
    assert changes(doc) == {"data/extra.csv": "added"}
    assert doc["changes"][0]["pointer"] == "data/extra.csv.dvx"


# ---- directory outputs ---------------------------------------------------------------


PARTS = """
import json, shutil
from pathlib import Path
parts = json.loads(Path("params.json").read_text())["parts"]
shutil.rmtree("out/parts", ignore_errors=True)
Path("out/parts/sub").mkdir(parents=True)
for name, text in parts.items():
    Path("out/parts", name).write_text(text)
"""


@pytest.fixture
def parts(repo: Path) -> Path:
    """A stage writing one file per entry of params.json:parts into out/parts/."""
    write("src/parts.py", PARTS)
    write(
        "dvx.yaml",
        f"""
        stages:
          parts:
            cmd: {PY} src/parts.py
            params:
              - params.json: [parts]
            outs: [out/parts]
        """,
    )
    set_params(parts={"a.txt": "a", "b.txt": "b", "sub/c.txt": "c"})
    ok("repro")
    commit("three parts")
    set_params(parts={"a.txt": "a", "b.txt": "B!", "d.txt": "d"})
    ok("repro")
    return repo


def test_directory_output_lists_files_added_modified_deleted(parts: Path) -> None:
    out = ok("diff")
    assert out.splitlines() == [
        "modified: out/parts/  (3 B → 4 B; 3 → 3 files: 1 added, 1 modified, 1 deleted)",
        "    modified: out/parts/b.txt  (1 B → 2 B)",
        "    added: out/parts/d.txt  (1 B)",
        "    deleted: out/parts/sub/c.txt  (1 B)",
        "1 modified (HEAD → workspace)",
    ]
    commit("parts changed")
    doc = diff_json("HEAD~1", "HEAD")
    (change,) = doc["changes"]
    assert change["type"] == "directory"
    assert change["stage"] == "parts"
    assert change["old"]["nfiles"] == 3 and change["new"]["nfiles"] == 3
    assert change["files_error"] is None
    assert [(f["path"], f["status"]) for f in change["files"]] == [
        ("out/parts/b.txt", "modified"),
        ("out/parts/d.txt", "added"),
        ("out/parts/sub/c.txt", "deleted"),
    ]
    b = change["files"][0]
    assert b["old"] == {"hash": hash_file_text("b"), "size": 1, "nfiles": None}
    assert b["new"]["size"] == 2


def hash_file_text(text: str) -> str:
    from dvx.hashing import hash_bytes

    return hash_bytes(text.encode())


def test_directory_manifest_missing_everywhere_says_contents_unknown(parts: Path) -> None:
    commit("parts changed")
    old = diff_json("HEAD~1", "HEAD")["changes"][0]["old"]["hash"]
    os.remove(obj(old))
    doc = diff_json("HEAD~1", "HEAD")
    (change,) = doc["changes"]
    assert change["status"] == "modified" and change["files"] is None
    assert "not in the local cache (no default remote" in change["files_error"]
    out = ok("diff", "HEAD~1", "HEAD")
    assert out.startswith("modified: out/parts/  (3 B → 4 B; 3 → 3 files; contents unknown:")


def test_directory_manifest_fetched_from_the_default_remote(parts: Path, tmp_path: Path) -> None:
    commit("parts changed")
    ok("remote", "add", "-d", "store", str(tmp_path / "store"))
    push_revision("HEAD~1")
    old = diff_json("HEAD~1", "HEAD")["changes"][0]["old"]["hash"]
    os.remove(obj(old))
    doc = diff_json("HEAD~1", "HEAD")
    assert len(doc["changes"][0]["files"]) == 3
    assert obj(old).is_file()  # fetched, verified, and kept in the local cache


def test_target_inside_a_directory_output(parts: Path) -> None:
    doc = diff_json("out/parts/b.txt")
    (change,) = doc["changes"]
    assert [f["path"] for f in change["files"]] == ["out/parts/b.txt"]
    # A target inside the directory where nothing changed: no change at all.
    assert changes(diff_json("--", "out/parts/a.txt")) == {}


# ---- targets and revision arguments ------------------------------------------------------


@pytest.fixture
def changed(built: Path) -> Path:
    """Raw data and every output changed in the workspace since HEAD."""
    write("data/raw.txt", "1\n2\n3\n")
    ok("add", "data/raw.txt")
    ok("repro")
    return built


def test_targets_filter_paths(changed: Path) -> None:
    assert set(changes(diff_json())) == {
        "data/doubled.txt",
        "data/raw.txt",
        "metrics.json",
        "out/total.txt",
    }
    assert set(changes(diff_json("data"))) == {"data/doubled.txt", "data/raw.txt"}
    assert set(changes(diff_json("out/total.txt", "metrics.json"))) == {
        "metrics.json",
        "out/total.txt",
    }
    assert set(changes(diff_json("-t", "out"))) == {"out/total.txt"}
    assert set(changes(diff_json("HEAD", "--", "out"))) == {"out/total.txt"}
    # A pointer file stands for its data.
    assert set(changes(diff_json("data/raw.txt.dvx"))) == {"data/raw.txt"}
    # Relative to the current directory, like every dvx path.
    os.chdir("data")
    assert set(changes(diff_json("doubled.txt"))) == {"data/doubled.txt"}


def test_a_path_wins_over_a_branch_of_the_same_name_unless_before_dashdash(
    changed: Path,
) -> None:
    git("branch", "data")
    # 'data' is a directory: a target, as git does with an existing path.
    assert set(changes(diff_json("data"))) == {"data/doubled.txt", "data/raw.txt"}
    # Before '--' everything is a revision.
    doc = diff_json("data", "--")
    assert doc["a"]["rev"] == "data" and len(doc["changes"]) == 4


def test_unknown_revision_is_a_usage_error(built: Path) -> None:
    res = run("diff", "no-such-branch")
    assert res.code == 2
    assert "unknown revision or path 'no-such-branch'" in res.err
    assert "hint: separate revisions from paths with '--'" in res.err
    assert "Traceback" not in res.output

    res = run("diff", "HEAD", "nope", "--")
    assert res.code == 2
    assert "unknown revision 'nope'" in res.err
    assert "Traceback" not in res.output

    res = run("diff", "HEAD", "HEAD", "HEAD", "--")
    assert res.code == 2 and "at most two revisions" in res.err


def test_no_commit_yet(repo: Path) -> None:
    res = run("diff")
    assert res.code == 2
    assert "unknown revision 'HEAD'" in res.err


# ---- --stats ------------------------------------------------------------------------------


TABLES = """
import json, os, sys
from pathlib import Path
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

p = json.loads(Path("params.json").read_text())
n = p["rows"]
cols = {"id": pa.array(range(n), pa.int64())}
if p["float_score"]:
    cols["score"] = pa.array([i / 2 for i in range(n)], pa.float64())
else:
    cols["score"] = pa.array(list(range(n)), pa.int64())
for name in p["extra"]:
    cols[name] = pa.array([f"{name}{i}" for i in range(n)])
table = pa.table(cols)
Path("data").mkdir(exist_ok=True)
pq.write_table(table, "data/features.parquet")
pcsv.write_csv(table, "data/table.csv")
os.makedirs("data/shards", exist_ok=True)
for i in range(2):
    pq.write_table(table.slice(i * n // 2, n // 2), f"data/shards/{i}.parquet")
Path("data/shards/README").write_text(str(n))
"""


@pytest.fixture
def tables(repo: Path) -> Path:
    """Parquet and CSV outputs (and a directory of Parquet shards) built with pyarrow."""
    write("src/tables.py", TABLES)
    write(
        "dvx.yaml",
        f"""
        stages:
          tables:
            cmd: {PY} src/tables.py
            params:
              - params.json: [rows, float_score, extra]
            outs: [data/features.parquet, data/table.csv, data/shards]
        """,
    )
    set_params(rows=4, float_score=False, extra=[])
    ok("repro")
    commit("tables v1")
    set_params(rows=6, float_score=True, extra=["name"])
    ok("repro")
    return repo


def test_stats_rows_and_schema_changes_parquet_and_csv(tables: Path) -> None:
    out = ok("diff", "--stats").splitlines()
    parquet = next(line for line in out if line.startswith("modified: data/features.parquet"))
    assert parquet.endswith("; rows 4 → 6; +column name; column score: int64 → double)")
    csv = next(line for line in out if line.startswith("modified: data/table.csv"))
    assert "rows 4 → 6; +column name; column score: int64 → double" in csv
    assert "    modified: data/shards/0.parquet  (" in "\n".join(out)
    assert any(
        line.endswith("rows 2 → 3; +column name; column score: int64 → double)")
        for line in out
        if "shards/1.parquet" in line
    )

    commit("tables v2")
    doc = diff_json("--stats", "HEAD~1", "HEAD")
    by_path = {c["path"]: c for c in doc["changes"]}
    stats = by_path["data/features.parquet"]["stats"]
    assert stats == {
        "format": "parquet",
        "rows": {"old": 4, "new": 6},
        "columns": {
            "added": [{"name": "name", "type": "string"}],
            "removed": [],
            "changed": [{"name": "score", "old": "int64", "new": "double"}],
        },
        "errors": [],
    }
    assert by_path["data/table.csv"]["stats"]["format"] == "csv"
    assert by_path["data/table.csv"]["stats"]["rows"] == {"old": 4, "new": 6}
    shards = {f["path"]: f["stats"] for f in by_path["data/shards"]["files"]}
    assert shards["data/shards/README"] is None
    assert shards["data/shards/0.parquet"]["rows"] == {"old": 2, "new": 3}

    # Back to fewer columns: a removed column.
    set_params(rows=6, float_score=True, extra=[])
    ok("repro")
    stats = diff_json("--stats")["changes"][0]["stats"]
    assert stats["columns"]["removed"] == [{"name": "name", "type": "string"}]
    # Without --stats there are none.
    assert diff_json("HEAD~1", "HEAD")["changes"][0]["stats"] is None


def test_stats_read_from_the_remote_when_missing_locally(tables: Path, tmp_path: Path) -> None:
    commit("tables v2")
    ok("remote", "add", "-d", "store", str(tmp_path / "store"))
    push_revision("HEAD~1")
    doc = diff_json("HEAD~1", "HEAD")
    by_path = {c["path"]: c for c in doc["changes"]}
    old_parquet = by_path["data/features.parquet"]["old"]["hash"]
    old_shard = by_path["data/shards"]["files"][0]["old"]["hash"]
    os.remove(obj(old_parquet))
    os.remove(obj(old_shard))

    doc = diff_json("--stats", "HEAD~1", "HEAD")
    by_path = {c["path"]: c for c in doc["changes"]}
    assert by_path["data/features.parquet"]["stats"]["rows"] == {"old": 4, "new": 6}
    assert by_path["data/shards"]["files"][0]["stats"]["rows"] == {"old": 2, "new": 3}
    assert obj(old_parquet).is_file() and obj(old_shard).is_file()


def test_stats_of_an_unavailable_version_are_reported_not_fatal(tables: Path) -> None:
    commit("tables v2")
    old = diff_json("HEAD~1", "HEAD")["changes"][0]
    assert old["path"] == "data/features.parquet"
    os.remove(obj(old["old"]["hash"]))
    res = run("diff", "--stats", "HEAD~1", "HEAD")
    assert res.code == 0, res.output
    line = res.out.splitlines()[0]
    assert line.startswith("modified: data/features.parquet  (")
    assert "no stats: old version (" in line and "not in the local cache" in line
    stats = diff_json("--stats", "HEAD~1", "HEAD")["changes"][0]["stats"]
    assert stats["rows"] == {"old": None, "new": 6}
    assert stats["columns"] == {"added": [], "removed": [], "changed": []}


def test_stats_of_added_table_and_metric_kept_in_git(repo: Path) -> None:
    write("src/make.py", TABLES)
    set_params(rows=4, float_score=False, extra=[])
    ok("repro")  # no stages: an empty lock
    commit("nothing yet")
    write(
        "dvx.yaml",
        f"""
        stages:
          tables:
            cmd: {PY} src/make.py
            params:
              - params.json: [rows, float_score, extra]
            outs: [data/features.parquet, data/shards]
            metrics: [data/table.csv]
        """,
    )
    ok("repro")
    out = ok("diff", "--stats")
    assert "added: data/features.parquet  (" in out and "rows 4)" in out
    # The size of a Parquet file varies with the pyarrow version.
    assert re.search(r"^added: data/shards/  \(\S+ \S+; 3 files\)$", out, re.M)
    commit("tables")
    # A metric lives in git: its bytes at the old revision come from the commit.
    set_params(rows=5, float_score=False, extra=[])
    ok("repro")
    commit("five rows")
    os.remove(obj(diff_json("HEAD~1", "HEAD", "data/table.csv")["changes"][0]["old"]["hash"]))
    stats = diff_json("--stats", "HEAD~1", "HEAD", "data/table.csv")["changes"][0]["stats"]
    assert stats["rows"] == {"old": 4, "new": 5} and stats["errors"] == []


def test_stats_without_pyarrow_names_the_extra(
    tables: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes 'import pyarrow' fail
    res = run("diff", "--stats")
    assert res.code == 2
    assert "--stats needs pyarrow" in res.err
    assert "pip install 'dvx[table]'" in res.err
    assert "Traceback" not in res.output
    # Without --stats, diff needs no pyarrow at all.
    assert run("diff").code == 0
