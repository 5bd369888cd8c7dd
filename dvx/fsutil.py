"""Small file operations shared by the cache and local remotes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


SMALL = 1 << 20  # files up to this size are read whole; bigger ones are streamed


def read_small(path: str | Path) -> bytes | None:
    """The whole content of a file of at most :data:`SMALL` bytes, or None when it
    is bigger (the caller streams it). Three system calls for a small file."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size > SMALL:
            return None
        data = os.read(fd, size + 1)  # a short read is the end of a regular file
        if len(data) > size:  # it grew while being read
            parts = [data]
            while chunk := os.read(fd, SMALL):
                parts.append(chunk)
            data = b"".join(parts)
        return data
    finally:
        os.close(fd)


def write_new(path: str | Path, data: bytes, mode: int = 0o666) -> os.stat_result:
    """Create ``path`` (FileExistsError if it exists) holding ``data``; its stat.

    ``mode`` applies at creation (less the umask), so a read-only file needs no
    extra chmod. On error the caller removes what may have been created.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return os.fstat(fd)
    finally:
        os.close(fd)


def write_replace(tmp: str, dest: str | Path, data: bytes, mode: int = 0o666) -> os.stat_result:
    """Give ``dest`` the content ``data`` atomically: written to ``tmp`` (in the same
    directory, created if missing), then renamed over ``dest``. A reader sees the
    old file or the complete new one, never a partial one. Returns the new stat."""
    try:
        try:
            st = write_new(tmp, data, mode)
        except FileExistsError:  # left by a killed run (and maybe read-only)
            os.unlink(tmp)
            st = write_new(tmp, data, mode)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(tmp), exist_ok=True)
            st = write_new(tmp, data, mode)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return st


def copy_new(src: str | Path, dest: str | Path) -> None:
    """Copy ``src`` to a new file ``dest`` (which must not exist).

    Leaner than ``shutil.copyfile`` for the many small files a checkout, add or
    push moves; ``sendfile`` keeps big files in the kernel.
    """
    data = read_small(src)
    if data is not None:
        write_new(dest, data)
        return
    with open(src, "rb", buffering=0) as f, open(dest, "xb", buffering=0) as out:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while offset < size:
            sent = os.sendfile(out.fileno(), f.fileno(), offset, size - offset)
            if sent == 0:
                break
            offset += sent


def default_jobs() -> int:
    """Threads for local small-file work: one per CPU, at most 4. Each file costs a
    few short system calls, and every call hands the interpreter lock to another
    thread: more threads than cores spend their time handing it over (measured
    in bench/: 2 threads on 2 cores beat 4 and 8)."""
    return min(4, os.cpu_count() or 1)


def parallel(
    fn: Callable[[T], object],
    items: Sequence[T],
    *,
    group: Callable[[T], Hashable],
    jobs: int | None = None,
) -> None:
    """Run ``fn`` over many small-file operations on a few threads.

    A task is a whole ``group`` of items (say, those written into one directory),
    never one item: handing out single files costs more than copying them, and
    two threads seldom create files in one directory at once, where the kernel
    would make them wait for each other. The first exception ``fn`` raises
    propagates.
    """
    jobs = jobs or default_jobs()
    if len(items) < 16 or jobs <= 1:
        for item in items:
            fn(item)
        return
    buckets: dict[Hashable, list[T]] = {}
    for item in items:
        buckets.setdefault(group(item), []).append(item)
    tasks = list(buckets.values())

    def run(task: list[T]) -> None:
        for item in task:
            fn(item)

    with ThreadPoolExecutor(min(jobs, len(tasks))) as pool:
        for _ in pool.map(run, tasks):
            pass
