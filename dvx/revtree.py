"""The files of one revision, read alike from the workspace or a git commit.

``dvx metrics`` and ``dvx params diff`` ask each side the same three things: the
bytes of a file, the stages its ``dvx.yaml`` declares and its ``dvx.lock``. A
commit answers from git objects (nothing is checked out); its ``foreach:`` globs
match the commit's own files, not the workspace's.

The revision ``workspace`` names the working tree, as in ``dvx diff``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from typing import TYPE_CHECKING, Any

from dvx import lockfile, stagefile, yamlio
from dvx.errors import ConfigError, DvxError

if TYPE_CHECKING:
    from dvx.context import Context
    from dvx.git import GitRepo
    from dvx.lockfile import LockEntry
    from dvx.stagefile import Stage

WORKSPACE = "workspace"


class RevTree(ABC):
    """One side of a comparison. ``rev`` is its label as the user wrote it
    (``workspace``, ``HEAD~1``, a short commit id for ``--all-commits``)."""

    rev: str
    commit: str | None  # the full commit id; None for the workspace

    @abstractmethod
    def read(self, path: str) -> bytes | None:
        """The bytes of a repo-relative file, or None when there is no such file."""
        raise NotImplementedError

    @abstractmethod
    def stages(self) -> list[Stage]:
        """The expanded stages of ``dvx.yaml``; errors name the revision."""
        raise NotImplementedError

    @abstractmethod
    def lock(self) -> dict[str, LockEntry]:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit}


class Workspace(RevTree):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.rev = WORKSPACE
        self.commit = None

    def read(self, path: str) -> bytes | None:
        p = self.ctx.repo.abspath(path)
        try:
            return p.read_bytes() if p.is_file() else None
        except FileNotFoundError:
            return None

    def stages(self) -> list[Stage]:
        return self.ctx.stages

    def lock(self) -> dict[str, LockEntry]:
        return self.ctx.lock


class CommitTree(RevTree):
    def __init__(self, ctx: Context, git: GitRepo, commit: Any, rev: str) -> None:
        self.ctx, self.git, self._commit = ctx, git, commit
        self.rev = rev
        self.commit = str(commit.id)

    def read(self, path: str) -> bytes | None:
        return self.git.read(self._commit, path)

    def stages(self) -> list[Stage]:
        return self._stages

    @cached_property
    def _stages(self) -> list[Stage]:
        data = self.read(stagefile.STAGE_FILE)
        if data is None:
            return []
        try:
            return stagefile.loads(
                data.decode("utf-8"), self.ctx.repo.root, files=lambda: self.git.paths(self._commit)
            )
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{self.rev}:{stagefile.STAGE_FILE}: cannot read: {exc}") from None
        except DvxError as exc:
            raise ConfigError(f"{self.rev}:{exc.message}", hint=exc.hint) from None

    def lock(self) -> dict[str, LockEntry]:
        return self._lock

    @cached_property
    def _lock(self) -> dict[str, LockEntry]:
        data = self.read(lockfile.LOCK_NAME)
        if data is None:
            return {}
        source = f"{self.rev}:{lockfile.LOCK_NAME}"
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: cannot read: {exc}") from None
        return lockfile.parse(yamlio.loads(text, source), source)


class Revisions:
    """Opens sides by name; git is opened only when a commit is asked for."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._git: GitRepo | None = None

    @property
    def git(self) -> GitRepo:
        if self._git is None:
            from dvx.git import GitRepo

            self._git = GitRepo(self.ctx.repo.root)
        return self._git

    def open(self, rev: str) -> RevTree:
        """``workspace`` or a git revision; an unknown one is a usage error (exit 2)."""
        if rev == WORKSPACE:
            return Workspace(self.ctx)
        return CommitTree(self.ctx, self.git, self.git.resolve(rev), rev)

    def pair(self, a: str | None, b: str | None) -> tuple[RevTree, RevTree]:
        """``[A [B]]`` of the diff commands: HEAD and the workspace by default; with one
        revision, that revision and the workspace."""
        return self.open(a or "HEAD"), self.open(b or WORKSPACE)

    def head_history(self, limit: int | None = None) -> list[RevTree]:
        """Commits reachable from HEAD, newest first, labelled by short commit id."""
        found: list[RevTree] = []
        for commit in self.git.head_commits():
            if limit is not None and len(found) >= limit:
                break
            found.append(CommitTree(self.ctx, self.git, commit, str(commit.short_id)))
        return found
