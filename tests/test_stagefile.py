"""Tests for dvx.stagefile: parsing, validation and expansion of dvx.yaml."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dvx.errors import StageFileError
from dvx.stagefile import Out, ParamRef, Stage, load


def write(root: Path, text: str) -> None:
    (root / "dvx.yaml").write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def load_text(root: Path, text: str) -> list[Stage]:
    write(root, text)
    return load(root)


def by_name(stages: list[Stage]) -> dict[str, Stage]:
    return {s.name: s for s in stages}


def error(root: Path, text: str) -> StageFileError:
    write(root, text)
    with pytest.raises(StageFileError) as info:
        load(root)
    return info.value


# -- files ---------------------------------------------------------------------------


def test_missing_file_gives_no_stages(tmp_path: Path) -> None:
    assert load(tmp_path) == []


@pytest.mark.parametrize("text", ["", "# only a comment\n", "stages:\n"])
def test_empty_file_gives_no_stages(tmp_path: Path, text: str) -> None:
    assert load_text(tmp_path, text) == []


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          a:
            cmd: [echo
            deps: x
        """,
    )
    assert err.message.startswith("dvx.yaml:4: invalid YAML:")
    assert err.exit_code == 2


def test_unquoted_interpolation_in_flow_list_gets_a_hint(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    deps: [${item}]\n")
    assert err.message.startswith("dvx.yaml:4: invalid YAML:")
    assert err.hint is not None and "quote" in err.hint


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    assert error(tmp_path, "- a\n").message.startswith("dvx.yaml:1:")


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages: {}
        stage:
          a: {cmd: echo}
        """,
    )
    assert err.message == "dvx.yaml:2: unknown top-level key 'stage'"
    assert err.hint == "did you mean 'stages'?"


# -- a full example ----------------------------------------------------------------------


FULL = """
stages:
  features:
    desc: build the features
    cmd: python src/features.py data/raw.csv data/features.parquet
    deps: [data/raw.csv, src/]
    params: [features]
    outs: [data/features.parquet]
  train:
    cmd:
      - python src/train.py
      - echo done
    wdir: models
    deps: [../data/features.parquet]
    params:
      - train.lr
      - train.epochs
      - train.lr
      - ../configs/model.yaml: [layers, act]
      - ../configs/model.yaml: [dropout]
      - ../configs/whole.yaml:
      - ../configs/empty.yaml: []
    outs:
      - model.pkl
      - logs/: {persist: true}
      - tmp: {cache: false}
    metrics:
      - metrics.json
      - plots/: {cache: true}
    env: [SEED, CUDA_VISIBLE_DEVICES]
    always_changed: true
    frozen: false
    code: [../src/lib/]
  report:
    cmd: make report
    code: none
    frozen: true
"""


def test_full_example(tmp_path: Path) -> None:
    stages = load_text(tmp_path, FULL)
    assert [s.name for s in stages] == ["features", "train", "report"]
    feat, train, report = stages

    assert feat.cmd == ("python src/features.py data/raw.csv data/features.parquet",)
    assert feat.wdir == "."
    assert feat.deps == ("data/raw.csv", "src")
    assert feat.params == (ParamRef("params.yaml", ("features",)),)
    assert feat.outs == (Out("data/features.parquet"),)
    assert feat.code == "auto" and feat.code_paths == ()
    assert feat.line == 2
    assert feat.field_lines["deps"] == 5

    assert train.cmd == ("python src/train.py", "echo done")
    assert train.wdir == "models"
    assert train.deps == ("data/features.parquet",)
    assert train.params == (
        ParamRef("models/params.yaml", ("train.epochs", "train.lr")),
        ParamRef("configs/model.yaml", ("act", "dropout", "layers")),
        ParamRef("configs/whole.yaml", None),
        ParamRef("configs/empty.yaml", None),
    )
    assert train.outs == (
        Out("models/model.pkl"),
        Out("models/logs", persist=True),
        Out("models/tmp", cache=False),
        Out("models/metrics.json", cache=False, metric=True),
        Out("models/plots", cache=True, metric=True),
    )
    assert train.env == ("SEED", "CUDA_VISIBLE_DEVICES")
    assert train.always_changed is True
    assert train.frozen is False
    assert train.code == "auto"
    assert train.code_paths == ("src/lib",)
    assert train.line == 8
    assert train.field_lines["outs"] == 22
    assert train.out_lines["models/logs"] == 24
    assert train.dep_lines == {"data/features.parquet": 13}
    assert train.where() == "dvx.yaml:8: stage 'train'"

    assert report.code == "none" and report.frozen is True


def test_whole_file_wins_over_keys(tmp_path: Path) -> None:
    [st] = load_text(
        tmp_path,
        """
        stages:
          a:
            cmd: echo
            params:
              - cfg.yaml: [x]
              - cfg.yaml:
              - y
        """,
    )
    assert st.params == (ParamRef("cfg.yaml", None), ParamRef("params.yaml", ("y",)))


def test_paths_are_normalized(tmp_path: Path) -> None:
    [st] = load_text(
        tmp_path,
        """
        stages:
          a:
            cmd: echo
            wdir: ./sub/../work/
            deps: [./x//y/, ., ../top.csv]
            outs: [out/]
        """,
    )
    assert st.wdir == "work"
    assert st.deps == ("work/x/y", "work", "top.csv")
    assert st.outs == (Out("work/out"),)


def test_dvx_yaml_in_subdir_may_be_an_output(tmp_path: Path) -> None:
    [st] = load_text(
        tmp_path,
        """
        stages:
          a: {cmd: echo, wdir: sub, outs: [dvx.yaml]}
        """,
    )
    assert st.outs == (Out("sub/dvx.yaml"),)


# -- errors in one stage -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("outs: data.csv", 3, "outs must be a list"),
        ("deps: {a: 1}", 3, "deps must be a list"),
        ("deps: [1]", 3, "dep must be a string, not a number"),
        ("deps: [{a: b}]", 3, "dep must be a string, not a mapping"),
        ("wdir: true", 3, "wdir must be a string, not a boolean"),
        ("always_changed: yes", 3, "always_changed must be true or false"),
        ("frozen: 1", 3, "frozen must be true or false"),
        ("code: auto-ish", 3, "code must be 'auto', 'none' or a list of paths"),
        ("env: [1BAD]", 3, "invalid environment variable name '1BAD'"),
        ("params: [[a]]", 3, "each params item must be a key"),
        ("params: [a..b]", 3, "invalid params key 'a..b'"),
        ("params: [{f.yaml: x}]", 3, "keys of params file 'f.yaml' must be a list"),
        ("outs:\n  - a:\n    persist: true", 4, "each outs item must be a path"),
        ("outs: [{a: {persist: 1}}]", 3, "persist must be true or false"),
        ("outs: [{a: true}]", 3, "flags of out 'a' must be a mapping"),
        ("outs: [a, b, a]", 3, "output 'a' is declared twice"),
        ("metrics: [m.json, m.json]", 3, "output 'm.json' is declared twice"),
    ],
)
def test_field_errors(tmp_path: Path, body: str, line: int, message: str) -> None:
    text = "stages:\n  s:\n" + textwrap.indent(body, "    ") + "\n    cmd: echo\n"
    err = error(tmp_path, text)
    assert err.message.startswith(f"dvx.yaml:{line}: stage 's': {message}"), err.message
    assert err.exit_code == 2


def test_error_line_points_at_list_item(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          s:
            cmd: echo
            outs:
              - ok
              - /abs/path
        """,
    )
    assert err.message == "dvx.yaml:6: stage 's': out '/abs/path' is outside the repository"


def test_missing_cmd(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    deps: [a]\n")
    assert err.message == "dvx.yaml:2: stage 's': missing required field 'cmd'"


@pytest.mark.parametrize("cmd", ["''", "[]", "['ok', '  ']", "{a: b}", "[1]"])
def test_bad_cmd(tmp_path: Path, cmd: str) -> None:
    err = error(tmp_path, f"stages:\n  s:\n    cmd: {cmd}\n")
    assert err.message.startswith("dvx.yaml:3: stage 's': cmd ")


def test_unknown_field_suggests(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          train:
            cmd: python train.py
            dep: [data]
        """,
    )
    assert err.message == "dvx.yaml:4: stage 'train': unknown field 'dep'"
    assert err.hint == "did you mean 'deps'?"


def test_unknown_field_without_close_match_lists_fields(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    zzzz: 1\n")
    assert err.hint is not None and err.hint.startswith("valid fields: cmd, deps")


def test_unknown_out_flag_suggests(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          s:
            cmd: echo
            outs:
              - logs:
                  persistent: true
        """,
    )
    assert err.message == "dvx.yaml:6: stage 's': unknown flag 'persistent' of out 'logs'"
    assert err.hint == "did you mean 'persist'?"


@pytest.mark.parametrize("name", ["a@b", "a/b", "a:b", "a b", "''"])
def test_bad_stage_names(tmp_path: Path, name: str) -> None:
    err = error(tmp_path, f"stages:\n  x: {{cmd: echo}}\n  {name}: {{cmd: echo}}\n")
    assert err.message.startswith("dvx.yaml:3: invalid stage name")


def test_stage_must_be_mapping(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s: echo hi\n")
    assert err.message == "dvx.yaml:2: stage 's' must be a mapping of fields"


def test_duplicate_stage_names(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          train:
            cmd: a
          test:
            cmd: b
          train:
            cmd: c
        """,
    )
    assert err.message == "dvx.yaml:6: duplicate stage 'train' (first defined at line 2)"


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    err = error(tmp_path, "stages: {}\nstages: {}\n")
    assert err.message == "dvx.yaml:2: duplicate key 'stages' (first at line 1)"


def test_duplicate_field(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: a\n    deps: [x]\n    deps: [y]\n")
    assert err.message == "dvx.yaml:5: stage 's': duplicate field 'deps' (first at line 4)"


# -- path safety -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("/etc/passwd", "out '/etc/passwd' is outside the repository"),
        ("../x", "out '../x' is outside the repository"),
        ("a/../../x", "out 'a/../../x' is outside the repository"),
        (".git", "out '.git' is inside .git"),
        (".git/hooks/pre-commit", "out '.git/hooks/pre-commit' is inside .git"),
        (".dvx/cache", "out '.dvx/cache' is inside .dvx"),
        ("a/../.dvx", "out 'a/../.dvx' is inside .dvx"),
        (".", "out '.' is the repository root"),
        ("dvx.lock", "out 'dvx.lock' is a dvx file"),
        ("dvx.yaml", "out 'dvx.yaml' is a dvx file"),
    ],
)
def test_unsafe_outs_refused(tmp_path: Path, out: str, message: str) -> None:
    err = error(tmp_path, f"stages:\n  s:\n    cmd: echo\n    outs: ['{out}']\n")
    assert err.message == f"dvx.yaml:4: stage 's': {message}"


def test_unsafe_metric_dep_and_wdir_refused(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    metrics: [../m.json]\n")
    assert "metric '../m.json' is outside the repository" in err.message
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    deps: [/data]\n")
    assert "dep '/data' is outside the repository" in err.message
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    wdir: ..\n")
    assert err.message == "dvx.yaml:4: stage 's': wdir '..' is outside the repository"
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    wdir: sub\n    outs: [../../x]\n")
    assert "out '../../x' is outside the repository" in err.message
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    params: [{/p.yaml: [a]}]\n")
    assert "params file '/p.yaml' is outside the repository" in err.message


# -- across stages ---------------------------------------------------------------------


def test_same_output_in_two_stages_names_both(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          a:
            cmd: echo
            outs: [x]
          b:
            cmd: echo
            wdir: sub
            outs: [../x]
        """,
    )
    assert err.message == (
        "dvx.yaml:8: stage 'b': output 'x' is also an output of stage 'a' (line 4)"
    )


def test_metric_and_out_collide(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          a: {cmd: echo, outs: [m.json]}
          b: {cmd: echo, metrics: [m.json]}
        """,
    )
    assert "stage 'b': output 'm.json' is also an output of stage 'a' (line 2)" in err.message


def test_nested_outputs_overlap(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          a:
            cmd: echo
            outs: [data/x.csv]
          b:
            cmd: echo
            outs: [data]
        """,
    )
    assert err.message == (
        "dvx.yaml:7: stage 'b': output 'data' overlaps output 'data/x.csv' of stage 'a' (line 4)"
    )
    err = error(
        tmp_path,
        """
        stages:
          a:
            cmd: echo
            outs: [data]
          b:
            cmd: echo
            outs: [data/x.csv]
        """,
    )
    assert err.message == (
        "dvx.yaml:7: stage 'b': output 'data/x.csv' overlaps output 'data' of stage 'a' (line 4)"
    )


def test_sibling_prefixes_do_not_overlap(tmp_path: Path) -> None:
    stages = load_text(
        tmp_path,
        """
        stages:
          a: {cmd: echo, outs: [data]}
          b: {cmd: echo, outs: [data2, data.csv]}
        """,
    )
    assert len(stages) == 2


# -- interpolation -----------------------------------------------------------------------


def test_shell_variables_pass_through_in_cmd(tmp_path: Path) -> None:
    cmd = 'echo ${HOME} $USER $$ ${f%.csv} ${#arr} ${X:-y} "$(date)"'
    [st] = load_text(tmp_path, f"stages:\n  s:\n    cmd: '{cmd}'\n")
    assert st.cmd == (cmd,)


def test_item_outside_expansion_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo ${item}\n")
    assert err.message == "dvx.yaml:3: stage 's': unknown interpolation '${item}'"
    assert err.hint is not None and "matrix" in err.hint


def test_dollar_brace_in_paths_is_an_error(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    deps:\n      - a\n      - ${HOME}/x\n")
    assert err.message == "dvx.yaml:6: stage 's': unknown interpolation '${HOME}'"


# -- matrix ------------------------------------------------------------------------------


def test_matrix_one_key(tmp_path: Path) -> None:
    stages = load_text(
        tmp_path,
        """
        stages:
          prep:
            cmd: echo
          train:
            matrix:
              model: [cnn, xgb]
            cmd: python train.py --model ${item.model}
            deps: ['data/${item.model}.csv']
            outs: ['models/${item.model}.pkl']
        """,
    )
    assert [s.name for s in stages] == ["prep", "train@cnn", "train@xgb"]
    cnn = stages[1]
    assert cnn.cmd == ("python train.py --model cnn",)
    assert cnn.deps == ("data/cnn.csv",)
    assert cnn.outs == (Out("models/cnn.pkl"),)
    assert cnn.line == 4
    assert cnn.field_lines["outs"] == 9


def test_matrix_two_keys_cartesian_product(tmp_path: Path) -> None:
    stages = load_text(
        tmp_path,
        """
        stages:
          train:
            matrix:
              model: [cnn, xgb]
              lr: [0.1, 0.01]
              fast: [true]
            cmd: train ${item.model} --lr=${item.lr} --fast=${item.fast} ${HOME}
            wdir: runs/${item.model}
            params:
              - ${item.model}.lr
              - ../${item.model}.yaml: ['lr_${item.lr}']
            outs: ['out-${item.lr}']
            env: ['LR_${item.model}']
            code: ['lib_${item.model}.py']
        """,
    )
    assert [s.name for s in stages] == [
        "train@cnn-0.1-true",
        "train@cnn-0.01-true",
        "train@xgb-0.1-true",
        "train@xgb-0.01-true",
    ]
    st = stages[1]
    assert st.cmd == ("train cnn --lr=0.01 --fast=true ${HOME}",)
    assert st.wdir == "runs/cnn"
    assert st.params == (
        ParamRef("runs/cnn/params.yaml", ("cnn.lr",)),
        ParamRef("runs/cnn.yaml", ("lr_0.01",)),
    )
    assert st.outs == (Out("runs/cnn/out-0.01"),)
    assert st.env == ("LR_cnn",)
    assert st.code_paths == ("runs/cnn/lib_cnn.py",)


def test_matrix_mapping_values(tmp_path: Path) -> None:
    stages = load_text(
        tmp_path,
        """
        stages:
          train:
            matrix:
              cfg:
                - {name: small, size: 1}
                - {name: big, size: 10}
              seed: [1]
            cmd: run --size ${item.cfg.size} --cfg '${item.cfg}'
            outs: ['${item.cfg.name}']
        """,
    )
    assert [s.name for s in stages] == ["train@cfg0-1", "train@cfg1-1"]
    assert stages[1].cmd == ("""run --size 10 --cfg '{"name": "big", "size": 10}'""",)
    assert stages[1].outs == (Out("big"),)


def test_matrix_whole_mapping_is_an_error(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          train:
            matrix:
              cfg: [{a: 1}]
            cmd: run
            deps: ['${item.cfg}']
        """,
    )
    assert err.message == (
        "dvx.yaml:6: stage 'train@cfg0': '${item.cfg}' is a mapping, not a single value"
    )


def test_matrix_unknown_interpolation(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          train:
            matrix:
              model: [cnn]
            cmd: python train.py ${itme.model}
        """,
    )
    assert err.message == "dvx.yaml:5: stage 'train@cnn': unknown interpolation '${itme.model}'"
    assert err.hint == "did you mean '${item.model}'?"


def test_matrix_same_output_in_each_expansion(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        stages:
          train:
            matrix: {model: [a, b]}
            cmd: run
            outs: [model.pkl]
        """,
    )
    assert err.message == (
        "dvx.yaml:5: stage 'train@b': output 'model.pkl' is also an output of stage "
        "'train@a' (line 5)"
    )


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ("[a, b]", "matrix must be a non-empty mapping"),
        ("{}", "matrix must be a non-empty mapping"),
        ("{model: cnn}", "matrix 'model' must be a non-empty list"),
        ("{model: []}", "matrix 'model' must be a non-empty list"),
        ("{a.b: [1]}", "invalid matrix key 'a.b'"),
        ("{m: [x, x]}", "expansion gives two stages named 's@x'"),
    ],
)
def test_bad_matrix(tmp_path: Path, matrix: str, message: str) -> None:
    err = error(tmp_path, f"stages:\n  s:\n    cmd: echo\n    matrix: {matrix}\n")
    assert err.message.startswith("dvx.yaml:"), err.message
    assert f"stage 's': {message}" in err.message


def test_matrix_and_foreach_together(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    matrix: {a: [1]}\n    foreach: [1]\n")
    assert err.message == "dvx.yaml:5: stage 's': 'matrix' and 'foreach' cannot be used together"


def test_matrix_names_are_sanitized(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: cat ${item.f}\n    matrix: {f: [a/b c]}\n"
    stages = load_text(tmp_path, text)
    assert [s.name for s in stages] == ["s@a_b_c"]
    assert stages[0].cmd == ("cat a/b c",)


# -- foreach ---------------------------------------------------------------------------


def make_files(root: Path, *paths: str) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text("x")


def test_foreach_glob(tmp_path: Path) -> None:
    make_files(tmp_path, "data/b.csv", "data/a.csv", "data/notes.txt", "data/sub/c.csv")
    (tmp_path / "data/dir.csv").mkdir()
    stages = load_text(
        tmp_path,
        """
        stages:
          clean:
            foreach: data/*.csv
            cmd: clean ${item} out/${item.name} ${item.parent} $HOME
            deps: ['${item}']
            outs: ['out/${item.stem}.parquet']
        """,
    )
    assert [s.name for s in stages] == ["clean@a", "clean@b"]
    a = stages[0]
    assert a.cmd == ("clean data/a.csv out/a.csv data $HOME",)
    assert a.deps == ("data/a.csv",)
    assert a.outs == (Out("out/a.parquet"),)
    assert a.line == 2


def test_foreach_glob_relative_to_wdir_and_stem_collisions(tmp_path: Path) -> None:
    make_files(tmp_path, "w/in/x.csv", "w/in/deep/x.csv", "w/in/y.csv", "w/in/y.txt", "w/in/z.gz")
    stages = load_text(
        tmp_path,
        """
        stages:
          conv:
            wdir: w
            foreach: in/**/*.*
            cmd: conv ${item}
            outs: ['out/${item}']
        """,
    )
    assert [s.name for s in stages] == [
        "conv@in_deep_x.csv",
        "conv@in_x.csv",
        "conv@in_y.csv",
        "conv@in_y.txt",
        "conv@z",
    ]
    assert stages[0].cmd == ("conv in/deep/x.csv",)
    assert stages[0].outs == (Out("w/out/in/deep/x.csv"),)


def test_foreach_glob_matching_nothing(tmp_path: Path) -> None:
    assert load_text(tmp_path, "stages:\n  s:\n    cmd: echo\n    foreach: 'nope/*'\n") == []


def test_foreach_glob_outside_repo(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  s:\n    cmd: echo\n    foreach: '../*.csv'\n")
    assert err.message == "dvx.yaml:4: stage 's': foreach glob '../*.csv' is outside the repository"


def test_foreach_list_and_mapping(tmp_path: Path) -> None:
    stages = load_text(
        tmp_path,
        """
        stages:
          a:
            foreach: [us, eu]
            cmd: fetch ${item}
          b:
            foreach:
              small: {n: 1}
              big: {n: 9}
            cmd: gen ${key} ${item.n}
            outs: ['${key}.csv']
        """,
    )
    got = by_name(stages)
    assert list(got) == ["a@us", "a@eu", "b@small", "b@big"]
    assert got["a@eu"].cmd == ("fetch eu",)
    assert got["b@big"].cmd == ("gen big 9",)
    assert got["b@big"].outs == (Out("big.csv"),)


def test_foreach_list_of_mappings_named_by_index(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    foreach: [{x: 1}, {x: 2}]\n    cmd: r ${item.x}\n"
    stages = load_text(tmp_path, text)
    assert [(s.name, s.cmd) for s in stages] == [("a@0", ("r 1",)), ("a@1", ("r 2",))]


def test_foreach_unknown_interpolation_lists_available(tmp_path: Path) -> None:
    err = error(tmp_path, "stages:\n  a:\n    foreach: [x]\n    cmd: r\n    deps: ['${zzz}']\n")
    assert err.message == "dvx.yaml:5: stage 'a@x': unknown interpolation '${zzz}'"
    assert err.hint == "available: ${item}"
