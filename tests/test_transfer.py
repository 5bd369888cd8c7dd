"""Remotes, push/pull/fetch and the shared action cache (SPEC §5 step 4, §7; issue 5).

Every story runs twice: against a local-folder remote and against a real S3 HTTP
endpoint (moto on loopback, see s3server.py). Stage commands append their name to
a log file outside the repos, so "no command ran" is checked, not assumed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import PY, Result, git, run, write

from dvx import hashing

if TYPE_CHECKING:
    from s3server import S3Bucket

pytest_plugins = ["s3server"]

TIMEOUT = 300.0  # generous: a loaded 2-core machine runs other suites alongside


# ---- the remote under test -------------------------------------------------------


@dataclass
class Store:
    """One remote location, seen both through dvx's config and behind its back."""

    kind: str
    url: str
    local_root: Path | None = None
    bucket: S3Bucket | None = None
    prefix: str = ""

    def add(self, name: str = "store", *, default: bool = True) -> None:
        """``dvx remote add`` (and the S3 endpoint) in the current repo."""
        args = ["remote", "add", *(["-d"] if default else []), name, self.url]
        res = run(*args)
        assert res.code == 0, res.output
        if self.bucket is not None:
            res = run("remote", "modify", name, "endpoint_url", self.bucket.endpoint)
            assert res.code == 0, res.output

    def sibling(self, prefix: str) -> Store:
        if self.bucket is not None:
            return Store(
                "s3", f"s3://{self.bucket.name}/{prefix}", bucket=self.bucket, prefix=prefix
            )
        assert self.local_root is not None
        root = self.local_root.parent / prefix
        return Store("local", str(root), local_root=root)

    def _keys(self, kind: str) -> list[str]:
        """Paths (relative to the remote's root) of the files under ``kind``/."""
        if self.bucket is not None:
            n = len(self.prefix) + 1
            return sorted(k[n:] for k in self.bucket.keys(f"{self.prefix}/{kind}/"))
        assert self.local_root is not None
        base = self.local_root / kind
        if not base.is_dir():
            return []
        # Dot-named files are temporary uploads (a killed push may leave one).
        return sorted(
            p.relative_to(self.local_root).as_posix()
            for p in base.glob("*/*")
            if p.is_file() and not p.name.startswith(".")
        )

    def _names(self, kind: str) -> list[str]:
        return sorted(k.split("/")[-2] + k.split("/")[-1] for k in self._keys(kind))

    def _get(self, rel: str) -> bytes:
        if self.bucket is not None:
            return self.bucket.read(f"{self.prefix}/{rel}")
        assert self.local_root is not None
        return (self.local_root / rel).read_bytes()

    def _put(self, rel: str, data: bytes) -> None:
        if self.bucket is not None:
            self.bucket.write(f"{self.prefix}/{rel}", data)
            return
        assert self.local_root is not None
        path = self.local_root / rel
        path.chmod(0o644)
        path.write_bytes(data)

    def packed(self) -> dict[str, tuple[str, int, int]]:
        """Packed objects: hash → (pack path, offset, size), from the pack indexes."""
        out: dict[str, tuple[str, int, int]] = {}
        for rel in self._keys("packs"):
            if rel.endswith(".idx"):
                for h, offset, size in json.loads(self._get(rel))["objects"]:
                    out.setdefault(h, (rel.removesuffix(".idx") + ".pack", offset, size))
        return out

    def objects(self) -> list[str]:
        return sorted(set(self._names("objects")) | set(self.packed()))

    def runs(self) -> list[str]:
        return self._names("runs")

    def read(self, digest: str) -> bytes:
        packed = self.packed()
        if digest in packed:
            pack, offset, size = packed[digest]
            return self._get(pack)[offset : offset + size]
        return self._get(f"objects/{digest[:2]}/{digest[2:]}")

    def overwrite(self, digest: str, data: bytes) -> None:
        packed = self.packed()
        if digest in packed:
            pack, offset, size = packed[digest]
            assert len(data) == size, "a packed object is overwritten in place"
            blob = self._get(pack)
            self._put(pack, blob[:offset] + data + blob[offset + size :])
            return
        self._put(f"objects/{digest[:2]}/{digest[2:]}", data)

    def delete(self, digest: str) -> None:
        """Remove an object; a packed one goes with the rest of its pack."""
        packed = self.packed()
        rels = (
            [packed[digest][0].removesuffix(".pack") + ".idx"]
            if digest in packed
            else [f"objects/{digest[:2]}/{digest[2:]}"]
        )
        for rel in rels:
            if self.bucket is not None:
                self.bucket.delete(f"{self.prefix}/{rel}")
            else:
                assert self.local_root is not None
                (self.local_root / rel).unlink()

    def assert_every_object_hashes_to_its_name(self) -> None:
        for digest in self.objects():
            assert hashing.hash_bytes(self.read(digest)) == digest, digest


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        root = tmp_path / "remotes" / "store"
        return Store("local", str(root), local_root=root)
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return Store("s3", f"s3://{bucket.name}/store", bucket=bucket, prefix="store")


# ---- repos -------------------------------------------------------------------------


def clone(src: Path, dest: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``git clone`` of a committed repo, made the current directory."""
    git("clone", "-q", str(src), str(dest))
    monkeypatch.chdir(dest)
    return dest


def commit_all(root: Path, message: str = "work") -> None:
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", message, cwd=root)


def cache_objects(root: Path) -> set[str]:
    base = root / ".dvx" / "cache" / "objects"
    # Dot-named files are temporary downloads (a killed pull may leave one).
    return {
        p.parent.name + p.name
        for p in base.glob("*/*")
        if p.is_file() and not p.name.startswith(".")
    }


def cached(root: Path, digest: str) -> bool:
    return (root / ".dvx" / "cache" / "objects" / digest[:2] / digest[2:]).is_file()


def lock_outs(root: Path) -> dict[str, str]:
    """Output path → hash, from dvx.lock."""
    from ruamel.yaml import YAML

    doc = YAML(typ="safe").load((root / "dvx.lock").read_text())
    return {o["path"]: o["hash"] for s in doc["stages"].values() for o in s.get("outs", [])}


def as_json(res: Result) -> dict[str, Any]:
    data = json.loads(res.out)
    assert isinstance(data, dict)
    return data


@dataclass
class Team:
    """Clone A with a committed two-stage pipeline and a default remote."""

    a: Path
    log: Path
    store: Store

    def commands_run(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []


@pytest.fixture
def team(repo: Path, store: Store, tmp_path: Path) -> Team:
    """data/raw.txt (dvx add) → prep (a directory) → train (a file and a metric).

    Not run yet; the remote is configured and everything is committed.
    """
    log = tmp_path / "commands.log"
    write("data/raw.txt", "".join(f"line {i}\n" for i in range(50)))
    write(
        "src/prep.py",
        """
        import sys
        from pathlib import Path
        with open(sys.argv[1], "a") as log:
            log.write("prep\\n")
        lines = Path("data/raw.txt").read_text().splitlines()
        out = Path("data/prep")
        out.mkdir(parents=True, exist_ok=True)
        for i in range(5):
            (out / f"part{i}.txt").write_text("".join(s.upper() + "\\n" for s in lines[i::5]))
        """,
    )
    write(
        "src/train.py",
        """
        import json, sys
        from pathlib import Path
        with open(sys.argv[1], "a") as log:
            log.write("train\\n")
        n = sum(len(p.read_text()) for p in sorted(Path("data/prep").iterdir()))
        Path("model.txt").write_text(f"model of {n} bytes\\n")
        Path("metrics.json").write_text(json.dumps({"bytes": n}))
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          prep:
            cmd: {PY} src/prep.py {log}
            deps: [data/raw.txt]
            outs: [data/prep]
          train:
            cmd: {PY} src/train.py {log}
            deps: [data/prep]
            outs: [model.txt]
            metrics: [metrics.json]
        """,
    )
    res = run("add", "data/raw.txt")
    assert res.code == 0, res.output
    store.add()
    return Team(repo, log, store)


def repro_and_push(team: Team) -> None:
    res = run("repro")
    assert res.code == 0, res.output
    assert team.commands_run() == ["prep", "train"]
    commit_all(team.a)
    res = run("push")
    assert res.code == 0, res.output


def workspace_files(root: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and rel.parts[0] not in (".git", ".dvx"):
            out[rel.as_posix()] = p.read_bytes()
    return out


# ---- dvx remote ------------------------------------------------------------------


def test_remote_add_modify_list_remove(repo: Path, store: Store) -> None:
    store.add("store")
    listed = run("remote", "list")
    assert listed.code == 0
    assert store.url in listed.out
    assert "(default)" in listed.out

    res = run("remote", "modify", "store", "region", "eu-west-3")
    assert res.code == 0, res.output
    doc = as_json(run("remote", "list", "--json"))
    (row,) = doc["remotes"]
    assert row["name"] == "store"
    assert row["default"] is True
    assert row["url"] == store.url
    assert row["region"] == "eu-west-3"

    res = run("remote", "add", "backup", str(repo.parent / "backup"))
    assert res.code == 0, res.output
    names = [r["name"] for r in as_json(run("remote", "list", "--json"))["remotes"]]
    assert names == ["backup", "store"]

    assert run("remote", "remove", "store").code == 0
    doc = as_json(run("remote", "list", "--json"))
    assert [r["name"] for r in doc["remotes"]] == ["backup"]
    assert "remote:" not in (repo / ".dvx" / "config.yaml").read_text()  # the default went too
    # Removing twice, or modifying an unknown remote, is a usage error.
    assert run("remote", "remove", "store").code == 2
    assert run("remote", "modify", "store", "region", "x").code == 2


def test_remote_list_never_prints_secrets(repo: Path, store: Store) -> None:
    store.add("store")
    secret = "wJalrXUtnFEMI-K7MDENG-do-not-print"
    res = run("remote", "modify", "--local", "store", "secret_access_key", secret)
    assert res.code == 0, res.output
    res = run("remote", "modify", "--local", "store", "access_key_id", "AKIAEXAMPLE")
    assert res.code == 0, res.output
    assert secret in (repo / ".dvx" / "config.local.yaml").read_text()
    assert secret not in (repo / ".dvx" / "config.yaml").read_text()
    assert ".dvx/config.local.yaml" not in git("status", "--porcelain", "--untracked-files=all")

    for args in (("remote", "list"), ("remote", "list", "--json")):
        res = run(*args)
        assert res.code == 0, res.output
        assert secret not in res.output
        assert "AKIAEXAMPLE" not in res.output
        assert "***" in res.output


def test_a_credential_without_local_is_refused(repo: Path, store: Store) -> None:
    store.add("store")
    before = (repo / ".dvx" / "config.yaml").read_text()
    res = run("remote", "modify", "store", "secret_access_key", "hunter2")
    assert res.code == 2
    assert "--local" in res.err
    assert "Traceback" not in res.output
    assert (repo / ".dvx" / "config.yaml").read_text() == before
    assert not (repo / ".dvx" / "config.local.yaml").exists()


def test_a_secret_in_the_committed_config_is_refused(repo: Path, store: Store) -> None:
    store.add("store")
    cfg = repo / ".dvx" / "config.yaml"
    cfg.write_text(
        cfg.read_text().replace(f"url: {store.url}", f"url: {store.url}\n    password: hunter2")
    )
    assert "password: hunter2" in cfg.read_text()
    for args in (("push",), ("remote", "list"), ("status",)):
        res = run(*args)
        assert res.code == 2, (args, res.output)
        assert "config.yaml" in res.err
        assert "password" in res.err
        assert "hunter2" not in res.output
        assert "dvx remote modify --local store password" in res.err
        assert "Traceback" not in res.output


# ---- push / pull / fetch -------------------------------------------------------------


def test_push_of_nothing_new_transfers_nothing(team: Team, store: Store) -> None:
    assert run("repro").code == 0
    first = run("push", "--json")
    assert first.code == 0, first.output
    doc = as_json(first)
    # raw.txt, the prep manifest and its 5 files, model.txt, metrics.json.
    total = len(cache_objects(team.a))
    assert total == 9
    assert doc["objects"] == total
    assert doc["runs"] == 2
    assert doc["ok"] is True
    assert store.objects() == sorted(cache_objects(team.a))
    assert len(store.runs()) == 2

    again = run("push", "--json")
    assert again.code == 0, again.output
    doc = as_json(again)
    assert doc["objects"] == 0
    assert doc["bytes"] == 0
    assert doc["runs"] == 0
    assert doc["present"] == total
    text = run("push")
    assert text.code == 0
    assert "pushed 0 object(s)" in text.out
    store.assert_every_object_hashes_to_its_name()


def test_pull_into_a_fresh_clone_restores_outputs_and_pointer_data(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    expected = workspace_files(team.a)
    b = clone(team.a, tmp_path / "b", monkeypatch)
    assert not (b / "data/raw.txt").exists()
    assert not (b / "model.txt").exists()

    res = run("pull")
    assert res.code == 0, res.output
    assert workspace_files(b) == expected
    assert as_json(run("status", "--json"))["clean"] is True
    check = run("check")
    assert check.code == 0, check.output
    # Pulling again finds everything local.
    again = as_json(run("pull", "--json"))
    assert again["objects"] == 0
    assert again["ok"] is True


def test_teammate_gets_every_output_without_running_a_stage(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    expected = workspace_files(team.a)
    log_before = team.log.read_text()

    b = clone(team.a, tmp_path / "b", monkeypatch)
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: pulled from store" in res.out
    assert "train: pulled from store" in res.out
    assert team.log.read_text() == log_before  # no command ran on B
    assert workspace_files(b) == expected
    assert git("status", "--porcelain", cwd=b) == ""  # the lock did not change

    again = run("repro")
    assert again.code == 0
    assert "prep: up to date" in again.out
    assert "train: up to date" in again.out


def test_dry_repro_in_a_fresh_clone_says_would_pull(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    b = clone(team.a, tmp_path / "b", monkeypatch)
    before = workspace_files(b)
    res = run("repro", "--dry")
    assert res.code == 0, res.output
    assert "prep: would pull from store" in res.out
    assert "train: would pull from store" in res.out
    assert workspace_files(b) == before  # --dry changes nothing
    assert not cache_objects(b)
    assert team.commands_run() == ["prep", "train"]


def test_no_remote_runs_the_stages(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    expected = workspace_files(team.a)
    b = clone(team.a, tmp_path / "b", monkeypatch)
    # The stages' input is a teammate's data: fetch it, but compute the rest here.
    assert run("pull", "data/raw.txt.dvx").code == 0
    res = run("repro", "--no-remote")
    assert res.code == 0, res.output
    assert "prep: ran in" in res.out
    assert "train: ran in" in res.out
    assert "pulled" not in res.out
    assert team.commands_run() == ["prep", "train", "prep", "train"]
    assert workspace_files(b) == expected


def test_a_corrupt_object_on_the_remote_is_reported_and_never_checked_out(
    team: Team, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    model = lock_outs(team.a)["model.txt"]
    good = store.read(model)
    store.overwrite(model, bytes(b ^ 0x20 for b in good))  # same size, other bytes

    b = clone(team.a, tmp_path / "b", monkeypatch)
    res = run("pull")
    assert res.code == 1, res.output
    assert "corrupt" in res.err
    assert model in res.err
    assert "model.txt" in res.err
    assert "Traceback" not in res.output
    assert not (b / "model.txt").exists()
    assert not cached(b, model)
    # Everything else arrived.
    assert (b / "data/raw.txt").read_bytes() == (team.a / "data/raw.txt").read_bytes()
    assert len(list((b / "data/prep").iterdir())) == 5
    doc = as_json(run("pull", "--json"))
    assert doc["corrupt"] == [model]
    assert doc["ok"] is False
    assert not (b / "model.txt").exists()


def test_repro_does_not_use_a_corrupt_remote_object(
    team: Team, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    model = lock_outs(team.a)["model.txt"]
    store.overwrite(model, b"forged model\n")
    expected = workspace_files(team.a)

    b = clone(team.a, tmp_path / "b", monkeypatch)
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: pulled from store" in res.out
    assert "train: ran in" in res.out  # not pulled: its object is corrupt
    assert team.commands_run() == ["prep", "train", "train"]
    assert workspace_files(b) == expected


# ---- interruption and concurrency ------------------------------------------------------

# ``python -m dvx`` with every upload slowed down a little, so a push of a few hundred
# small objects reliably takes long enough to be killed in the middle on any machine.
SLOW_DVX = """
import sys, time
from dvx import remote
_object_path = remote.Remote.object_path
def object_path(self, digest):  # every backend names each object it moves here
    time.sleep(0.02)
    return _object_path(self, digest)
remote.Remote.object_path = object_path
for name in ("put_pack", "read_range"):  # and each pack it moves
    def slowed(self, *args, _real=getattr(remote.Remote, name)):
        time.sleep(0.05)
        return _real(self, *args)
    setattr(remote.Remote, name, slowed)
from dvx.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def kill_midway(args: list[str], cwd: Path, started: Callable[[], bool]) -> None:
    """Run a slowed-down dvx, SIGKILL it once ``started()``, and check it was killed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_DVX, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(f"'dvx {' '.join(args)}' to get going", started, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def wait_for(
    what: str, cond: Callable[[], bool], proc: subprocess.Popen[str] | None = None
) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not cond():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def many(repo: Path, store: Store, tmp_path: Path) -> Iterator[Path]:
    """A stage whose output is a directory of 300 small files; run and committed."""
    write(
        "src/gen.py",
        """
        from pathlib import Path
        out = Path("many")
        out.mkdir()
        for i in range(300):
            (out / f"f{i:03d}.txt").write_text(f"file {i}\\n" * (i % 7 + 1))
        """,
    )
    write(
        "dvx.yaml",
        f"""
        stages:
          gen:
            cmd: {PY} src/gen.py
            outs: [many]
        """,
    )
    store.add()
    res = run("repro")
    assert res.code == 0, res.output
    commit_all(repo)
    yield repo


def small_packs(store: Store) -> None:
    """Packs of a few hundred bytes, so that an object store gets many of them
    (a local folder never packs; the option is harmless there)."""
    assert run("remote", "modify", "store", "pack_size", "400").code == 0


def test_an_interrupted_push_finishes_when_rerun(
    many: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = workspace_files(many)
    total = len(cache_objects(many))
    assert total == 301  # 300 files and the manifest
    small_packs(store)
    kill_midway(["push", "-j", "1"], many, lambda: len(store.objects()) >= 5)
    partial = len(store.objects())
    assert 5 <= partial < total
    assert store.runs() == []  # an action-cache entry only after all its objects
    assert lock_outs(many)["many"] not in store.objects()  # a manifest after its files
    store.assert_every_object_hashes_to_its_name()  # nothing partial under a final name

    res = run("push", "--json")
    assert res.code == 0, res.output
    doc = as_json(res)
    assert doc["objects"] + doc["present"] == total
    assert doc["present"] >= partial
    assert doc["runs"] == 1
    assert len(store.objects()) == total
    store.assert_every_object_hashes_to_its_name()

    b = clone(many, tmp_path / "b", monkeypatch)
    res = run("pull")
    assert res.code == 0, res.output
    assert workspace_files(b) == expected
    assert run("check").code == 0


def test_an_interrupted_pull_finishes_when_rerun(
    many: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = workspace_files(many)
    small_packs(store)
    assert run("push").code == 0
    b = clone(many, tmp_path / "b", monkeypatch)
    kill_midway(["pull", "-j", "1"], b, lambda: len(cache_objects(b)) >= 5)
    partial = cache_objects(b)
    assert 5 <= len(partial) < len(cache_objects(many))
    for digest in partial:  # nothing partial under a final name
        path = b / ".dvx" / "cache" / "objects" / digest[:2] / digest[2:]
        assert hashing.hash_bytes(path.read_bytes()) == digest

    res = run("pull", "--json")
    assert res.code == 0, res.output
    doc = as_json(res)
    assert doc["present"] >= len(partial)
    assert workspace_files(b) == expected
    assert run("check").code == 0


def test_pull_reports_objects_nobody_pushed(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("repro").code == 0
    commit_all(team.a)
    res = run("push", "data/raw.txt.dvx")  # forgot the pipeline's outputs
    assert res.code == 0, res.output
    model = lock_outs(team.a)["model.txt"]

    b = clone(team.a, tmp_path / "b", monkeypatch)
    res = run("pull")
    assert res.code == 1, res.output
    assert model in res.err
    assert "missing" in res.err
    assert not (b / "model.txt").exists()
    assert (b / "data/raw.txt").read_bytes() == (team.a / "data/raw.txt").read_bytes()

    # dvx repro falls back to running what no remote has.
    res = run("repro")
    assert res.code == 0, res.output
    assert "prep: ran in" in res.out
    assert "train: ran in" in res.out
    assert workspace_files(b) == workspace_files(team.a)


def test_two_concurrent_pushers_both_succeed(
    repo: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add()
    commit_all(repo, "remote")
    other = tmp_path / "other"
    git("clone", "-q", str(repo), str(other))
    for root, files in ((repo, range(0, 200)), (other, range(100, 300))):
        monkeypatch.chdir(root)
        for i in files:
            write(f"data/f{i:03d}.txt", f"shared file {i}\n" * (i % 5 + 1))
        write(f"own-{root.name}.txt", f"only in {root.name}\n")
        res = run("add", "data", f"own-{root.name}.txt")
        assert res.code == 0, res.output
    expected = cache_objects(repo) | cache_objects(other)
    assert len(cache_objects(repo) & cache_objects(other)) >= 100  # they overlap

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "dvx", "push", "-j", "4"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root in (repo, other)
    ]
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        results.append((proc.returncode, out, err))
    for code, out, err in results:
        assert code == 0, out + err
    assert set(store.objects()) == expected
    store.assert_every_object_hashes_to_its_name()


def test_fetch_fills_the_cache_without_touching_the_workspace(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repro_and_push(team)
    b = clone(team.a, tmp_path / "b", monkeypatch)
    before = workspace_files(b)
    res = run("fetch")
    assert res.code == 0, res.output
    assert workspace_files(b) == before
    assert git("status", "--porcelain", cwd=b) == ""
    assert cache_objects(b) == cache_objects(team.a)
    assert all(cached(b, h) for h in lock_outs(team.a).values())

    # The action-cache entries came too: repro restores without a remote or a run.
    res = run("repro", "--no-remote")
    assert res.code == 0, res.output
    assert "prep: restored" in res.out
    assert "train: restored" in res.out
    assert team.commands_run() == ["prep", "train"]
    assert workspace_files(b) == workspace_files(team.a)


def test_r_selects_a_non_default_remote(
    team: Team, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = store.sibling("other")
    other.add("other", default=False)
    assert run("repro").code == 0
    commit_all(team.a)
    res = run("push", "-r", "other")
    assert res.code == 0, res.output
    assert other.objects() == sorted(cache_objects(team.a))
    assert store.objects() == []

    b = clone(team.a, tmp_path / "b", monkeypatch)
    assert run("pull").code == 1  # the default remote has nothing
    res = run("pull", "-r", "other")
    assert res.code == 0, res.output
    assert workspace_files(b) == workspace_files(team.a)


def test_an_unknown_remote_is_a_usage_error(team: Team) -> None:
    for verb in ("push", "pull", "fetch"):
        res = run(verb, "-r", "nope")
        assert res.code == 2, res.output
        assert "unknown remote 'nope'" in res.err
        assert "store" in res.err  # names the configured ones
        assert "Traceback" not in res.output


def test_no_remote_at_all_is_a_usage_error(repo: Path) -> None:
    res = run("push")
    assert res.code == 2
    assert "dvx remote add" in res.err


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("url", "module", "extra"),
    [
        ("gs://bucket/dvx", "gcsfs", "dvx[gs]"),
        ("az://container/dvx", "adlfs", "dvx[azure]"),
        ("ssh://host/srv/dvx", "sshfs", "dvx[ssh]"),
    ],
)
def test_a_missing_optional_backend_names_the_extra(
    repo: Path, url: str, module: str, extra: str
) -> None:
    if _installed(module):
        pytest.skip(f"{module} is installed, so the backend is not missing")
    assert run("remote", "add", "-d", "far", url).code == 0
    for verb in ("push", "pull", "fetch"):
        res = run(verb)
        assert res.code == 2, res.output
        assert extra in res.err
        assert "Traceback" not in res.output


def test_a_directory_of_small_and_big_files_round_trips_and_a_corrupt_big_one_is_caught(
    repo: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files are copied whole in memory, files above 1 MiB are streamed: both
    paths of push, pull and checkout, and the hash check of each."""
    import random

    rng = random.Random(7)
    data = repo / "data"
    for i in range(40):
        write(f"data/d{i % 4}/small{i}.bin", "")
        (data / f"d{i % 4}" / f"small{i}.bin").write_bytes(rng.randbytes(rng.randint(0, 5000)))
    big = rng.randbytes(3 * 1024 * 1024 + 17)
    (data / "big.bin").write_bytes(big)
    (repo / "single.bin").write_bytes(big[::-1])
    assert run("add", "data", "single.bin").code == 0
    store.add()
    commit_all(repo)
    res = run("push")
    assert res.code == 0, res.output
    expected = workspace_files(repo)

    b = clone(repo, tmp_path / "b", monkeypatch)
    res = run("pull")
    assert res.code == 0, res.output
    assert workspace_files(b) == expected
    assert as_json(run("status", "--json"))["clean"] is True

    # Corrupt the big file's object on the remote (same size): a fresh clone's pull
    # reports it and leaves the directory that needs it unchecked-out.
    big_hash = hashing.hash_bytes(big)
    store.overwrite(big_hash, bytes(b ^ 0x01 for b in big))
    c = clone(repo, tmp_path / "c", monkeypatch)
    res = run("pull", "--json")
    assert res.code == 1, res.output
    doc = json.loads(res.out)
    assert doc["corrupt"] == [big_hash]
    assert not cached(c, big_hash)
    assert not (c / "data").exists()
    assert (c / "single.bin").read_bytes() == big[::-1]


def test_a_manifest_on_the_remote_vouches_for_its_files_and_full_repairs(
    many: Path, store: Store
) -> None:
    """A directory's manifest is pushed after its files, so a no-op push asks about
    the manifest only. Objects deleted by hand: check --remote names them and
    push --full sends them again."""
    assert run("push").code == 0
    manifest = lock_outs(many)["many"]
    gone = next(h for h in store.objects() if h != manifest)
    store.delete(gone)

    doc = as_json(run("push", "--json"))
    assert doc["objects"] == 0  # trusted the manifest
    assert doc["ok"] is True
    res = run("check", "--remote")
    assert res.code == 1
    assert gone in res.out
    assert "dvx push --full" in res.err

    doc = as_json(run("push", "--full", "--json"))
    assert doc["objects"] >= 1  # a packed object is sent again with its pack's others
    assert gone in store.objects()
    assert run("check", "--remote").code == 0
    store.assert_every_object_hashes_to_its_name()


def test_many_small_objects_go_to_an_object_store_as_packs(
    many: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 gets a few packs instead of 300 files; a local folder one file per object.
    Pull verifies every packed object, gc drops a pack nothing references, and
    pack_size 0 keeps one file per object."""
    expected = workspace_files(many)
    manifest = lock_outs(many)["many"]
    assert run("push").code == 0
    packed = store.packed()
    if store.kind == "local":
        assert packed == {}
        assert len(store._names("objects")) == 301
        return
    assert len(packed) == 300
    assert len({pack for pack, _, _ in packed.values()}) == 1
    assert store._names("objects") == [manifest]  # manifests stay one file each
    assert as_json(run("push", "--json"))["objects"] == 0
    assert run("check", "--remote").code == 0

    b = clone(many, tmp_path / "b", monkeypatch)
    res = run("pull")
    assert res.code == 0, res.output
    assert workspace_files(b) == expected
    # The index is kept locally (packs never change); a second look reads it there.
    assert len(list((b / ".dvx" / "tmp" / "packs").glob("*.idx"))) == 1
    assert run("check", "--remote").code == 0

    # A corrupt packed object is caught (same size, other bytes) and not checked out.
    victim = sorted(packed)[7]
    store.overwrite(victim, bytes(x ^ 0x01 for x in store.read(victim)))
    c = clone(many, tmp_path / "c", monkeypatch)
    doc = as_json(run("pull", "--json"))
    assert doc["corrupt"] == [victim]
    assert not (c / "many").exists()

    # gc --remote: once nothing references the pack's objects, the pack goes.
    monkeypatch.chdir(many)
    write("src/gen.py", "from pathlib import Path\nPath('many').mkdir()\n")
    assert run("repro").code == 0
    res = run("gc", "--remote", "store", "-f")
    assert res.code == 0, res.output
    assert store.packed() == {}
    assert store._keys("packs") == []


def test_pack_size_zero_keeps_one_file_per_object_on_an_object_store(
    many: Path, store: Store
) -> None:
    assert run("remote", "modify", "store", "pack_size", "0").code == 0
    assert run("push").code == 0
    assert store.packed() == {}
    assert len(store._names("objects")) == 301
    res = run("remote", "modify", "store", "pack_size", "lots")
    assert res.code == 0  # stored as given; refused when used
    res = run("push")
    assert res.code == 2
    assert "pack_size" in res.err
    assert "Traceback" not in res.output


@pytest.mark.parametrize("store", ["s3"], indirect=True)  # only object stores get packs
def test_packs_are_read_from_a_local_copy_of_a_bucket(
    many: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FORMAT.md: dvx reads packs on any remote, so a bucket copied to a folder works."""
    expected = workspace_files(many)
    assert run("push").code == 0
    assert store.packed()
    folder = tmp_path / "copy"
    for rel in store._keys("objects") + store._keys("runs") + store._keys("packs"):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(store._get(rel))

    b = clone(many, tmp_path / "b", monkeypatch)
    assert run("remote", "add", "-d", "copy", str(folder)).code == 0
    res = run("pull", "-r", "copy")
    assert res.code == 0, res.output
    assert workspace_files(b) == expected
    assert run("check", "--remote", "copy").code == 0
