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

    def paths(self, commit: Any) -> list[str]:
        """Every file path under the dvx root at ``commit``; no blob is read."""
        tree = commit.tree
        if self.prefix:
            try:
                tree = self._repo[tree[self.prefix.rstrip("/")].id]
            except KeyError:
                return []
        found: list[str] = []
        stack: list[tuple[Any, str]] = [(tree, "")]
        while stack:
            t, base = stack.pop()
            for entry in t:
                if entry.type_str == "tree":
                    stack.append((self._repo[entry.id], f"{base}{entry.name}/"))
                elif entry.type_str == "blob":
                    found.append(base + entry.name)
        return found

    def head_commits(self) -> Iterator[Any]:
        """Commits reachable from HEAD, newest first; none before the first commit."""
        import pygit2

        if self._repo.head_is_unborn:
            return
        # Time order alone is unstable for commits made within one second.
        order = pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.TIME
        yield from self._repo.walk(self._repo.head.target, order)

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


@dataclass(frozen=True)
class CommitInfo:
    id: str
    time: int  # committer time, seconds since the epoch
    author: str
    summary: str
    parents: tuple[str, ...]


class _Scan:
    """Blob ids of wanted files below a tree, memoized per subtree: consecutive
    commits share almost every subtree, so history scans stay cheap."""

    def __init__(self, repo: Any, want: Callable[[str], bool]) -> None:
        self.repo = repo
        self.want = want
        self.memo: dict[Any, dict[str, str]] = {}

    def __call__(self, tree: Any) -> dict[str, str]:
        found = self.memo.get(tree.id)
        if found is not None:
            return found
        found = {}
        for entry in tree:
            if entry.type_str == "tree":
                for rel, blob in self(self.repo[entry.id]).items():
                    found[f"{entry.name}/{rel}"] = blob
            elif entry.type_str == "blob" and self.want(entry.name):
                found[entry.name] = str(entry.id)
        self.memo[tree.id] = found
        return found


def _tips(repo: Any) -> list[Any]:
    import pygit2

    tips = []
    for name in repo.references:
        try:
            tips.append(repo.references[name].peel(pygit2.Commit).id)
        except (pygit2.GitError, ValueError, KeyError):
            continue
    if not repo.head_is_unborn:
        tips.append(repo.head.target)
    return tips


class History(GitRepo):
    """Incremental scans of every commit: what dvx files each commit holds."""

    def tip_ids(self) -> list[str]:
        return sorted({str(t) for t in _tips(self._repo)})

    def new_commits(self, known: set[str]) -> Iterator[CommitInfo]:
        """Commits reachable from any ref that are not in ``known`` (nor behind them)."""
        import pygit2

        walker = self._repo.walk(None, pygit2.enums.SortMode.TOPOLOGICAL)
        pushed = False
        for tip in _tips(self._repo):
            if str(tip) not in known:
                walker.push(tip)
                pushed = True
        if not pushed:
            return
        for sha in known:
            try:
                walker.hide(pygit2.Oid(hex=sha))
            except (ValueError, KeyError, pygit2.GitError):
                continue
        for c in walker:
            yield self.info(c)

    def dvx_blobs(self, commit_id: str, scan: _Scan | None = None) -> dict[str, str]:
        """Blob ids of ``dvx.lock`` and ``*.dvx`` files under the dvx root at a commit."""
        import pygit2

        commit = self._repo[pygit2.Oid(hex=commit_id)]
        tree = commit.tree
        if self.prefix:
            try:
                tree = self._repo[tree[self.prefix.rstrip("/")].id]
            except KeyError:
                return {}
        scan = scan or self.scanner()
        return {p: b for p, b in scan(tree).items() if p == "dvx.lock" or p.endswith(".dvx")}

    def scanner(self) -> _Scan:
        return _Scan(self._repo, lambda name: name == "dvx.lock" or name.endswith(".dvx"))

    def blob(self, blob_id: str) -> bytes:
        import pygit2

        data: bytes = self._repo[pygit2.Oid(hex=blob_id)].data
        return data

    def info(self, commit: Any) -> CommitInfo:
        return CommitInfo(
            str(commit.id),
            int(commit.commit_time),
            f"{commit.author.name} <{commit.author.email}>",
            commit.message.splitlines()[0] if commit.message else "",
            tuple(str(p) for p in commit.parent_ids),
        )


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
        # A linked worktree (git worktree add) shares the main repository's hooks.
        git_dir = Path(repo.path)
        common = git_dir / "commondir"
        if common.is_file():
            git_dir = (git_dir / common.read_text().strip()).resolve()
        return git_dir / "hooks"
    path = Path(os.path.expanduser(configured))
    if not path.is_absolute():
        # Relative hooksPath is relative to the work tree root (where hooks run).
        path = Path(repo.workdir or repo.path) / path
    return path.resolve()
