"""The stage file ``dvx.yaml``: parsing, validation and matrix expansion (SPEC §2).

``load(root)`` reads ``ROOT/dvx.yaml`` and returns fully resolved stages: every
path is repo-relative POSIX, ``matrix:``/``foreach:`` are expanded to ``NAME@…``
stages and all ``${item…}`` interpolations are done. Errors are
:class:`StageFileError` whose message starts with ``dvx.yaml:LINE:`` and names the
stage.

Expansion names: a matrix gives ``NAME@v1-v2`` (values in key order); a value that
is a mapping or a list is named ``KEYi`` (its matrix key and 0-based index, as DVC
does). ``foreach:`` takes a glob (``NAME@stem``), a list (``NAME@value``, or
``NAME@i`` for mapping items) or a mapping (``NAME@key``). Characters that are not
allowed in stage names (``@ / :`` and whitespace) become ``_`` in the suffix.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import json
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, SequenceNode

from dvx.errors import StageFileError

STAGE_FILE = "dvx.yaml"
DEFAULT_PARAMS_FILE = "params.yaml"
_POINTER = ".dvx"  # suffix of pointer files (dvx.pointer.SUFFIX)

FIELDS = (
    "cmd",
    "deps",
    "params",
    "outs",
    "metrics",
    "wdir",
    "env",
    "always_changed",
    "frozen",
    "code",
    "matrix",
    "foreach",
    "desc",
)
OUT_FLAGS = ("cache", "persist")

_BAD_NAME = re.compile(r"[@/:\s]")
_INTERP = re.compile(r"\$\{([^{}]*)\}")
# In a cmd, ``${HOME}`` or ``${f%.csv}`` belong to the shell. Ours are ``${item…}``,
# ``${key}`` and dotted paths, which the shell would reject as a bad substitution.
_OURS_IN_CMD = re.compile(r"^\s*(?:(?:item|key)\b|[A-Za-z_]\w*(?:\.[\w-]+)+\s*$)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MATRIX_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Out:
    """One declared output. ``metric`` outputs come from ``metrics:`` and stay in git."""

    path: str
    cache: bool = True
    persist: bool = False
    metric: bool = False


@dataclass(frozen=True)
class ParamRef:
    """Tracked keys of one params file; ``keys`` None tracks the whole file."""

    file: str
    keys: tuple[str, ...] | None


@dataclass
class Stage:
    name: str
    cmd: tuple[str, ...]
    wdir: str = "."
    deps: tuple[str, ...] = ()
    params: tuple[ParamRef, ...] = ()
    outs: tuple[Out, ...] = ()
    env: tuple[str, ...] = ()
    always_changed: bool = False
    frozen: bool = False
    code: Literal["auto", "none"] = "auto"
    code_paths: tuple[str, ...] = ()
    line: int = 0
    field_lines: dict[str, int] = field(default_factory=dict)
    #: Resolved path → 1-based line of its list item, to point errors at one dep/out.
    dep_lines: dict[str, int] = field(default_factory=dict)
    out_lines: dict[str, int] = field(default_factory=dict)

    def where(self) -> str:
        """``dvx.yaml:LINE: stage 'NAME'`` for error messages."""
        return f"{STAGE_FILE}:{self.line}: stage '{self.name}'"


def load(root: Path) -> list[Stage]:
    """Parse, validate and expand ``root/dvx.yaml``; ``[]`` when there is none."""
    try:
        text = (root / STAGE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise StageFileError(f"{STAGE_FILE}:1: cannot read: {exc}") from exc
    return loads(text, root)


def loads(
    text: str, root: Path, *, files: Callable[[], Iterable[str]] | None = None
) -> list[Stage]:
    """Like :func:`load`, for stage-file text read elsewhere (e.g. from a git commit).

    ``files`` lists the repo-relative POSIX paths of every file of that revision;
    ``foreach:`` globs match against it instead of the workspace under ``root``.
    """
    data = _parse(text)
    if data is None:
        return []
    if not isinstance(data, CommentedMap):
        raise StageFileError(f"{STAGE_FILE}:1: expected a mapping with the key 'stages'")
    for key in data:
        if key != "stages":
            raise StageFileError(
                f"{STAGE_FILE}:{_key_line(data, key)}: unknown top-level key '{key}'",
                hint=_suggest(str(key), ("stages",)) or "the only top-level key is 'stages'",
            )
    body = data.get("stages")
    if body is None:
        return []
    if not isinstance(body, CommentedMap):
        line = _key_line(data, "stages")
        raise StageFileError(f"{STAGE_FILE}:{line}: 'stages' must be a mapping of stage names")
    stages: list[Stage] = []
    for name, spec in body.items():
        stages.extend(_load_template(root, name, spec, _key_line(body, name), files))
    _check_outs(stages)
    return stages


# -- YAML --------------------------------------------------------------------------


def _parse(text: str) -> Any:
    try:
        return YAML(typ="rt").load(text)
    except DuplicateKeyError:
        raise _duplicate_key_error(text) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        lines, hint = text.splitlines(), "check the indentation, brackets and quotes near this line"
        if line <= len(lines) and "${" in lines[line - 1]:
            # ``[${item}]`` is the classic trap: ``{`` opens a flow mapping there.
            hint = "quote values that contain '${…}' inside [ ] or { }"
        raise StageFileError(
            f"{STAGE_FILE}:{line}: invalid YAML: {exc.problem}", hint=hint
        ) from None
    except YAMLError as exc:
        raise StageFileError(f"{STAGE_FILE}:1: invalid YAML: {exc}") from None


def _duplicate_key_error(text: str) -> StageFileError:
    """Say which stage or field is duplicated; ruamel's marks do not say where it is."""
    found = _find_duplicate(YAML(typ="rt").compose(text), [])
    if found is None:  # cannot happen: the loader just found one
        return StageFileError(f"{STAGE_FILE}:1: duplicate key")
    path, first, dup = found
    key = path[-1]
    if len(path) == 2 and path[0] == "stages":
        msg = f"duplicate stage '{key}' (first defined at line {first})"
    elif len(path) == 3 and path[0] == "stages":
        msg = f"stage '{path[1]}': duplicate field '{key}' (first at line {first})"
    else:
        msg = f"duplicate key '{key}' (first at line {first})"
    return StageFileError(f"{STAGE_FILE}:{dup}: {msg}")


def _find_duplicate(node: Node | None, path: list[str]) -> tuple[list[str], int, int] | None:
    """The first duplicated mapping key in document order: (key path, line, dup line)."""
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            ident = (str(key.tag), str(key.value))
            if ident in seen:
                return [*path, str(key.value)], seen[ident], key.start_mark.line + 1
            seen[ident] = key.start_mark.line + 1
            found = _find_duplicate(value, [*path, str(key.value)])
            if found is not None:
                return found
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            found = _find_duplicate(item, [*path, str(i)])
            if found is not None:
                return found
    return None


def _key_line(m: CommentedMap, key: Any) -> int:
    return int(m.lc.key(key)[0]) + 1


def _suggest(word: str, choices: tuple[str, ...]) -> str | None:
    # A transposition ('dpes') ties with other near misses ('desc') in difflib's ratio.
    close = [c for c in choices if sorted(c) == sorted(word)]
    close = close or difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else None


# -- templates and expansion -------------------------------------------------------


def _load_template(
    root: Path,
    name: Any,
    spec: Any,
    line: int,
    files: Callable[[], Iterable[str]] | None = None,
) -> list[Stage]:
    where = f"{STAGE_FILE}:{line}"
    if not isinstance(name, str):
        raise StageFileError(
            f"{where}: stage name {name!r} must be a string",
            hint="quote it: '\"" + str(name) + "\":'",
        )
    if not name or _BAD_NAME.search(name):
        raise StageFileError(
            f"{where}: invalid stage name '{name}'",
            hint="stage names must be non-empty without '@', '/', ':' or spaces",
        )
    if not isinstance(spec, CommentedMap):
        raise StageFileError(f"{where}: stage '{name}' must be a mapping of fields")
    lines = {str(k): _key_line(spec, k) for k in spec}
    for key in spec:
        if key not in FIELDS:
            raise StageFileError(
                f"{STAGE_FILE}:{lines[str(key)]}: stage '{name}': unknown field '{key}'",
                hint=_suggest(str(key), FIELDS) or "valid fields: " + ", ".join(FIELDS),
            )
    tpl = _Builder(root, name, spec, line, lines, None, files)
    if "cmd" not in spec:
        raise tpl.error(line, "missing required field 'cmd'")
    if "matrix" in spec and "foreach" in spec:
        raise tpl.error(lines["foreach"], "'matrix' and 'foreach' cannot be used together")
    if "matrix" in spec:
        expansions = _matrix(tpl)
    elif "foreach" in spec:
        expansions = _foreach(tpl)
    else:
        return [tpl.build()]
    stages: list[Stage] = []
    seen: set[str] = set()
    for suffix, ctx in expansions:
        full = f"{name}@{_BAD_NAME.sub('_', suffix)}"
        if full in seen:
            raise tpl.error(line, f"expansion gives two stages named '{full}'")
        seen.add(full)
        stages.append(_Builder(root, full, spec, line, lines, ctx, files).build())
    return stages


def _matrix(tpl: _Builder) -> list[tuple[str, dict[str, Any]]]:
    """Cartesian product of the matrix axes in declaration order."""
    matrix, mline = tpl.spec["matrix"], tpl.lines["matrix"]
    if not isinstance(matrix, CommentedMap) or not matrix:
        raise tpl.error(mline, "matrix must be a non-empty mapping of names to lists")
    axes: list[list[tuple[str, Any]]] = []
    for key, values in matrix.items():
        kline = _key_line(matrix, key)
        if not isinstance(key, str) or not _MATRIX_KEY.fullmatch(key):
            raise tpl.error(
                kline, f"invalid matrix key '{key}'", hint="use letters, digits, '_' and '-'"
            )
        if not isinstance(values, CommentedSeq) or not values:
            raise tpl.error(kline, f"matrix '{key}' must be a non-empty list")
        axes.append([(_fmt(v) if _is_scalar(v) else f"{key}{i}", v) for i, v in enumerate(values)])
    keys = [str(k) for k in matrix]
    out = []
    for combo in itertools.product(*axes):
        item = {k: v for k, (_, v) in zip(keys, combo, strict=True)}
        out.append(("-".join(part for part, _ in combo), _flatten("item", item)))
    return out


def _foreach(tpl: _Builder) -> list[tuple[str, dict[str, Any]]]:
    spec, fline = tpl.spec["foreach"], tpl.lines["foreach"]
    if isinstance(spec, str):
        return _foreach_glob(tpl, spec, fline)
    if isinstance(spec, CommentedSeq) and spec:
        return [
            (_fmt(v) if _is_scalar(v) else str(i), _flatten("item", v)) for i, v in enumerate(spec)
        ]
    if isinstance(spec, CommentedMap) and spec:
        return [(str(k), {"key": str(k), **_flatten("item", v)}) for k, v in spec.items()]
    raise tpl.error(fline, "foreach must be a glob, a non-empty list or a non-empty mapping")


def _foreach_glob(tpl: _Builder, pattern: str, line: int) -> list[tuple[str, dict[str, Any]]]:
    """One expansion per file matching the glob, relative to the (uninterpolated) wdir.

    Data tracked by a pointer file (``PATH.dvx``) matches whether or not it is
    checked out, so that a fresh clone expands the same stages as the workspace
    that wrote the lock.
    """
    raw_wdir = tpl.spec.get("wdir", ".")
    if isinstance(raw_wdir, str) and "${" in raw_wdir:
        raise tpl.error(tpl.lines["wdir"], "wdir cannot be interpolated with a foreach glob")
    wdir = tpl.wdir()
    tpl.path(pattern, line, "foreach glob", wdir)  # refuses absolute and escaping patterns
    base = tpl.root / wdir
    rels: list[str] = []
    try:
        if tpl.files is not None:
            listing = list(tpl.files())
            tracked = [f[: -len(_POINTER)] for f in listing if f.endswith(_POINTER)]
            found = _glob_files(listing + tracked, wdir, pattern)
        else:
            found = [m.relative_to(base).as_posix() for m in base.glob(pattern) if m.is_file()]
            if PurePosixPath(pattern).name != "**":  # a trailing '**' matches no files
                tracked = [
                    m.relative_to(tpl.root).as_posix()[: -len(_POINTER)]
                    for m in base.glob(pattern + _POINTER)
                    if m.is_file()
                ]
                found += _glob_files(tracked, wdir, pattern)
    except (ValueError, NotImplementedError) as exc:
        raise tpl.error(line, f"invalid foreach glob '{pattern}': {exc}") from None
    for rel in set(found):
        top = posixpath.normpath(posixpath.join(wdir, rel)).split("/", 1)[0].casefold()
        if top not in (".git", ".dvx"):
            rels.append(rel)
    rels.sort()
    stems = [PurePosixPath(r).stem for r in rels]
    out = []
    for rel, stem in zip(rels, stems, strict=True):
        p = PurePosixPath(rel)
        suffix = stem if stems.count(stem) == 1 else rel.replace("/", "_")
        ctx = {
            "item": rel,
            "item.stem": p.stem,
            "item.name": p.name,
            "item.parent": p.parent.as_posix(),
            "item.suffix": p.suffix,
        }
        out.append((suffix, ctx))
    return out


def _glob_files(files: Iterable[str], wdir: str, pattern: str) -> list[str]:
    """The files matching ``pattern`` (relative to ``wdir``), as ``Path.glob`` would
    match them in a checkout: ``*`` stays within a path segment and ``**`` alone
    spans directories."""
    pats = [p for p in posixpath.normpath(posixpath.join(wdir, pattern)).split("/") if p]
    for p in pats:
        if "**" in p and p != "**":
            raise ValueError("Invalid pattern: '**' can only be an entire path component")
    return [
        posixpath.relpath(f, wdir) if wdir != "." else f
        for f in files
        if _glob_match(f.split("/"), pats)
    ]


def _glob_match(parts: list[str], pats: list[str]) -> bool:
    if not pats:
        return not parts
    if pats[0] == "**":
        if len(pats) == 1:
            return False  # a trailing '**' matches directories only
        return any(_glob_match(parts[i:], pats[1:]) for i in range(len(parts)))
    if not parts or not fnmatch.fnmatchcase(parts[0], pats[0]):
        return False
    return _glob_match(parts[1:], pats[1:])


def _is_scalar(v: Any) -> bool:
    return not isinstance(v, Mapping | list)


def _fmt(v: Any) -> str:
    """YAML spelling of a scalar, so that ``true`` stays ``true`` in names and commands."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    """``{"item": {...}, "item.model": "cnn", "item.cfg.lr": 0.1, ...}``."""
    out = {prefix: value}
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}", v))
    return out


# -- one stage ---------------------------------------------------------------------


class _Builder:
    """Reads one (possibly expanded) stage's fields, interpolating with ``ctx``."""

    def __init__(
        self,
        root: Path,
        name: str,
        spec: CommentedMap,
        line: int,
        lines: dict[str, int],
        ctx: dict[str, Any] | None,
        files: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self.root, self.name, self.spec, self.line = root, name, spec, line
        self.lines, self.ctx, self.files = lines, ctx, files

    def error(self, line: int, msg: str, hint: str | None = None) -> StageFileError:
        return StageFileError(f"{STAGE_FILE}:{line}: stage '{self.name}': {msg}", hint=hint)

    def build(self) -> Stage:
        wdir = self.wdir()
        deps = self.paths("deps", "dep", wdir)
        outs = self.outs("outs", wdir) + self.outs("metrics", wdir)
        out_lines: dict[str, int] = {}
        for out, ln in outs:
            if out.path in out_lines:
                raise self.error(
                    ln,
                    f"output '{out.path}' is declared twice (also at line {out_lines[out.path]})",
                )
            out_lines[out.path] = ln
        code, code_paths = self.code(wdir)
        return Stage(
            name=self.name,
            cmd=self.cmd(),
            wdir=wdir,
            deps=tuple(dict.fromkeys(p for p, _ in deps)),
            params=self.params(wdir),
            outs=tuple(o for o, _ in outs),
            env=self.env(),
            always_changed=self.flag("always_changed"),
            frozen=self.flag("frozen"),
            code=code,
            code_paths=code_paths,
            line=self.line,
            field_lines=dict(self.lines),
            dep_lines={p: ln for p, ln in reversed(deps)},
            out_lines=out_lines,
        )

    # -- strings and paths

    def text(self, value: Any, line: int, what: str, *, cmd: bool = False) -> str:
        """Check that ``value`` is a string and interpolate ``${item…}`` in it."""
        if not isinstance(value, str):
            raise self.error(
                line,
                f"{what} must be a string, not {_kind(value)}",
                hint="quote the value" if _is_scalar(value) else None,
            )
        whole = _INTERP.fullmatch(value) is not None

        def sub(m: re.Match[str]) -> str:
            expr = m.group(1).strip()
            if cmd and not _OURS_IN_CMD.match(m.group(1)):
                return m.group(0)
            if self.ctx is None or expr not in self.ctx:
                raise self.error(
                    line, f"unknown interpolation '{m.group(0)}'", hint=self._interp_hint(expr)
                )
            v = self.ctx[expr]
            if _is_scalar(v):
                return _fmt(v)
            if whole:
                raise self.error(
                    line,
                    f"'{m.group(0)}' is {_kind(v)}, not a single value",
                    hint=self._interp_hint(expr),
                )
            return json.dumps(v, ensure_ascii=False, default=str)

        return str(_INTERP.sub(sub, value))

    def _interp_hint(self, expr: str) -> str:
        if self.ctx is None:
            return "${item…} and ${key} exist only in stages with 'matrix:' or 'foreach:'"
        names = tuple(k for k, v in self.ctx.items() if _is_scalar(v))
        close = difflib.get_close_matches(expr, names, n=1)
        if close:
            return f"did you mean '${{{close[0]}}}'?"
        return "available: " + ", ".join(f"${{{k}}}" for k in names)

    def path(self, value: Any, line: int, what: str, wdir: str, *, out: bool = False) -> str:
        """Resolve a path relative to ``wdir`` to a normalized repo-relative POSIX path."""
        raw = self.text(value, line, what)
        if not raw:
            raise self.error(line, f"{what} path is empty")
        if posixpath.isabs(raw) or re.match(r"[A-Za-z]:[\\/]", raw):
            raise self.error(
                line,
                f"{what} '{raw}' is outside the repository",
                hint="paths are relative to the stage's wdir",
            )
        norm = posixpath.normpath(posixpath.join(wdir, raw))
        if norm == ".." or norm.startswith("../"):
            raise self.error(
                line,
                f"{what} '{raw}' is outside the repository",
                hint="paths are relative to the stage's wdir and must stay inside the repository",
            )
        top = norm.split("/", 1)[0]
        if top.casefold() in (".git", ".dvx"):
            raise self.error(
                line, f"{what} '{raw}' is inside {top}", hint="choose a path outside .git and .dvx"
            )
        if out and norm == ".":
            raise self.error(line, f"{what} '{raw}' is the repository root")
        if out and norm.casefold() in (STAGE_FILE, "dvx.lock"):
            raise self.error(line, f"{what} '{raw}' is a dvx file")
        return norm

    def items(self, key: str) -> list[tuple[Any, int]]:
        """The items of list field ``key`` with their lines; a missing/empty field is []."""
        value = self.spec.get(key)
        if value is None:
            return []
        if not isinstance(value, CommentedSeq):
            example = f"[{value}]" if isinstance(value, str) else "[ITEM, …]"
            raise self.error(
                self.lines[key], f"{key} must be a list", hint=f"write '{key}: {example}'"
            )
        return [(v, int(value.lc.item(i)[0]) + 1) for i, v in enumerate(value)]

    def paths(self, key: str, what: str, wdir: str) -> list[tuple[str, int]]:
        return [(self.path(v, ln, what, wdir), ln) for v, ln in self.items(key)]

    # -- fields

    def wdir(self) -> str:
        if "wdir" not in self.spec:
            return "."
        return self.path(self.spec["wdir"], self.lines["wdir"], "wdir", ".")

    def cmd(self) -> tuple[str, ...]:
        raw, line = self.spec["cmd"], self.lines["cmd"]
        if isinstance(raw, str):
            cmds = [(raw, line)]
        elif isinstance(raw, CommentedSeq) and raw:
            cmds = self.items("cmd")
        else:
            raise self.error(line, "cmd must be a string or a non-empty list of strings")
        result = tuple(self.text(c, ln, "cmd", cmd=True) for c, ln in cmds)
        if any(not c.strip() for c in result):
            raise self.error(line, "cmd must not be empty")
        return result

    def outs(self, key: str, wdir: str) -> list[tuple[Out, int]]:
        metric = key == "metrics"
        what = "metric" if metric else "out"
        result = []
        for item, line in self.items(key):
            flags: dict[str, bool] = {}
            raw = item
            if isinstance(item, CommentedMap):
                if len(item) != 1:
                    raise self.error(
                        line,
                        f"each {key} item must be a path or a one-item "
                        "mapping 'PATH: {cache: …, persist: …}'",
                        hint="indent the flags under the path",
                    )
                raw, given = next(iter(item.items()))
                given = CommentedMap() if given is None else given
                if not isinstance(given, CommentedMap):
                    raise self.error(
                        line, f"flags of {what} '{raw}' must be a mapping like {{persist: true}}"
                    )
                for flag, value in given.items():
                    fline = _key_line(given, flag)
                    if flag not in OUT_FLAGS:
                        raise self.error(
                            fline,
                            f"unknown flag '{flag}' of {what} '{raw}'",
                            hint=_suggest(str(flag), OUT_FLAGS) or "flags: cache, persist",
                        )
                    if not isinstance(value, bool):
                        raise self.error(fline, f"{flag} must be true or false")
                    flags[flag] = value
            path = self.path(raw, line, what, wdir, out=True)
            # Metrics are small and meant to be diffed in git, so not cached by default.
            out = Out(
                path,
                cache=flags.get("cache", not metric),
                persist=flags.get("persist", False),
                metric=metric,
            )
            result.append((out, line))
        return result

    def params(self, wdir: str) -> tuple[ParamRef, ...]:
        files: dict[str, set[str] | None] = {}

        def add(file: str, keys: set[str] | None) -> None:
            old = files.get(file, set())
            files[file] = None if keys is None or old is None else old | keys

        default = posixpath.normpath(posixpath.join(wdir, DEFAULT_PARAMS_FILE))
        for item, line in self.items("params"):
            if isinstance(item, CommentedMap) and len(item) == 1:
                raw, keys = next(iter(item.items()))
                file = self.path(raw, line, "params file", wdir)
                if keys is None or (isinstance(keys, CommentedSeq) and not keys):
                    add(file, None)
                elif isinstance(keys, CommentedSeq):
                    add(
                        file,
                        {
                            self.param_key(k, int(keys.lc.item(i)[0]) + 1)
                            for i, k in enumerate(keys)
                        },
                    )
                else:
                    raise self.error(line, f"keys of params file '{raw}' must be a list")
            elif isinstance(item, CommentedMap | CommentedSeq):
                raise self.error(
                    line,
                    "each params item must be a key of params.yaml "
                    "or a one-item mapping 'FILE: [keys]'",
                )
            else:
                add(default, {self.param_key(item, line)})
        return tuple(ParamRef(f, None if k is None else tuple(sorted(k))) for f, k in files.items())

    def param_key(self, value: Any, line: int) -> str:
        key = self.text(value, line, "params key")
        if not key or "" in key.split("."):
            raise self.error(
                line, f"invalid params key '{key}'", hint="keys are dotted paths like 'train.lr'"
            )
        return key

    def env(self) -> tuple[str, ...]:
        names = []
        for value, line in self.items("env"):
            name = self.text(value, line, "env variable")
            if not _ENV_NAME.fullmatch(name):
                raise self.error(line, f"invalid environment variable name '{name}'")
            names.append(name)
        return tuple(dict.fromkeys(names))

    def flag(self, key: str) -> bool:
        value = self.spec.get(key, False)
        if not isinstance(value, bool):
            raise self.error(self.lines[key], f"{key} must be true or false")
        return value

    def code(self, wdir: str) -> tuple[Literal["auto", "none"], tuple[str, ...]]:
        value = self.spec.get("code")
        if value is None or value == "auto":
            return "auto", ()
        if value == "none":
            return "none", ()
        if isinstance(value, CommentedSeq):
            # A list adds paths; auto-detection stays on (SPEC §4).
            return "auto", tuple(dict.fromkeys(p for p, _ in self.paths("code", "code path", wdir)))
        raise self.error(self.lines["code"], "code must be 'auto', 'none' or a list of paths")


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, Mapping):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    return "null" if v is None else f"a {type(v).__name__}"


# -- across stages -----------------------------------------------------------------


def _check_outs(stages: list[Stage]) -> None:
    """Refuse one path output by two stages, and outputs nested inside each other."""
    owners: dict[str, tuple[str, int]] = {}
    below: dict[str, tuple[str, str, int]] = {}  # directory → first output inside it
    for st in stages:
        for out in st.outs:
            path, line = out.path, st.out_lines[out.path]
            where = f"{STAGE_FILE}:{line}: stage '{st.name}'"
            hint = "a path can be the output of only one stage"
            if path in owners:
                other, oline = owners[path]
                raise StageFileError(
                    f"{where}: output '{path}' is also an output of stage '{other}' (line {oline})",
                    hint=hint,
                )
            ancestors = [str(p) for p in PurePosixPath(path).parents][:-1]
            for anc in ancestors:
                if anc in owners:
                    other, oline = owners[anc]
                    raise StageFileError(
                        f"{where}: output '{path}' overlaps output '{anc}' "
                        f"of stage '{other}' (line {oline})",
                        hint=hint,
                    )
            if path in below:
                inner, other, oline = below[path]
                raise StageFileError(
                    f"{where}: output '{path}' overlaps output '{inner}' "
                    f"of stage '{other}' (line {oline})",
                    hint=hint,
                )
            owners[path] = (st.name, line)
            for anc in ancestors:
                below.setdefault(anc, (path, st.name, line))
