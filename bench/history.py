"""Time ``dvx lineage`` and ``dvx log`` on a repo with a long history (issue 7).

Builds a 100-stage pipeline (four chains of 25 tiny stages) and 500 commits, each
changing the param of one stage and committing the repro's lock, then times the
first call (which builds the history index) and the second (which must not walk
history again) of ``dvx lineage`` and ``dvx log`` on the last stage's output.

    python bench/history.py [--commits 500] [--stages 100] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build(root: Path, stages: int, commits: int) -> str:
    import dvx.api

    root.mkdir(parents=True)
    sh("git", "init", "-q", "-b", "main", cwd=root)
    sh("git", "config", "user.email", "bench@dvx.invalid", cwd=root)
    sh("git", "config", "user.name", "bench", cwd=root)
    sh(sys.executable, "-m", "dvx", "init", cwd=root)
    chains = 4
    per = stages // chains
    lines = ["stages:"]
    params = []
    for c in range(chains):
        for i in range(per):
            name = f"c{c}s{i}"
            dep = "seed.txt" if i == 0 else f"out/c{c}s{i - 1}.txt"
            lines += [
                f"  {name}:",
                f"    cmd: {sys.executable} -c \"import sys; open('out/{name}.txt','w')"
                f".write(open('{dep}').read() + sys.argv[1])\" {name}",
                f"    deps: [{dep}]",
                f"    params: [{name}]",
                f"    outs: [out/{name}.txt]",
            ]
            params.append(name)
    (root / "dvx.yaml").write_text("\n".join(lines) + "\n")
    (root / "seed.txt").write_text("seed\n")
    (root / "out").mkdir()
    values = dict.fromkeys(params, 0)

    def write_params() -> None:
        (root / "params.yaml").write_text("".join(f"{k}: {v}\n" for k, v in values.items()))

    write_params()
    dvx.api.repro(repo=root, jobs=2)
    sh("git", "add", "-A", cwd=root)
    sh("git", "commit", "-qm", "pipeline", cwd=root)
    for n in range(1, commits):
        # Touch the last stage of a chain most of the time, sometimes an early one.
        c = n % chains
        i = per - 1 if n % 5 else n % per
        key = f"c{c}s{i}"
        values[key] += 1
        write_params()
        dvx.api.repro(repo=root, no_remote=True)
        sh("git", "commit", "-qam", f"change {key}", cwd=root)
    return f"out/c0s{per - 1}.txt"


def timed(root: Path, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dvx", *args], cwd=root, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=500)
    ap.add_argument("--stages", type=int, default=100)
    ap.add_argument("--workdir", type=Path)
    opts = ap.parse_args()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="dvx-history-"))
    root = work / "repo"
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    target = build(root, opts.stages, opts.commits)
    print(f"built {opts.commits} commits x {opts.stages} stages in {time.perf_counter() - t0:.0f}s")
    index = root / ".dvx" / "tmp" / "history.json"
    index.unlink(missing_ok=True)
    rows = [
        ("dvx lineage (first call: builds the history index)", timed(root, "lineage", target)),
        ("dvx lineage (second call)", timed(root, "lineage", target)),
        ("dvx log (index warm)", timed(root, "log", target)),
        ("dvx log -n 10", timed(root, "log", "-n", "10", target)),
        ("dvx lineage --rev HEAD~250", timed(root, "lineage", "--rev", "HEAD~250", target)),
    ]
    print(
        f"\n| command ({opts.commits} commits, {opts.stages} stages, nproc {os.cpu_count()}) | s |"
    )
    print("|---|---|")
    for name, secs in rows:
        print(f"| {name} | {secs:.2f} |")


if __name__ == "__main__":
    main()
