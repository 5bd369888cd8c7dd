"""The repository lock: one dvx process writes a repo at a time.

An ``flock`` on ``.dvx/tmp/lock`` is released by the kernel when the holder dies,
so a killed dvx never leaves a stale lock behind. The file holds the holder's pid
so that the refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dvx.errors import RepoLockedError


@contextmanager
def repo_lock(tmp_dir: Path) -> Iterator[None]:
    tmp_dir.mkdir(parents=True, exist_ok=True)
    path = tmp_dir / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RepoLockedError(
                f"another dvx process (pid {holder}) holds the repo lock",
                hint="wait for it to finish; the lock is released when it exits",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
