"""A fast, exact YAML writer and reader for the block-style subset dvx writes.

``dvx.lock`` of a 100-stage pipeline runs to thousands of lines, and a general
pure-Python YAML library takes seconds to read and write it, which a no-op
``dvx status`` cannot afford. :func:`dumps` writes plain block YAML (what any
YAML reader, and a human, reads as usual) and :func:`loads` reads back exactly
that subset in milliseconds. Anything outside the subset — a hand edit with
comments, anchors, single quotes, flow mappings — raises :class:`NotFast`, and
callers fall back to the general parser, so correctness never depends on the
fast path.

Scalars: ``null``, ``true``/``false``, canonical ints and floats, strings either
plain (only when no YAML 1.1 or 1.2 reader could take them for anything but a
string) or JSON-quoted (JSON string escapes are valid YAML double-quoted escapes).
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z0-9_/][A-Za-z0-9_./@+=,%: -]*")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf"}
_NUMERIC_PREFIX = re.compile(r"[-+]?(0[bBoOxX]|[0-9])")
_NUMBERISH = (
    re.compile(r"[-+]?0[bBoOxX][0-9a-fA-F_]*"),
    re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])*"),
    re.compile(r"[-+]?([0-9][0-9_]*)?\.?[0-9_]*([eE][-+]?[0-9]+)?"),
    re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?"),  # timestamps
)
_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class NotFast(ValueError):
    """The text is outside the subset :func:`loads` reads; use a full YAML parser."""


@functools.lru_cache(maxsize=1 << 16)  # paths and hashes repeat across a lock
def _is_plain(s: str) -> bool:
    if not _PLAIN.fullmatch(s) or s.endswith((" ", ":")) or s.lower() in _RESERVED:
        return False
    if ": " in s:
        return False  # would read as a mapping
    # A string that starts like a number stays plain only if no YAML 1.1 or 1.2
    # reader could take it for one (a hash like "3f2a…" is fine; "1e5", "0o17",
    # "1_000" and "1:20" are not).
    return not (_NUMERIC_PREFIX.match(s) and any(p.fullmatch(s) for p in _NUMBERISH))


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        mantissa, e, exponent = repr(v).partition("e")
        if "." not in mantissa:
            mantissa += ".0"  # YAML 1.1 readers need the dot to see a float
        if e and exponent[0] not in "+-":
            exponent = "+" + exponent
        return mantissa + (f"e{exponent}" if e else "")
    if isinstance(v, str):
        return v if _is_plain(v) else json.dumps(v, ensure_ascii=False)
    raise TypeError(f"cannot write {type(v).__name__} to YAML")


def _key(k: Any) -> str:
    if not isinstance(k, str):
        raise TypeError("mapping keys must be strings")
    return json.dumps(k, ensure_ascii=False) if ":" in k else _scalar(k)


def _emit(v: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(v, dict):
        for k, item in v.items():
            if isinstance(item, dict) and item:
                out.append(f"{pad}{_key(k)}:")
                _emit(item, indent + 2, out)
            elif isinstance(item, list) and item:
                out.append(f"{pad}{_key(k)}:")
                _emit(item, indent, out)  # block sequences sit at their key's indent
            else:
                out.append(f"{pad}{_key(k)}: {_inline(item)}")
    elif isinstance(v, list):
        for item in v:
            if isinstance(item, dict) and item:
                lines: list[str] = []
                _emit(item, indent + 2, lines)
                out.append(f"{pad}- {lines[0][indent + 2 :]}")
                out.extend(lines[1:])
            elif isinstance(item, list) and item:
                lines = []
                _emit(item, indent + 2, lines)
                out.append(f"{pad}- {lines[0][indent + 2 :]}")
                out.extend(lines[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")
    else:
        out.append(pad + _scalar(v))


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def dumps(data: dict[str, Any], indent: int = 0) -> str:
    """Block YAML for a mapping; ``indent`` shifts it right (to nest it in a document)."""
    out: list[str] = []
    _emit(data, indent, out)
    return "\n".join(out) + "\n"


# ---- reading -------------------------------------------------------------------


def _parse_scalar(tok: str) -> Any:
    if tok.startswith('"'):
        try:
            value = json.loads(tok)
        except ValueError:
            raise NotFast(tok) from None
        if not isinstance(value, str):
            raise NotFast(tok)
        return value
    if tok == "null":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if tok == "{}":
        return {}
    if tok == "[]":
        return []
    if tok in (".nan", ".inf", "-.inf"):
        return {".nan": math.nan, ".inf": math.inf, "-.inf": -math.inf}[tok]
    if _INT.fullmatch(tok):
        return int(tok)
    if _FLOAT.fullmatch(tok):
        return float(tok)
    if not _is_plain(tok):
        raise NotFast(tok)  # something a general parser should interpret
    return tok


def _split_key(text: str) -> tuple[str, str | None]:
    """``key: value`` → (key, value); ``key:`` → (key, None)."""
    if text.startswith('"'):
        end = _json_string_end(text)
        key, rest = json.loads(text[:end]), text[end:]
    else:
        i = text.find(":")
        if i <= 0:
            raise NotFast(text)
        key, rest = text[:i], text[i:]
        if not _is_plain(key):
            raise NotFast(text)
    if rest == ":":
        return key, None
    if not rest.startswith(": "):
        raise NotFast(text)
    return key, rest[2:]


def _json_string_end(text: str) -> int:
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    raise NotFast(text)


def loads(text: str) -> Any:
    """Read what :func:`dumps` writes. Raises :class:`NotFast` for anything else."""
    lines = []
    for raw in text.split("\n"):
        if not raw:
            continue
        stripped = raw.lstrip(" ")
        if stripped.startswith("#") or "\t" in raw[: len(raw) - len(stripped)]:
            raise NotFast("comment or tab")
        lines.append((len(raw) - len(stripped), stripped))
    pos, value = _block(lines, 0, 0)
    if pos != len(lines):
        raise NotFast("trailing content")
    return value


def _block(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[int, Any]:
    if pos >= len(lines):
        raise NotFast("empty block")
    ind, text = lines[pos]
    if ind != indent:
        raise NotFast("indentation")
    if text.startswith("- ") or text == "-":
        return _sequence(lines, pos, indent)
    return _mapping(lines, pos, indent)


def _mapping(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[int, dict[str, Any]]:
    result: dict[str, Any] = {}
    while pos < len(lines):
        ind, text = lines[pos]
        if ind < indent:
            break
        if ind > indent or text.startswith("- "):
            raise NotFast("indentation")
        key, rest = _split_key(text)
        if key in result:
            raise NotFast("duplicate key")
        pos += 1
        if rest is not None:
            result[key] = _parse_scalar(rest)
            continue
        if pos < len(lines) and lines[pos][0] == indent and lines[pos][1].startswith("- "):
            pos, result[key] = _sequence(lines, pos, indent)
        elif pos < len(lines) and lines[pos][0] > indent:
            pos, result[key] = _block(lines, pos, lines[pos][0])
        else:
            result[key] = None
    return pos, result


def _sequence(lines: list[tuple[int, str]], pos: int, indent: int) -> tuple[int, list[Any]]:
    result: list[Any] = []
    while pos < len(lines):
        ind, text = lines[pos]
        if ind != indent or not text.startswith("- "):
            if ind > indent:
                raise NotFast("indentation")
            break
        item = text[2:]
        # "- key: value" opens a mapping whose further keys sit two columns in.
        # (The item's line is rewritten in place as if it started two columns in.)
        if item.startswith("- "):
            lines[pos] = (indent + 2, item)
            pos, inner = _sequence(lines, pos, indent + 2)
            result.append(inner)
            continue
        if _looks_like_key(item):
            lines[pos] = (indent + 2, item)
            pos, mapping = _mapping(lines, pos, indent + 2)
            result.append(mapping)
            continue
        result.append(_parse_scalar(item))
        pos += 1
    return pos, result


def _looks_like_key(item: str) -> bool:
    if item.startswith('"'):
        end = _json_string_end(item)
        return item[end : end + 1] == ":"
    i = item.find(":")
    return i > 0 and (item[i:] == ":" or item[i : i + 2] == ": ")
