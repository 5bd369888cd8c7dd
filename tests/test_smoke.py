from __future__ import annotations

from pathlib import Path

from conftest import run


def test_first_repro_runs_then_noop(pipeline: Path) -> None:
    res = run("repro")
    assert res.code == 0, res.output
    assert "double: ran in" in res.out
    assert "total: ran in" in res.out
    assert (pipeline / "out/total.txt").read_text() == "20200\n"
    again = run("repro")
    assert again.code == 0
    assert "double: up to date" in again.out
    assert "total: up to date" in again.out
    assert "2 up to date" in again.out
