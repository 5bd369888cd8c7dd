"""Import boundaries (STYLE: one module per heavy dependency; the core never prints).

Each third-party package with a wide surface is imported by exactly one dvx
module, so swapping or upgrading it touches one file, and commands that do not
need it never pay its import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dvx"

BOUNDARIES = {
    "pygit2": {"git.py"},
    "rich": {"ui.py"},
    "fsspec": {"remote.py"},
    "s3fs": {"remote.py"},
    "pyarrow": {"tablestats.py"},
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level package imported, whether only for type checking)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in typing_only) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module.split(".")[0], id(node) in typing_only))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_heavy_dependencies_stay_behind_their_module() -> None:
    offenders = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, typing_only in _imports(path):
            allowed = BOUNDARIES.get(name)
            if allowed is not None and rel not in allowed and not typing_only:
                offenders.append(f"{rel} imports {name}")
    assert offenders == []


def test_core_modules_never_print_or_import_the_ui() -> None:
    offenders = []
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("cli/") or rel == "ui.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                offenders.append(f"{rel}:{node.lineno} calls print()")
            if (
                isinstance(node, ast.ImportFrom)
                and node.module == "dvx"
                and any(a.name == "ui" for a in node.names)
            ):
                offenders.append(f"{rel}:{node.lineno} imports dvx.ui")
    assert offenders == []


def test_errors_is_a_leaf() -> None:
    assert not [n for n, _ in _imports(PACKAGE / "errors.py") if n == "dvx"]
