"""The fast YAML writer/reader must agree exactly with general YAML parsers."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from ruamel.yaml import YAML

from dvx import fastyaml, lockfile, yamlio

TRICKY = [
    "a",
    "data/raw.csv",
    "python src/train.py x.csv",
    "0d25d392b49c81449859be16e0c56408",
    "0b9cc4da4035d21c67c91de23b926ec0",
    "s3://bucket/x",
    "http://127.0.0.1:9000",
    "a:b",
    "12345",
    "1e5",
    "yes",
    "No",
    "null",
    "",
    " x",
    "x ",
    "a: b",
    "#x",
    "0x1F",
    "1_000",
    "12:30",
    "-x",
    "~",
    "true",
    "/usr/bin/python -u",
    "é",
    "a\nb",
    'q"uote',
    "x#y",
    "1.5",
    "-1",
    ".5",
    "inf",
    "3e8",
    "0o17",
    "0b101",
    "@x",
    "[x]",
    "{x}",
    "*x",
    "&x",
    "!x",
    "|",
    ">",
    "%x",
    "'s'",
    "2026-11-25",
    "1234e567",
    "Off",
    "Y",
    "<<",
]


def _values() -> list[Any]:
    rnd = random.Random(7)
    values: list[Any] = [*TRICKY, 0, -3, 1.5, 0.1, 1e-5, 1e20, -0.0, True, False, None]
    values += [math.inf, -math.inf, [], {}, [1, [2, [3]], {"a": []}]]
    values += [{"k": {"j": [1, {"z": None}]}}]
    values += [[[]], [{}], {"a": [{"b": [{"c": 1}]}]}]
    for _ in range(500):
        values.append("".join(rnd.choice("0123456789abcdef.-+_:xob tyn:") for _ in range(8)))
        values.append(rnd.uniform(-1e30, 1e30))
        values.append(rnd.randint(-(10**12), 10**12))
    return values


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    values = _values()
    keys = [*TRICKY, *(f"k{i}" for i in range(len(values)))]
    return {
        "version": 1,
        "stages": {
            (k or "empty"): {"v": v, "l": [v, {"path": k, "d": {"x": v}}]}
            for k, v in zip(keys, values, strict=False)
        },
    }


def test_round_trip_is_exact(doc: dict[str, Any]) -> None:
    assert _same(fastyaml.loads(fastyaml.dumps(doc)), doc)


def test_yaml_1_2_readers_read_the_same(doc: dict[str, Any]) -> None:
    assert _same(YAML(typ="safe").load(fastyaml.dumps(doc)), doc)


def test_yaml_1_1_readers_read_the_same(doc: dict[str, Any]) -> None:
    yaml = pytest.importorskip("yaml")  # PyYAML: YAML 1.1 rules (yes/no, 1:20, dates)
    assert _same(yaml.safe_load(fastyaml.dumps(doc)), doc)


@pytest.mark.parametrize(
    "text",
    [
        "a: 1  # comment\n",
        "a: 'single'\n",
        "a: {b: 1}\n",
        "a: &x 1\nb: *x\n",
        "a: |\n  block\n",
        "a: 0o17\n",
    ],
)
def test_anything_else_goes_to_the_general_parser(text: str) -> None:
    with pytest.raises(fastyaml.NotFast):
        fastyaml.loads(text)
    assert yamlio.loads(text, "x.yaml") == YAML(typ="safe").load(text)


def test_a_hand_written_lock_still_reads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = (
        "# edited by hand\nversion: 1\nstages:\n  s:\n    key: 'abc'\n"
        "    cmd: [echo, hi]\n    outs:\n      - {path: o, hash: '1e5', size: 3}\n"
    )
    path = tmp_path / "dvx.lock"
    path.write_text(text)
    entry = lockfile.read(path)["s"]
    assert entry.cmd == ("echo", "hi")
    assert entry.outs[0].version.hash == "1e5"
