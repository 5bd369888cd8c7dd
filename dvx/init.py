"""``dvx init``: create ``.dvx/`` in a git work tree (SPEC §8)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dvx import config
from dvx.errors import NotARepoError
from dvx.repo import DVX_DIR, Repo, find_git_root
from dvx.yamlio import atomic_write

DVX_GITIGNORE = "/cache/\n/tmp/\n/config.local.yaml\n"
ATTRIBUTES = ("dvx.lock merge=dvx", "*.dvx merge=dvx")


@dataclass
class InitResult:
    repo: Repo
    created: bool
    git_root: Path | None


def init(path: Path, *, no_git: bool = False) -> InitResult:
    """Create ``PATH/.dvx`` (idempotent: an existing repo only gets missing pieces)."""
    path = path.resolve()
    git_root = find_git_root(path)
    if git_root is None and not no_git:
        raise NotARepoError(
            f"{path} is not inside a git repository",
            hint="run 'git init' first (or 'dvx init --no-git' to use dvx without git)",
        )
    dvx_dir = path / DVX_DIR
    created = not dvx_dir.is_dir()
    dvx_dir.mkdir(exist_ok=True)
    if not (dvx_dir / ".gitignore").exists():
        atomic_write(dvx_dir / ".gitignore", DVX_GITIGNORE)
    if not (dvx_dir / "config.yaml").exists():
        atomic_write(dvx_dir / "config.yaml", config.initial_text())
    attrs = path / ".gitattributes"
    text = attrs.read_text(encoding="utf-8") if attrs.exists() else ""
    missing = [a for a in ATTRIBUTES if a not in text.splitlines()]
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        atomic_write(attrs, text + "".join(a + "\n" for a in missing))
    return InitResult(Repo(path), created, git_root)
