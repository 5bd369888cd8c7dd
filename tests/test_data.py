"""Data in and out of the cache: `dvx add`, `dvx checkout`, `dvx commit`, plus
`dvx init` and `dvx dag`."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import PY, git, run, write
from ruamel.yaml import YAML
from stepcmd import install_step, lock_doc, ran, replace, step

from dvx.hashing import hash_bytes, hash_file

yaml = YAML(typ="safe")


@pytest.fixture
def steps(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return install_step(tmp_path, monkeypatch)


def obj(digest: str) -> Path:
    return Path(".dvx/cache/objects") / digest[:2] / digest[2:]


def read_only(p: Path) -> bool:
    return stat.S_IMODE(p.stat().st_mode) & 0o222 == 0


def tree(root: str | Path) -> dict[str, str]:
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def all_files_under(root: Path) -> list[Path]:
    """Every file, except dvx's private caches of parsed files (``.dvx/tmp``)."""
    return [
        p
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink()) and ".dvx/tmp/" not in p.as_posix()
    ]


# ---- dvx add -----------------------------------------------------------------------


def test_add_file_writes_pointer_gitignores_and_caches_read_only(repo: Path) -> None:
    write("data/raw.csv", "a,b\n1,2\n")
    digest = hash_file("data/raw.csv")
    res = run("add", "data/raw.csv")
    assert res.code == 0, res.output
    assert "added data/raw.csv" in res.out
    pointer = yaml.load(Path("data/raw.csv.dvx").read_text())
    assert pointer == {
        "version": 1,
        "algorithm": "xxh3-128",
        "path": "raw.csv",
        "hash": digest,
        "size": 8,
    }
    assert "/raw.csv" in Path("data/.gitignore").read_text().splitlines()
    assert git("check-ignore", "data/raw.csv").strip() == "data/raw.csv"
    assert obj(digest).read_text() == "a,b\n1,2\n"
    assert read_only(obj(digest))
    assert Path("data/raw.csv").read_text() == "a,b\n1,2\n"
    assert run("status").out == "Everything is up to date.\n"


def test_add_directory_stores_a_manifest_and_every_file(repo: Path) -> None:
    write("images/cat.png", "meow")
    write("images/sub/dog.png", "woof")
    write("images/sub/deeper/fish.png", "blub")
    res = run("add", "images/")
    assert res.code == 0, res.output
    assert "3 files" in res.out
    pointer = yaml.load(Path("images.dvx").read_text())
    assert pointer["path"] == "images"
    assert pointer["nfiles"] == 3 and pointer["size"] == 12
    manifest = obj(pointer["hash"])
    assert hash_bytes(manifest.read_bytes()) == pointer["hash"]
    files = json.loads(manifest.read_bytes())["files"]
    assert [f[0] for f in files] == ["cat.png", "sub/deeper/fish.png", "sub/dog.png"]
    for rel, digest, size in files:
        assert obj(digest).read_bytes() == (Path("images") / rel).read_bytes()
        assert read_only(obj(digest))
        assert size == 4
    assert "/images" in Path(".gitignore").read_text().splitlines()


def test_gitignore_entries_match_only_the_tracked_name(repo: Path) -> None:
    names = ["file[1].csv", "star*.txt", "what?.bin", "#hash.txt", "!bang.txt", "trailing "]
    for n in names:
        write(n, n)
    bystanders = ["file1.csv", "starfish.txt", "whatX.bin"]
    for n in bystanders:
        write(n, n)
    res = run("add", *names)
    assert res.code == 0, res.output
    ignored = git("check-ignore", "--no-index", *names, *bystanders)
    assert sorted(ignored.splitlines()) == sorted(names)


def test_re_add_after_edit_records_the_new_version(repo: Path) -> None:
    write("model.bin", "v1")
    assert run("add", "model.bin").code == 0
    old = yaml.load(Path("model.bin.dvx").read_text())["hash"]
    replace("model.bin", "version two")
    assert run("status", "--json").out.count("modified") == 1
    assert run("add", "model.bin").code == 0
    new = yaml.load(Path("model.bin.dvx").read_text())
    assert new["hash"] == hash_file("model.bin") != old
    assert new["size"] == len("version two")
    assert obj(old).read_text() == "v1"  # the old version is still in the cache
    assert Path(".gitignore").read_text().splitlines().count("/model.bin") == 1
    assert run("status").out == "Everything is up to date.\n"


@pytest.mark.parametrize(
    ("setup", "path", "message"),
    [
        (lambda root: write(root.parent / "outside.txt", "x"), "../outside.txt", "outside"),
        (lambda root: None, ".git/config", ".git"),
        (lambda root: write(".dvx/cache/x", "x"), ".dvx/cache/x", ".dvx"),
        (lambda root: None, "does-not-exist.txt", "does not exist"),
    ],
)
def test_add_refuses_paths_it_must_not_track(repo: Path, setup, path: str, message: str) -> None:  # type: ignore[no-untyped-def]
    setup(repo)
    res = run("add", path)
    assert res.code == 2, res.output
    assert message in res.err
    assert "hint:" in res.err
    assert "Traceback" not in res.output
    assert not [p for p in Path(".").rglob("*.dvx") if p.is_file()]


def test_add_refuses_a_stage_output(steps: Path) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          make:
            cmd: {step("make", "made/file.txt")}
            outs: [made]
        """,
    )
    assert run("repro").code == 0
    for target in ("made", "made/file.txt"):
        res = run("add", target)
        assert res.code == 2, res.output
        assert "stage 'make'" in res.err
        assert "Traceback" not in res.output
    assert not Path("made.dvx").exists()


# ---- dvx checkout ------------------------------------------------------------------


@pytest.fixture
def built(steps: Path) -> Path:
    write("raw.txt", "raw\n")
    write(
        "tools/tree.py",
        """
        import os
        os.makedirs("model/parts", exist_ok=True)
        open("model/a.txt", "w").write("A")
        open("model/parts/b.txt", "w").write("B")
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "out/mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [out/mid.txt]
          tree:
            cmd: {PY} tools/tree.py
            outs: [model]
        """,
    )
    write("data/table.csv", "t\n")
    assert run("add", "data/table.csv").code == 0
    res = run("repro")
    assert res.code == 0, res.output
    return steps


def test_checkout_restores_deleted_outputs_and_tracked_data(built: Path) -> None:
    Path("out/mid.txt").unlink()
    Path("data/table.csv").unlink()
    res = run("checkout")
    assert res.code == 0, res.output
    assert "restored out/mid.txt" in res.out
    assert "restored data/table.csv" in res.out
    assert Path("out/mid.txt").read_text() == "raw\n"
    assert Path("data/table.csv").read_text() == "t\n"
    assert ran(built) == ["prep"]
    again = run("checkout")
    assert again.code == 0 and "workspace already matches" in again.out


def test_checkout_of_one_target(built: Path) -> None:
    Path("out/mid.txt").unlink()
    Path("data/table.csv").unlink()
    assert run("checkout", "data/table.csv").code == 0
    assert Path("data/table.csv").exists()
    assert not Path("out/mid.txt").exists()
    assert run("checkout", "prep").code == 0
    assert Path("out/mid.txt").read_text() == "raw\n"


def test_checkout_restores_a_directory_exactly(built: Path) -> None:
    write("model/extra.txt", "stray")
    write("model/parts/new/deep.txt", "stray too")
    replace("model/a.txt", "changed")
    Path("model/parts/b.txt").unlink()
    res = run("checkout", "tree")
    assert res.code == 0, res.output
    assert tree("model") == {"a.txt": "A", "parts/b.txt": "B"}
    assert not Path("model/parts/new").exists()


def test_hand_modified_output_is_saved_to_the_cache_before_being_replaced(built: Path) -> None:
    replace("out/mid.txt", "precious hand edit\n")
    digest = hash_file("out/mid.txt")
    assert not obj(digest).exists()
    res = run("checkout")
    assert res.code == 0, res.output
    assert Path("out/mid.txt").read_text() == "raw\n"
    assert digest in res.err  # the log says where the edit went
    assert obj(digest).read_text() == "precious hand edit\n"


def test_hand_modified_file_in_directory_output_is_saved_too(built: Path) -> None:
    replace("model/parts/b.txt", "my edit")
    digest = hash_file("model/parts/b.txt")
    res = run("checkout")
    assert res.code == 0, res.output
    assert Path("model/parts/b.txt").read_text() == "B"
    assert obj(digest).read_text() == "my edit"


def test_checkout_clears_a_file_standing_where_a_directory_belongs(built: Path) -> None:
    # out/ (the parent of an output) and model/ (a directory output) became files.
    for d in ("out", "model"):
        subprocess.run(["rm", "-rf", d], check=True)
        write(d, f"a file named {d}\n")
    saved = {d: hash_file(d) for d in ("out", "model")}
    res = run("checkout")
    assert res.code == 0, res.output
    assert Path("out/mid.txt").read_text() == "raw\n"
    assert tree("model") == {"a.txt": "A", "parts/b.txt": "B"}
    for d, digest in saved.items():  # what stood in the way was saved, not lost
        assert obj(digest).read_text() == f"a file named {d}\n"
        assert digest in res.err


def test_corrupt_cache_object_is_never_checked_out(built: Path) -> None:
    digest = lock_doc()["stages"]["prep"]["outs"][0]["hash"]
    o = obj(digest)
    o.chmod(0o644)
    o.write_text("rotten bits\n")
    Path("out/mid.txt").unlink()
    res = run("checkout")
    assert res.code == 1, res.output
    assert "out/mid.txt" in res.err
    assert not Path("out/mid.txt").exists()
    assert "Traceback" not in res.output
    assert not o.exists()  # moved aside, so nothing can link it later


def test_corrupt_object_makes_repro_run_instead_of_restoring(built: Path) -> None:
    digest = lock_doc()["stages"]["prep"]["outs"][0]["hash"]
    o = obj(digest)
    o.chmod(0o644)
    o.write_text("rotten bits\n")
    Path("out/mid.txt").unlink()
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: ran in" in res.out
    assert Path("out/mid.txt").read_text() == "raw\n"
    assert hash_file(o) == digest


def _edit_lock(path_from: str, path_to: str) -> None:
    text = Path("dvx.lock").read_text()
    assert f"path: {path_from}" in text
    Path("dvx.lock").write_text(text.replace(f"path: {path_from}", f"path: {path_to}"))


@pytest.mark.parametrize("bad", ["/tmp/dvx-evil.txt", "../evil.txt", "out/../../evil.txt"])
def test_checkout_refuses_untrusted_lock_paths(built: Path, repo: Path, bad: str) -> None:
    _edit_lock("out/mid.txt", bad)
    before = all_files_under(repo.parent)
    res = run("checkout")
    assert res.code == 2, res.output
    assert "dvx.lock" in res.err
    assert bad in res.err
    assert "Traceback" not in res.output
    assert all_files_under(repo.parent) == before
    assert not Path("/tmp/dvx-evil.txt").exists()


def test_checkout_refuses_a_lock_path_through_a_symlink_leaving_the_repo(
    built: Path, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    Path("escape").symlink_to(outside, target_is_directory=True)
    _edit_lock("out/mid.txt", "escape/mid.txt")
    res = run("checkout")
    assert res.code == 2, res.output
    assert "dvx.lock" in res.err and "escape/mid.txt" in res.err
    assert list(outside.iterdir()) == []
    # The same for a directory output checked out under the symlink.
    Path("dvx.lock").write_text(
        Path("dvx.lock").read_text().replace("path: escape/mid.txt", "path: out/mid.txt")
    )
    _edit_lock("model", "escape/model")
    res = run("checkout")
    assert res.code == 2, res.output
    assert "escape/model" in res.err
    assert list(outside.iterdir()) == []


def test_checkout_never_writes_through_a_workspace_symlink(
    built: Path, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    # An output that is now a symlink to a file outside: the link is replaced, not its target.
    Path("out/mid.txt").unlink()
    Path("out/mid.txt").symlink_to(outside / "victim.txt")
    res = run("checkout", "prep")
    assert res.code == 0, res.output
    assert not Path("out/mid.txt").is_symlink()
    assert Path("out/mid.txt").read_text() == "raw\n"
    # A directory inside a directory output that is now a symlink leading outside.
    for p in Path("model/parts").iterdir():
        p.unlink()
    Path("model/parts").rmdir()
    Path("model/parts").symlink_to(outside, target_is_directory=True)
    res = run("checkout", "tree")
    assert "Traceback" not in res.output
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "keep me"
    if res.code == 0:  # the link was replaced by the real directory
        assert tree("model") == {"a.txt": "A", "parts/b.txt": "B"}
    else:
        assert res.code == 2 and "model/parts" in res.err


@pytest.mark.parametrize("bad", ["/tmp/dvx-evil.csv", "../../evil.csv", "../.git/config"])
def test_checkout_refuses_untrusted_pointer_paths(built: Path, repo: Path, bad: str) -> None:
    text = Path("data/table.csv.dvx").read_text()
    Path("data/table.csv.dvx").write_text(text.replace("path: table.csv", f"path: {bad}"))
    git_config = Path(".git/config").read_bytes()
    before = all_files_under(repo.parent)
    res = run("checkout")
    assert res.code == 2, res.output
    assert "data/table.csv.dvx" in res.err
    assert "Traceback" not in res.output
    assert all_files_under(repo.parent) == before
    assert Path(".git/config").read_bytes() == git_config
    assert not Path("/tmp/dvx-evil.csv").exists()


def test_checkout_refuses_a_pointer_through_a_symlink(
    built: Path, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    Path("data/escape").symlink_to(outside, target_is_directory=True)
    text = Path("data/table.csv.dvx").read_text()
    Path("data/table.csv.dvx").write_text(text.replace("path: table.csv", "path: escape/table.csv"))
    res = run("checkout")
    assert res.code == 2, res.output
    assert "data/table.csv.dvx" in res.err and "escape/table.csv" in res.err
    assert list(outside.iterdir()) == []


def test_checkout_refuses_a_manifest_entry_leaving_the_directory(built: Path, repo: Path) -> None:
    # A directory manifest from someone else's cache names a file outside the output.
    manifest = json.dumps(
        {"version": 1, "algorithm": "xxh3-128", "files": [["../../evil.txt", "0" * 32, 1]]},
        separators=(",", ":"),
    ).encode()
    digest = hash_bytes(manifest)
    obj(digest).parent.mkdir(parents=True, exist_ok=True)
    obj(digest).write_bytes(manifest)
    text = Path("dvx.lock").read_text()
    model_hash = lock_doc()["stages"]["tree"]["outs"][0]["hash"]
    Path("dvx.lock").write_text(text.replace(model_hash, digest))
    before = all_files_under(repo.parent)
    res = run("checkout")
    assert res.code == 2, res.output
    assert "../../evil.txt" in res.err
    assert "Traceback" not in res.output
    assert all_files_under(repo.parent) == before


# ---- dvx commit --------------------------------------------------------------------


def test_commit_records_outputs_produced_by_hand(steps: Path) -> None:
    write("raw.txt", "raw\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [mid.txt]
        """,
    )
    # The user runs the command themselves, then tells dvx to record the result.
    subprocess.run(step("by-hand", "mid.txt", "raw.txt").split(), check=True)
    res = run("commit")
    assert res.code == 0, res.output
    assert "committed prep" in res.out
    entry = lock_doc()["stages"]["prep"]
    assert entry["outs"][0]["hash"] == hash_file("mid.txt")
    assert obj(entry["outs"][0]["hash"]).exists()
    assert "/mid.txt" in Path(".gitignore").read_text().splitlines()
    assert run("status").out == "Everything is up to date.\n"
    res = run("repro")
    assert "prep: up to date" in res.out
    assert ran(steps) == ["by-hand"]
    assert run("commit").out.strip() == "nothing to commit"


def test_commit_after_editing_an_output_then_checkout_keeps_it(steps: Path) -> None:
    write("raw.txt", "raw\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [mid.txt]
        """,
    )
    assert run("repro").code == 0
    replace("mid.txt", "curated by hand\n")
    assert run("commit", "prep").code == 0
    Path("mid.txt").unlink()
    assert run("checkout").code == 0
    assert Path("mid.txt").read_text() == "curated by hand\n"


def test_commit_with_a_missing_output_fails(steps: Path) -> None:
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {step("prep", "mid.txt")}
            outs: [mid.txt]
        """,
    )
    res = run("commit")
    assert res.code == 1, res.output
    assert "mid.txt" in res.err and "stage 'prep'" in res.err
    assert "Traceback" not in res.output
    assert not Path("dvx.lock").exists()


def test_commit_updates_edited_pointer_data(repo: Path) -> None:
    write("data.txt", "v1")
    assert run("add", "data.txt").code == 0
    replace("data.txt", "v2")
    res = run("commit")
    assert res.code == 0, res.output
    assert yaml.load(Path("data.txt.dvx").read_text())["hash"] == hash_file("data.txt")
    assert run("status").out == "Everything is up to date.\n"


# ---- dvx init ----------------------------------------------------------------------


def test_init_outside_git_is_refused_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)
    res = run("init")
    assert res.code == 2, res.output
    assert "not inside a git repository" in res.err
    assert "hint:" in res.err and "git init" in res.err
    assert not (plain / ".dvx").exists()
    assert run("init", "--no-git").code == 0
    assert (plain / ".dvx/config.yaml").is_file()


def test_init_creates_its_files_and_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    monkeypatch.chdir(root)
    git("init", "-q", "-b", "main")
    Path(".gitattributes").write_text("*.png binary")  # no trailing newline
    res = run("init")
    assert res.code == 0, res.output
    assert "Initialized" in res.out
    ignore = Path(".dvx/.gitignore").read_text().splitlines()
    assert {"/cache/", "/tmp/"} <= set(ignore)
    config = yaml.load(Path(".dvx/config.yaml").read_text())
    assert config["version"] == 1
    attributes = Path(".gitattributes").read_text()
    assert attributes.splitlines()[:2] == ["*.png binary", "dvx.lock merge=dvx"]
    assert attributes.endswith("\n")
    files = {
        p: p.read_bytes() for p in [*Path(".dvx").rglob("*"), Path(".gitattributes")] if p.is_file()
    }

    again = run("init")
    assert again.code == 0, again.output
    assert "already initialized" in again.out
    assert {p: p.read_bytes() for p in files} == files
    # Cache and scratch space stay out of git; the config is committed.
    write(".dvx/cache/objects/ab/cd", "x")
    status = git("status", "--porcelain", "--untracked-files=all")
    assert ".dvx/config.yaml" in status
    assert ".dvx/cache" not in status


# ---- dvx dag -----------------------------------------------------------------------


@pytest.fixture
def diamond(steps: Path) -> None:
    write("raw.txt", "r\n")
    write(
        "dvx.yaml",
        f"""
        stages:
          load:
            cmd: {step("load", "a.txt", "raw.txt")}
            deps: [raw.txt]
            outs: [a.txt]
          left:
            cmd: {step("left", "l.txt", "a.txt")}
            deps: [a.txt]
            outs: [l.txt]
          right:
            cmd: {step("right", "r.txt", "a.txt")}
            deps: [a.txt]
            outs: [r.txt]
          join:
            cmd: {step("join", "j.txt", "l.txt", "r.txt")}
            deps: [l.txt, r.txt]
            outs: [j.txt]
        """,
    )


def test_dag_text(diamond: None) -> None:
    res = run("dag")
    assert res.code == 0, res.output
    lines = res.out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["load", "left", "right", "join"]
    assert lines[3].split("<-")[1].strip() == "left, right"
    assert "<-" not in lines[0]
    only = run("dag", "left").out.splitlines()
    assert [ln.split()[0] for ln in only] == ["load", "left"]


def test_dag_mermaid(diamond: None) -> None:
    res = run("dag", "--mermaid")
    assert res.code == 0, res.output
    lines = res.out.splitlines()
    assert lines[0] == "flowchart TD"
    ids = {}
    for ln in lines[1:]:
        if "[" in ln:
            node_id, label = ln.strip().split("[", 1)
            ids[label.strip('"]')] = node_id
    assert set(ids) == {"load", "left", "right", "join"}
    edges = {ln.strip() for ln in lines if "-->" in ln}
    assert edges == {
        f"{ids['load']} --> {ids['left']}",
        f"{ids['load']} --> {ids['right']}",
        f"{ids['left']} --> {ids['join']}",
        f"{ids['right']} --> {ids['join']}",
    }


def test_dag_json(diamond: None) -> None:
    res = run("dag", "--json")
    assert res.code == 0, res.output
    doc = json.loads(res.out)
    assert doc["stages"] == ["load", "left", "right", "join"]
    assert sorted(map(tuple, doc["edges"])) == [
        ("left", "join"),
        ("load", "left"),
        ("load", "right"),
        ("right", "join"),
    ]
