"""A parse cache for big files read by every command (``dvx.lock``, ``dvx.yaml``).

Parsing a 100-stage lock or stage file costs a no-op ``dvx status`` most of its
time, yet the files rarely change between commands. The parsed result is kept in
``.dvx/tmp/NAME.pickle`` under the xxh3 of the file's bytes (and the dvx version,
so an upgrade never reads an old shape). ``.dvx/tmp`` is private to this machine,
and a stale or damaged entry is simply rebuilt: it is only a cache.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dvx import __version__
from dvx.hashing import hash_bytes

T = TypeVar("T")


def parsed(tmp_dir: Path, name: str, data: bytes, build: Callable[[], T]) -> T:
    key = f"{__version__}:{hash_bytes(data)}"
    path = tmp_dir / f"{name}.pickle"
    try:
        with open(path, "rb") as f:
            stored_key, value = pickle.load(f)
        if stored_key == key:
            return value
    except (OSError, pickle.PickleError, EOFError, ValueError, TypeError, AttributeError):
        pass
    value = build()
    with contextlib.suppress(OSError):
        from dvx.yamlio import atomic_write

        tmp_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(path, pickle.dumps((key, value), protocol=pickle.HIGHEST_PROTOCOL))
    return value
