"""Everything dvx reads from git goes through here (the only pygit2 importer)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HeadInfo:
    commit: str | None
    dirty: bool | None


def head_info(root: Path) -> HeadInfo:
    """The checked-out commit and whether tracked files differ from it."""
    try:
        import pygit2
    except ImportError:  # pragma: no cover - pygit2 is a dependency
        return HeadInfo(None, None)
    try:
        repo = pygit2.Repository(str(root))
    except pygit2.GitError:
        return HeadInfo(None, None)
    if repo.head_is_unborn:
        return HeadInfo(None, None)
    commit = str(repo.head.target)
    flags = pygit2.enums.FileStatus
    ignored = flags.IGNORED | flags.WT_NEW
    dirty = any(st & ~ignored for st in repo.status(untracked_files="no").values())
    return HeadInfo(commit, dirty)
