"""One suite for the ``Remote`` protocol (dvx/remote.py), run against every backend.

Like restic's backend suite and fsspec's abstract tests: the same contracts, checked
against a local folder and against a real S3 HTTP endpoint (moto on loopback).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Any

import pytest

import dvx.remote
from dvx import hashing
from dvx.config import Config
from dvx.remote import LocalRemote, Remote, open_remote

pytest_plugins = ["s3server"]

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    opts: dict[str, Any]
    if request.param == "local":
        opts = {"url": str(tmp_path / "remote")}
    else:
        bucket = request.getfixturevalue("s3_bucket")
        opts = {"url": f"s3://{bucket.name}/store", "endpoint_url": bucket.endpoint}
    return open_remote(Config(core={}, remotes={"r": opts}), "r", tmp_path)


def local_file(tmp_path: Path, data: bytes) -> tuple[Path, str]:
    """A file holding ``data`` and the object name (hash) it would have."""
    digest = hashing.hash_bytes(data)
    path = tmp_path / "src" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, digest


PAYLOADS = [b"", b"hello\n", os.urandom(3 * 1024 * 1024 + 17)]


@pytest.mark.parametrize("data", PAYLOADS, ids=["empty", "small", "3MiB"])
def test_put_then_get_round_trips_bytes(remote: Remote, tmp_path: Path, data: bytes) -> None:
    src, digest = local_file(tmp_path, data)
    remote.put(src, remote.object_path(digest))
    dest = tmp_path / "back"
    remote.get(remote.object_path(digest), dest)
    assert dest.read_bytes() == data
    assert remote.read(remote.object_path(digest)) == data


def test_put_is_write_once_and_idempotent(remote: Remote, tmp_path: Path) -> None:
    src, digest = local_file(tmp_path, b"same content\n")
    path = remote.object_path(digest)
    remote.put(src, path)
    remote.put(src, path)  # a second pusher of the same object must not fail
    assert remote.read(path) == b"same content\n"
    assert remote.list_objects() == {digest}


def test_an_empty_remote_lists_nothing(remote: Remote) -> None:
    assert remote.list_objects() == set()
    assert remote.list_runs() == set()


def test_listings_return_exactly_what_was_put(remote: Remote, tmp_path: Path) -> None:
    objects = set()
    for i in range(20):
        src, digest = local_file(tmp_path, f"object {i}\n".encode())
        remote.put(src, remote.object_path(digest))
        objects.add(digest)
    runs = set()
    for i in range(3):
        src, key = local_file(tmp_path, f'{{"run": {i}}}\n'.encode())
        remote.put(src, remote.run_path(key))
        runs.add(key)
    # Debris of an interrupted upload on a rename-based backend is not an object.
    stray, stray_digest = local_file(tmp_path, b"partial upload")
    remote.fs.makedirs(posixpath.join(remote.root, "tmp"), exist_ok=True)
    remote.fs.put_file(str(stray), posixpath.join(remote.root, "tmp", "ab" + stray_digest[2:]))
    remote.fs.put_file(str(stray), posixpath.join(remote.root, "tmp", "x.tmp"))

    assert remote.list_objects() == objects
    assert remote.list_runs() == runs
    assert stray_digest not in remote.list_objects()


def test_exists(remote: Remote, tmp_path: Path) -> None:
    src, digest = local_file(tmp_path, b"present\n")
    _, absent = local_file(tmp_path, b"absent\n")
    assert not remote.exists(remote.object_path(digest))
    remote.put(src, remote.object_path(digest))
    assert remote.exists(remote.object_path(digest))
    assert not remote.exists(remote.object_path(absent))
    assert not remote.exists(remote.run_path(digest))


def test_read_of_an_absent_path_is_none(remote: Remote, tmp_path: Path) -> None:
    _, digest = local_file(tmp_path, b"never put\n")
    assert remote.read(remote.object_path(digest)) is None
    assert remote.read(remote.run_path(digest)) is None
    src, present = local_file(tmp_path, b"put\n")
    remote.put(src, remote.object_path(present))
    # Same two-character directory, other name: absent, not an error.
    sibling = present[:2] + "0" * (len(present) - 2)
    assert remote.read(remote.object_path(sibling)) is None


def test_get_of_an_absent_object_raises_file_not_found(remote: Remote, tmp_path: Path) -> None:
    _, digest = local_file(tmp_path, b"never put\n")
    with pytest.raises(FileNotFoundError):
        remote.get(remote.object_path(digest), tmp_path / "dest")


def test_delete(remote: Remote, tmp_path: Path) -> None:
    src_a, a = local_file(tmp_path, b"a\n")
    src_b, b = local_file(tmp_path, b"b\n")
    remote.put(src_a, remote.object_path(a))
    remote.put(src_b, remote.object_path(b))
    remote.delete([])  # nothing to do is not an error
    remote.delete([remote.object_path(a)])
    assert not remote.exists(remote.object_path(a))
    assert remote.read(remote.object_path(a)) is None
    assert remote.list_objects() == {b}
    assert remote.read(remote.object_path(b)) == b"b\n"


def test_put_from_a_missing_file_leaves_nothing(remote: Remote, tmp_path: Path) -> None:
    _, digest = local_file(tmp_path, b"gone\n")
    with pytest.raises(FileNotFoundError):
        remote.put(tmp_path / "does-not-exist", remote.object_path(digest))
    assert not remote.exists(remote.object_path(digest))
    assert remote.list_objects() == set()


# ---- rename-based backends: a failed put leaves nothing under the final name ----


@pytest.fixture(params=["plain", "fsspec"])
def local_remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    """The local-folder remote as dvx opens it (plain system calls), and the same
    folder through fsspec's local filesystem (the path SSH remotes take)."""
    remote = open_remote(Config(remotes={"r": {"url": str(tmp_path / "remote")}}), "r", tmp_path)
    if request.param == "fsspec":
        remote = Remote(remote.name, remote.url, remote.fs, remote.root)
    return remote


def _leftovers(remote: Remote) -> list[Path]:
    tmp = Path(remote.root) / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def test_local_put_is_not_atomic_by_itself_so_it_renames(local_remote: Remote) -> None:
    assert not local_remote.atomic_put


def _patch_upload(remote: Remote, monkeypatch: pytest.MonkeyPatch, fn: Any) -> None:
    if isinstance(remote, LocalRemote):
        monkeypatch.setattr(dvx.remote, "_copy", lambda src, dst: fn(str(src), str(dst)))
    else:
        monkeypatch.setattr(remote.fs, "put_file", fn)


def _patch_rename(remote: Remote, monkeypatch: pytest.MonkeyPatch, fn: Any) -> None:
    if isinstance(remote, LocalRemote):
        monkeypatch.setattr(dvx.remote.os, "replace", fn)
    else:
        monkeypatch.setattr(remote.fs, "mv", fn)


def test_local_put_failing_midway_upload_leaves_nothing(
    local_remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(64 * 1024)
    src, digest = local_file(tmp_path, data)

    def half_then_fail(lpath: str, rpath: str, **kw: Any) -> None:
        # Write part of the bytes wherever dvx asked, then lose the connection.
        with open(rpath, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError("connection reset")

    with monkeypatch.context() as m:
        _patch_upload(local_remote, m, half_then_fail)
        with pytest.raises(OSError, match="connection reset"):
            local_remote.put(src, local_remote.object_path(digest))
    assert not Path(local_remote.object_path(digest)).exists()
    assert local_remote.list_objects() == set()
    assert _leftovers(local_remote) == []

    # And the next attempt succeeds.
    local_remote.put(src, local_remote.object_path(digest))
    assert Path(local_remote.object_path(digest)).read_bytes() == data


def test_local_put_failing_at_the_rename_leaves_nothing(
    local_remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, digest = local_file(tmp_path, b"x" * 10_000)

    def fail(*args: Any, **kw: Any) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as m:
        _patch_rename(local_remote, m, fail)
        with pytest.raises(OSError, match="disk full"):
            local_remote.put(src, local_remote.object_path(digest))
    assert not Path(local_remote.object_path(digest)).exists()
    assert local_remote.list_objects() == set()
    assert _leftovers(local_remote) == []
