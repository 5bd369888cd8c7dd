"""Where a repository lives and which paths in it are safe to touch.

No verbs here: :class:`Repo` only knows paths. Every path that comes from a file
(lock, pointer file, manifest, remote entry) goes through :func:`Repo.safe_path`
before anything is written or deleted there.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path

from dvx.errors import NotARepoError, UnsafePathError

DVX_DIR = ".dvx"
FORBIDDEN_TOP = (".git", DVX_DIR)


@dataclass(frozen=True)
class Repo:
    root: Path

    @property
    def dvx_dir(self) -> Path:
        return self.root / DVX_DIR

    @property
    def cache_dir(self) -> Path:
        return self.dvx_dir / "cache"

    @property
    def tmp_dir(self) -> Path:
        return self.dvx_dir / "tmp"

    @property
    def lock_path(self) -> Path:
        return self.root / "dvx.lock"

    @property
    def stage_file(self) -> Path:
        return self.root / "dvx.yaml"

    def abspath(self, rel: str) -> Path:
        """Absolute path of a repo-relative POSIX path that is already validated."""
        return self.root if rel == "." else self.root.joinpath(*rel.split("/"))

    def relpath(self, path: str | os.PathLike[str], cwd: Path | None = None) -> str:
        """Repo-relative POSIX path of a user-given path (relative to ``cwd``)."""
        p = Path(path)
        if not p.is_absolute():
            p = (cwd or Path.cwd()) / p
        p = Path(os.path.normpath(p))
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            raise UnsafePathError(
                f"'{path}' is outside the repository {self.root}",
                hint="dvx only tracks paths inside the repository",
            ) from None
        return rel.as_posix() if rel.parts else "."

    def safe_path(self, rel: str, source: str) -> Path:
        """Validate an untrusted repo-relative path and return it as an absolute path.

        Refused: absolute paths, ``..`` components, paths into ``.git`` or ``.dvx``,
        and paths whose existing parent directories lead out of the repository
        through a symlink. ``source`` names the file the path came from.
        """
        check_rel_path(rel, source)
        path = self.abspath(rel)
        parent = path.parent
        real_root = os.path.realpath(self.root)
        real_parent = os.path.realpath(parent)
        if real_parent != real_root and not real_parent.startswith(real_root + os.sep):
            raise UnsafePathError(
                f"{source}: path '{rel}' leads out of the repository through a symlink",
                hint="remove the symlink or fix the path",
            )
        return path


def check_rel_path(rel: str, source: str) -> None:
    """Refuse a repo-relative path that is absolute, climbs out, or enters .git/.dvx."""
    if rel == ".":
        raise UnsafePathError(
            f"{source}: path '.' is the repository root, not a path inside it",
            hint="dvx tracks files and directories inside the repository",
        )
    bad = (
        not isinstance(rel, str)
        or not rel
        or rel.startswith("/")
        or "\\" in rel
        or (len(rel) > 1 and rel[1] == ":")
    )
    if not bad:
        parts = rel.split("/")
        bad = ".." in parts or posixpath.normpath(rel) != rel
        if not bad and parts[0] in FORBIDDEN_TOP:
            raise UnsafePathError(
                f"{source}: path '{rel}' is inside {parts[0]}/",
                hint="dvx never writes into .git or .dvx from a tracked file",
            )
    if bad:
        raise UnsafePathError(
            f"{source}: path '{rel}' is not a plain path inside the repository",
            hint="paths in dvx files must be relative, without '..'",
        )


def find_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` holding ``.dvx/``."""
    cur = (start or Path.cwd()).resolve()
    for d in (cur, *cur.parents):
        if (d / DVX_DIR).is_dir():
            return d
    return None


def find_git_root(start: Path) -> Path | None:
    cur = start.resolve()
    for d in (cur, *cur.parents):
        if (d / ".git").exists():
            return d
    return None


def open_repo(start: Path | None = None) -> Repo:
    root = find_root(start)
    if root is None:
        raise NotARepoError(
            "not inside a dvx repository (no .dvx/ here or above)",
            hint="run 'dvx init' at the top of your git repository",
        )
    return Repo(root)
