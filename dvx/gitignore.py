"""Cached outputs and tracked data are added to the ``.gitignore`` next to them."""

from __future__ import annotations

import re
import threading
from pathlib import Path

from dvx.repo import Repo
from dvx.yamlio import atomic_write

_lock = threading.Lock()


def _entry(repo: Repo, rel: str) -> tuple[Path, str]:
    parent, _, name = rel.rpartition("/")
    # Escape glob characters so that 'f[1].csv' ignores itself, not 'f1.csv'.
    entry = "/" + re.sub(r"([\\*?\[])", r"\\\1", name)
    if entry.endswith(" "):
        entry = entry[:-1] + "\\ "  # git strips unescaped trailing spaces
    return repo.abspath(parent or ".") / ".gitignore", entry


def ensure_ignored(repo: Repo, rel: str) -> bool:
    """Add ``/NAME`` for ``rel`` to the ``.gitignore`` in its parent directory.

    Returns True when the file changed. Existing lines are kept as they are.
    """
    gi, entry = _entry(repo, rel)
    with _lock:
        try:
            text = gi.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        lines = text.splitlines()
        if entry in lines or entry + "/" in lines:
            return False
        if text and not text.endswith("\n"):
            text += "\n"
        gi.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(gi, text + entry + "\n")
        return True


def forget(repo: Repo, rel: str) -> bool:
    """Remove the line :func:`ensure_ignored` added for ``rel`` (a stage was removed).

    Leaves no stale entries behind, so a directory holding the outputs of
    partitions returns to exactly its earlier content when a partition goes.
    A ``.gitignore`` left empty is deleted.
    """
    gi, entry = _entry(repo, rel)
    with _lock:
        try:
            lines = gi.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return False
        kept = [line for line in lines if line not in (entry, entry + "/")]
        if len(kept) == len(lines):
            return False
        if kept:
            atomic_write(gi, "\n".join(kept) + "\n")
        else:
            gi.unlink()
        return True
