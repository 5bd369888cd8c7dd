"""Stage keys: one hash over everything that can change a stage's outputs (SPEC §3).

The key covers the command(s), wdir, declared env values, every dep's version,
every code file's version, every tracked param value, and the output paths with
their flags — not the stage's name, so two stages doing identical work share
cached results. The encoding is canonical JSON (sorted keys, no whitespace)
prefixed with a key-format tag: changing the encoding changes the tag, which
opens a fresh key namespace instead of silently reusing old cache entries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dvx.hashing import hash_bytes
from dvx.lockfile import LockEntry, OutRecord, PathVersion
from dvx.stagefile import Stage

KEY_FORMAT = "dvx-key/1"


@dataclass
class StageInputs:
    """The current versions of everything a stage reads."""

    deps: list[PathVersion] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)


def encode(stage: Stage, inputs: StageInputs) -> bytes:
    doc = {
        "format": KEY_FORMAT,
        "cmd": list(stage.cmd),
        "wdir": stage.wdir,
        "env": inputs.env,
        "deps": sorted([d.path, d.version.hash] for d in inputs.deps),
        "code": sorted([p, h] for p, h in inputs.code),
        "params": inputs.params,
        "outs": sorted([o.path, o.cache, o.persist, o.metric] for o in stage.outs),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compute(stage: Stage, inputs: StageInputs) -> str:
    return hash_bytes(encode(stage, inputs))


def lock_entry(stage: Stage, key: str, inputs: StageInputs, outs: list[OutRecord]) -> LockEntry:
    return LockEntry(
        key=key,
        cmd=stage.cmd,
        deps=list(inputs.deps),
        code=list(inputs.code),
        params={f: dict(v) for f, v in inputs.params.items()},
        outs=outs,
    )
