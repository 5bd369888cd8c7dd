"""Which files of the repo are a stage's code (SPEC §4).

With ``code: auto`` every command of a stage is read for the scripts it runs from
the repo: Python scripts and modules (``python x.py``, ``python -m pkg.mod``) are
followed through their imports, read with ``ast`` and never executed, to every
module of the repo they load; shell, R and similar scripts count as themselves.
Explicit ``code:`` paths are always added.

Parsing is the slow part, so each file's import list is cached by content hash in
a JSON file, and a :class:`CodeScanner` memoizes resolution across the stages of
one command. It assumes code does not change while it lives: make one per command.
"""

from __future__ import annotations

import ast
import json
import os
import posixpath
import re
import shlex
import sys
import threading
import warnings
from pathlib import Path
from typing import TypeGuard

from dvx.errors import ConfigError
from dvx.hashing import Hasher, hash_bytes, hash_file
from dvx.stagefile import Stage
from dvx.yamlio import atomic_write

CACHE_VERSION = 1
# What a parse yields depends on the grammar, so a cache is only valid for one Python.
_PYTHON_VERSION = f"{sys.version_info[0]}.{sys.version_info[1]}"
_MAX_CACHED = 20_000
_SKIP_DIRS = frozenset(
    {".git", ".dvx", ".venv", "venv", "site-packages", "__pycache__", "node_modules"}
)
_PYTHON = re.compile(r"(python|pypy)(\d+(\.\d+)*)?(\.exe)?")
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "source", "."})
_RUNNERS = _SHELLS | {"Rscript", "julia", "perl", "ruby", "node"}
_WRAPPERS = frozenset({"env", "time", "nohup", "exec", "command", "nice"})
_TOOL_RUN = frozenset({"uv", "poetry", "pipenv", "pdm", "hatch", "rye", "conda", "pixi"})
_PUNCT = "();<>|&\n"
_FILE, _DIR = 1, 2

Import = tuple[int, str, tuple[str, ...]]  # level, module, imported names
Roots = tuple[str, ...]


class CodeScanner:
    """Finds code files for many stages, sharing parses and resolutions between them."""

    def __init__(
        self,
        root: Path,
        hasher: Hasher | None = None,
        cache_file: Path | None = None,
        import_roots: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self._root_str = str(root)
        self._real_root = os.path.realpath(root)
        self._hasher = hasher
        self._cache_file = cache_file
        self._extra_roots = tuple(posixpath.normpath(r) for r in import_roots)
        self._by_hash = self._load_cache()
        self._used: set[str] = set()
        self._dirty = False
        self._imports: dict[str, tuple[Import, ...]] = {}
        self._kinds: dict[str, int] = {}
        self._usable_memo: dict[str, bool] = {}
        self._deps: dict[tuple[str, Roots], list[str]] = {}
        self._closures: dict[tuple[str, Roots], frozenset[str]] = {}
        # Keys of parallel stages may be computed from several threads.
        self._lock = threading.Lock()

    def find(self, stage: Stage) -> list[str]:
        """Repo-relative POSIX paths of every code file of ``stage``, sorted."""
        with self._lock:
            found: set[str] = set()
            if stage.code == "auto":
                for line in stage.cmd:
                    for words in _split_commands(line):
                        self._scan_command(words, stage.wdir, found)
            for rel in stage.code_paths:
                found.update(self._explicit(stage, rel))
            return sorted(found)

    def save(self) -> None:
        """Write the parse cache if this scanner parsed anything new."""
        with self._lock:
            if not self._dirty or self._cache_file is None:
                return
            entries = self._by_hash
            if len(entries) > _MAX_CACHED:
                # Old versions of files pile up; keep what this run needed.
                entries = {h: v for h, v in entries.items() if h in self._used}
            imports = {h: [[lv, m, list(ns)] for lv, m, ns in v] for h, v in entries.items()}
            doc = {"version": CACHE_VERSION, "python": _PYTHON_VERSION, "imports": imports}
            self._cache_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self._cache_file, json.dumps(doc, separators=(",", ":"), sort_keys=True))
            self._dirty = False

    # -- commands ---------------------------------------------------------------------

    def _scan_command(self, words: list[str], wdir: str, found: set[str]) -> None:
        words = _strip_prefix(words)
        if not words:
            return
        prog = posixpath.basename(words[0])
        if _PYTHON.fullmatch(prog):
            self._python(words[1:], wdir, found)
        elif prog in _RUNNERS:
            self._runner(prog, words[1:], wdir, found)
        elif "/" in words[0]:  # a bare name is looked up in PATH, not in the repo
            rel = self._repo_file(wdir, words[0])
            if rel is None:
                return
            if rel.endswith(".py") or self._python_shebang(rel):
                self._add_script(rel, wdir, found)
            else:
                found.add(rel)

    def _python(self, args: list[str], wdir: str, found: set[str]) -> None:
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "-":
            opt = args[i]
            if opt == "--":
                i += 1
                break
            if opt.startswith("--"):
                i += 2 if opt == "--check-hash-based-pycs" else 1
                continue
            at = next((k for k, ch in enumerate(opt) if k and ch in "cmWX"), None)
            if at is None:
                i += 1
                continue
            inline = opt[at + 1 :]
            value = inline or (args[i + 1] if i + 1 < len(args) else "")
            if opt[at] == "c":
                self._python_code(value, wdir, found)
                return
            if opt[at] == "m":
                self._module(value, wdir, found)
                return
            i += 1 if inline else 2
        if i < len(args) and args[i] != "-":
            rel = self._repo_path(wdir, args[i])
            if rel is not None:
                self._add_script(rel, wdir, found)

    def _add_script(self, rel: str, wdir: str, found: set[str]) -> None:
        if self._kind(rel) == _DIR:  # `python app/` runs app/__main__.py
            script_dir, rel = rel, _join(rel, "__main__.py")
        else:
            script_dir = posixpath.dirname(rel) or "."
        if self._kind(rel) == _FILE and self._usable(rel):
            found |= self._closure(rel, self._roots(script_dir, wdir))

    def _module(self, name: str, wdir: str, found: set[str]) -> None:
        if not _is_name(name):
            return
        roots = self._roots(wdir, wdir)  # sys.path[0] is the working directory
        files, path = self._resolve(list(roots), name.split("."), ())
        main = self._find(path, "__main__")[0] if path else None  # `python -m pkg`
        if main is not None:
            files.append(main)
        for rel in files:
            found |= self._closure(rel, roots)

    def _python_code(self, code: str, wdir: str, found: set[str]) -> None:
        roots = self._roots(wdir, wdir)
        for imp in _parse_imports(code.encode(), "<string>"):
            for rel in self._resolve_import(imp, None, roots):
                found |= self._closure(rel, roots)

    def _runner(self, prog: str, args: list[str], wdir: str, found: set[str]) -> None:
        i = 0
        while i < len(args) and args[i][:1] in ("-", "+"):
            opt = args[i]
            if prog in _SHELLS and not opt.startswith("--") and "c" in opt:
                if i + 1 < len(args):  # `bash -c "python x.py"`: the string is a command line
                    for words in _split_commands(args[i + 1]):
                        self._scan_command(words, wdir, found)
                return
            if prog not in _SHELLS and opt in ("-e", "--eval", "-E"):
                return  # inline code, no script file
            i += 2 if opt in ("-o", "+o", "-O", "+O") else 1
        rel = self._repo_file(wdir, args[i]) if i < len(args) else None
        if rel is not None:
            found.add(rel)

    # -- import graph -----------------------------------------------------------------

    def _roots(self, first: str, wdir: str) -> Roots:
        roots: list[str] = []
        for r in (first, wdir, ".", "src", *self._extra_roots):
            if r not in roots and self._kind(r) == _DIR and self._usable(r):
                roots.append(r)
        return tuple(roots)

    def _closure(self, entry: str, roots: Roots) -> frozenset[str]:
        key = (entry, roots)
        if key not in self._closures:
            seen, frontier = {entry}, [entry]
            while frontier:
                self._load(frontier)  # one batch per level, so the stat cache is asked once
                nxt = []
                for rel in frontier:
                    for dep in self._deps_of(rel, roots):
                        if dep not in seen:
                            seen.add(dep)
                            nxt.append(dep)
                frontier = nxt
            self._closures[key] = frozenset(seen)
        return self._closures[key]

    def _deps_of(self, rel: str, roots: Roots) -> list[str]:
        key = (rel, roots)
        if key not in self._deps:
            pkg = posixpath.dirname(rel) or "."
            deps: list[str] = []
            for imp in self._imports[rel]:
                deps += self._resolve_import(imp, pkg, roots)
            self._deps[key] = deps
        return self._deps[key]

    def _resolve_import(self, imp: Import, pkg: str | None, roots: Roots) -> list[str]:
        level, module, names = imp
        parts = module.split(".") if module else []
        if level == 0:
            return self._resolve(list(roots), parts, names)[0]
        if pkg is None:
            return []
        base = pkg
        for _ in range(level - 1):
            if base == ".":
                return []  # climbs out of the repo
            base = posixpath.dirname(base) or "."
        return self._resolve([base], parts, names)[0]

    def _resolve(
        self, dirs: list[str], parts: list[str], names: tuple[str, ...]
    ) -> tuple[list[str], list[str]]:
        """Files executed by importing ``parts`` (every package on the way) and ``names``
        from it, searching ``dirs``; also the final package's search path."""
        files: list[str] = []
        path = dirs
        for part in parts:
            rel, path = self._find(path, part)
            if rel is not None:
                files.append(rel)
            elif not path:
                return files, []  # not in the repo: stdlib, installed, or a failing import
        for name in names:
            rel, _ = self._find(path, name)  # `from a import b` may import submodule a.b
            if rel is not None:
                files.append(rel)
        return files, path

    def _find(self, dirs: list[str], name: str) -> tuple[str | None, list[str]]:
        """Like importlib's path finder: the first regular package or module in ``dirs``,
        else the namespace package made of every directory ``name``."""
        portions = []
        for d in dirs:
            base = _join(d, name)
            for rel, path in ((base + "/__init__.py", [base]), (base + ".py", [])):
                if self._kind(rel) == _FILE:
                    # A shadowing file in a virtualenv or outside the repo is what Python
                    # would import, so stop there rather than pick the next one.
                    return (rel, path) if self._usable(rel) else (None, [])
            if self._kind(base) == _DIR and self._usable(base):
                portions.append(base)
        return None, portions

    def _load(self, rels: list[str]) -> None:
        todo = [r for r in rels if r not in self._imports]
        stats = {self._abs(r): os.stat(self._abs(r)) for r in todo}
        if self._hasher is not None:
            digests = self._hasher.hash_files(stats)
        else:
            digests = {p: hash_file(p) for p in stats}
        for rel in todo:
            digest = digests[self._abs(rel)]
            imports = self._by_hash.get(digest)
            if imports is None:
                data = Path(self._abs(rel)).read_bytes()
                # Key by the bytes actually parsed: the file may have changed since hashing.
                digest = hash_bytes(data)
                imports = self._by_hash[digest] = _parse_imports(data, rel)
                self._dirty = True
            self._used.add(digest)
            self._imports[rel] = imports

    def _load_cache(self) -> dict[str, tuple[Import, ...]]:
        if self._cache_file is None:
            return {}
        try:
            doc = json.loads(self._cache_file.read_bytes())
            if doc["version"] != CACHE_VERSION or doc["python"] != _PYTHON_VERSION:
                return {}
            return {
                str(h): tuple((int(lv), str(m), tuple(str(n) for n in ns)) for lv, m, ns in v)
                for h, v in doc["imports"].items()
            }
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return {}  # only a cache: a missing or damaged one costs re-parsing

    # -- paths ------------------------------------------------------------------------

    def _explicit(self, stage: Stage, rel: str) -> list[str]:
        kind = self._kind(rel)
        if kind == _FILE:
            return [rel]
        if kind != _DIR:
            raise ConfigError(
                f"{stage.where()}: code path '{rel}' does not exist",
                hint="fix the path under 'code:' or remove it",
            )
        out = []
        for dirpath, dirnames, filenames in os.walk(self._abs(rel)):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.isfile(os.path.join(dirpath, d, "pyvenv.cfg"))
            ]
            sub = Path(os.path.relpath(dirpath, self._root_str)).as_posix()
            for f in filenames:
                if not f.endswith((".pyc", ".pyo")) and os.path.isfile(os.path.join(dirpath, f)):
                    out.append(_join(sub, f))
        return out

    def _repo_path(self, wdir: str, path: str) -> str | None:
        """``path`` as named in a command run in ``wdir``, repo-relative; None outside."""
        if os.path.isabs(path):
            rel = Path(os.path.relpath(path, self._root_str)).as_posix()
        else:
            rel = posixpath.normpath(_join(wdir, path))
        return None if rel == ".." or rel.startswith(("../", "/")) else rel

    def _repo_file(self, wdir: str, path: str) -> str | None:
        rel = self._repo_path(wdir, path)
        return rel if rel and self._kind(rel) == _FILE and self._usable(rel) else None

    def _abs(self, rel: str) -> str:
        # Same spelling as Repo.abspath, so stat-cache entries are shared.
        return self._root_str if rel == "." else os.path.join(self._root_str, *rel.split("/"))

    def _kind(self, rel: str) -> int:
        if rel not in self._kinds:
            p = self._abs(rel)
            self._kinds[rel] = _FILE if os.path.isfile(p) else _DIR if os.path.isdir(p) else 0
        return self._kinds[rel]

    def _usable(self, rel: str) -> bool:
        """False for paths in .git/.dvx, in a virtualenv, or leading out through a symlink."""
        if rel not in self._usable_memo:
            parts = [] if rel == "." else rel.split("/")
            real = os.path.realpath(self._abs(rel))
            ok = (
                not _SKIP_DIRS.intersection(parts)
                and (real == self._real_root or real.startswith(self._real_root + os.sep))
                # A virtualenv may have any name; its marker file gives it away.
                and not any(
                    self._kind("/".join(parts[:k]) + "/pyvenv.cfg") == _FILE
                    for k in range(1, len(parts) + 1)
                )
            )
            self._usable_memo[rel] = ok
        return self._usable_memo[rel]

    def _python_shebang(self, rel: str) -> bool:
        with open(self._abs(rel), "rb") as f:
            first = f.readline(256)
        return first.startswith(b"#!") and b"python" in first


def find_code(
    root: Path,
    stage: Stage,
    *,
    hasher: Hasher | None = None,
    cache_file: Path | None = None,
    import_roots: tuple[str, ...] = (),
) -> list[str]:
    """Repo-relative POSIX paths of every code file of the stage, sorted, deduplicated."""
    scanner = CodeScanner(root, hasher, cache_file, import_roots)
    found = scanner.find(stage)
    scanner.save()
    return found


def _parse_imports(data: bytes, filename: str) -> tuple[Import, ...]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings in user code are not ours to print
            tree = ast.parse(data, filename=filename)
    except (SyntaxError, ValueError, RecursionError):
        return ()  # the file still counts as code; the command will report the error
    found: dict[Import, None] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[(0, alias.name, ())] = None
        elif isinstance(node, ast.ImportFrom):
            found[(node.level, node.module or "", tuple(a.name for a in node.names))] = None
        elif isinstance(node, ast.Call) and node.args and _is_import_call(node.func):
            arg = node.args[0]  # importlib.import_module("pkg.mod") with a literal name
            if isinstance(arg, ast.Constant) and _is_name(arg.value):
                found[(0, arg.value, ())] = None
    return tuple(found)


def _is_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and all(p.isidentifier() for p in value.split("."))


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _split_commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, without operators and redirection targets."""
    lex = shlex.shlex(line.replace("\\\n", " "), posix=True, punctuation_chars=_PUNCT)
    lex.whitespace = " \t\r"  # a newline separates commands
    lex.whitespace_split = True
    lex.commenters = ""  # shlex would also cut at a '#' inside a word
    try:
        tokens = list(lex)
    except ValueError:  # unbalanced quotes: the shell will refuse it, but look anyway
        tokens = re.sub(r"([;&|()<>\n]+)", r" \1 ", line).split()
    commands: list[list[str]] = [[]]
    skip = False
    for tok in tokens:
        if skip:
            skip = False
        elif tok and all(c in _PUNCT for c in tok):
            if "<" in tok or ">" in tok:
                skip = True  # `> log`: the target is a file, not a command
            else:
                commands.append([])
        else:
            commands[-1].append(tok)
    return [c for c in commands if c]


def _strip_prefix(words: list[str]) -> list[str]:
    """Drop env assignments and wrappers (`env`, `time`, `uv run`, …) before the program."""
    i = 0
    while i < len(words) and _ASSIGN.match(words[i]):
        i += 1
    base = posixpath.basename(words[i]) if i < len(words) else ""
    if base in _WRAPPERS or (base in _TOOL_RUN and words[i + 1 : i + 2] == ["run"]):
        # Wrapper options may take values (`nice -n 5`, `conda run -n env`): jump to the program.
        for j in range(i + 1, len(words)):
            w = words[j]
            if _PYTHON.fullmatch(posixpath.basename(w)) or w in _RUNNERS:
                return words[j:]
            if w.endswith(".py") and not w.startswith("-"):  # `uv run x.py`
                return ["python", *words[j:]]
            if "/" in w and not w.startswith("-") and not _ASSIGN.match(w):
                return words[j:]
        return []
    return words[i:]


def _join(a: str, b: str) -> str:
    return b if a == "." else f"{a}/{b}"
