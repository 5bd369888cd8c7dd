"""Running stage commands, each in a process group of its own.

A stage's command may start children of its own (``sh -c`` → python → workers).
Giving each command its own session lets dvx stop the whole tree on Ctrl-C or
failure with one ``killpg``, instead of orphaning grandchildren.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

INTERRUPTED = -int(signal.SIGINT)


class Runner:
    def __init__(self) -> None:
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self.cancelled = threading.Event()

    def run(self, cmds: Sequence[str], cwd: Path) -> int:
        """Run commands in order through ``/bin/sh``; the first non-zero status stops them.

        Returns 0, the failing exit status, or a negative signal number.
        """
        for cmd in cmds:
            if self.cancelled.is_set():
                return INTERRUPTED
            proc = subprocess.Popen(
                cmd, shell=True, cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True
            )
            with self._lock:
                self._procs.add(proc)
            try:
                rc = proc.wait()
            finally:
                with self._lock:
                    self._procs.discard(proc)
            if self.cancelled.is_set():
                return INTERRUPTED
            if rc != 0:
                return rc
        return 0

    def stop_all(self, grace: float = 5.0) -> None:
        """Stop every running command: SIGTERM to its group, SIGKILL after ``grace`` s."""
        self.cancelled.set()
        with self._lock:
            procs = list(self._procs)
        for p in procs:
            _killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _killpg(p.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
