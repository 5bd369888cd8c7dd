"""Everything dvx reads from git goes through here (the only pygit2 importer).

Reading files at a revision never checks anything out: blobs are read straight
from the object database. Paths here are relative to the dvx repository root,
which may be a subdirectory of the git work tree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvx.errors import UsageError


@dataclass(frozen=True)
class HeadInfo:
    commit: str | None
    dirty: bool | None


def _open(root: Path) -> Any:
    import pygit2

    try:
        return pygit2.Repository(str(root))
    except pygit2.GitError:
        return None


def head_info(root: Path) -> HeadInfo:
    """The checked-out commit and whether tracked files differ from it."""
    import pygit2

    repo = _open(root)
    if repo is None or repo.head_is_unborn:
        return HeadInfo(None, None)
    commit = str(repo.head.target)
    ignored = pygit2.enums.FileStatus.IGNORED | pygit2.enums.FileStatus.WT_NEW
    dirty = any(st & ~ignored for st in repo.status(untracked_files="no").values())
    return HeadInfo(commit, dirty)


class GitRepo:
    """Read-only access to the history of the git repo holding a dvx repo."""

    def __init__(self, root: Path) -> None:
        repo = _open(root)
        if repo is None:
            raise UsageError(f"{root} is not inside a git repository", hint="run 'git init'")
        self._repo = repo
        workdir = Path(repo.workdir).resolve()
        rel = root.resolve().relative_to(workdir).as_posix()
        self.prefix = "" if rel == "." else rel + "/"

    def resolve(self, rev: str) -> Any:
        """The commit a revision names (branch, tag, sha, ``HEAD~2``…)."""
        import pygit2

        try:
            obj = self._repo.revparse_single(rev)
            commit = obj.peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise UsageError(
                f"unknown revision '{rev}'", hint="use a branch, tag or commit of this repository"
            ) from None
        return commit

    def commit_id(self, rev: str) -> str:
        return str(self.resolve(rev).id)

    def read(self, commit: Any, path: str) -> bytes | None:
        """A file's bytes at ``commit`` (path relative to the dvx root), or None."""
        try:
            entry = commit.tree[self.prefix + path]
        except KeyError:
            return None
        obj = self._repo[entry.id]
        return obj.data if obj.type_str == "blob" else None

    def files(self, commit: Any, want: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
        """(path, bytes) of every file under the dvx root whose path ``want`` accepts."""
        import pygit2

        tree = commit.tree
        if self.prefix:
            try:
                tree = self._repo[tree[self.prefix.rstrip("/")].id]
            except KeyError:
                return
        stack: list[tuple[Any, str]] = [(tree, "")]
        while stack:
            t, base = stack.pop()
            for entry in t:
                path = base + entry.name
                if entry.type_str == "tree":
                    stack.append((self._repo[entry.id], path + "/"))
                elif entry.type_str == "blob" and want(path):
                    blob = self._repo[entry.id]
                    if isinstance(blob, pygit2.Blob):
                        yield path, blob.data

    def all_commits(self) -> Iterator[Any]:
        """Every commit reachable from any branch, tag or HEAD, each once."""
        import pygit2

        seen: set[Any] = set()
        tips = []
        for name in self._repo.references:
            try:
                tips.append(self._repo.references[name].peel(pygit2.Commit).id)
            except (pygit2.GitError, ValueError, KeyError):
                continue
        if not self._repo.head_is_unborn:
            tips.append(self._repo.head.target)
        for tip in tips:
            if tip in seen:
                continue
            for commit in self._repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL):
                if commit.id in seen:
                    continue
                seen.add(commit.id)
                yield commit


def set_config(root: Path, key: str, value: str) -> None:
    repo = _open(root)
    if repo is None:
        raise UsageError(f"{root} is not inside a git repository", hint="run 'git init'")
    repo.config[key] = value


def unset_config_section(root: Path, section: str) -> None:
    repo = _open(root)
    if repo is None:
        return
    for entry in list(repo.config):
        if entry.name.startswith(section + "."):
            del repo.config[entry.name]


def hooks_dir(root: Path) -> Path:
    """Where git looks for hooks: ``core.hooksPath`` if set, else ``.git/hooks``."""
    repo = _open(root)
    if repo is None:
        raise UsageError(f"{root} is not inside a git repository", hint="run 'git init'")
    try:
        configured = repo.config["core.hooksPath"]
    except KeyError:
        return Path(repo.path) / "hooks"
    path = Path(os.path.expanduser(configured))
    if not path.is_absolute():
        # Relative hooksPath is relative to the work tree root (where hooks run).
        path = Path(repo.workdir or repo.path) / path
    return path.resolve()
