"""`dvx status`: every reason of SPEC §6, the --json shape, and exit 0 always."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import run, write
from stepcmd import install_step, replace, step


@pytest.fixture
def steps(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_step(tmp_path, monkeypatch)


def project(*, extra: str = "") -> None:
    """prep: raw.txt -> mid.txt; report: mid.txt + params.yaml:train.lr -> report.txt."""
    write("raw.txt", "raw\n")
    write("rules.txt", "rule 1\n")
    write("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\nother: x\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [mid.txt]
          report:
            cmd: {step("report", "report.txt", "mid.txt")}
            deps: [mid.txt]
            params: [train.lr]
            code: [rules.txt]
            outs: [report.txt]
        {extra}
        """,
    )


def status() -> dict[str, Any]:
    res = run("status", "--json")
    assert res.code == 0, res.output
    return json.loads(res.out)


def reasons(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {s["name"]: s["reasons"] for s in doc["stages"]}


@pytest.fixture
def built(steps: Path) -> Path:
    project()
    res = run("repro")
    assert res.code == 0, res.output
    return steps


def test_clean_after_repro(built: Path) -> None:
    res = run("status")
    assert res.code == 0
    assert res.out == "Everything is up to date.\n"
    doc = status()
    assert doc == {"version": 1, "clean": True, "stages": [], "data": [], "removed": []}


def test_new_stages_before_the_first_repro(steps: Path) -> None:
    project()
    doc = status()
    assert doc["clean"] is False
    assert reasons(doc) == {"prep": ["new"], "report": ["new"]}
    text = run("status").out
    assert "prep:\n    new\n" in text


def test_cmd_changed(built: Path) -> None:
    text = Path("dvx.yaml").read_text()
    write("dvx.yaml", text.replace("report.txt mid.txt", "--extra ! report.txt mid.txt"))
    assert reasons(status()) == {"report": ["cmd changed"]}


def test_dep_changed_and_upstream_changed(built: Path) -> None:
    write("raw.txt", "new raw\n")
    assert reasons(status()) == {
        "prep": ["dep changed: raw.txt"],
        "report": ["upstream changed: prep"],
    }


def test_dep_changed_on_a_stage_output(built: Path) -> None:
    replace("mid.txt", "edited by hand\n")
    found = reasons(status())
    assert found["prep"] == ["out modified: mid.txt"]
    assert found["report"] == ["dep changed: mid.txt"]


def test_code_changed_for_detected_script_and_explicit_code(built: Path) -> None:
    write("rules.txt", "rule 2\n")
    assert reasons(status()) == {"report": ["code changed: rules.txt"]}
    write("rules.txt", "rule 1\n")
    assert status()["clean"] is True
    # The stage's script is detected from its cmd.
    write("tools/step.py", Path("tools/step.py").read_text() + "\n# tweak\n")
    found = reasons(status())
    assert found == {
        "prep": ["code changed: tools/step.py"],
        "report": ["code changed: tools/step.py", "upstream changed: prep"],
    }


def test_param_changed_names_file_and_key(built: Path) -> None:
    write("params.yaml", "train:\n  lr: 0.2\n  epochs: 3\nother: x\n")
    assert reasons(status()) == {"report": ["param changed: params.yaml:train.lr"]}


def test_change_to_an_untracked_key_is_not_a_reason(built: Path) -> None:
    write("params.yaml", "other: y\ntrain:\n  epochs: 30\n  lr: 0.1\n")
    assert status()["clean"] is True
    assert run("status").out == "Everything is up to date.\n"


def test_params_subtree_tracks_every_key_below(steps: Path) -> None:
    project()
    write("dvx.yaml", Path("dvx.yaml").read_text().replace("[train.lr]", "[train]"))
    assert run("repro").code == 0
    write("params.yaml", "train:\n  lr: 0.1\n  epochs: 4\nother: x\n")
    # The reason names the leaf that changed inside the tracked subtree.
    assert reasons(status()) == {"report": ["param changed: params.yaml:train.epochs"]}


def test_out_missing_and_out_modified(built: Path) -> None:
    Path("mid.txt").unlink()
    replace("report.txt", "tampered\n")
    found = reasons(status())
    assert found["prep"] == ["out missing: mid.txt"]
    # report's dep comes from the lock while mid.txt is missing: only its own output.
    assert found["report"] == ["out modified: report.txt"]


def test_always_changed(steps: Path) -> None:
    project(
        extra=f"""  clock:
            cmd: {step("clock", "now.txt")}
            outs: [now.txt]
            always_changed: true"""
    )
    assert run("repro").code == 0
    assert reasons(status()) == {"clock": ["always changed"]}


def test_all_reasons_of_a_stage_are_listed(built: Path) -> None:
    write("rules.txt", "rule 2\n")
    write("params.yaml", "train:\n  lr: 0.5\n  epochs: 3\nother: x\n")
    Path("report.txt").unlink()
    assert reasons(status())["report"] == [
        "code changed: rules.txt",
        "param changed: params.yaml:train.lr",
        "out missing: report.txt",
    ]


def test_status_of_a_target_covers_it_and_its_upstream_only(steps: Path) -> None:
    project(
        extra=f"""  other:
            cmd: {step("other", "o.txt")}
            outs: [o.txt]"""
    )
    assert run("repro", "report").code == 0
    doc = json.loads(run("status", "report", "--json").out)
    assert doc["stages"] == [] and doc["clean"] is True
    write("raw.txt", "changed\n")
    doc = json.loads(run("status", "report", "--json").out)
    assert [s["name"] for s in doc["stages"]] == ["prep", "report"]
    assert reasons(status())["other"] == ["new"]


def test_tracked_data_modified_and_missing(steps: Path) -> None:
    write("data/images/a.png", "A")
    write("data/table.csv", "x,y\n")
    assert run("add", "data/images", "data/table.csv").code == 0
    assert status()["clean"] is True

    replace("data/table.csv", "x,y\n1,2\n")
    Path("data/images/a.png").unlink()
    doc = status()
    assert doc["clean"] is False
    assert doc["stages"] == []
    assert sorted(doc["data"], key=lambda d: d["path"]) == [
        {"path": "data/images", "pointer": "data/images.dvx", "reasons": ["modified"]},
        {"path": "data/table.csv", "pointer": "data/table.csv.dvx", "reasons": ["modified"]},
    ]
    Path("data/table.csv").unlink()
    text = run("status")
    assert text.code == 0
    assert "tracked data:" in text.out
    assert "missing: data/table.csv" in text.out
    assert "modified: data/images" in text.out


def test_json_shape(built: Path) -> None:
    write("raw.txt", "changed\n")
    write("d.txt", "d")
    assert run("add", "d.txt").code == 0
    Path("d.txt").unlink()
    doc = status()
    assert set(doc) == {"version", "clean", "stages", "data", "removed"}
    assert doc["version"] == 1 and doc["clean"] is False
    for s in doc["stages"]:
        assert set(s) == {"name", "reasons"}
        assert isinstance(s["name"], str)
        assert all(isinstance(r, str) for r in s["reasons"])
    assert doc["data"] == [{"path": "d.txt", "pointer": "d.txt.dvx", "reasons": ["missing"]}]


def test_status_exits_zero_when_dirty_and_changes_nothing(built: Path) -> None:
    write("raw.txt", "changed\n")
    Path("report.txt").unlink()
    lock = Path("dvx.lock").read_bytes()
    res = run("status")
    assert res.code == 0
    assert "prep:" in res.out and "report:" in res.out
    assert Path("dvx.lock").read_bytes() == lock
    assert not Path("report.txt").exists()
    assert run("status", "--json").code == 0
