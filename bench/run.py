#!/usr/bin/env python3
"""Benchmarks: whole dvx commands timed side by side with DVC doing the same work.

Run ``python bench/run.py --help``; bench/README.md explains what each scenario
measures. Every scenario builds its own git repos under a scratch directory, one
per tool, and times complete CLI invocations (``subprocess.run`` wrapped in
``time.perf_counter``), reporting best-of-N and median. Results are printed as a
markdown table and written to ``bench/results.md``.

A scenario is a function registered with ``@scenario(...)``; it receives the
``Bench`` (tools, scratch dir, repeat counts, shared fixtures) and returns rows.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
DEFAULT_DVC_VENV = BENCH_DIR / ".venv-dvc"
DEFAULT_RESULTS = BENCH_DIR / "results.md"

# What each tool prints when a status finds nothing to do: checked on the warm-up
# run so that a "no-op status" really is one.
NOOP_MARKERS = {
    "dvx": "up to date",
    "dvc": "up to date",
}


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    """One CLI under test, run from its own venv (its bin/ is put first on PATH,
    so ``python`` in stage commands is that venv's interpreter)."""

    name: str
    exe: Path
    # Set (a string) or removed (None) on top of this process's environment, e.g.
    # the AWS variables of the S3 scenarios (see Bench.tool_env).
    extra_env: dict[str, str | None] = field(default_factory=dict)

    @property
    def bindir(self) -> Path:
        return self.exe.parent

    @property
    def python(self) -> Path:
        for cand in ("python", "python3"):
            p = self.bindir / cand
            if p.exists():
                return p
        return Path(sys.executable)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{self.bindir}{os.pathsep}{env.get('PATH', '')}"
        # Nothing may phone home: only package registries are reachable here.
        env["DVC_NO_ANALYTICS"] = "1"
        env.pop("PYTHONPATH", None)
        env.setdefault("GIT_AUTHOR_NAME", "bench")
        env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        env.setdefault("GIT_COMMITTER_NAME", "bench")
        env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        for key, value in self.extra_env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def argv(self, *args: str | os.PathLike[str]) -> list[str]:
        return [str(self.exe), *map(str, args)]

    def version(self) -> str:
        p = subprocess.run(self.argv("--version"), capture_output=True, text=True, env=self.env())
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[-1] if p.returncode == 0 else "?"


def find_dvx(given: str | None) -> Tool:
    if given:
        exe = Path(given)
    else:
        here = Path(sys.executable).parent / "dvx"
        found = shutil.which("dvx")
        exe = here if here.exists() else Path(found) if found else None  # type: ignore[assignment]
        if exe is None:
            raise BenchError("no dvx executable found: pass --dvx PATH or run with dvx's venv")
    return Tool("dvx", exe.absolute())


def find_dvc(given: str | None, venv: Path, install: bool) -> Tool:
    if given:
        return Tool("dvc", Path(given).absolute())
    exe = venv / "bin" / "dvc"
    if not exe.exists():
        if not install:
            raise BenchError(f"{exe} missing; pass --dvc PATH, or --no-dvc, or allow the install")
        print(f"# installing DVC into {venv} (python3 -m venv + pip install dvc) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([venv / "bin" / "pip", "install", "-q", "dvc"], check=True)
    return Tool("dvc", exe.absolute())


# -------------------------------------------------------------------------- timing


@dataclass
class Sample:
    """One timed command: wall-clock seconds, CPU seconds (user + system of the
    process and its children) and what it printed."""

    wall: float
    cpu: float
    out: str = ""


@dataclass
class Timing:
    samples: list[Sample]

    @property
    def runs(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu(self) -> float:
        """CPU seconds of the fastest run: less sensitive than wall time to other
        load on the machine."""
        return min(self.samples, key=lambda s: s.wall).cpu


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_timed(
    argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[Sample, subprocess.CompletedProcess[str]]:
    """Run a command to completion, timing wall clock (perf_counter) and CPU."""
    c0 = _children_cpu()
    t0 = time.perf_counter()
    p = subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    wall = time.perf_counter() - t0
    return Sample(wall, _children_cpu() - c0, p.stdout + p.stderr), p


@dataclass
class Row:
    scenario: str
    dvx: Timing | None = None
    dvc: Timing | None = None
    note: str = ""


@dataclass
class Bench:
    workdir: Path
    dvx: Tool
    dvc: Tool | None
    repeat: int
    heavy_repeat: int
    nfiles: int
    nstages: int
    big_mib: int
    open_check: str
    verbose: bool
    s3_files: int = 20_000
    s3_big_mib: int = 2048
    install: bool = True  # may pip-install into DVC's venv (dvc-s3)
    notes: list[str] = field(default_factory=list)
    fixtures: dict[str, object] = field(default_factory=dict)

    # -- plumbing ----------------------------------------------------------

    def tools(self) -> list[Tool]:
        return [self.dvx] + ([self.dvc] if self.dvc else [])

    def log(self, msg: str) -> None:
        print(f"# {msg}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def tool_env(self, set_: dict[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
        """Within the block, every tool's commands run with ``set_`` in their
        environment and without the ``unset`` variables."""
        saved = [(tool, dict(tool.extra_env)) for tool in self.tools()]
        try:
            for tool in self.tools():
                tool.extra_env.update(dict.fromkeys(unset))
                tool.extra_env.update(set_)
            yield
        finally:
            for tool, extra in saved:
                tool.extra_env = extra

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        cwd: Path,
        tool: Tool | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        env = (tool or self.dvx).env()
        p = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check and p.returncode != 0:
            raise BenchError(
                f"{' '.join(map(str, argv))} (in {cwd}) exited {p.returncode}:\n"
                f"{p.stdout[-2000:]}{p.stderr[-2000:]}"
            )
        return p

    def timed(self, tool: Tool, args: Sequence[str], cwd: Path) -> Sample:
        """One timed invocation of ``tool args``, which must succeed."""
        argv = tool.argv(*args)
        sample, p = run_timed(argv, cwd, tool.env())
        if p.returncode != 0:
            raise BenchError(
                f"{' '.join(argv)} (in {cwd}) exited {p.returncode}:\n"
                f"{p.stdout[-2000:]}{p.stderr[-2000:]}"
            )
        if self.verbose:
            self.log(f"{tool.name} {' '.join(args)}: {sample.wall:.3f}s (cpu {sample.cpu:.3f}s)")
        return sample

    def measure(
        self,
        tool: Tool,
        args: Sequence[str],
        cwd: Path,
        *,
        repeat: int | None = None,
        expect: str | None = None,
        warmup: bool = True,
    ) -> Timing:
        """Time ``tool args`` in ``cwd`` repeatedly (after one untimed warm-up run
        whose output must contain ``expect``, when given)."""
        if warmup:
            out = self.timed(tool, args, cwd).out
            if expect is not None and expect not in out:
                raise BenchError(
                    f"{tool.name} {' '.join(args)}: expected {expect!r} in output, got:\n{out}"
                )
        return Timing([self.timed(tool, args, cwd) for _ in range(repeat or self.repeat)])

    def measure_argv(self, argv: Sequence[str], cwd: Path, repeat: int | None = None) -> Timing:
        subprocess.run(argv, cwd=cwd, capture_output=True, check=True)
        return Timing([run_timed(argv, cwd)[0] for _ in range(repeat or self.repeat)])

    def fresh_repo(self, tool: Tool, name: str) -> Path:
        """An empty git repo at workdir/NAME-TOOL, initialized for the tool."""
        root = self.workdir / f"{name}-{tool.name}"
        if root.exists():
            _rmtree(root)
        root.mkdir(parents=True)
        self.run(["git", "init", "-q"], root, tool)
        self.run(tool.argv("init", "-q") if tool.name == "dvc" else tool.argv("init"), root, tool)
        if tool.name == "dvc":
            self.run(tool.argv("config", "core.analytics", "false"), root, tool)
        return root

    def has_command(self, tool: Tool, command: str) -> bool:
        p = self.run(tool.argv(command, "--help"), self.workdir, tool, check=False)
        return p.returncode == 0

    def fixture(self, key: str, make: Callable[[], object]) -> object:
        """Build a shared fixture once (e.g. a repo with data added) for later scenarios."""
        if key not in self.fixtures:
            self.fixtures[key] = make()
        return self.fixtures[key]


def _rmtree(path: Path) -> None:
    def onerror(func: Callable[..., object], p: str, _exc: object) -> None:
        os.chmod(os.path.dirname(p), 0o755)
        try:
            os.chmod(p, 0o755)
        except OSError:
            pass
        func(p)

    # Caches make objects read-only; chmod and retry on permission errors.
    shutil.rmtree(path, onerror=onerror)


# ----------------------------------------------------------------------- registry


@dataclass
class Scenario:
    name: str
    func: Callable[[Bench], list[Row]]
    help: str
    default: bool


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, help: str, default: bool = True) -> Callable[..., object]:
    def register(func: Callable[[Bench], list[Row]]) -> Callable[[Bench], list[Row]]:
        SCENARIOS[name] = Scenario(name, func, help, default)
        return func

    return register


# ------------------------------------------------------------------ data makers


def make_small_files(
    root: Path,
    n: int,
    *,
    seed: int = 1,
    lo: int = 64,
    hi: int = 1024,
    fixed: int | None = None,
    per_dir: int = 1000,
) -> int:
    """``n`` files of random bytes in subdirectories of ``per_dir`` files; returns bytes."""
    rng = random.Random(seed)
    total = 0
    for i in range(n):
        d = root / f"d{i // per_dir:03d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        size = fixed if fixed is not None else rng.randint(lo, hi)
        (d / f"f{i:06d}.bin").write_bytes(rng.randbytes(size))
        total += size
    return total


def make_big_file(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mib):
            # Vary each MiB so no layer can deduplicate or compress it away.
            f.write(i.to_bytes(8, "little") + block[8:])


def small_data_template(b: Bench, n: int, fixed: int | None = None) -> Path:
    """Generated once per run; scenarios copy it (copy2 keeps mtimes, so the copies
    are not 'racily clean' when added right away)."""
    key = f"small-{n}-{fixed}"

    def make() -> Path:
        root = b.workdir / "_templates" / key
        b.log(f"generating {n} files under {root}")
        make_small_files(root, n, fixed=fixed)
        return root

    return b.fixture(key, make)  # type: ignore[return-value]


# ---------------------------------------------------------------------- pipelines


def stage_script(name: str, module: int | None) -> str:
    """A tiny stage: copy its input, append a line (through a package helper)."""
    imports = f"from pkg.m{module:02d} import f{module}\n" if module is not None else ""
    value = f"{{f{module}(1)}}" if module is not None else ""
    return (
        "import sys\n"
        "from pathlib import Path\n"
        f"{imports}\n"
        "src, dst = Path(sys.argv[1]), Path(sys.argv[2])\n"
        "dst.parent.mkdir(parents=True, exist_ok=True)\n"
        f'dst.write_text(src.read_text() + f"{name} {value}\\n")\n'
    )


def write_pipeline(
    root: Path, tool: str, nstages: int, *, chains: int = 4, pkg_modules: int = 0
) -> None:
    """``nstages`` tiny stages in ``chains`` parallel chains, one script each.

    With ``pkg_modules``, scripts import a shared package ``src/pkg`` of that many
    modules (each importing its predecessor), the setting of issue 4. dvx finds
    code itself; for DVC the script (and package) are listed as deps, as a DVC
    user would do to get the same invalidation.
    """
    (root / "src").mkdir(exist_ok=True)
    (root / "inputs").mkdir(exist_ok=True)
    if pkg_modules:
        pkg = root / "src" / "pkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text('"""Shared helpers."""\n')
        for m in range(pkg_modules):
            prev = f"from pkg import m{m - 1:02d}\n" if m else ""
            (pkg / f"m{m:02d}.py").write_text(f"{prev}\n\ndef f{m}(x):\n    return x + {m}\n")
    per_chain = -(-nstages // chains)
    lines = ["stages:"]
    made = 0
    for c in range(chains):
        (root / "inputs" / f"c{c}.txt").write_text(f"chain {c}\n")
        prev = f"inputs/c{c}.txt"
        for i in range(per_chain):
            if made == nstages:
                break
            name = f"c{c}_s{i:03d}"
            out = f"out/c{c}/s{i:03d}.txt"
            script = f"src/{name}.py"
            module = made % pkg_modules if pkg_modules else None
            (root / script).write_text(stage_script(name, module))
            deps = [prev]
            if tool == "dvc":
                deps = [script, *(["src/pkg"] if pkg_modules else []), prev]
            lines += [
                f"  {name}:",
                f"    cmd: python {script} {prev} {out}",
                f"    deps: [{', '.join(deps)}]",
                f"    outs: [{out}]",
            ]
            prev = out
            made += 1
    fname = "dvx.yaml" if tool == "dvx" else "dvc.yaml"
    (root / fname).write_text("\n".join(lines) + "\n")


def pipeline_repo(b: Bench, tool: Tool, pkg_modules: int = 0) -> tuple[Path, Sample]:
    """A repo with the pipeline reproduced once; returns (root, repro seconds)."""
    key = f"pipeline-{tool.name}-{b.nstages}-{pkg_modules}"

    def make() -> tuple[Path, Sample]:
        root = b.fresh_repo(tool, f"pipeline{b.nstages}-pkg{pkg_modules}")
        write_pipeline(root, tool.name, b.nstages, pkg_modules=pkg_modules)
        b.log(f"{tool.name}: repro of {b.nstages} stages in {root}")
        return root, b.timed(tool, ["repro"], root)

    return b.fixture(key, make)  # type: ignore[return-value]


# ------------------------------------------------------------------- scenarios


@scenario("version", "`--version` start-up, with bare `python -c pass` as the floor")
def sc_version(b: Bench) -> list[Row]:
    rows = []
    floor = Row(
        "bare `python -c pass` (floor)",
        b.measure_argv([str(b.dvx.python), "-c", "pass"], b.workdir),
    )
    if b.dvc:
        floor.dvc = b.measure_argv([str(b.dvc.python), "-c", "pass"], b.workdir)
    rows.append(floor)
    row = Row("`--version`")
    row.dvx = b.measure(b.dvx, ["--version"], b.workdir, repeat=max(b.repeat, 10))
    if b.dvc:
        row.dvc = b.measure(b.dvc, ["--version"], b.workdir, repeat=max(b.repeat, 10))
    rows.append(row)
    return rows


def _status_pipeline(b: Bench, pkg_modules: int, label: str) -> list[Row]:
    repro = Row(f"`repro` {b.nstages} stages from scratch{label} (1 run)")
    status = Row(f"no-op `status`, {b.nstages}-stage pipeline{label}")
    for tool in b.tools():
        root, sample = pipeline_repo(b, tool, pkg_modules)
        setattr(repro, tool.name, Timing([sample]))
        setattr(
            status, tool.name, b.measure(tool, ["status"], root, expect=NOOP_MARKERS[tool.name])
        )
    rows = [repro, status]
    if pkg_modules:
        check = Row(f"`dvx check`, {b.nstages}-stage pipeline{label}", note="dvc: no equivalent")
        if b.has_command(b.dvx, "check"):
            root, _ = pipeline_repo(b, b.dvx, pkg_modules)
            check.dvx = b.measure(b.dvx, ["check"], root)
        else:
            check.note = "dvx check not implemented yet"
        rows.append(check)
    return rows


@scenario("status-100", "no-op `status` on a pipeline of tiny stages (4 chains)")
def sc_status_pipeline(b: Bench) -> list[Row]:
    return _status_pipeline(b, 0, "")


@scenario(
    "status-100-code",
    "issue 4: no-op `status` (and `dvx check`) when every script imports a "
    "shared package of 50 modules",
)
def sc_status_pipeline_code(b: Bench) -> list[Row]:
    return _status_pipeline(b, 50, ", scripts import a 50-module package")


def added_repo(b: Bench, tool: Tool, tag: str = "add") -> Path:
    """A fresh repo holding a copy of the small-files template at ./data (not added)."""
    template = small_data_template(b, b.nfiles)
    root = b.fresh_repo(tool, f"{tag}{b.nfiles}")
    shutil.copytree(template, root / "data", copy_function=shutil.copy2)
    return root


@scenario("add-20k", "`add` of a directory of small random files, then no-op `status`")
def sc_add(b: Bench) -> list[Row]:
    n = b.nfiles
    add = Row(f"`add data` ({n:,} files, 64 B–1 KiB)")
    status = Row(f"no-op `status` after add ({n:,} files)")
    runs: dict[str, list[Sample]] = {t.name: [] for t in b.tools()}
    roots: dict[str, Path] = {}
    # Tools take turns, so that a burst of load from elsewhere hits both alike.
    for _ in range(b.heavy_repeat):
        for tool in b.tools():
            roots[tool.name] = root = added_repo(b, tool)
            runs[tool.name].append(b.timed(tool, ["add", "data"], root))
    for tool in b.tools():
        setattr(add, tool.name, Timing(runs[tool.name]))
        b.fixtures[f"added-{tool.name}"] = roots[tool.name]
        timing = b.measure(tool, ["status"], roots[tool.name], expect=NOOP_MARKERS[tool.name])
        setattr(status, tool.name, timing)
    return [add, status]


# ---- "a no-op status must not read any file's contents" -------------------

_STRACE_LINE = re.compile(
    r"^(?:\d+\s+)?open(?:at|at2)?\((?:(?P<dirfd>AT_FDCWD|\d+)(?:<(?P<dirpath>[^>]*)>)?,\s*)?"
    r'"(?P<path>[^"]*)",\s*(?P<flags>[^,)]*)[^=]*=\s*(?P<ret>-?\d+)'
)

AUDIT_WRAPPER = textwrap.dedent("""\
    import json, os, sys
    from importlib.metadata import entry_points
    opened = []
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.append([os.fsdecode(args[0]), args[1] or "", args[2] or 0])
    sys.addaudithook(hook)
    out, name = sys.argv[1], sys.argv[2]
    sys.argv = [name, *sys.argv[3:]]
    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == name]
    try:
        rc = ep.load()()
    except SystemExit as exc:
        rc = exc.code
    with open(out, "w") as f:
        json.dump(opened, f)
    sys.exit(rc or 0)
""")


@dataclass
class OpenReport:
    method: str
    data_files: int  # regular files under data/ opened
    data_sample: list[str]
    cache_objects: int  # files under the tool's cache opened (manifests etc.)
    total: int  # every successful open


def _join_strace(lines: list[str]) -> list[str]:
    """Glue calls that other threads interrupted (``... <unfinished ...>`` followed
    later by ``PID <... openat resumed>...``) back into one line."""
    pending: dict[str, str] = {}
    out = []
    for line in lines:
        pid = line.split(" ", 1)[0]
        if line.endswith("<unfinished ...>"):
            pending[pid] = line[: -len("<unfinished ...>")]
        elif "resumed>" in line and pid in pending:
            out.append(pending.pop(pid) + line.split("resumed>", 1)[1])
        else:
            out.append(line)
    return out


def trace_opens(
    b: Bench, tool: Tool, root: Path, args: Sequence[str], method: str, data_dir: str = "data"
) -> OpenReport:
    trace = b.workdir / f"opens-{tool.name}-{time.monotonic_ns()}.txt"
    data_prefix = str(root / data_dir) + os.sep
    cache_prefix = str(root / f".{tool.name}" / "cache") + os.sep
    opened: list[str] = []
    if method == "strace":
        argv = [
            "strace",
            "-f",
            "-qq",
            "-y",
            "-e",
            "trace=open,openat,openat2",
            "-o",
            str(trace),
            *tool.argv(*args),
        ]
        b.run(argv, root, tool)
        for line in _join_strace(trace.read_text(errors="replace").splitlines()):
            m = _STRACE_LINE.match(line)
            if not m or int(m["ret"]) < 0 or "O_DIRECTORY" in m["flags"]:
                continue
            path = m["path"]
            if not os.path.isabs(path):
                base = m["dirpath"] if m["dirpath"] else str(root)
                path = os.path.join(base, path)
            opened.append(os.path.normpath(path))
    else:
        wrapper = b.workdir / "audit_open.py"
        wrapper.write_text(AUDIT_WRAPPER)
        b.run([str(tool.python), str(wrapper), str(trace), tool.name, *args], root, tool)
        import json

        for path, _mode, _flags in json.loads(trace.read_text()):
            full = os.path.normpath(os.path.join(root, path))
            if not os.path.isdir(full):
                opened.append(full)
    data = sorted(p for p in opened if p.startswith(data_prefix) and not os.path.isdir(p))
    cache = [p for p in opened if p.startswith(cache_prefix)]
    return OpenReport(method, len(data), data[:5], len(cache), len(opened))


def _open_method(b: Bench) -> str:
    if b.open_check in ("strace", "audit"):
        return b.open_check
    return "strace" if shutil.which("strace") else "audit"


@scenario(
    "noread",
    "opens of data files during a no-op `status` over the added files "
    "(strace, or a Python audit hook)",
)
def sc_noread(b: Bench) -> list[Row]:
    method = _open_method(b)
    rows = []
    for tool in b.tools():
        # A fresh add, then the very first status after it, then a second one.
        root = added_repo(b, tool, tag="noread")
        b.run(tool.argv("add", "data"), root, tool)
        first = trace_opens(b, tool, root, ["status"], method)
        second = trace_opens(b, tool, root, ["status"], method)
        for label, rep in (("1st", first), ("2nd", second)):
            msg = (
                f"{tool.name}: {label} no-op status after `add` of {b.nfiles:,} files "
                f"opened {rep.data_files} data files ({rep.method}; {rep.cache_objects} "
                f"cache files, {rep.total} files opened in all)"
            )
            if rep.data_sample:
                msg += f"; e.g. {', '.join(os.path.relpath(p, root) for p in rep.data_sample)}"
            b.notes.append(msg)
        rows.append(
            Row(
                f"data files opened by no-op `status` ({b.nfiles:,} tracked)",
                note=f"{tool.name}: {first.data_files} (1st), {second.data_files} (2nd) [{method}]",
            )
        )
    # One row, both tools.
    merged = Row(rows[0].scenario, note="; ".join(r.note for r in rows))
    return [merged]


# ---- remotes (issue 5) ----------------------------------------------------


def _empty_remote(remote: Path) -> None:
    if remote.exists():
        _rmtree(remote)
    remote.mkdir(parents=True)


def _drop_local(tool: Tool, root: Path, data: str) -> None:
    """Forget everything local about ``data`` so that a pull must fetch it all."""
    _rmtree(root / f".{tool.name}" / "cache")
    target = root / data
    if target.is_dir():
        _rmtree(target)
    elif target.exists():
        target.unlink()


def _count_files(path: Path) -> int:
    if path.is_file():
        return 1
    return sum(len(files) for _, _, files in os.walk(path))


def _check_pulled(path: Path, expected: int) -> None:
    got = _count_files(path) if path.exists() else 0
    if got != expected:
        raise BenchError(f"after pull, {path} has {got} files, expected {expected}")


# Where each tool keeps its content-addressed objects under a remote's root
# (dvx: objects/ab/cdef…; DVC 3: files/md5/ab/cdef…, the .dir manifests included).
REMOTE_OBJECTS = {"dvx": "objects", "dvc": "files/md5"}


@dataclass
class _RemoteSetup:
    tool: Tool
    root: Path
    remote: str  # URL (or local path) of this tool's remote
    expected: int
    push: list[Sample] = field(default_factory=list)
    pull: list[Sample] = field(default_factory=list)


class RemoteBackend:
    """Where ``_push_pull`` pushes to: makes, empties, counts and configures one
    remote per tool. Subclasses: ``LocalRemote``, ``S3Remote``."""

    tag = "remote"  # prefix of the scratch repos' names
    where = "a remote"  # in the row labels: "`push` … to WHERE"

    def __init__(self, b: Bench) -> None:
        self.b = b

    def unavailable(self, tool: Tool) -> str | None:
        """Why ``tool`` cannot use this kind of remote (a note for the table), or None."""
        return None

    def make(self, tool: Tool, data: str) -> str:
        """A new, empty remote for ``tool``; returns its URL."""
        raise NotImplementedError

    def empty(self, url: str) -> None:
        raise NotImplementedError

    def count(self, tool: Tool, url: str) -> int:
        """Objects that ``tool`` has stored on the remote at ``url``."""
        raise NotImplementedError

    def configure(self, tool: Tool, root: Path, url: str) -> None:
        """Make ``url`` the default remote, named ``bench``, of the repo at ``root``."""
        self.b.run(tool.argv("remote", "add", "-d", "bench", url), root, tool)


class LocalRemote(RemoteBackend):
    """A folder in the scratch dir."""

    tag = "remote"
    where = "a local folder remote"

    def make(self, tool: Tool, data: str) -> str:
        path = self.b.workdir / f"remote-{data}-{tool.name}-store"
        _empty_remote(path)
        return str(path)

    def empty(self, url: str) -> None:
        _empty_remote(Path(url))

    def count(self, tool: Tool, url: str) -> int:
        return _count_files(Path(url) / REMOTE_OBJECTS[tool.name])


def _push_pull(
    b: Bench, label: str, make_data: Callable[[Path], None], data: str, backend: RemoteBackend
) -> list[Row]:
    """``push`` (to an emptied remote), no-op ``push`` and ``pull`` (into an emptied
    cache and workspace) of ``data``, made by ``make_data``, for each tool."""
    push = Row(f"`push` {label} to {backend.where}")
    noop = Row(f"no-op `push` {label} to {backend.where}")
    pull = Row(f"`pull` {label} from {backend.where}")
    setups = []
    for tool in b.tools():
        if b.has_command(tool, "push"):
            why = backend.unavailable(tool)
        else:
            why = f"{tool.name} push not implemented"
        if why:
            for r in (push, noop, pull):
                r.note = (r.note + "; " if r.note else "") + why
            continue
        root = b.fresh_repo(tool, f"{backend.tag}-{data}")
        make_data(root / data)
        st = _RemoteSetup(tool, root, backend.make(tool, data), _count_files(root / data))
        b.run(tool.argv("add", data), root, tool)
        backend.configure(tool, root, st.remote)
        setups.append(st)
    # Tools take turns at each repetition (see sc_add).
    for _ in range(b.heavy_repeat):
        for st in setups:
            backend.empty(st.remote)
            st.push.append(b.timed(st.tool, ["push"], st.root))
            got = backend.count(st.tool, st.remote)
            if got < st.expected:
                raise BenchError(
                    f"{st.tool.name} push left {got} objects on {st.remote}, "
                    f"expected at least {st.expected}"
                )
    for st in setups:
        setattr(push, st.tool.name, Timing(st.push))
        setattr(noop, st.tool.name, b.measure(st.tool, ["push"], st.root))
    for _ in range(b.heavy_repeat):
        for st in setups:
            _drop_local(st.tool, st.root, data)
            st.pull.append(b.timed(st.tool, ["pull"], st.root))
            _check_pulled(st.root / data, st.expected)
    for st in setups:
        setattr(pull, st.tool.name, Timing(st.pull))
        b.run(st.tool.argv("remote", "remove", "bench"), st.root, st.tool, check=False)
    return [push, noop, pull]


@scenario(
    "remote-small",
    "push / no-op push / pull of 20,000 × 4 KiB files, local folder remote (issue 5)",
    default=False,
)
def sc_remote_small(b: Bench) -> list[Row]:
    template = small_data_template(b, b.nfiles, fixed=4096)
    return _push_pull(
        b,
        f"{b.nfiles:,} × 4 KiB",
        lambda dst: shutil.copytree(template, dst, copy_function=shutil.copy2),
        "small",
        LocalRemote(b),
    )


@scenario(
    "remote-big",
    "push / no-op push / pull of one big file (--big-mib), local folder remote (issue 5)",
    default=False,
)
def sc_remote_big(b: Bench) -> list[Row]:
    return _push_pull(
        b,
        f"1 × {b.big_mib} MiB",
        lambda dst: make_big_file(dst, b.big_mib),
        "big.bin",
        LocalRemote(b),
    )


# ---- the same against S3: a moto server on 127.0.0.1 -----------------------

# What both tools (and the bench's own boto3 client) authenticate with, and what
# of the user's own AWS set-up must not redirect or re-sign requests: the same
# as the tests' S3 fixture (tests/s3server.py, which needs pytest: a dev install).
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
from s3server import AWS_ENV, AWS_ENV_UNSET  # noqa: E402

MOTO_START_TIMEOUT = 60.0
# The remote option naming the endpoint, and the module that gives S3 support.
S3_ENDPOINT_OPTION = {"dvx": "endpoint_url", "dvc": "endpointurl"}
S3_MODULE = {"dvx": ("s3fs", "dvx[s3]"), "dvc": ("dvc_s3", "dvc-s3")}


def _free_port() -> int:
    """A port that was free a moment ago (the OS picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@contextlib.contextmanager
def moto_server(b: Bench) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 for the block; yields its endpoint URL.

    It runs under this Python (``python -m moto.server``, which needs
    ``moto[server]``) and is stopped at the end, also on error. Its request log
    goes to a file in the scratch dir: a pipe that nobody reads would fill up
    and stall the server.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = b.workdir / f"moto-{port}.log"
    b.log(f"starting moto server at {url} (log: {log})")
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + MOTO_START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    resp.read()
                break
            except urllib.error.HTTPError:
                break  # any HTTP answer means the server is up
            except OSError as exc:
                if proc.poll() is not None:
                    raise BenchError(
                        f"moto server exited {proc.returncode} (S3 scenarios need "
                        f"moto[server] in {sys.executable}):\n{_tail(log)}"
                    ) from exc
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"moto server at {url} did not answer within "
                        f"{MOTO_START_TIMEOUT:.0f}s: {exc}\n{_tail(log)}"
                    ) from exc
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        b.log(f"stopped moto server at {url}")


def _python_ok(b: Bench, tool: Tool, code: str) -> subprocess.CompletedProcess[str]:
    return b.run([str(tool.python), "-c", code], b.workdir, tool, check=False)


def _s3_support(b: Bench, tool: Tool) -> str | None:
    """None when ``tool`` can talk to S3, else why not. For DVC, installs
    ``dvc-s3`` into its venv when missing (unless --no-install); checked once a run."""
    module, package = S3_MODULE[tool.name]

    def check() -> str | None:
        if _python_ok(b, tool, f"import {module}").returncode == 0:
            return None
        if tool.name != "dvc" or not b.install:
            why = "not installed" if tool.name == "dvx" else "--no-install"
            return f"{tool.name}: no S3 support ({package} missing; {why})"
        b.log(f"installing {package} into {tool.bindir.parent} (pip install {package}) ...")
        pip = b.run(
            [str(tool.python), "-m", "pip", "install", "-q", package], b.workdir, tool, check=False
        )
        if pip.returncode != 0 or _python_ok(b, tool, f"import {module}").returncode != 0:
            err = (pip.stderr.strip().splitlines() or ["?"])[-1]
            return f"{tool.name}: no S3 support (pip install {package} failed: {err})"
        return None

    return b.fixture(f"s3-support-{tool.name}", check)  # type: ignore[return-value]


def _dist_version(b: Bench, tool: Tool, dist: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    p = _python_ok(b, tool, code)
    return p.stdout.strip() if p.returncode == 0 else "?"


class S3Remote(RemoteBackend):
    """One fresh bucket per tool on a moto server, the remote at ``s3://BUCKET/store``.
    The tools' commands must run with ``AWS_ENV`` (see ``_push_pull_s3``)."""

    tag = "remote-s3"
    where = "the S3 endpoint (moto on 127.0.0.1)"
    prefix = "store"

    def __init__(self, b: Bench, endpoint: str) -> None:
        super().__init__(b)
        self.endpoint = endpoint
        try:
            import boto3
        except ImportError as exc:
            raise BenchError(f"S3 scenarios need boto3 in {sys.executable}: {exc}") from exc
        # The user's AWS profile or config must not leak into the bench's client.
        hidden = {k: os.environ.pop(k) for k in AWS_ENV_UNSET if k in os.environ}
        try:
            self.client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=AWS_ENV["AWS_DEFAULT_REGION"],
                aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            )
        finally:
            os.environ.update(hidden)

    def unavailable(self, tool: Tool) -> str | None:
        return _s3_support(self.b, tool)

    def _keys(self, bucket: str, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    @staticmethod
    def _bucket(url: str) -> str:
        return url.removeprefix("s3://").split("/", 1)[0]

    def make(self, tool: Tool, data: str) -> str:
        bucket = f"bench-{tool.name}-{uuid.uuid4().hex[:12]}"
        self.client.create_bucket(Bucket=bucket)
        return f"s3://{bucket}/{self.prefix}"

    def empty(self, url: str) -> None:
        bucket = self._bucket(url)
        keys = self._keys(bucket, self.prefix + "/")
        for i in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[i : i + 1000]]
            self.client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})

    def count(self, tool: Tool, url: str) -> int:
        bucket = self._bucket(url)
        loose = len(self._keys(bucket, f"{self.prefix}/{REMOTE_OBJECTS[tool.name]}/"))
        if tool.name != "dvx":
            return loose
        # dvx packs many small objects: count the entries of every pack index too.
        packed: set[str] = set()
        for key in self._keys(bucket, f"{self.prefix}/packs/"):
            if key.endswith(".idx"):
                body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
                packed.update(h for h, _, _ in json.loads(body)["objects"])
        return loose + len(packed)

    def configure(self, tool: Tool, root: Path, url: str) -> None:
        super().configure(tool, root, url)
        option = S3_ENDPOINT_OPTION[tool.name]
        self.b.run(tool.argv("remote", "modify", "bench", option, self.endpoint), root, tool)


def _s3_note(b: Bench, backend: S3Remote) -> None:
    """Once a run: the S3 packages' versions, and where the server runs."""
    if "s3-note" in b.fixtures:
        return
    b.fixtures["s3-note"] = True
    parts = [f"moto {_dist_version(b, b.dvx, 'moto')}"]
    for tool in b.tools():
        if backend.unavailable(tool) is None:
            dists = ["s3fs"] + (["dvc-s3"] if tool.name == "dvc" else [])
            parts.append(
                f"{tool.name} with " + ", ".join(f"{d} {_dist_version(b, tool, d)}" for d in dists)
            )
    b.notes.append(
        f"S3 scenarios: {'; '.join(parts)}. The moto server runs on this machine, so its "
        "CPU use slows both tools alike; it is not in the cpu column."
    )


def _push_pull_s3(b: Bench, label: str, make_data: Callable[[Path], None], data: str) -> list[Row]:
    """``_push_pull`` against a moto server started for this scenario alone."""
    with moto_server(b) as endpoint, b.tool_env(AWS_ENV, AWS_ENV_UNSET):
        backend = S3Remote(b, endpoint)
        rows = _push_pull(b, label, make_data, data, backend)
        _s3_note(b, backend)
        return rows


@scenario(
    "remote-s3-small",
    "push / no-op push / pull of --s3-files × 4 KiB files, S3 endpoint (moto server "
    "on 127.0.0.1; issue 5)",
    default=False,
)
def sc_remote_s3_small(b: Bench) -> list[Row]:
    template = small_data_template(b, b.s3_files, fixed=4096)
    return _push_pull_s3(
        b,
        f"{b.s3_files:,} × 4 KiB",
        lambda dst: shutil.copytree(template, dst, copy_function=shutil.copy2),
        "small",
    )


@scenario(
    "remote-s3-big",
    "push / no-op push / pull of one big file (--s3-big-mib), S3 endpoint (moto server "
    "on 127.0.0.1; issue 5)",
    default=False,
)
def sc_remote_s3_big(b: Bench) -> list[Row]:
    return _push_pull_s3(
        b,
        f"1 × {b.s3_big_mib} MiB",
        lambda dst: make_big_file(dst, b.s3_big_mib),
        "big.bin",
    )


# TODO(issue 8): `dvx lineage`.


# ------------------------------------------------------------------------ output


def fmt_timing(t: Timing | None) -> str:
    if t is None:
        return "—"
    if len(t.runs) == 1:
        return f"{t.best:.3f}"
    return f"{t.best:.3f} / {t.median:.3f}"


def fmt_ratio(row: Row) -> str:
    if row.dvx is None or row.dvc is None or row.dvx.best <= 0:
        return "—"
    return f"{row.dvc.best / row.dvx.best:.1f}×"


def fmt_cpu(row: Row) -> str:
    if row.dvx is None and row.dvc is None:
        return "—"
    return " / ".join(f"{t.cpu:.2f}" if t else "—" for t in (row.dvx, row.dvc))


def render_table(rows: list[Row]) -> str:
    head = [
        "scenario",
        "dvx s (best / median)",
        "dvc s (best / median)",
        "DVC/dvx",
        "cpu s dvx / dvc",
        "notes",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in rows:
        cells = [r.scenario, fmt_timing(r.dvx), fmt_timing(r.dvc), fmt_ratio(r), fmt_cpu(r), r.note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _source_rev() -> str:
    """The commit of this checkout, and whether dvx/ has uncommitted edits."""

    def git(*args: str) -> str:
        p = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True)
        return p.stdout.strip() if p.returncode == 0 else ""

    rev = git("rev-parse", "--short", "HEAD") or "?"
    return rev + (" + uncommitted changes in dvx/" if git("status", "--porcelain", "dvx") else "")


def machine_info(b: Bench) -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(b.workdir)], capture_output=True, text=True
    ).stdout.strip()
    return [
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: `nproc` = {os.cpu_count()}, {cpu}, {platform.system()} "
        f"{platform.release()}, scratch fs {fs or '?'}",
        f"- python: {platform.python_version()} ({sys.executable})",
        f"- dvx: {b.dvx.version()} ({b.dvx.exe}), source {_source_rev()}",
        f"- dvc: {b.dvc.version() + f' ({b.dvc.exe})' if b.dvc else 'skipped (--no-dvc)'}",
        f"- {git}",
        f"- load average at start: {_loadavg()} (if others share the machine, see the cpu column)",
        f"- runs: best-of-{b.repeat} and median for quick commands, best-of-{b.heavy_repeat} "
        "for heavy ones (each in a fresh repo); one untimed warm-up before repeated commands",
    ]


# -------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    listing = "\n".join(
        f"  {s.name:<16} {s.help}{'' if s.default else ' [not default]'}"
        for s in SCENARIOS.values()
    )
    p = argparse.ArgumentParser(
        description="Time dvx and DVC CLI commands side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="scenarios:\n" + listing,
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable; 'all' = every scenario)",
    )
    p.add_argument("-n", "--repeat", type=int, default=5, help="runs of quick commands (5)")
    p.add_argument(
        "--heavy-repeat",
        type=int,
        default=3,
        help="runs of heavy commands such as add/push/pull, each in a fresh repo (3)",
    )
    p.add_argument("--files", type=int, default=20_000, help="files in the add/remote data (20000)")
    p.add_argument("--stages", type=int, default=100, help="stages in the pipeline (100)")
    p.add_argument("--big-mib", type=int, default=2048, help="size of the big file (2048 MiB)")
    p.add_argument(
        "--s3-files", type=int, default=20_000, help="files in the remote-s3-small data (20000)"
    )
    p.add_argument(
        "--s3-big-mib", type=int, default=2048, help="size of the remote-s3-big file (2048 MiB)"
    )
    p.add_argument("--workdir", type=Path, help="scratch dir (default: a new temp dir, removed)")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir")
    p.add_argument("--dvx", help="dvx executable (default: beside this Python, or on PATH)")
    p.add_argument("--dvc", help="dvc executable (default: bench/.venv-dvc, installed if missing)")
    p.add_argument("--dvc-venv", type=Path, default=DEFAULT_DVC_VENV, help=argparse.SUPPRESS)
    p.add_argument("--no-dvc", action="store_true", help="skip the DVC columns")
    p.add_argument(
        "--no-install", action="store_true", help="never pip-install DVC (nor dvc-s3 into its venv)"
    )
    p.add_argument(
        "--open-check",
        choices=["auto", "strace", "audit"],
        default="auto",
        help="how 'noread' counts opened files (auto: strace if installed)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_RESULTS,
        help="markdown results file (bench/results.md); '-' for none",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every timed command")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.only or [n for n, s in SCENARIOS.items() if s.default]
    if "all" in names:
        names = list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(
            f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    try:
        dvx = find_dvx(args.dvx)
        dvc = None if args.no_dvc else find_dvc(args.dvc, args.dvc_venv, not args.no_install)
    except (BenchError, subprocess.CalledProcessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="dvx-bench-")) if temp else args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    b = Bench(
        workdir,
        dvx,
        dvc,
        args.repeat,
        args.heavy_repeat,
        args.files,
        args.stages,
        args.big_mib,
        args.open_check,
        args.verbose,
        s3_files=args.s3_files,
        s3_big_mib=args.s3_big_mib,
        install=not args.no_install,
    )
    info = machine_info(b)
    rows: list[Row] = []
    failed = False
    try:
        for name in names:
            b.log(f"scenario {name}")
            t0 = time.perf_counter()
            try:
                rows += SCENARIOS[name].func(b)
            except BenchError as exc:
                failed = True
                print(f"bench: scenario {name} failed: {exc}", file=sys.stderr)
                rows.append(Row(name, note=f"FAILED: {str(exc).splitlines()[0]}"))
            b.log(f"scenario {name} took {time.perf_counter() - t0:.1f}s")
    finally:
        if temp and not args.keep:
            _rmtree(workdir)
        elif args.keep or not temp:
            b.log(f"scratch dir kept: {workdir}")
    info.append(f"- load average at end: {_loadavg()}")
    report = ["# dvx vs DVC benchmarks", "", *info, "", render_table(rows)]
    if b.notes:
        report += ["", *[f"- {n}" for n in b.notes]]
    report += [
        "",
        "Times are wall-clock seconds of whole CLI invocations. DVC/dvx is the "
        "ratio of best times (> 1 means dvx is faster). cpu s is user + system CPU time "
        "of the fastest run, children included.",
    ]
    text = "\n".join(report) + "\n"
    print(text)
    if str(args.output) != "-":
        args.output.write_text(text)
        b.log(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
