"""Unit tests where the logic is subtle: canonical keys, directory manifests, and the
stat cache's invalidation rules."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import run, write

from dvx import hashing, keys
from dvx.errors import FormatVersionError, UnsafePathError
from dvx.hashing import Hasher, ManifestEntry, Version, hash_bytes, manifest_bytes
from dvx.keys import StageInputs
from dvx.lockfile import PathVersion
from dvx.stagefile import Out, Stage
from dvx.state import State

# ---- canonical key encoding ---------------------------------------------------------


def stage(**kw: object) -> Stage:
    base: dict[str, object] = {
        "name": "train",
        "cmd": ("python train.py",),
        "deps": ("data/a.csv", "data/b.csv"),
        "outs": (Out("model.pkl"), Out("logs", persist=True)),
        "env": ("SEED",),
    }
    base.update(kw)
    return Stage(**base)  # type: ignore[arg-type]


def inputs(**kw: object) -> StageInputs:
    base: dict[str, object] = {
        "deps": [
            PathVersion("data/a.csv", Version("a" * 32, 10)),
            PathVersion("data/b.csv", Version("b" * 32, 20)),
        ],
        "code": [("train.py", "c" * 32), ("lib/util.py", "d" * 32)],
        "params": {"params.yaml": {"lr": 0.1, "model": {"layers": 3, "act": "relu"}}},
        "env": {"SEED": "42"},
    }
    base.update(kw)
    return StageInputs(**base)  # type: ignore[arg-type]


BASE = keys.compute(stage(), inputs())


def test_key_is_a_stable_hex_digest() -> None:
    assert len(BASE) == 32 and int(BASE, 16) >= 0
    assert keys.compute(stage(), inputs()) == BASE
    assert keys.encode(stage(), inputs()) == keys.encode(stage(), inputs())


def test_key_does_not_depend_on_the_stage_name_or_its_line() -> None:
    assert keys.compute(stage(name="other", line=99), inputs()) == BASE


def test_key_does_not_depend_on_dict_order_of_params() -> None:
    reordered = {"params.yaml": {"model": {"act": "relu", "layers": 3}, "lr": 0.1}}
    assert keys.compute(stage(), inputs(params=reordered)) == BASE
    two_files = inputs(params={"b.yaml": {"x": 1}, "a.yaml": {"y": 2}})
    swapped = inputs(params={"a.yaml": {"y": 2}, "b.yaml": {"x": 1}})
    assert keys.compute(stage(), two_files) == keys.compute(stage(), swapped)


def test_key_does_not_depend_on_the_order_of_paths() -> None:
    base = inputs()
    shuffled = inputs(deps=list(reversed(base.deps)), code=list(reversed(base.code)))
    assert keys.compute(stage(), shuffled) == BASE
    outs = stage().outs
    assert keys.compute(stage(outs=tuple(reversed(outs))), inputs()) == BASE
    assert keys.compute(stage(deps=("data/b.csv", "data/a.csv")), inputs()) == BASE


def test_key_ignores_dep_size_but_not_dep_hash() -> None:
    same_hash = inputs(
        deps=[
            PathVersion("data/a.csv", Version("a" * 32, 999)),
            PathVersion("data/b.csv", Version("b" * 32, 20)),
        ]
    )
    assert keys.compute(stage(), same_hash) == BASE


@pytest.mark.parametrize(
    ("what", "changed_stage", "changed_inputs"),
    [
        ("cmd", {"cmd": ("python train.py --fast",)}, {}),
        ("cmd split in two", {"cmd": ("python", "train.py")}, {}),
        ("wdir", {"wdir": "sub"}, {}),
        ("env value", {}, {"env": {"SEED": "43"}}),
        ("env unset", {}, {"env": {"SEED": None}}),
        ("env empty", {}, {"env": {"SEED": ""}}),
        (
            "dep hash",
            {},
            {
                "deps": [
                    PathVersion("data/a.csv", Version("e" * 32, 10)),
                    PathVersion("data/b.csv", Version("b" * 32, 20)),
                ]
            },
        ),
        (
            "dep path",
            {},
            {
                "deps": [
                    PathVersion("data/A.csv", Version("a" * 32, 10)),
                    PathVersion("data/b.csv", Version("b" * 32, 20)),
                ]
            },
        ),
        ("dep removed", {}, {"deps": [PathVersion("data/b.csv", Version("b" * 32, 20))]}),
        ("code hash", {}, {"code": [("train.py", "f" * 32), ("lib/util.py", "d" * 32)]}),
        (
            "param value",
            {},
            {"params": {"params.yaml": {"lr": 0.2, "model": {"layers": 3, "act": "relu"}}}},
        ),
        (
            "nested param",
            {},
            {"params": {"params.yaml": {"lr": 0.1, "model": {"layers": 4, "act": "relu"}}}},
        ),
        (
            "param type",
            {},
            {"params": {"params.yaml": {"lr": "0.1", "model": {"layers": 3, "act": "relu"}}}},
        ),
        (
            "params file",
            {},
            {"params": {"other.yaml": {"lr": 0.1, "model": {"layers": 3, "act": "relu"}}}},
        ),
        ("out path", {"outs": (Out("model.bin"), Out("logs", persist=True))}, {}),
        ("out persist", {"outs": (Out("model.pkl"), Out("logs"))}, {}),
        ("out cache", {"outs": (Out("model.pkl", cache=False), Out("logs", persist=True))}, {}),
        ("out metric", {"outs": (Out("model.pkl", metric=True), Out("logs", persist=True))}, {}),
        ("out added", {"outs": (Out("model.pkl"), Out("logs", persist=True), Out("x"))}, {}),
    ],
)
def test_key_changes_with_everything_that_can_change_outputs(
    what: str, changed_stage: dict[str, object], changed_inputs: dict[str, object]
) -> None:
    assert keys.compute(stage(**changed_stage), inputs(**changed_inputs)) != BASE, what


def test_param_values_that_look_alike_give_different_keys() -> None:
    def key(v: object) -> str:
        return keys.compute(stage(), inputs(params={"p.yaml": {"k": v}}))

    values = [1, 1.0, "1", True, None, [1], {"1": 1}]
    assert len({key(v) for v in values}) == len(values)


def test_encoding_is_canonical_json_with_a_format_tag() -> None:
    doc = json.loads(keys.encode(stage(), inputs()))
    assert doc["format"] == keys.KEY_FORMAT
    assert "train" not in json.dumps(doc).replace("train.py", "")
    raw = keys.encode(stage(), inputs())
    assert b" " not in raw.replace(b"python train.py", b"")
    assert hash_bytes(raw) == BASE


# ---- directory manifests ------------------------------------------------------------


def make_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


FILES = {"b.txt": "B", "a/z.txt": "Z", "a/b/c.txt": "C", "a.txt": "A", "a-b.txt": "AB"}


def test_manifest_is_sorted_and_covers_nested_files(tmp_path: Path) -> None:
    make_tree(tmp_path / "d", FILES)
    data, entries = Hasher(None).dir_manifest(tmp_path / "d")
    paths = [e.path for e in entries]
    assert paths == sorted(FILES)
    doc = json.loads(data)
    assert doc["version"] == hashing.MANIFEST_VERSION
    assert doc["algorithm"] == "xxh3-128"
    assert [f[0] for f in doc["files"]] == sorted(FILES)
    for rel, digest, size in doc["files"]:
        assert digest == hash_bytes(FILES[rel].encode())
        assert size == len(FILES[rel])


def test_manifest_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    make_tree(tmp_path / "one", FILES)
    make_tree(tmp_path / "two", dict(reversed(list(FILES.items()))))
    h = Hasher(None)
    assert h.dir_manifest(tmp_path / "one")[0] == h.dir_manifest(tmp_path / "two")[0]
    assert h.version(tmp_path / "one") == h.version(tmp_path / "two")


def test_directory_version_is_the_hash_of_its_manifest(tmp_path: Path) -> None:
    make_tree(tmp_path / "d", FILES)
    h = Hasher(None)
    v = h.version(tmp_path / "d")
    assert v is not None
    data, entries = h.dir_manifest(tmp_path / "d")
    assert v.hash == hash_bytes(data)
    assert v.hash == hash_bytes(manifest_bytes(list(reversed(entries))))
    assert v.nfiles == len(FILES) and v.is_dir
    assert v.size == sum(len(t) for t in FILES.values())


def test_manifest_changes_with_content_and_with_renames(tmp_path: Path) -> None:
    make_tree(tmp_path / "d", FILES)
    h = Hasher(None)
    before = h.version(tmp_path / "d")
    (tmp_path / "d/a/b/c.txt").write_text("changed")
    changed = h.version(tmp_path / "d")
    (tmp_path / "d/a/b/c.txt").write_text("C")
    assert h.version(tmp_path / "d") == before
    (tmp_path / "d/a/b/c.txt").rename(tmp_path / "d/a/b/d.txt")
    renamed = h.version(tmp_path / "d")
    assert len({before, changed, renamed}) == 3


def test_empty_directory_has_a_stable_manifest(tmp_path: Path) -> None:
    (tmp_path / "e1").mkdir()
    (tmp_path / "e2").mkdir()
    h = Hasher(None)
    data, entries = h.dir_manifest(tmp_path / "e1")
    assert entries == [] and json.loads(data)["files"] == []
    v = h.version(tmp_path / "e1")
    assert v == Version(hash_bytes(data), 0, 0)
    assert v == h.version(tmp_path / "e2")
    assert v.is_dir


def test_manifest_does_not_follow_symlinked_directories(tmp_path: Path) -> None:
    make_tree(tmp_path / "outside", {"secret.txt": "s"})
    make_tree(tmp_path / "d", {"a.txt": "A"})
    (tmp_path / "d/link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (tmp_path / "d/loop").symlink_to(tmp_path / "d", target_is_directory=True)
    _, entries = Hasher(None).dir_manifest(tmp_path / "d")
    assert [e.path for e in entries] == ["a.txt"]


def test_manifest_round_trips_and_refuses_bad_entries() -> None:
    entries = [ManifestEntry("x/y.txt", "1" * 32, 3), ManifestEntry("a.txt", "2" * 32, 1)]
    data = manifest_bytes(entries)
    assert hashing.parse_manifest(data, "m") == sorted(entries, key=lambda e: e.path)
    for bad in ("../up.txt", "/abs.txt", "a/../../b", ".git/config", "a/./b"):
        doc = {"version": 1, "algorithm": "xxh3-128", "files": [[bad, "1" * 32, 1]]}
        with pytest.raises(UnsafePathError):
            hashing.parse_manifest(json.dumps(doc).encode(), "m")
    newer = {"version": 2, "algorithm": "xxh3-128", "files": []}
    with pytest.raises(FormatVersionError):
        hashing.parse_manifest(json.dumps(newer).encode(), "m")


# ---- the stat cache ----------------------------------------------------------------


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose bytes were read by the hasher."""
    seen: list[str] = []
    real = hashing.hash_file

    def counting(path: str | os.PathLike[str]) -> str:
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(hashing, "hash_file", counting)
    return seen


OLD = time.time_ns() - 3600 * 10**9  # an hour ago: well past the racy window


def settle(p: Path, mtime_ns: int = OLD) -> os.stat_result:
    os.utime(p, ns=(mtime_ns, mtime_ns))
    return p.stat()


def fresh_hasher(db: Path) -> Hasher:
    """A hasher over a state database reopened from disk, as the next command sees it."""
    return Hasher(State(db))


def hash_once(db: Path, p: Path) -> str:
    state = State(db)
    try:
        v = Hasher(state).version(p)
    finally:
        state.close()
    assert v is not None
    return v.hash


def test_unchanged_file_is_not_read_again(tmp_path: Path, reads: list[str]) -> None:
    p = tmp_path / "big.bin"
    p.write_bytes(b"x" * 1000)
    settle(p)
    db = tmp_path / "state.db"
    first = hash_once(db, p)
    assert reads == [str(p)]
    assert hash_once(db, p) == first
    assert hash_once(db, p) == first
    assert reads == [str(p)]  # served from the stat cache by two later "commands"


def test_new_inode_with_same_size_and_mtime_is_rehashed(tmp_path: Path, reads: list[str]) -> None:
    p = tmp_path / "f.txt"
    p.write_text("aaaa")
    st = settle(p)
    db = tmp_path / "state.db"
    assert hash_once(db, p) == hash_bytes(b"aaaa")
    # Replace the file by another with the same size and mtime (e.g. a checkout or
    # rsync -t): only the inode differs. The old file still exists while the new one
    # is written, so the inode cannot be reused.
    tmp = tmp_path / "f.new"
    tmp.write_text("bbbb")
    os.utime(tmp, ns=(st.st_mtime_ns, st.st_mtime_ns))
    os.replace(tmp, p)
    st2 = p.stat()
    assert (st2.st_size, st2.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert st2.st_ino != st.st_ino
    assert hash_once(db, p) == hash_bytes(b"bbbb")
    assert reads == [str(p), str(p)]


def test_same_inode_with_new_mtime_is_rehashed(tmp_path: Path, reads: list[str]) -> None:
    p = tmp_path / "f.txt"
    p.write_text("aaaa")
    st = settle(p)
    db = tmp_path / "state.db"
    assert hash_once(db, p) == hash_bytes(b"aaaa")
    with open(p, "r+b") as f:  # edit in place: same inode, same size
        f.write(b"cccc")
    st2 = settle(p, OLD + 5 * 10**9)
    assert st2.st_ino == st.st_ino and st2.st_size == st.st_size
    assert hash_once(db, p) == hash_bytes(b"cccc")
    assert reads == [str(p), str(p)]


def test_same_inode_and_mtime_with_new_size_is_rehashed(tmp_path: Path, reads: list[str]) -> None:
    p = tmp_path / "f.txt"
    p.write_text("aaaa")
    st = settle(p)
    db = tmp_path / "state.db"
    hash_once(db, p)
    with open(p, "ab") as f:
        f.write(b"more")
    st2 = settle(p, st.st_mtime_ns)
    assert st2.st_ino == st.st_ino and st2.st_mtime_ns == st.st_mtime_ns
    assert hash_once(db, p) == hash_bytes(b"aaaamore")
    assert len(reads) == 2


def test_racily_new_files_are_not_cached(tmp_path: Path, reads: list[str]) -> None:
    p = tmp_path / "new.txt"
    p.write_text("just written")
    db = tmp_path / "state.db"
    hash_once(db, p)
    hash_once(db, p)
    assert len(reads) == 2  # a file younger than the racy window is hashed every time
    state = State(db)
    assert state.get(str(p), p.stat()) is None
    state.close()
    settle(p)
    hash_once(db, p)
    hash_once(db, p)
    assert len(reads) == 3  # once it is old enough, it is cached


def test_trusted_entries_are_cached_even_when_new(tmp_path: Path) -> None:
    p = tmp_path / "obj"
    p.write_text("x")
    db = tmp_path / "state.db"
    state = State(db)
    state.put(str(p), p.stat(), "h" * 32, trusted=True)
    state.put(str(p) + ".other", p.stat(), "i" * 32)
    state.close()
    state = State(db)
    assert state.get(str(p), p.stat()) == "h" * 32
    assert state.get(str(p) + ".other", p.stat()) is None
    state.close()


def test_state_of_another_format_version_is_discarded(tmp_path: Path) -> None:
    import sqlite3

    p = tmp_path / "f"
    p.write_text("x")
    st = settle(p)
    db = tmp_path / "state.db"
    state = State(db)
    state.put(str(p), st, "h" * 32)
    state.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version=999")
    con.commit()
    con.close()
    state = State(db)
    assert state.get(str(p), st) is None
    state.close()


def test_many_files_are_hashed_once_in_parallel_and_then_never(
    tmp_path: Path, reads: list[str]
) -> None:
    d = tmp_path / "d"
    make_tree(d, {f"f{i:03}.txt": str(i) for i in range(60)})
    for p in d.iterdir():
        settle(p)
    db = tmp_path / "state.db"
    v1 = hash_once(db, d)
    assert len(reads) == 60
    assert hash_once(db, d) == v1
    assert len(reads) == 60


def test_noop_status_reads_no_tracked_file(repo: Path, reads: list[str]) -> None:
    data = repo / "data"
    make_tree(data, {f"part-{i:03}.csv": f"{i},{i * i}\n" for i in range(40)})
    for p in data.iterdir():
        settle(p)
    assert run("add", "data").code == 0
    reads.clear()
    for _ in range(2):
        res = run("status")
        assert res.code == 0 and res.out == "Everything is up to date.\n"
        assert [r for r in reads if "/data/" in r] == []
    # A touched file is noticed through its stat alone.
    write(data / "part-007.csv", "changed\n")
    res = run("status", "--json")
    assert json.loads(res.out)["data"][0]["reasons"] == ["modified"]
    assert [r for r in reads if "/data/" in r] == [str(data / "part-007.csv")]
