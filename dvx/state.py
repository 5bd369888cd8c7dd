"""The stat cache: (path, inode, mtime_ns, size) → content hash.

It lets a no-op ``dvx status`` over thousands of tracked files stat them without
reading a byte. It lives in ``.dvx/tmp/state.db`` (SQLite, ``PRAGMA user_version``
is the format version) and is only ever a cache: deleting it costs re-hashing.

An entry is trusted only when inode, mtime and size all match. A file modified
within the filesystem's timestamp granularity of being hashed could keep its
mtime, so entries for files younger than ``RACY_NS`` are not stored (git calls
this the racily-clean problem); they are simply hashed again next time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

STATE_VERSION = 1
RACY_NS = 1_000_000_000
_CHUNK = 500

Row = tuple[int, int, int, str]  # inode, mtime_ns, size, hash


class State:
    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version != STATE_VERSION:
            # A cache of another format is thrown away rather than migrated.
            self._db.execute("DROP TABLE IF EXISTS state")
            self._db.execute(f"PRAGMA user_version={STATE_VERSION}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS state (path TEXT PRIMARY KEY, inode INTEGER,"
            " mtime_ns INTEGER, size INTEGER, hash TEXT) WITHOUT ROWID"
        )
        # Written in batches; lookups see pending rows too, or an object verified a
        # moment ago in this command would be read and hashed all over again.
        self._pending: dict[str, tuple[str, int, int, int, str]] = {}

    def get(self, path: str, st: os.stat_result) -> str | None:
        return self.get_many({path: st}).get(path)

    def get_many(self, stats: dict[str, os.stat_result]) -> dict[str, str]:
        """Hashes of the paths whose stat matches the stored entry."""
        found: dict[str, str] = {}
        with self._lock:
            for path, st in stats.items():
                row = self._pending.get(path)
                if row is not None and (st.st_ino, st.st_mtime_ns, st.st_size) == row[1:4]:
                    found[path] = row[4]
            paths = [p for p in stats if p not in found]
            for i in range(0, len(paths), _CHUNK):
                chunk = paths[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT path, inode, mtime_ns, size, hash FROM state WHERE path IN ({marks})",
                    chunk,
                )
                for path, inode, mtime_ns, size, digest in rows:
                    st = stats[path]
                    if st.st_ino == inode and st.st_mtime_ns == mtime_ns and st.st_size == size:
                        found[path] = digest
        return found

    def put(self, path: str, st: os.stat_result, digest: str, *, trusted: bool = False) -> None:
        """Remember a hash. ``trusted`` is for files dvx itself just wrote and made read-only."""
        if not trusted and time.time_ns() - st.st_mtime_ns < RACY_NS:
            return
        with self._lock:
            self._pending[path] = (path, st.st_ino, st.st_mtime_ns, st.st_size, digest)
            if len(self._pending) >= 5000:
                self._flush()

    def put_many(self, items: Iterable[tuple[str, os.stat_result, str]]) -> None:
        for path, st, digest in items:
            self.put(path, st, digest)

    def _flush(self) -> None:
        if not self._pending:
            return
        self._db.execute("BEGIN")
        rows = list(self._pending.values())
        self._db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", rows)
        self._db.execute("COMMIT")
        self._pending.clear()

    def flush(self) -> None:
        with self._lock:
            self._flush()

    def close(self) -> None:
        self.flush()
        self._db.close()
