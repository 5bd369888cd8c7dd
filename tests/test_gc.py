"""dvx gc: keep what the workspace (or any commit) references, drop the rest (issue 5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PY, git, run, write


def objects(base: Path) -> set[str]:
    return {p.parent.name + p.name for p in (base / "objects").glob("*/*") if p.is_file()}


def runs(base: Path) -> set[str]:
    return {p.parent.name + p.name for p in (base / "runs").glob("*/*") if p.is_file()}


def lock_hash(path: str) -> str:
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load(Path("dvx.lock").read_text())
    return next(o["hash"] for s in doc["stages"].values() for o in s["outs"] if o["path"] == path)


@pytest.fixture
def two_versions(repo: Path, tmp_path: Path) -> tuple[str, str]:
    """model.txt built with scale 1 (commit 1), then scale 2 (commit 2, HEAD)."""
    write("params.yaml", "scale: 1\n")
    write("raw.txt", "1\n2\n3\n")
    write(
        "make.py",
        "scale = int(open('params.yaml').read().split(':')[1])\n"
        "open('model.txt', 'w').write(str(scale * len(open('raw.txt').read())))\n",
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          make:
            cmd: {PY} make.py
            deps: [raw.txt]
            params: [scale]
            outs: [model.txt]
        """,
    )
    assert run("remote", "add", "-d", "store", str(tmp_path / "store")).code == 0
    assert run("repro").code == 0
    old = lock_hash("model.txt")
    assert run("push").code == 0
    git("add", "-A")
    git("commit", "-qm", "scale 1")
    write("params.yaml", "scale: 2\n")
    assert run("repro").code == 0
    new = lock_hash("model.txt")
    assert run("push").code == 0
    git("add", "-A")
    git("commit", "-qm", "scale 2")
    assert old != new
    return old, new


def test_gc_keeps_the_workspace_and_drops_the_rest(repo: Path, two_versions) -> None:  # type: ignore[no-untyped-def]
    old, new = two_versions
    cache = repo / ".dvx" / "cache"
    assert {old, new} <= objects(cache)
    res = run("gc", "-n")
    assert res.code == 0 and "would remove 1 object(s)" in res.out
    assert old in objects(cache)  # a dry run deletes nothing
    res = run("gc")
    assert res.code == 0, res.output
    assert new in objects(cache) and old not in objects(cache)
    assert len(runs(cache)) == 1  # the old key's entry went with its object
    assert run("status").out == "Everything is up to date.\n"
    # The old commit's output can no longer be checked out from the local cache.
    git("checkout", "-q", "HEAD~1")
    res = run("checkout")
    assert res.code == 1 and "model.txt" in res.err


def test_gc_all_commits_keeps_history(repo: Path, two_versions) -> None:  # type: ignore[no-untyped-def]
    old, new = two_versions
    cache = repo / ".dvx" / "cache"
    write("stray.bin", "never committed\n")
    assert run("add", "stray.bin").code == 0
    stray = objects(cache) - {old, new}
    stray = {
        h for h in stray if (cache / "objects" / h[:2] / h[2:]).read_bytes() == b"never committed\n"
    }
    assert len(stray) == 1
    Path("stray.bin.dvx").unlink()  # nothing references it any more
    res = run("gc", "--all-commits")
    assert res.code == 0, res.output
    assert {old, new} <= objects(cache)
    assert not stray & objects(cache)
    git("checkout", "-q", "HEAD~1")
    assert run("checkout").code == 0
    assert Path("model.txt").read_text() == "6"


def test_gc_on_the_remote_asks_then_removes(repo: Path, two_versions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    old, new = two_versions
    store = tmp_path / "store"
    assert {old, new} <= objects(store)
    res = run("gc", "--remote", "store")  # no terminal to ask on: the answer is no
    assert res.code == 1
    assert old in objects(store)
    res = run("gc", "--remote", "store", "-f")
    assert res.code == 0, res.output
    assert new in objects(store) and old not in objects(store)
    assert run("check", "--remote").code == 0
    res = run("gc", "--remote", "store", "-f", "--all-commits")
    assert res.code == 0 and "removed 0 object(s)" in res.out
