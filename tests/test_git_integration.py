"""Git integration with real git (SPEC §8): install-hooks, the lock and pointer merge
driver, hooks firing on checkout/merge/push, and the pre-commit framework.

Git runs the hooks and the merge driver as ``sys.executable -m dvx`` (what
``dvx install-hooks`` writes), so they exercise this environment's dvx in a
separate process, exactly as a user's git would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, PY, Result, run, run_proc, write

from dvx import yamlio
from dvx.hooks import HOOKS, MARKER

SOURCE_TREE = Path(__file__).resolve().parents[1]


# ---- helpers ------------------------------------------------------------------------


def g(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run git; with ``check``, a failure shows git's output."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, f"git {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def commit(msg: str, cwd: Path | None = None) -> str:
    g("add", "-A", cwd=cwd)
    g("commit", "-q", "-m", msg, cwd=cwd)
    return g("rev-parse", "HEAD", cwd=cwd).stdout.strip()


def ok(res: Result) -> Result:
    assert res.code == 0, res.output
    return res


def rewrite(path: str | Path, text: str) -> None:
    """Replace a file that may be a read-only link into the cache."""
    p = Path(path)
    if p.exists():
        p.unlink()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def outcomes(out: str) -> dict[str, str]:
    """Per-stage outcome of a repro: ran / restored / up to date / pulled from NAME."""
    res: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+): (ran in \S+|restored|up to date|pulled from \S+|FAILED.*)$", line)
        if m:
            res[m.group(1)] = "ran" if m.group(2).startswith("ran in") else m.group(2)
    return res


def lock_hashes(root: Path = Path(".")) -> dict[str, str]:
    """out path -> hash recorded in dvx.lock."""
    doc = yamlio.load(root / "dvx.lock")
    return {o["path"]: o["hash"] for e in doc["stages"].values() for o in e.get("outs", [])}


def cache_object(root: Path, digest: str) -> Path:
    return root / ".dvx/cache/objects" / digest[:2] / digest[2:]


def remote_object(store: Path, digest: str) -> Path:
    return store / "objects" / digest[:2] / digest[2:]


def delete(path: Path) -> None:
    path.parent.chmod(path.parent.stat().st_mode | stat.S_IWUSR)
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    path.unlink()


# A pipeline whose stages are independent enough for branches to change one each:
# a, b, c read their own conf/NAME.json (keys n and m, on lines far enough apart for
# git to merge edits of both), and sum reads a's and b's outputs.

GEN = """
import json, sys
from pathlib import Path
name = sys.argv[1]
conf = json.loads(Path(f"conf/{name}.json").read_text())
Path("out").mkdir(exist_ok=True)
Path(f"out/{name}.txt").write_text(f"{name} {conf['n'] * conf['m']}\\n")
"""

SUM = """
import sys
from pathlib import Path
parts = [Path(p).read_text() for p in sys.argv[1:]]
Path("out/sum.txt").write_text("".join(parts) + "end\\n")
"""


def set_conf(name: str, **values: int) -> None:
    p = Path(f"conf/{name}.json")
    conf = json.loads(p.read_text()) if p.exists() else {"n": 1, "m": 1}
    conf.update(values)
    p.parent.mkdir(exist_ok=True)
    p.write_text(
        f'{{\n  "n": {conf["n"]},\n  "pad1": 0,\n  "pad2": 0,\n  "pad3": 0,\n'
        f'  "m": {conf["m"]}\n}}\n'
    )


def gen_block(name: str) -> str:
    return (
        f"  {name}:\n"
        f"    cmd: {PY} src/gen.py {name}\n"
        f"    params:\n"
        f"      - conf/{name}.json: [n, m]\n"
        f"    outs: [out/{name}.txt]\n"
    )


SUM_BLOCK = (
    "  sum:\n"
    f"    cmd: {PY} src/sum.py out/a.txt out/b.txt\n"
    "    deps: [out/a.txt, out/b.txt]\n"
    "    outs: [out/sum.txt]\n"
)


def stage_file(*extra: str, without: tuple[str, ...] = ()) -> None:
    blocks = [gen_block(n) for n in ("a", "b", "c") if n not in without]
    blocks.append(SUM_BLOCK)
    blocks += [gen_block(n) for n in extra]
    Path("dvx.yaml").write_text("stages:\n" + "".join(blocks))


@pytest.fixture
def multi(repo: Path) -> Path:
    """Stages a, b, c, sum(a, b), built and committed on main, hooks installed."""
    write("src/gen.py", GEN)
    write("src/sum.py", SUM)
    for n in ("a", "b", "c"):
        set_conf(n)
    stage_file()
    ok(run("install-hooks"))
    res = ok(run("repro"))
    assert set(outcomes(res.out).values()) == {"ran"}, res.out
    commit("base")
    return repo


def branch_change(branch: str, new: bool = True, **confs: dict[str, int]) -> str:
    """On ``branch``: change confs, repro, commit."""
    if new:
        g("checkout", "-q", "-b", branch)
    else:
        g("checkout", "-q", branch)
    for name, values in confs.items():
        set_conf(name, **values)
    ok(run("repro"))
    return commit(f"{branch}: {confs}")


def merge(branch: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return g("merge", "--no-edit", branch, cwd=cwd, check=False)


def assert_clean_merge(proc: subprocess.CompletedProcess[str], cwd: Path | None = None) -> None:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert g("status", "--porcelain", cwd=cwd).stdout.strip() == "", "merge left changes"
    text = ((cwd or Path(".")) / "dvx.lock").read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text and "=======" not in text


def fresh_lock(tmp_path: Path, source: Path) -> bytes:
    """dvx.lock of a fresh 'dvx repro' of ``source``'s HEAD in a clean clone."""
    clone = tmp_path / "fresh-clone"
    g("clone", "-q", str(source), str(clone))
    (clone / "dvx.lock").unlink()
    res = run_proc("repro", "--no-remote", cwd=clone)
    assert res.code == 0, res.output
    assert set(outcomes(res.out).values()) == {"ran"}, res.out
    return (clone / "dvx.lock").read_bytes()


# ---- install-hooks --------------------------------------------------------------------


def test_install_hooks_registers_driver_and_hooks_idempotently(repo: Path) -> None:
    attrs = (repo / ".gitattributes").read_text().splitlines()
    assert "dvx.lock merge=dvx" in attrs and "*.dvx merge=dvx" in attrs
    ok(run("install-hooks"))
    driver = g("config", "--get", "merge.dvx.driver").stdout.strip()
    assert driver.endswith("-m dvx merge-driver %O %A %B %P"), driver
    assert sys.executable in driver
    hooks = repo / ".git/hooks"
    first = {}
    for name in HOOKS:
        p = hooks / name
        assert p.is_file() and os.access(p, os.X_OK), name
        assert MARKER in p.read_text()
        first[name] = p.read_text()
    assert set(HOOKS) == {"post-checkout", "post-merge", "pre-push"}

    ok(run("install-hooks"))
    assert {n: (hooks / n).read_text() for n in HOOKS} == first
    assert not list(hooks.glob("*.pre-dvx"))
    assert g("config", "--get-all", "merge.dvx.driver").stdout.strip() == driver


def test_install_hooks_keeps_user_hook_and_uninstall_restores_it(
    repo: Path, tmp_path: Path
) -> None:
    commit("init")
    log = tmp_path / "user-hook.log"
    user_hook = f'#!/bin/sh\necho "user post-checkout $*" >> "{log}"\n'
    hook = repo / ".git/hooks/post-checkout"
    hook.write_text(user_hook)
    hook.chmod(0o755)

    res = ok(run("install-hooks"))
    assert "post-checkout" in res.out  # says it kept the user's hook
    assert (repo / ".git/hooks/post-checkout.pre-dvx").read_text() == user_hook
    assert MARKER in hook.read_text()
    ok(run("install-hooks"))  # idempotent with a chained hook
    assert (repo / ".git/hooks/post-checkout.pre-dvx").read_text() == user_hook
    assert sorted(p.name for p in (repo / ".git/hooks").glob("*.pre-dvx")) == [
        "post-checkout.pre-dvx"
    ]

    g("checkout", "-q", "-b", "other")
    assert log.read_text().count("user post-checkout") == 1  # still runs, once

    ok(run("install-hooks", "--uninstall"))
    assert hook.read_text() == user_hook
    assert os.access(hook, os.X_OK)
    for name in ("post-merge", "pre-push"):
        assert not (repo / ".git/hooks" / name).exists()
    assert not list((repo / ".git/hooks").glob("*.pre-dvx"))
    assert g("config", "--get-regexp", r"^merge\.dvx\.", check=False).stdout == ""
    g("checkout", "-q", "main")
    assert log.read_text().count("user post-checkout") == 2


def test_uninstall_leaves_foreign_hooks_alone(repo: Path) -> None:
    foreign = "#!/bin/sh\nexit 0\n"
    p = repo / ".git/hooks/pre-commit"
    p.write_text(foreign)
    ok(run("install-hooks"))
    ok(run("install-hooks", "--uninstall"))
    assert p.read_text() == foreign
    for name in HOOKS:
        assert not (repo / ".git/hooks" / name).exists()


# ---- hooks firing ---------------------------------------------------------------------


def two_branches(pipeline: Path) -> tuple[str, str]:
    """main: scale 2 (total 20200); other: scale 3 (total 30300); both built locally."""
    ok(run("repro"))
    commit("main")
    g("checkout", "-q", "-b", "other")
    rewrite("params.json", '{"train": {"scale": 3, "unused": 1}}\n')
    ok(run("repro"))
    commit("scale 3")
    assert (pipeline / "out/total.txt").read_text() == "30300\n"
    return "main", "other"


@pytest.mark.parametrize("hooks_path", [None, ".githooks"])
def test_post_checkout_makes_data_follow_the_branch(pipeline: Path, hooks_path: str | None) -> None:
    if hooks_path:
        g("config", "core.hooksPath", hooks_path)
    ok(run("install-hooks"))
    hooks_dir = pipeline / (hooks_path or ".git/hooks")
    for name in HOOKS:
        assert MARKER in (hooks_dir / name).read_text()
    if hooks_path:
        assert not (pipeline / ".git/hooks/post-checkout").exists()
    two_branches(pipeline)

    g("checkout", "-q", "main")
    assert (pipeline / "out/total.txt").read_text() == "20200\n"
    assert json.loads((pipeline / "metrics.json").read_text()) == {"total": 20200}
    assert "Everything is up to date." in ok(run("status")).out
    g("checkout", "-q", "other")
    assert (pipeline / "out/total.txt").read_text() == "30300\n"
    assert "Everything is up to date." in ok(run("status")).out

    if hooks_path:
        ok(run("install-hooks", "--uninstall"))
        assert not any((hooks_dir / n).exists() for n in HOOKS)


def test_post_merge_makes_data_follow_the_merge(pipeline: Path) -> None:
    ok(run("install-hooks"))
    two_branches(pipeline)
    g("checkout", "-q", "main")
    assert (pipeline / "out/total.txt").read_text() == "20200\n"
    # A non-fast-forward merge, so git really merges (and runs post-merge).
    write("NOTES.md", "notes\n")
    commit("notes")
    assert_clean_merge(merge("other"))
    assert (pipeline / "out/total.txt").read_text() == "30300\n"
    assert "Everything is up to date." in ok(run("status")).out


def test_post_merge_after_fast_forward(pipeline: Path) -> None:
    ok(run("install-hooks"))
    two_branches(pipeline)
    g("checkout", "-q", "main")
    proc = merge("other")
    assert proc.returncode == 0, proc.stderr
    assert "Fast-forward" in proc.stdout
    assert (pipeline / "out/total.txt").read_text() == "30300\n"


def test_install_hooks_from_a_linked_worktree_uses_the_shared_hooks(
    pipeline: Path, tmp_path: Path
) -> None:
    """git runs the main repository's hooks in every worktree (``git worktree add``)."""
    two_branches(pipeline)
    wt = tmp_path / "wt"
    g("worktree", "add", "-q", "-b", "wt", str(wt), "main")
    res = run_proc("install-hooks", cwd=wt)
    assert res.code == 0, res.output
    for name in HOOKS:
        assert MARKER in (pipeline / ".git/hooks" / name).read_text(), name
    assert not (pipeline / ".git/worktrees/wt/hooks").exists()
    # ... and they fire in the main worktree.
    g("checkout", "-q", "main")
    assert (pipeline / "out/total.txt").read_text() == "20200\n"


def test_hooks_work_for_a_dvx_repo_in_a_subdirectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git runs hooks at the work tree root, not in the dvx repo below it."""
    mono = tmp_path / "mono"
    proj = mono / "proj"
    proj.mkdir(parents=True)
    g("init", "-q", "-b", "main", cwd=mono)
    write(mono / "README.md", "monorepo\n")
    commit("before dvx", cwd=mono)
    g("branch", "no-dvx", cwd=mono)
    monkeypatch.chdir(proj)
    ok(run("init"))
    write("src/gen.py", GEN)
    set_conf("a")
    Path("dvx.yaml").write_text("stages:\n" + gen_block("a"))
    ok(run("install-hooks"))
    assert MARKER in (mono / ".git/hooks/post-checkout").read_text()
    ok(run("repro"))
    commit("proj")
    branch_change("other", a={"n": 9})
    assert Path("out/a.txt").read_text() == "a 9\n"
    g("checkout", "-q", "main")
    assert Path("out/a.txt").read_text() == "a 1\n"
    assert "Everything is up to date." in ok(run("status")).out
    # A branch without the dvx repo: the hooks stay out of the way.
    proc = g("checkout", "-q", "no-dvx", cwd=mono)
    assert "Traceback" not in proc.stderr
    g("checkout", "-q", "other", cwd=mono)
    assert (proj / "out/a.txt").read_text() == "a 9\n"


def test_post_checkout_never_fails_the_checkout(pipeline: Path) -> None:
    """Data missing from the cache: the hook warns, but git's checkout stands."""
    ok(run("install-hooks"))
    two_branches(pipeline)
    g("checkout", "-q", "main")
    main_total = lock_hashes()["out/total.txt"]
    g("checkout", "-q", "other")
    delete(cache_object(pipeline, main_total))
    proc = g("checkout", "main", check=False)
    assert proc.returncode == 0, proc.stderr
    assert g("rev-parse", "--abbrev-ref", "HEAD").stdout.strip() == "main"
    assert "dvx pull" in proc.stderr, proc.stderr  # says how to get the data
    assert "Traceback" not in proc.stderr


@pytest.fixture
def origin(pipeline: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A bare git repo 'origin' and a default local-folder dvx remote 'store'."""
    bare = tmp_path / "origin.git"
    g("init", "-q", "--bare", "-b", "main", str(bare))
    g("remote", "add", "origin", str(bare))
    store = tmp_path / "store"
    ok(run("remote", "add", "-d", "store", str(store)))
    return bare, store


def test_pre_push_pushes_dvx_data(pipeline: Path, origin: tuple[Path, Path]) -> None:
    bare, store = origin
    ok(run("install-hooks"))
    ok(run("repro"))
    head = commit("built")
    proc = g("push", "-q", "origin", "main")
    assert g("rev-parse", "main", cwd=bare).stdout.strip() == head
    assert "pushed" in proc.stdout + proc.stderr
    hashes = lock_hashes()
    hashes["data/raw.txt"] = yamlio.load(Path("data/raw.txt.dvx"))["hash"]
    for path, h in hashes.items():
        assert remote_object(store, h).is_file(), path
    # Action-cache entries too, so a teammate's repro can pull instead of running.
    keys = [e["key"] for e in yamlio.load(Path("dvx.lock"))["stages"].values()]
    runs = {p.parent.name + p.name for p in (store / "runs").rglob("*") if p.is_file()}
    assert set(keys) <= runs


def test_pre_push_refuses_git_push_when_dvx_push_fails(
    pipeline: Path, origin: tuple[Path, Path]
) -> None:
    bare, store = origin
    ok(run("install-hooks"))
    ok(run("repro"))
    first = commit("built")
    g("push", "-q", "origin", "main")

    rewrite("params.json", '{"train": {"scale": 5, "unused": 1}}\n')
    ok(run("repro"))
    commit("scale 5")
    lost = lock_hashes()["out/total.txt"]
    delete(cache_object(pipeline, lost))
    delete(pipeline / "out/total.txt")

    proc = g("push", "origin", "main", check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "refusing the git push" in proc.stderr
    assert lost in proc.stderr
    assert g("rev-parse", "main", cwd=bare).stdout.strip() == first
    assert not remote_object(store, lost).exists()


def test_pre_push_pushes_data_of_a_branch_that_is_not_checked_out(
    pipeline: Path, origin: tuple[Path, Path]
) -> None:
    _, store = origin
    ok(run("install-hooks"))
    two_branches(pipeline)
    other_total = lock_hashes()["out/total.txt"]
    g("checkout", "-q", "main")
    assert lock_hashes()["out/total.txt"] != other_total
    g("push", "-q", "origin", "main", "other")
    assert remote_object(store, other_total).is_file()


def test_pre_push_without_a_default_remote_lets_git_push(pipeline: Path, tmp_path: Path) -> None:
    bare = tmp_path / "origin.git"
    g("init", "-q", "--bare", "-b", "main", str(bare))
    g("remote", "add", "origin", str(bare))
    ok(run("install-hooks"))
    ok(run("repro"))
    head = commit("built")
    g("push", "-q", "origin", "main")
    assert g("rev-parse", "main", cwd=bare).stdout.strip() == head


# ---- the dvx.lock merge driver with real git merges -------------------------------------


def test_merge_stage_changed_on_one_side_takes_that_side(multi: Path, tmp_path: Path) -> None:
    branch_change("feature", a={"n": 2})  # a and its downstream sum change
    feature_lock = yamlio.load(Path("dvx.lock"))["stages"]
    branch_change("main", new=False, c={"n": 5})  # c changes: both sides touch dvx.lock
    main_lock = yamlio.load(Path("dvx.lock"))["stages"]

    proc = merge("feature")
    assert_clean_merge(proc)
    assert "dropped" not in proc.stderr
    merged = yamlio.load(Path("dvx.lock"))["stages"]
    assert merged["a"] == feature_lock["a"] and merged["sum"] == feature_lock["sum"]
    assert merged["c"] == main_lock["c"]
    assert merged["b"] == main_lock["b"] == feature_lock["b"]
    # post-merge checked the merged outputs out: nothing to do.
    assert "Everything is up to date." in ok(run("status")).out
    assert set(outcomes(ok(run("repro")).out).values()) == {"up to date"}
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_merge_stage_changed_identically_on_both_sides(multi: Path, tmp_path: Path) -> None:
    branch_change("feature", a={"n": 2})
    feature_a = yamlio.load(Path("dvx.lock"))["stages"]["a"]
    branch_change("main", new=False, a={"n": 2}, c={"n": 5})

    proc = merge("feature")
    assert_clean_merge(proc)
    assert "dropped" not in proc.stderr
    merged = yamlio.load(Path("dvx.lock"))["stages"]
    assert merged["a"] == feature_a
    assert set(merged) == {"a", "b", "c", "sum"}
    assert "Everything is up to date." in ok(run("status")).out
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_merge_stage_changed_differently_is_dropped(multi: Path) -> None:
    branch_change("feature", a={"m": 3})
    branch_change("main", new=False, a={"n": 2})

    proc = merge("feature")
    assert_clean_merge(proc)
    assert "stage 'a'" in proc.stderr and "stage 'sum'" in proc.stderr, proc.stderr
    assert "stage 'b'" not in proc.stderr
    merged = yamlio.load(Path("dvx.lock"))["stages"]
    assert set(merged) == {"b", "c"}
    status = ok(run("status", "--json"))
    reasons = {s["name"]: s["reasons"] for s in json.loads(status.out)["stages"]}
    assert reasons["a"] == ["new"]
    assert "new" in reasons["sum"]
    assert set(reasons) == {"a", "sum"}
    text = ok(run("status")).out
    assert re.search(r"^a:\n\s+new$", text, re.M), text


def test_merge_stage_added_on_one_side_removed_on_other(multi: Path, tmp_path: Path) -> None:
    g("checkout", "-q", "-b", "feature")
    set_conf("d", n=4)
    stage_file("d")
    res = ok(run("repro"))
    assert outcomes(res.out)["d"] == "ran"
    commit("add stage d")
    g("checkout", "-q", "main")
    stage_file(without=("c",))
    ok(run("repro"))
    assert "c" not in yamlio.load(Path("dvx.lock"))["stages"]
    commit("remove stage c")

    proc = merge("feature")
    assert_clean_merge(proc)
    merged = yamlio.load(Path("dvx.lock"))["stages"]
    assert set(merged) == {"a", "b", "d", "sum"}
    assert "Everything is up to date." in ok(run("status")).out
    assert ok(run("check")).code == 0
    assert set(outcomes(ok(run("repro")).out).values()) == {"up to date"}
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_merge_then_repro_equals_fresh_repro_and_runs_only_changed(
    multi: Path, tmp_path: Path
) -> None:
    branch_change("feature", a={"m": 3}, c={"n": 7})
    branch_change("main", new=False, a={"n": 2})

    proc = merge("feature")
    assert_clean_merge(proc)
    status = json.loads(ok(run("status", "--json")).out)
    assert {s["name"] for s in status["stages"]} == {"a", "sum"}
    res = ok(run("repro"))
    assert outcomes(res.out) == {
        "a": "ran",
        "sum": "ran",
        "b": "up to date",
        "c": "up to date",  # feature's c, checked out by post-merge
    }, res.out
    assert Path("out/a.txt").read_text() == "a 6\n"
    assert Path("out/c.txt").read_text() == "c 7\n"
    assert Path("out/sum.txt").read_text() == "a 6\nb 1\nend\n"
    assert ok(run("check")).code == 0
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_merge_then_repro_pulls_what_a_teammate_already_pushed(multi: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    bare = tmp_path / "origin.git"
    ok(run("remote", "add", "-d", "store", str(store)))
    commit("remote")
    g("init", "-q", "--bare", "-b", "main", str(bare))
    g("remote", "add", "origin", str(bare))
    g("push", "-q", "origin", "main")
    branch_change("feature", a={"m": 3})
    g("push", "-q", "origin", "feature")
    branch_change("main", new=False, a={"n": 2})
    g("push", "-q", "origin", "main")

    # A teammate merges the same branches, runs the merged code and pushes.
    mate = tmp_path / "teammate"
    g("clone", "-q", str(bare), str(mate))
    assert run_proc("install-hooks", cwd=mate).code == 0
    proc = merge("origin/feature", cwd=mate)
    assert_clean_merge(proc, cwd=mate)
    res = run_proc("repro", cwd=mate)
    assert res.code == 0, res.output
    assert outcomes(res.out) == {
        "a": "ran",
        "sum": "ran",
        "b": "pulled from store",
        "c": "pulled from store",
    }, res.out
    res = run_proc("push", cwd=mate)
    assert res.code == 0, res.output

    # Our merge drops a and sum; repro pulls them instead of running them.
    proc = merge("feature")
    assert_clean_merge(proc)
    res = ok(run("repro"))
    assert outcomes(res.out) == {
        "a": "pulled from store",
        "sum": "pulled from store",
        "b": "up to date",
        "c": "up to date",
    }, res.out
    assert Path("out/a.txt").read_text() == "a 6\n"
    assert Path("dvx.lock").read_bytes() == (mate / "dvx.lock").read_bytes()
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_merge_lock_created_on_both_branches(multi: Path, tmp_path: Path) -> None:
    """add/add: both branches create dvx.lock; equal entries are kept, the rest dropped,
    and repro restores them from the local action cache instead of running them."""
    g("rm", "-q", "dvx.lock", "out/.gitignore")
    g("commit", "-q", "-m", "no lock yet")
    branch_change("feature", a={"m": 3})
    branch_change("main", new=False, c={"n": 5})
    proc = merge("feature")
    assert_clean_merge(proc)
    assert set(yamlio.load(Path("dvx.lock"))["stages"]) == {"b"}
    res = ok(run("repro"))
    assert outcomes(res.out) == {
        "a": "restored",
        "b": "up to date",
        "c": "restored",
        "sum": "restored",
    }, res.out
    assert Path("dvx.lock").read_bytes() == fresh_lock(tmp_path, multi)


def test_rebase_uses_the_lock_merge_driver(multi: Path) -> None:
    branch_change("feature", a={"m": 3})
    branch_change("main", new=False, a={"n": 2})
    g("checkout", "-q", "feature")
    proc = g("rebase", "main", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stage 'a'" in proc.stderr
    assert set(yamlio.load(Path("dvx.lock"))["stages"]) == {"b", "c"}
    res = ok(run("repro"))
    assert outcomes(res.out) == {"a": "ran", "sum": "ran", "b": "up to date", "c": "up to date"}, (
        res.out
    )


def test_merge_driver_never_leaves_markers_in_a_damaged_lock(multi: Path) -> None:
    """A lock that fails to parse on one side: the merge fails, loudly, without markers."""
    branch_change("feature", a={"m": 3})
    g("checkout", "-q", "main")
    Path("dvx.lock").write_text("stages: [not, a, mapping]\n")
    commit("damaged lock")
    proc = merge("feature")
    assert proc.returncode != 0
    assert "dvx.lock" in proc.stderr and "cannot merge" in proc.stderr, proc.stderr
    assert "<<<<<<<" not in Path("dvx.lock").read_text()


# ---- pointer files ----------------------------------------------------------------------


@pytest.fixture
def tracked(repo: Path) -> Path:
    write("data/raw.txt", "base\n")
    ok(run("add", "data/raw.txt"))
    ok(run("install-hooks"))
    commit("track raw")
    return repo


def pointer_hash() -> str:
    return str(yamlio.load(Path("data/raw.txt.dvx"))["hash"])


def test_pointer_changed_on_one_side_merges_clean(tracked: Path) -> None:
    g("checkout", "-q", "-b", "other")
    rewrite("data/raw.txt", "theirs\n")
    ok(run("add", "data/raw.txt"))
    commit("theirs")
    theirs = pointer_hash()
    g("checkout", "-q", "main")
    assert Path("data/raw.txt").read_text() == "base\n"
    write("NOTES.md", "notes\n")
    commit("notes")
    proc = merge("other")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert pointer_hash() == theirs
    assert Path("data/raw.txt").read_text() == "theirs\n"  # post-merge checkout


def test_pointer_changed_on_both_sides_conflicts_with_a_clear_path(tracked: Path) -> None:
    g("checkout", "-q", "-b", "other")
    rewrite("data/raw.txt", "theirs\n")
    ok(run("add", "data/raw.txt"))
    commit("theirs")
    theirs = pointer_hash()
    g("checkout", "-q", "main")
    rewrite("data/raw.txt", "ours\n")
    ok(run("add", "data/raw.txt"))
    commit("ours")
    ours = pointer_hash()

    proc = merge("other")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "CONFLICT" in out and "data/raw.txt.dvx" in out, out
    assert "git checkout --ours data/raw.txt.dvx" in proc.stderr, proc.stderr
    assert "git checkout --theirs data/raw.txt.dvx" in proc.stderr
    text = Path("data/raw.txt.dvx").read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    doc = yamlio.load(Path("data/raw.txt.dvx"))  # valid YAML: our version
    assert doc["hash"] == ours and doc["path"] == "raw.txt"
    unmerged = g("diff", "--name-only", "--diff-filter=U").stdout.split()
    assert unmerged == ["data/raw.txt.dvx"]

    # The path the message gives works: take theirs and check the data out.
    g("checkout", "--theirs", "data/raw.txt.dvx")
    assert pointer_hash() == theirs
    g("add", "data/raw.txt.dvx")
    g("commit", "-q", "--no-edit")
    ok(run("checkout"))
    assert Path("data/raw.txt").read_text() == "theirs\n"


def test_pointer_conflict_in_a_path_with_spaces(repo: Path) -> None:
    write("my data/raw file.txt", "base\n")
    ok(run("add", "my data/raw file.txt"))
    ok(run("install-hooks"))
    commit("track")
    g("checkout", "-q", "-b", "other")
    rewrite("my data/raw file.txt", "theirs\n")
    ok(run("add", "my data/raw file.txt"))
    commit("theirs")
    theirs = yamlio.load(Path("my data/raw file.txt.dvx"))["hash"]
    g("checkout", "-q", "main")
    rewrite("my data/raw file.txt", "ours\n")
    ok(run("add", "my data/raw file.txt"))
    commit("ours")
    ours = yamlio.load(Path("my data/raw file.txt.dvx"))["hash"]
    proc = merge("other")
    assert proc.returncode != 0
    cmd = "git checkout --theirs 'my data/raw file.txt.dvx'"
    assert cmd in proc.stderr, proc.stderr  # quoted: it can be pasted into a shell
    assert yamlio.load(Path("my data/raw file.txt.dvx"))["hash"] == ours
    subprocess.run(cmd, shell=True, check=True, capture_output=True)
    assert yamlio.load(Path("my data/raw file.txt.dvx"))["hash"] == theirs


# ---- the pre-commit framework --------------------------------------------------------------

NETWORK_ERRORS = (
    "Could not find a version",
    "No matching distribution",
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "Network is unreachable",
    "ConnectionError",
    "ProxyError",
)


def _pc_env(base: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_ENV)
    env["HOME"] = str(base / "home")
    env["PRE_COMMIT_HOME"] = str(base / "pre-commit-home")
    env.pop("PRE_COMMIT", None)
    env.pop("SKIP", None)
    return env


def _pre_commit() -> str:
    exe = Path(sys.executable).parent / "pre-commit"
    if exe.exists():
        return str(exe)
    found = shutil.which("pre-commit")
    if found is None:
        pytest.skip("pre-commit is not installed (pip install -e '.[test]')")
    return found


@pytest.fixture(scope="session")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A git snapshot of the dvx source tree as it is now (committed or not), with
    pre-commit's environment for it installed once in a session-private PRE_COMMIT_HOME."""
    pc = _pre_commit()
    base = tmp_path_factory.mktemp("pre-commit")
    (base / "home").mkdir()
    env = _pc_env(base)
    src = base / "dvx-src"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=SOURCE_TREE,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        f = SOURCE_TREE / rel
        if f.is_file() and not rel.startswith("tests/"):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, src / rel)
    assert (src / ".pre-commit-hooks.yaml").is_file()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=src, env=env, check=True, capture_output=True)
    rev = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=src, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()

    # Install the hook environment once (pip-installs dvx from the snapshot).
    warm = base / "warm"
    warm.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=warm, env=env, check=True)
    (warm / ".pre-commit-config.yaml").write_text(precommit_config(src, rev, "dvx-check"))
    proc = subprocess.run(
        [pc, "install-hooks"], cwd=warm, env=env, capture_output=True, text=True, timeout=1200
    )
    if proc.returncode != 0:
        out = proc.stdout + proc.stderr
        log = Path(env["PRE_COMMIT_HOME"]) / "pre-commit.log"
        if log.exists():
            out += log.read_text(errors="replace")
        if any(e in out for e in NETWORK_ERRORS):
            pytest.skip(f"pre-commit cannot install dvx here (no package index?): {out[-500:]}")
        pytest.fail(f"pre-commit install-hooks failed:\n{out}")
    return src, rev, env


@pytest.fixture
def precommit(
    hooks_repo: tuple[Path, str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, dict[str, str]]:
    """hooks_repo, with its PRE_COMMIT_HOME also used by every git command of the test
    (hooks that pre-commit installs run in git's environment)."""
    monkeypatch.setenv("PRE_COMMIT_HOME", hooks_repo[2]["PRE_COMMIT_HOME"])
    return hooks_repo


def precommit_config(src: Path, rev: str, *hook_ids: str) -> str:
    hooks = "".join(f"      - id: {h}\n" for h in hook_ids)
    return f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n{hooks}"


def pc_run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_pre_commit(), *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_pre_commit_try_repo_dvx_check(
    pipeline: Path, precommit: tuple[Path, str, dict[str, str]]
) -> None:
    src, _, env = precommit
    ok(run("repro"))
    commit("built")
    proc = pc_run(["try-repo", str(src), "dvx-check", "--all-files"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dvx check" in proc.stdout and "Passed" in proc.stdout

    rewrite("params.json", '{"train": {"scale": 4, "unused": 1}}\n')
    proc = pc_run(["try-repo", str(src), "dvx-check", "--all-files"], env)
    assert proc.returncode != 0
    assert "Failed" in proc.stdout
    assert "total" in proc.stdout and "params.json" in proc.stdout, proc.stdout


def test_pre_commit_hook_refuses_a_commit_with_a_stale_lock(
    pipeline: Path, precommit: tuple[Path, str, dict[str, str]]
) -> None:
    src, rev, env = precommit
    write(".pre-commit-config.yaml", precommit_config(src, rev, "dvx-check"))
    ok(run("repro"))
    commit("built")
    proc = pc_run(["install"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    head = g("rev-parse", "HEAD").stdout.strip()
    rewrite("params.json", '{"train": {"scale": 4, "unused": 1}}\n')
    g("add", "params.json")
    proc = subprocess.run(["git", "commit", "-m", "stale"], env=env, capture_output=True, text=True)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "total" in proc.stdout + proc.stderr
    assert g("rev-parse", "HEAD").stdout.strip() == head

    ok(run("repro"))
    g("add", "-A")
    proc = subprocess.run(["git", "commit", "-m", "fresh"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert g("rev-parse", "HEAD").stdout.strip() != head


def test_pre_commit_checkout_and_push_hooks(
    pipeline: Path, tmp_path: Path, precommit: tuple[Path, str, dict[str, str]]
) -> None:
    src, rev, env = precommit
    write(".pre-commit-config.yaml", precommit_config(src, rev, "dvx-checkout", "dvx-push"))
    store = tmp_path / "store"
    ok(run("remote", "add", "-d", "store", str(store)))
    proc = pc_run(["install", "--hook-type", "post-checkout", "--hook-type", "pre-push"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ok(run("repro"))
    commit("main")
    g("checkout", "-q", "-b", "other")
    rewrite("params.json", '{"train": {"scale": 3, "unused": 1}}\n')
    ok(run("repro"))
    commit("other")

    proc = subprocess.run(["git", "checkout", "main"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert Path("out/total.txt").read_text() == "20200\n"

    bare = tmp_path / "origin.git"
    g("init", "-q", "--bare", "-b", "main", str(bare))
    g("remote", "add", "origin", str(bare))
    proc = subprocess.run(
        ["git", "push", "origin", "main"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path, h in lock_hashes().items():
        assert remote_object(store, h).is_file(), path
