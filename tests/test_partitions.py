"""`foreach: GLOB` partitions: adding a daily file runs only that day (issue 4).

Seven daily event files → one ``count@DAY`` instance each → an aggregate that
reads the whole directory of per-day counts. The step log (outside the repo)
proves which commands ran.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import PY, Result, run, write
from stepcmd import install_step, lock_doc, ran, replace

DAYS = [f"2024-01-0{i}" for i in range(1, 8)]

AGGREGATE = """
import os, sys
from pathlib import Path

with open(os.environ["STEP_LOG"], "a") as log:
    log.write("aggregate\\n")
parts = sorted(Path("counts").glob("*.txt"))
Path("weekly.txt").write_text("".join(p.read_text() for p in parts))
"""


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def events(day: str, n: int = 3) -> str:
    return "".join(f"{day},event{i}\n" for i in range(n))


def outcomes(res: Result) -> dict[str, str]:
    found = {}
    for line in res.out.splitlines():
        name, _, what = line.partition(": ")
        if what and " " not in name:
            found[name] = what.split(" in ")[0]
    return found


def status() -> dict[str, Any]:
    return json.loads(ok(run("status", "--json")).out)


@pytest.fixture
def daily(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Seven daily files and the partitioned pipeline; returns the run log."""
    log = install_step(tmp_path, monkeypatch)
    for day in DAYS:
        write(f"events/{day}.csv", events(day))
    write("tools/aggregate.py", AGGREGATE)
    write(
        "dvx.yaml",
        f"""
        stages:
          count:
            foreach: events/*.csv
            cmd: {PY} tools/step.py count@${{item.stem}} counts/${{item.stem}}.txt ${{item}}
            deps: ['${{item}}']
            outs: ['counts/${{item.stem}}.txt']
          aggregate:
            cmd: {PY} tools/aggregate.py
            deps: [counts]
            outs: [weekly.txt]
        """,
    )
    return log


def test_first_repro_runs_every_partition_then_the_aggregate(daily: Path) -> None:
    res = ok(run("repro"))
    assert sorted(ran(daily)) == sorted([f"count@{d}" for d in DAYS] + ["aggregate"])
    assert ran(daily)[-1] == "aggregate"  # after every partition
    assert outcomes(res) == {**{f"count@{d}": "ran" for d in DAYS}, "aggregate": "ran"}
    assert Path("weekly.txt").read_text() == "".join(events(d) for d in DAYS)
    assert set(lock_doc()["stages"]) == {f"count@{d}" for d in DAYS} | {"aggregate"}
    assert status()["clean"] is True


def test_an_eighth_day_runs_exactly_one_partition_and_the_aggregate(daily: Path) -> None:
    ok(run("repro"))
    daily.unlink()
    write("events/2024-01-08.csv", events("2024-01-08"))

    doc = status()
    assert {s["name"]: s["reasons"] for s in doc["stages"]} == {
        "count@2024-01-08": ["new"],
        "aggregate": ["upstream changed: count@2024-01-08"],
    }

    res = ok(run("repro"))
    assert ran(daily) == ["count@2024-01-08", "aggregate"]
    assert outcomes(res)["count@2024-01-01"] == "up to date"
    assert [n for n, o in outcomes(res).items() if o == "ran"] == ["count@2024-01-08", "aggregate"]
    assert "2024-01-08,event0" in Path("weekly.txt").read_text()
    assert "count@2024-01-08" in lock_doc()["stages"]


def test_changing_one_day_reruns_that_partition_and_the_aggregate(daily: Path) -> None:
    ok(run("repro"))
    daily.unlink()
    replace("events/2024-01-04.csv", events("2024-01-04", n=5))

    doc = status()
    assert {s["name"]: s["reasons"] for s in doc["stages"]} == {
        "count@2024-01-04": ["dep changed: events/2024-01-04.csv"],
        "aggregate": ["upstream changed: count@2024-01-04"],
    }
    ok(run("repro"))
    assert ran(daily) == ["count@2024-01-04", "aggregate"]
    assert "2024-01-04,event4" in Path("weekly.txt").read_text()


def test_removing_a_day_drops_its_instance_output_and_lock_entry(daily: Path) -> None:
    ok(run("repro"))
    daily.unlink()
    gone = "2024-01-03"
    Path(f"events/{gone}.csv").unlink()

    doc = status()
    assert doc["removed"] == [f"count@{gone}"]
    reasons = {s["name"]: s["reasons"] for s in doc["stages"]}
    assert reasons == {"aggregate": [f"upstream removed: count@{gone}"]}
    assert f"count@{gone}: removed from dvx.yaml" in ok(run("status")).out

    res = ok(run("repro"))
    assert ran(daily) == ["aggregate"]
    assert f"count@{gone}" not in outcomes(res)
    assert f"count@{gone}" not in lock_doc()["stages"]
    assert not Path(f"counts/{gone}.txt").exists()
    weekly = Path("weekly.txt").read_text()
    assert gone not in weekly
    assert weekly == "".join(events(d) for d in DAYS if d != gone)
    assert status()["clean"] is True
    assert ok(run("check")).code == 0


def test_nothing_runs_twice(daily: Path) -> None:
    ok(run("repro"))
    daily.unlink()
    res = ok(run("repro"))
    assert ran(daily) == []
    assert set(outcomes(res).values()) == {"up to date"}


def test_lineage_of_the_aggregate_lists_every_partition(daily: Path) -> None:
    ok(run("repro"))
    root = json.loads(ok(run("lineage", "--json", "weekly.txt")).out)["root"]
    assert root["stage"] == "aggregate"
    [counts] = root["inputs"]
    assert counts["path"] == "counts" and counts["kind"] == "directory"
    assert [n["stage"] for n in counts["inputs"]] == [f"count@{d}" for d in DAYS]
    first = counts["inputs"][0]
    assert first["path"] == f"counts/{DAYS[0]}.txt"
    assert first["inputs"][0]["path"] == f"events/{DAYS[0]}.csv"
    assert first["inputs"][0]["kind"] == "source"
