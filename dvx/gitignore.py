"""Cached outputs and tracked data are added to the ``.gitignore`` next to them."""

from __future__ import annotations

import re
import threading

from dvx.repo import Repo
from dvx.yamlio import atomic_write

_lock = threading.Lock()


def ensure_ignored(repo: Repo, rel: str) -> bool:
    """Add ``/NAME`` for ``rel`` to the ``.gitignore`` in its parent directory.

    Returns True when the file changed. Existing lines are kept as they are.
    """
    parent, _, name = rel.rpartition("/")
    # Escape glob characters so that 'f[1].csv' ignores itself, not 'f1.csv'.
    entry = "/" + re.sub(r"([\\*?\[])", r"\\\1", name)
    if entry.endswith(" "):
        entry = entry[:-1] + "\\ "  # git strips unescaped trailing spaces
    gi = repo.abspath(parent or ".") / ".gitignore"
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
