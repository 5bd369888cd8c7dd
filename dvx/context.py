"""The open handles one dvx command works with: repo paths, config, stat cache,
hasher, local cache. No verbs live here; verbs take a Context."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dvx import config as configmod
from dvx.cache import Cache
from dvx.hashing import Hasher
from dvx.repo import Repo, open_repo
from dvx.state import State

if TYPE_CHECKING:
    from dvx.codedeps import CodeScanner
    from dvx.dag import Dag
    from dvx.lockfile import LockEntry
    from dvx.stagefile import Stage


@dataclass
class Context:
    repo: Repo
    config: configmod.Config
    state: State
    hasher: Hasher
    cache: Cache
    _params: dict[Path, Any] = field(default_factory=dict)
    _params_lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def stages(self) -> list[Stage]:
        from dvx import memo, stagefile

        try:
            data = self.repo.stage_file.read_bytes()
        except FileNotFoundError:
            return []
        if b"foreach" in data:
            return stagefile.load(self.repo.root)  # expansion depends on the workspace
        return memo.parsed(
            self.repo.tmp_dir,
            "stagefile",
            data,
            lambda: stagefile.loads(data.decode("utf-8"), self.repo.root),
        )

    @cached_property
    def dag(self) -> Dag:
        from dvx import dag

        return dag.build(self.stages)

    @cached_property
    def lock(self) -> dict[str, LockEntry]:
        from dvx import lockfile, memo, yamlio

        try:
            data = self.repo.lock_path.read_bytes()
        except FileNotFoundError:
            return {}
        return memo.parsed(
            self.repo.tmp_dir,
            "lock",
            data,
            lambda: lockfile.parse(yamlio.loads(data.decode("utf-8"), "dvx.lock")),
        )

    @cached_property
    def code_scanner(self) -> CodeScanner:
        from dvx.codedeps import CodeScanner

        return CodeScanner(
            self.repo.root, hasher=self.hasher, cache_file=self.repo.tmp_dir / "codedeps.json"
        )

    def params_file(self, path: Path, source: str) -> Any:
        """A parsed params file, read once per command."""
        from dvx import params

        with self._params_lock:
            if path not in self._params:
                self._params[path] = params.load_file(path, source)
            return self._params[path]

    def close(self) -> None:
        if "code_scanner" in self.__dict__:
            self.code_scanner.save()
        self.state.close()


def open_context(start: Path | None = None, repo: Repo | None = None) -> Context:
    repo = repo or open_repo(start)
    cfg = configmod.load(repo.dvx_dir)
    state = State(repo.tmp_dir / "state.db")
    hasher = Hasher(state)
    return Context(repo, cfg, state, hasher, Cache(repo.cache_dir, hasher, cfg.link_types))
