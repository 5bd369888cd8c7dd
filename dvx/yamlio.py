"""YAML reading and deterministic writing for dvx's own files (lock, pointers, config).

The stage file has its own line-aware loader in :mod:`dvx.stagefile`; everything
here is plain data: mappings, lists and scalars.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dvx.errors import ConfigError


def _yaml(typ: str) -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ=typ)
    y.default_flow_style = False
    y.width = 4096  # long commands stay on one line, which keeps diffs readable
    return y


def load(path: Path, *, missing_ok: bool = False) -> Any:
    """Parse a YAML file into plain Python data; a syntax error names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    return loads(text, path.name)


def loads(text: str, source: str) -> Any:
    """Parse YAML text (e.g. a file read from a git commit); errors name ``source``.

    What dvx wrote itself is read by the fast exact reader; anything else (hand
    edits, comments, other YAML styles) by the general parser.
    """
    from dvx import fastyaml

    try:
        return fastyaml.loads(text)
    except fastyaml.NotFast:
        pass
    from ruamel.yaml import YAMLError

    try:
        return _yaml("safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if source.endswith("dvx.lock") and "\n<<<<<<< " in "\n" + text:
            hint = (
                "git left conflict markers: take one side ('git checkout --ours dvx.lock'), "
                "run 'dvx repro', and run 'dvx install-hooks' so merges use the dvx lock driver"
            )
        elif source.endswith("dvx.lock"):
            hint = "dvx.lock is written by dvx: restore it from git, or delete it and 'dvx repro'"
        else:
            hint = "check the indentation, brackets and quotes near this line"
        raise ConfigError(
            f"{source}{line}: invalid YAML: {problem}",
            hint=hint,
        ) from None


def dumps(data: dict[str, Any]) -> str:
    """Serialize in insertion order: callers sort, so output is byte-for-byte stable."""
    from dvx import fastyaml

    return fastyaml.dumps(data)


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write via a temporary file and rename, so readers see the old or the new file.

    A killed process leaves at most a stray ``.tmp`` file, never a truncated target.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    # The only portable way to read the umask is to set it and put it back.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
