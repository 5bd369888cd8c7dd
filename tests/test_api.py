"""`dvx.api` from a notebook: load any version without a checkout (SPEC §9, issue 7).

The story: a stage ``make`` writes a table as Parquet and CSV plus a directory of
reports, from ``params.yaml:rows``. Commit 1 has 3 rows, commit 2 has 5. A
notebook reads commit 1's table although the workspace holds commit 2's, and
even when the old object is only on the team's remote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import PY, Result, git, run, write

import dvx.api
from dvx import yamlio
from dvx.errors import CacheMissError, DvxError, UsageError

MAKE = """
import os
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import yaml

n = yaml.safe_load(open("params.yaml"))["rows"]
table = pa.table({"id": list(range(n)), "sq": [i * i for i in range(n)]})
os.makedirs("data", exist_ok=True)
pq.write_table(table, "data/table.parquet")
pcsv.write_csv(table, "data/table.csv")
os.makedirs("reports", exist_ok=True)
open("reports/summary.txt", "w").write(f"rows {n}\\n")
open("reports/notes.txt", "w").write("made by make.py\\n")
"""


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def commit(message: str) -> str:
    git("add", "-A")
    git("commit", "-q", "-m", message)
    return git("rev-parse", "HEAD").strip()


def cli_error(*args: str) -> str:
    """The message the CLI prints for a usage error (without the ``dvx: error:`` prefix)."""
    res = run(*args)
    assert res.code == 2, res.output
    first = res.err.splitlines()[0]
    assert first.startswith("dvx: error: ")
    return first[len("dvx: error: ") :]


class Versions:
    def __init__(self) -> None:
        self.old = ""  # commit with 3 rows
        self.new = ""  # commit with 5 rows
        self.old_outs: dict[str, str] = {}  # path → hash at the old commit


@pytest.fixture
def versions(repo: Path) -> Versions:
    v = Versions()
    write("src/make.py", MAKE)
    write("params.yaml", "rows: 3\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          make:
            cmd: {PY} src/make.py
            params: [rows]
            outs: [data/table.parquet, data/table.csv, reports]
        """,
    )
    ok(run("repro"))
    v.old = commit("three rows")
    lock = yamlio.load(Path("dvx.lock"))
    v.old_outs = {o["path"]: o["hash"] for o in lock["stages"]["make"]["outs"]}
    write("params.yaml", "rows: 5\n")
    ok(run("repro"))
    v.new = commit("five rows")
    return v


def drop_from_cache(root: Path, digest: str) -> None:
    obj = root / ".dvx" / "cache" / "objects" / digest[:2] / digest[2:]
    assert obj.is_file()
    obj.unlink()


def only_on_remote(v: Versions, repo: Path, tmp_path: Path, *, default: bool) -> str:
    """Push everything to a local-folder remote, then forget the old table locally."""
    store = tmp_path / "store"
    ok(run("remote", "add", *(["-d"] if default else []), "store", str(store)))
    git("checkout", "-q", v.old)  # push what the old commit's lock references
    ok(run("push", "-r", "store"))
    git("checkout", "-q", "main")
    for path in ("data/table.parquet", "data/table.csv"):
        drop_from_cache(repo, v.old_outs[path])
    return str(store)


# ---- reading versions -----------------------------------------------------------------


def test_read_table_in_the_workspace(versions: Versions) -> None:
    table = dvx.api.read_table("data/table.parquet")
    assert isinstance(table, pa.Table)
    assert table.num_rows == 5
    assert dvx.api.read_table("data/table.csv").column("sq").to_pylist() == [0, 1, 4, 9, 16]


def test_read_table_at_an_old_revision_from_the_local_cache(versions: Versions) -> None:
    for path in ("data/table.parquet", "data/table.csv"):
        table = dvx.api.read_table(path, rev=versions.old)
        assert table.column("sq").to_pylist() == [0, 1, 4]
    assert dvx.api.read_table("data/table.parquet", rev="HEAD~1").num_rows == 3
    assert dvx.api.read_table("data/table.parquet", rev="HEAD").num_rows == 5


def test_read_table_fetches_from_the_default_remote(
    versions: Versions, repo: Path, tmp_path: Path
) -> None:
    only_on_remote(versions, repo, tmp_path, default=True)
    parquet = dvx.api.read_table("data/table.parquet", rev=versions.old)
    assert parquet.column("id").to_pylist() == [0, 1, 2]
    csv = dvx.api.read_table("data/table.csv", rev=versions.old)
    assert csv.column("sq").to_pylist() == [0, 1, 4]
    # Fetched into the local cache, so the next read needs no remote.
    digest = versions.old_outs["data/table.parquet"]
    assert (repo / ".dvx/cache/objects" / digest[:2] / digest[2:]).is_file()
    # The workspace still holds the new version: nothing was checked out.
    assert dvx.api.read_table("data/table.parquet").num_rows == 5


def test_read_table_fetches_from_a_named_remote(
    versions: Versions, repo: Path, tmp_path: Path
) -> None:
    only_on_remote(versions, repo, tmp_path, default=False)
    with pytest.raises(CacheMissError):
        dvx.api.read_table("data/table.parquet", rev=versions.old)
    table = dvx.api.read_table("data/table.parquet", rev=versions.old, remote="store")
    assert table.num_rows == 3


def test_open_is_a_context_manager_in_binary_and_text_mode(versions: Versions) -> None:
    with dvx.api.open("data/table.csv", rev=versions.old) as f:
        data = f.read()
    assert isinstance(data, bytes)
    assert data.decode().splitlines()[1:] == ["0,0", "1,1", "2,4"]
    assert f.closed

    with dvx.api.open("data/table.csv", rev=versions.old, mode="r") as t:
        assert t.readline().strip() == '"id","sq"'
    # A committed plain file comes from git, also as a context manager.
    with dvx.api.open("params.yaml", rev=versions.old, mode="r") as t:
        assert t.read() == "rows: 3\n"
    with dvx.api.open("params.yaml", rev=versions.old) as b:
        assert b.read() == b"rows: 3\n"


def test_read_bytes_and_text_of_a_committed_plain_file(versions: Versions) -> None:
    assert dvx.api.read_bytes("params.yaml", rev=versions.old) == b"rows: 3\n"
    assert dvx.api.read_text("params.yaml", rev=versions.new) == "rows: 5\n"
    assert dvx.api.read_text("params.yaml") == "rows: 5\n"
    assert "pyarrow" in dvx.api.read_text("src/make.py", rev=versions.old)


def test_read_a_file_inside_a_directory_output(versions: Versions) -> None:
    assert dvx.api.read_text("reports/summary.txt", rev=versions.old) == "rows 3\n"
    assert dvx.api.read_text("reports/summary.txt", rev=versions.new) == "rows 5\n"
    assert dvx.api.read_text("reports/summary.txt") == "rows 5\n"
    with pytest.raises(UsageError, match=r"no file 'missing\.txt' in directory 'reports'"):
        dvx.api.read_bytes("reports/missing.txt", rev=versions.old)
    with pytest.raises(UsageError, match="is a directory"):
        dvx.api.read_bytes("reports", rev=versions.old)


def test_another_repo_by_path(
    versions: Versions, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    table = dvx.api.read_table("data/table.parquet", rev=versions.old, repo=repo)
    assert table.num_rows == 3
    assert dvx.api.read_text("params.yaml", repo=repo) == "rows: 5\n"
    assert dvx.api.lineage("data/table.csv", repo=repo)["root"]["stage"] == "make"


# ---- lineage, status, repro -----------------------------------------------------------


def test_lineage_equals_the_cli_json(versions: Versions) -> None:
    doc = dvx.api.lineage("data/table.parquet")
    assert doc == json.loads(ok(run("lineage", "--json", "data/table.parquet")).out)
    assert doc["root"]["params"] == {"params.yaml": {"rows": 5}}
    assert doc["root"]["first_commit"]["commit"] == versions.new

    old = dvx.api.lineage("data/table.parquet", rev=versions.old)
    assert old == json.loads(
        ok(run("lineage", "--json", "data/table.parquet", "--rev", versions.old)).out
    )
    assert old["root"]["hash"] == versions.old_outs["data/table.parquet"]


def test_status_reports_what_the_cli_reports(versions: Versions) -> None:
    assert dvx.api.status()["clean"] is True
    write("params.yaml", "rows: 4\n")
    doc = dvx.api.status()
    assert doc == json.loads(ok(run("status", "--json")).out)
    assert doc["stages"] == [{"name": "make", "reasons": ["param changed: params.yaml:rows"]}]


def test_repro_returns_outcomes(versions: Versions) -> None:
    write("params.yaml", "rows: 4\n")
    result: dict[str, Any] = dvx.api.repro()
    assert [(s["name"], s["outcome"]) for s in result["stages"]] == [("make", "ran")]
    assert dvx.api.read_table("data/table.parquet").num_rows == 4
    again = dvx.api.repro(["make"])
    assert [s["outcome"] for s in again["stages"]] == ["up to date"]
    # Back to the committed params: restored from the cache, nothing runs.
    write("params.yaml", "rows: 5\n")
    assert [s["outcome"] for s in dvx.api.repro()["stages"]] == ["restored"]


def test_a_failing_stage_does_not_raise(versions: Versions) -> None:
    write("src/make.py", "import sys\nsys.exit(3)\n")
    result = dvx.api.repro()
    [stage] = result["stages"]
    assert stage["outcome"] == "failed" and stage["exit_status"] == 3


# ---- errors: DvxError subclasses with the CLI's messages, never KeyError ------------------


def test_unknown_revision(versions: Versions) -> None:
    message = cli_error("lineage", "data/table.csv", "--rev", "nope")
    assert message == "unknown revision 'nope'"
    for call in (
        lambda: dvx.api.read_bytes("data/table.csv", rev="nope"),
        lambda: dvx.api.read_table("data/table.parquet", rev="nope"),
        lambda: dvx.api.open("params.yaml", rev="nope"),
        lambda: dvx.api.lineage("data/table.csv", rev="nope"),
    ):
        with pytest.raises(UsageError) as err:
            call()
        assert err.value.message == message
        assert err.value.hint


def test_untracked_path(versions: Versions) -> None:
    message = cli_error("lineage", "src/nothing.py")
    with pytest.raises(UsageError) as err:
        dvx.api.lineage("src/nothing.py")
    assert err.value.message == message
    for rev in (None, versions.old):
        with pytest.raises(UsageError, match="neither tracked by dvx nor a file in git") as e:
            dvx.api.read_bytes("src/nothing.py", rev=rev)
        assert "'src/nothing.py'" in e.value.message and e.value.hint


def test_missing_object_without_a_remote(versions: Versions, repo: Path) -> None:
    digest = versions.old_outs["data/table.parquet"]
    drop_from_cache(repo, digest)
    with pytest.raises(CacheMissError) as err:
        dvx.api.read_table("data/table.parquet", rev=versions.old)
    assert isinstance(err.value, DvxError) and not isinstance(err.value, KeyError)
    assert "'data/table.parquet'" in err.value.message
    assert digest in err.value.message
    assert "no remote is configured" in err.value.message
    assert err.value.hint and "remote" in err.value.hint


def test_missing_object_not_on_the_remote_either(
    versions: Versions, repo: Path, tmp_path: Path
) -> None:
    ok(run("remote", "add", "-d", "empty", str(tmp_path / "empty")))
    digest = versions.old_outs["data/table.csv"]
    drop_from_cache(repo, digest)
    with pytest.raises(CacheMissError) as err:
        dvx.api.read_bytes("data/table.csv", rev=versions.old)
    assert "could not be fetched from remote 'empty'" in err.value.message
    assert "dvx check --remote" in (err.value.hint or "")


def test_unsupported_mode(versions: Versions) -> None:
    with pytest.raises(UsageError, match="mode 'w'"):
        dvx.api.open("params.yaml", mode="w")


def test_read_added_data_at_an_old_revision(versions: Versions) -> None:
    write("data/raw.txt", "first\n")
    ok(run("add", "data/raw.txt"))
    old = commit("raw data")
    Path("data/raw.txt").unlink()
    write("data/raw.txt", "second\n")
    ok(run("add", "data/raw.txt"))
    commit("new raw data")
    assert dvx.api.read_text("data/raw.txt", rev=old) == "first\n"
    assert dvx.api.read_text("data/raw.txt") == "second\n"


def test_a_fresh_clone_reads_the_workspace_version_from_the_remote(
    versions: Versions, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(run("remote", "add", "-d", "store", str(tmp_path / "store")))
    commit("remote")
    ok(run("push"))
    clone = tmp_path / "notebook"
    git("clone", "-q", str(repo), str(clone))
    monkeypatch.chdir(clone)
    assert not Path("data/table.parquet").exists()
    assert dvx.api.read_table("data/table.parquet").num_rows == 5
    assert dvx.api.read_text("reports/summary.txt") == "rows 5\n"
    assert not Path("data/table.parquet").exists()  # read, not checked out
