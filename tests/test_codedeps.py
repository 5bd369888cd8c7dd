from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

import pytest

from dvx import codedeps
from dvx.codedeps import CodeScanner, find_code
from dvx.errors import ConfigError
from dvx.hashing import Hasher
from dvx.stagefile import Stage
from dvx.state import State


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def stage(*cmd: str, **kw: Any) -> Stage:
    return Stage(name="s", cmd=cmd, **kw)


def find(root: Path, *cmd: str, **kw: Any) -> list[str]:
    return find_code(root, stage(*cmd, **kw))


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files ast.parse was called on."""
    calls: list[str] = []
    real = ast.parse

    def counting(source: Any, filename: str = "<unknown>", *args: Any, **kw: Any) -> ast.AST:
        calls.append(filename)
        return real(source, filename, *args, **kw)

    monkeypatch.setattr(codedeps.ast, "parse", counting)
    return calls


def test_absolute_imports_include_every_package_on_the_way(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.py": "import json\nimport pytest\nimport a.b.c\nfrom x import y, name\n",
            "a/__init__.py": "",
            "a/b/__init__.py": "",
            "a/b/c.py": "import a.d\n",
            "a/d.py": "",
            "a/b/unused.py": "",
            "x/__init__.py": "name = 1\n",
            "x/y/__init__.py": "",
            "x/z.py": "",
        },
    )
    assert find(tmp_path, "python main.py") == [
        "a/__init__.py",
        "a/b/__init__.py",
        "a/b/c.py",
        "a/d.py",
        "main.py",
        "x/__init__.py",
        "x/y/__init__.py",
    ]


def test_relative_imports_resolve_against_the_importing_package(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "run.py": "from pkg.sub import m\n",
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from .m import thing\n",
            "pkg/sub/m.py": "from . import sibling\nfrom ..other import deep\nfrom .. import up\n",
            "pkg/sub/sibling.py": "",
            "pkg/other/__init__.py": "",
            "pkg/other/deep.py": "",
            "pkg/up.py": "",
            "pkg/unrelated.py": "",
        },
    )
    assert find(tmp_path, "python run.py") == [
        "pkg/__init__.py",
        "pkg/other/__init__.py",
        "pkg/other/deep.py",
        "pkg/sub/__init__.py",
        "pkg/sub/m.py",
        "pkg/sub/sibling.py",
        "pkg/up.py",
        "run.py",
    ]


def test_imports_in_functions_conditionals_and_try_blocks(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.py": (
                "import importlib\n"
                "def f():\n    import infunc\n"
                "if True:\n    import inif\n"
                "try:\n    import intry\nexcept ImportError:\n    import inexcept\n"
                "importlib.import_module('dyn')\n"
            ),
            **{f"{m}.py": "" for m in ("infunc", "inif", "intry", "inexcept", "dyn", "never")},
        },
    )
    assert find(tmp_path, "python main.py") == [
        "dyn.py",
        "inexcept.py",
        "infunc.py",
        "inif.py",
        "intry.py",
        "main.py",
    ]


def test_modules_outside_the_repo_or_in_a_virtualenv_never_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    write(tmp_path, {"outside/helper.py": "", "outside/linked.py": ""})
    monkeypatch.syspath_prepend(str(tmp_path / "outside"))  # importable, but not the repo's
    write(
        repo,
        {
            "main.py": "import helper, linked, requests, tool, venvlib\n",
            ".venv/lib/site-packages/requests/__init__.py": "",
            "env/pyvenv.cfg": "home = /usr/bin\n",
            "env/lib/tool.py": "",
            "venv/venvlib.py": "",
        },
    )
    (repo / "linked.py").symlink_to(tmp_path / "outside/linked.py")
    roots = (".venv/lib/site-packages", "env/lib", "venv")
    assert find_code(repo, stage("python main.py"), import_roots=roots) == ["main.py"]
    assert find(repo, "python .venv/lib/site-packages/requests/__init__.py") == []
    assert find(repo, "python ../outside/helper.py") == []


def test_python_module_and_package_main(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/mod.py": "from pkg import helper\n",
            "pkg/helper.py": "",
            "pkg/__main__.py": "import pkg.mod\n",
        },
    )
    assert find(tmp_path, "python -m pkg.mod --flag") == [
        "pkg/__init__.py",
        "pkg/helper.py",
        "pkg/mod.py",
    ]
    everything = ["pkg/__init__.py", "pkg/__main__.py", "pkg/helper.py", "pkg/mod.py"]
    assert find(tmp_path, "python3 -mpkg") == everything
    assert find(tmp_path, "python pkg") == everything  # runs pkg/__main__.py as a script


@pytest.mark.parametrize(
    "cmd",
    [
        "python x.py a b",
        "python3 x.py",
        "python3.11 -u -W ignore x.py --lr 0.1",
        "python -X dev -Wignore x.py",
        "python -- x.py",
        "/usr/bin/env python x.py",
        "env -i PYTHONHASHSEED=0 python3 x.py",
        "FOO=1 BAR=2 python x.py",
        ".venv/bin/python x.py",
        "time nice -n 10 python -u x.py",
        "uv run --with pandas python x.py",
        "./x.py",
        "bash -c 'cd . && python x.py'",
    ],
)
def test_ways_to_run_a_python_script(tmp_path: Path, cmd: str) -> None:
    write(tmp_path, {"x.py": "import lib\n", "lib.py": ""})
    assert find(tmp_path, cmd) == ["lib.py", "x.py"]


def test_python_without_a_script_file(tmp_path: Path) -> None:
    write(tmp_path, {"lib.py": "", "x.py": ""})
    assert find(tmp_path, "python -c 'import lib; print(1)'") == ["lib.py"]
    assert find(tmp_path, "python - < x.py") == []
    assert find(tmp_path, "python missing.py") == []
    assert find(tmp_path, "python -m missing.mod") == []


def test_wdir_and_script_directory_are_import_roots(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub/run.py": "import near, tools.util, shared\n",
            "sub/near.py": "",
            "sub/tools/util.py": "",
            "shared.py": "",
            "scripts/train.py": "import helpers\n",
            "scripts/helpers.py": "",
        },
    )
    assert find(tmp_path, "python run.py", wdir="sub") == [
        "shared.py",
        "sub/near.py",
        "sub/run.py",
        "sub/tools/util.py",
    ]
    assert find(tmp_path, "python ../scripts/train.py", wdir="sub") == [
        "scripts/helpers.py",
        "scripts/train.py",
    ]


def test_src_layout_and_configured_import_roots(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/mypkg/__init__.py": "",
            "src/mypkg/cli.py": "from mypkg import core\nimport extra\n",
            "src/mypkg/core.py": "",
            "lib/python/extra.py": "",
        },
    )
    found = find_code(tmp_path, stage("python -m mypkg.cli"), import_roots=("lib/python",))
    assert found == [
        "lib/python/extra.py",
        "src/mypkg/__init__.py",
        "src/mypkg/cli.py",
        "src/mypkg/core.py",
    ]


def test_command_lists_and_compound_lines(tmp_path: Path) -> None:
    write(tmp_path, {f"{n}.py": "" for n in "abcdef"})
    write(tmp_path, {"run.sh": "echo hi\n"})
    found = find(
        tmp_path,
        "python a.py && python b.py | sort; python c.py > out.txt 2>&1",
        "python d.py || (python e.py)\npython f.py & bash run.sh",
    )
    assert found == ["a.py", "b.py", "c.py", "d.py", "e.py", "f.py", "run.sh"]
    # Quoted operators are arguments; broken quoting still finds the script.
    assert find(tmp_path, "python a.py 'x && python b.py'") == ["a.py"]
    assert find(tmp_path, "python a.py 'unclosed && python b.py") == ["a.py", "b.py"]


def test_shell_and_r_scripts_count_without_recursion(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "run.sh": "python hidden.py\n",
            "x.sh": "",
            "fit.R": "source('other.R')\n",
            "other.R": "",
            "hidden.py": "",
            "tool": "#!/bin/sh\n",
            "pytool": "#!/usr/bin/env python3\nimport hidden\n",
        },
    )
    os.chmod(tmp_path / "tool", 0o755)
    assert find(tmp_path, "bash run.sh") == ["run.sh"]
    assert find(tmp_path, "sh -e x.sh") == ["x.sh"]
    assert find(tmp_path, "Rscript --vanilla fit.R data.csv") == ["fit.R"]
    assert find(tmp_path, "Rscript -e 'source(\"fit.R\")'") == []
    assert find(tmp_path, "./tool arg") == ["tool"]
    assert find(tmp_path, "./pytool") == ["hidden.py", "pytool"]
    assert find(tmp_path, "tool") == []  # found through PATH, not the repo
    assert find(tmp_path, "bash missing.sh") == []


def test_explicit_code_paths_and_code_none(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "x.py": "import lib\n",
            "lib.py": "",
            "conf/model.yaml": "",
            "tools/a.py": "",
            "tools/sub/b.txt": "",
            "tools/__pycache__/a.cpython-311.pyc": "",
            "tools/.hidden/c.py": "",
        },
    )
    paths = ("conf/model.yaml", "tools")
    assert find(tmp_path, "python x.py", code_paths=paths) == [
        "conf/model.yaml",
        "lib.py",
        "tools/a.py",
        "tools/sub/b.txt",
        "x.py",
    ]
    assert find(tmp_path, "python x.py", code="none") == []
    assert find(tmp_path, "python x.py", code="none", code_paths=("lib.py",)) == ["lib.py"]


def test_missing_explicit_code_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        find_code(tmp_path, Stage(name="train", cmd=("true",), code_paths=("nope.py",), line=7))
    assert exc.value.message == "dvx.yaml:7: stage 'train': code path 'nope.py' does not exist"
    assert exc.value.exit_code == 2
    assert exc.value.hint


def test_syntax_error_file_counts_but_its_imports_are_skipped(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "main.py": "import broken\n",
            "broken.py": "import lib\ndef f(:\n",
            "lib.py": "",
            "warns.py": "x = '\\d'\n",
        },
    )
    assert find(tmp_path, "python main.py") == ["broken.py", "main.py"]
    assert find(tmp_path, "python warns.py") == ["warns.py"]


def test_parse_cache_is_written_and_reused(tmp_path: Path, parses: list[str]) -> None:
    write(tmp_path, {"main.py": "import lib\n", "lib.py": "import json\n"})
    cache = tmp_path / ".dvx" / "tmp" / "code.json"
    assert find_code(tmp_path, stage("python main.py"), cache_file=cache) == ["lib.py", "main.py"]
    assert sorted(parses) == ["lib.py", "main.py"]
    doc = json.loads(cache.read_text())
    assert doc["version"] == 1
    assert [[0, "json", []]] in doc["imports"].values()

    parses.clear()
    mtime = cache.stat().st_mtime_ns
    assert find_code(tmp_path, stage("python main.py"), cache_file=cache) == ["lib.py", "main.py"]
    assert parses == []
    assert cache.stat().st_mtime_ns == mtime  # nothing new, nothing written

    (tmp_path / "lib.py").write_text("import extra\n")
    (tmp_path / "extra.py").write_text("")
    found = find_code(tmp_path, stage("python main.py"), cache_file=cache)
    assert found == ["extra.py", "lib.py", "main.py"]
    assert sorted(parses) == ["extra.py", "lib.py"]


@pytest.mark.parametrize("content", ["{not json", '{"version": 1}', "[]", '{"version": 99}'])
def test_damaged_cache_is_ignored(tmp_path: Path, content: str) -> None:
    write(tmp_path, {"main.py": "import lib\n", "lib.py": "", ".dvx/code.json": content})
    cache = tmp_path / ".dvx" / "code.json"
    assert find_code(tmp_path, stage("python main.py"), cache_file=cache) == ["lib.py", "main.py"]
    assert json.loads(cache.read_text())["version"] == 1


def test_one_scanner_shares_work_across_many_stages(tmp_path: Path, parses: list[str]) -> None:
    modules = {f"shared/m{i}.py": f"from shared import m{i + 1}\n" for i in range(49)}
    write(tmp_path, {"shared/__init__.py": "# pkg\n", "shared/m49.py": "", **modules})
    write(tmp_path, {f"stages/s{i}.py": f"import shared.m0  # {i}\n" for i in range(100)})
    state = State(tmp_path / ".dvx" / "tmp" / "state.db")
    cache = tmp_path / ".dvx" / "tmp" / "code.json"
    stages = [stage(f"python stages/s{i}.py") for i in range(100)]

    scanner = CodeScanner(tmp_path, Hasher(state), cache)
    results = [scanner.find(s) for s in stages]
    scanner.save()
    assert all(len(r) == 52 for r in results)
    assert len(parses) == 151  # every file once

    parses.clear()
    again = CodeScanner(tmp_path, Hasher(state), cache)
    assert [again.find(s) for s in stages] == results
    assert parses == []
    state.close()


def test_a_large_cache_keeps_only_what_the_run_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codedeps, "_MAX_CACHED", 2)
    cache = tmp_path / "code.json"
    for version in range(3):
        write(tmp_path, {"main.py": f"import lib  # v{version}\n", "lib.py": ""})
        assert find_code(tmp_path, stage("python main.py"), cache_file=cache) == [
            "lib.py",
            "main.py",
        ]
    assert len(json.loads(cache.read_text())["imports"]) == 2
