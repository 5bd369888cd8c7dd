"""docs/cli.md documents every command and option of the real CLI.

The test walks the click command tree that typer builds, so a command or option
added later fails here until it has a section in docs/cli.md. Each command
``dvx a b`` owns the text from its heading (``## dvx a b``, or deeper) to the next
heading of the same or a higher level, or to the next command heading. Every flag
of the command must appear there as a whole word (``--dry`` does not count for
``--dry-run``). Headings inside code fences do not count.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

import dvx.cli  # noqa: F401  (importing the package registers every command)
from dvx.cli.app import app

CLI_MD = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*?)[ \t#]*")
_COMMAND = re.compile(r"`?(dvx(?:[ \t]+[\w-]+)*)`?")
_FENCE = re.compile(r"[ \t]{0,3}(```|~~~)")


def _commands() -> dict[str, Any]:
    """Every visible command by its full name (``dvx``, ``dvx repro``, ``dvx remote add``).

    Duck-typed: typer >= 0.29 ships its own copy of click, so ``isinstance`` checks
    against the ``click`` package would silently match nothing.
    """
    found: dict[str, Any] = {}

    def walk(name: str, cmd: Any) -> None:
        found[name] = cmd
        for sub_name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            if not getattr(sub, "hidden", False):
                walk(f"{name} {sub_name}", sub)

    walk("dvx", typer.main.get_command(app))
    return found


def _flags(cmd: Any) -> list[str]:
    flags: list[str] = []
    for param in cmd.params:
        if param.param_type_name == "option" and not getattr(param, "hidden", False):
            flags += [*param.opts, *param.secondary_opts]
    return flags


def _headings(lines: list[str]) -> list[tuple[int, int, str | None]]:
    """(line index, level, command name or None) of every heading outside code fences."""
    found: list[tuple[int, int, str | None]] = []
    fence: str | None = None
    for i, line in enumerate(lines):
        f = _FENCE.match(line)
        if f is not None:
            fence = None if fence == f.group(1) else fence or f.group(1)
            continue
        m = _HEADING.fullmatch(line)
        if fence is None and m is not None:
            command = _COMMAND.fullmatch(m.group(2))
            name = " ".join(command.group(1).split()) if command else None
            found.append((i, len(m.group(1)), name))
    return found


def _sections() -> dict[str, str]:
    """Command name → its section: up to the next heading of the same or a higher
    level, or the next command heading (so a group's section excludes its subcommands)."""
    lines = CLI_MD.read_text(encoding="utf-8").splitlines()
    headings = _headings(lines)
    sections: dict[str, str] = {}
    for k, (i, level, name) in enumerate(headings):
        if name is None or level < 2:
            continue
        end = next(
            (j for j, lv, other in headings[k + 1 :] if lv <= level or other is not None),
            len(lines),
        )
        assert name not in sections, f"docs/cli.md has two sections '{name}'"
        sections[name] = "\n".join(lines[i + 1 : end])
    return sections


COMMANDS = _commands()


def test_cli_md_exists() -> None:
    assert CLI_MD.is_file(), "docs/cli.md is missing"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_documented(name: str) -> None:
    sections = _sections()
    assert name in sections, f"docs/cli.md has no heading '## {name}'"
    body = sections[name]
    missing = [
        flag
        for flag in _flags(COMMANDS[name])
        if not re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", body)
    ]
    assert not missing, f"docs/cli.md section '{name}' does not mention {', '.join(missing)}"


def test_no_section_for_a_missing_command() -> None:
    stale = sorted(set(_sections()) - set(COMMANDS))
    assert not stale, f"docs/cli.md documents commands that do not exist: {', '.join(stale)}"


def test_walk_finds_the_core_commands() -> None:
    # Guards the walk itself: if it silently found nothing, every check above would pass.
    assert {"dvx", "dvx repro", "dvx status"} <= set(COMMANDS)
    assert {"-n", "--dry", "-j", "--jobs"} <= set(_flags(COMMANDS["dvx repro"]))
    assert "--verbose" in _flags(COMMANDS["dvx"])
