"""All terminal output: plain text when piped, rich styling on a TTY.

Core modules never print; the CLI passes their result objects here. rich is
imported lazily so that commands printing a line or two start fast.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from dvx.errors import DvxError

_consoles: dict[bool, Console] = {}


def _console(err: bool) -> Console:
    if err not in _consoles:
        from rich.console import Console

        _consoles[err] = Console(stderr=err, highlight=False, soft_wrap=True)
    return _consoles[err]


def _tty(err: bool = False) -> bool:
    stream = sys.stderr if err else sys.stdout
    return stream.isatty()


def echo(text: str = "", style: str | None = None, *, err: bool = False) -> None:
    if style and _tty(err):
        from rich.markup import escape

        _console(err).print(f"[{style}]{escape(text)}[/]")
        return
    stream = sys.stderr if err else sys.stdout
    stream.write(text + "\n")
    stream.flush()


def print_json(data: Any) -> None:
    indent = 2 if _tty() else None
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error(exc: DvxError) -> None:
    echo(f"dvx: error: {exc.message}", "bold red", err=True)
    if exc.hint:
        echo(f"hint: {exc.hint}", "yellow", err=True)


def crash(verbose: bool) -> None:
    exc = sys.exc_info()[1]
    echo(f"dvx: internal error: {exc.__class__.__name__}: {exc}", "bold red", err=True)
    if verbose:
        traceback.print_exc()
    else:
        echo("hint: run again with -v for the traceback, and please report it", err=True)


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname.lower()
        style = "yellow" if record.levelno >= logging.WARNING else "dim"
        echo(f"dvx: {level}: {record.getMessage()}", style, err=True)


def install_logging(verbose: bool) -> None:
    log = logging.getLogger("dvx")
    log.handlers[:] = [_Handler()]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


# ---- renderers for result objects -------------------------------------------

if TYPE_CHECKING:
    from dvx.checkout import CheckoutResult
    from dvx.dag import Dag
    from dvx.repro import ReproResult, StageResult
    from dvx.status import StatusReport


def _seconds(s: float) -> str:
    return f"{s:.1f}s" if s < 60 else f"{int(s // 60)}m{int(s % 60):02d}s"


def stage_result(r: StageResult) -> None:
    if r.outcome == "ran":
        echo(f"{r.name}: ran in {_seconds(r.seconds)}", "green")
    elif r.outcome == "failed":
        why = f"exit {r.exit_status}" if r.exit_status else r.detail
        if r.exit_status is not None and r.exit_status < 0:
            why = f"killed by signal {-r.exit_status}"
        echo(f"{r.name}: FAILED ({why})", "bold red")
    elif r.outcome == "pulled":
        echo(f"{r.name}: pulled from {r.detail}", "cyan")
    elif r.outcome == "would pull":
        echo(f"{r.name}: would pull from {r.detail}", "cyan")
    elif r.outcome == "skipped":
        echo(f"{r.name}: skipped ({r.detail})", "yellow")
    elif r.outcome == "up to date":
        echo(f"{r.name}: up to date" + (f" ({r.detail})" if r.detail else ""), "dim")
    else:
        echo(f"{r.name}: {r.outcome}" + (f" ({r.detail})" if r.detail else ""), "cyan")


def repro_summary(result: ReproResult) -> None:
    counts = result.counts()
    order = [
        "ran",
        "restored",
        "pulled",
        "up to date",
        "would run",
        "would restore",
        "would pull",
        "failed",
        "skipped",
        "interrupted",
    ]
    parts = [f"{counts[k]} {k}" for k in order if counts.get(k)]
    if not parts:
        echo("nothing to do: no stages")
        return
    summary = ", ".join(parts) + f" in {_seconds(result.seconds)}"
    if result.dry:
        summary = "dry run: " + summary
    echo(summary, "bold red" if result.failed else "bold")
    for r in result.failed:
        if r.outcome == "failed":
            cmd_hint = f"exit status {r.exit_status}" if r.exit_status else r.detail
            echo(f"dvx: error: stage '{r.name}' failed ({cmd_hint})", "bold red", err=True)


def status_report(report: StatusReport) -> None:
    if report.clean:
        echo("Everything is up to date.", "green")
        return
    for s in report.stages:
        echo(f"{s.name}:", "bold")
        for reason in s.reasons:
            echo(f"    {reason}", "yellow")
    for name in report.removed:
        echo(
            f"{name}: removed from dvx.yaml ('dvx repro' drops its lock entry and outputs)", "bold"
        )
    if report.data:
        echo("tracked data:", "bold")
        for d in report.data:
            echo(f"    {', '.join(d.reasons)}: {d.path}", "yellow")


def checkout_result(result: CheckoutResult) -> int:
    for path in result.changed:
        echo(f"restored {path}")
    for path, objects in result.missing:
        echo(
            f"dvx: error: '{path}': {len(objects)} object(s) not in the cache",
            "bold red",
            err=True,
        )
    if result.missing:
        echo("hint: run 'dvx pull' to fetch them, or 'dvx repro' to rebuild", "yellow", err=True)
        return 1
    if not result.changed:
        echo("workspace already matches", "dim")
    return 0


def dag(graph: Dag, names: list[str], *, mermaid: bool, as_json: bool) -> None:
    chosen = set(names)
    edges = sorted((u, n) for n in names for u in graph.upstream[n] if u in chosen)
    if as_json:
        print_json({"version": 1, "stages": names, "edges": [list(e) for e in edges]})
        return
    if mermaid:
        ids = {n: f"s{i}" for i, n in enumerate(names)}
        echo("flowchart TD")
        for n in names:
            echo(f'    {ids[n]}["{n}"]')
        for u, n in edges:
            echo(f"    {ids[u]} --> {ids[n]}")
        return
    if not names:
        echo("no stages (declare them in dvx.yaml)")
        return
    width = max(len(n) for n in names)
    for n in names:
        ups = sorted(u for u in graph.upstream[n] if u in chosen)
        after = f"  <- {', '.join(ups)}" if ups else ""
        echo(f"{n.ljust(width)}{after}".rstrip())


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from dvx.transfer import TransferResult


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@contextmanager
def transfer_progress(
    verb: str, *, enabled: bool = True
) -> Iterator[Callable[[str, int, int], None] | None]:
    """A progress callback drawing rich bars (files and bytes) on a TTY; None otherwise."""
    if not enabled or not _tty(err=True):
        yield None
        return
    import threading

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    # One bar counts files; the bytes and their rate ride along as text, since a
    # pull learns sizes only as objects arrive.
    with Progress(
        TextColumn(verb),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[moved]}  {task.fields[rate]}"),
        console=_console(True),
        transient=True,
    ) as progress:
        task = progress.add_task(verb, total=0, moved="", rate="")
        state = {"files": 0, "bytes": 0}
        lock = threading.Lock()

        def update(phase: str, files: int, nbytes: int) -> None:
            with lock:
                if phase == "total":
                    state["files"] += files
                    progress.update(task, total=state["files"])
                    return
                state["bytes"] += nbytes
                elapsed = progress.tasks[0].elapsed or 0.0
                rate = f"{_size(state['bytes'] / elapsed)}/s" if elapsed > 0.2 else ""
                progress.update(task, advance=files, moved=_size(state["bytes"]), rate=rate)

        yield update


def transfer_summary(result: TransferResult) -> None:
    verb = {"push": "pushed", "pull": "pulled", "fetch": "fetched"}[result.direction]
    line = (
        f"{verb} {result.objects} object(s) ({_size(result.bytes)}), "
        f"{result.runs} action-cache entr{'y' if result.runs == 1 else 'ies'}; "
        f"{result.present} already "
        + (f"on {result.remote}" if result.direction == "push" else "local")
    )
    echo(line, "bold" if result.ok else "bold red")
    side = "local cache" if result.direction == "push" else f"remote '{result.remote}'"
    for h in result.missing:
        echo(f"dvx: error: object {h} is missing from the {side}", "red", err=True)
    for h in result.corrupt:
        echo(
            f"dvx: error: object {h} on remote '{result.remote}' is corrupt; not checked out",
            "red",
            err=True,
        )
    for h, why in result.failed:
        echo(f"dvx: error: {h}: {why}", "red", err=True)
    if result.checkout is not None:
        for path in result.checkout.changed:
            echo(f"restored {path}")
        for path, objs in result.checkout.missing:
            echo(f"dvx: error: '{path}': {len(objs)} object(s) not available", "red", err=True)
    if result.missing and result.direction == "push":
        echo("hint: run 'dvx repro' or 'dvx pull' from a remote that has them", "yellow", err=True)


if TYPE_CHECKING:
    from dvx.check import CheckReport


def check_report(report: CheckReport) -> None:
    for s in report.mismatched:
        echo(f"{s.name}: lock does not match", "bold red")
        for reason in s.reasons:
            echo(f"    {reason}", "yellow")
    for name in report.removed:
        echo(f"{name}: in dvx.lock but not in dvx.yaml (stage removed)", "bold red")
    for path, h in report.missing_on_remote:
        echo(f"{path}: object {h} is not on remote '{report.remote}'", "bold red")
    if report.ok:
        where = f"; remote '{report.remote}' has every object" if report.remote else ""
        echo(f"dvx.lock matches: {report.checked} stage(s) checked{where}", "green")
        return
    hints = []
    if report.mismatched or report.removed:
        hints.append("run 'dvx repro' and commit dvx.lock")
    if report.missing_on_remote:
        hints.append(f"run 'dvx push --full -r {report.remote}'")
    echo("hint: " + "; ".join(hints), "yellow", err=True)


def confirm(question: str) -> bool:
    """Ask on a terminal; without one, the answer is no (use -f to proceed)."""
    if not sys.stdin.isatty():
        echo(f"{question} [y/N] (no terminal: answering no; use -f)", err=True)
        return False
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


if TYPE_CHECKING:
    from dvx.history import LogEntry
    from dvx.lineage import Lineage, Node


def _when(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _node_lines(n: Node) -> list[str]:
    head = f"{n.path}  {n.hash[:12] if n.hash else '?'}"
    if n.kind == "stage":
        head += f"  [stage {n.stage}]"
    elif n.kind == "pointer":
        head += "  [dvx add]"
    elif n.kind == "directory":
        head += f"  [directory of {len(n.inputs)} tracked outputs]" if n.inputs else "  [directory]"
    else:
        head += "  [source]"
    lines = [head]
    if n.cmd:
        lines.append("cmd: " + " && ".join(n.cmd))
    for f, values in (n.params or {}).items():
        for k, v in values.items():
            lines.append(f"param {f}:{k} = {json.dumps(v, ensure_ascii=False)}")
    for c in n.code or []:
        lines.append(f"code {c['path']} {c['hash'][:12]}")
    if n.run:
        r = n.run
        who = f"{r.get('user', '?')}@{r.get('host', '?')}"
        dur = r.get("duration")
        took = f" in {dur}s" if dur is not None else ""
        lines.append(f"ran {r.get('started', '?')}{took} by {who} (dvx {r.get('dvx_version')})")
    if n.first_commit:
        fc = n.first_commit
        lines.append(f"first recorded in {fc.id[:10]} ({_when(fc.time)}) {fc.summary}")
    if n.note:
        lines.append(f"note: {n.note}")
    if n.truncated:
        lines.append("… (deeper inputs not shown: raise --depth)")
    return lines


def lineage_tree(result: Lineage) -> None:
    if _tty():
        from rich.markup import escape
        from rich.tree import Tree

        def build(n: Node, tree: Tree | None) -> Tree:
            lines = _node_lines(n)
            label = f"[bold]{escape(lines[0])}[/]" + "".join(
                f"\n[dim]{escape(line)}[/]" for line in lines[1:]
            )
            t = Tree(label) if tree is None else tree.add(label)
            for child in n.inputs:
                build(child, t)
            return t

        _console(False).print(build(result.root, None))
        return

    def walk(n: Node, prefix: str, last: bool, top: bool) -> None:
        lines = _node_lines(n)
        branch = "" if top else ("└── " if last else "├── ")
        echo(prefix + branch + lines[0])
        inner = prefix + ("" if top else ("    " if last else "│   "))
        for line in lines[1:]:
            echo(inner + ("│   " if n.inputs else "    ") + line)
        for i, child in enumerate(n.inputs):
            walk(child, inner, i == len(n.inputs) - 1, False)

    walk(result.root, "", True, True)


def log_entries(entries: list[LogEntry]) -> None:
    for e in entries:
        c = e.commit
        echo(f"{c.id[:10]}  {_when(c.time)}  {e.hash[:12]}  {c.summary}", "bold")
        echo(f"    author: {c.author}" + (f"  stage: {e.stage}" if e.stage else ""), "dim")
        for change in e.changes:
            echo(f"    {change}", "yellow")


if TYPE_CHECKING:
    from dvx.diff import Change, DiffReport, FileChange
    from dvx.hashing import Version
    from dvx.tablestats import TableDiff

_DIFF_STYLES = {"added": "green", "modified": "yellow", "deleted": "red"}


def _table_details(t: TableDiff | None) -> list[str]:
    if t is None:
        return []
    found = []
    if t.old is not None and t.new is not None:
        found.append(f"rows {t.old.rows} → {t.new.rows}")
    elif (one := t.new or t.old) is not None:
        found.append(f"rows {one.rows}")
    found += [f"+column {n}" for n, _ in t.columns_added]
    found += [f"-column {n}" for n, _ in t.columns_removed]
    found += [f"column {n}: {o} → {new}" for n, o, new in t.columns_changed]
    found += [f"no stats: {e}" for e in t.errors]
    return found


def _size_change(old: Version | None, new: Version | None) -> str:
    if old is not None and new is not None:
        return f"{_size(old.size)} → {_size(new.size)}"
    v = new or old
    return _size(v.size) if v is not None else ""


def _change_details(c: Change) -> list[str]:
    old = c.old.version if c.old else None
    new = c.new.version if c.new else None
    if not c.is_dir:
        return [_size_change(old, new), *_table_details(c.stats)]
    if old is not None and new is not None:
        counts = f"{old.nfiles or 0} → {new.nfiles or 0} files"
    else:
        counts = f"{c.latest.version.nfiles or 0} files"
    size = _size_change(old, new)
    if c.files_error is not None:
        return [size, counts, f"contents unknown: {c.files_error}"]
    if c.status != "modified" or c.files is None:
        return [size, counts]
    inside = {s: sum(1 for f in c.files if f.status == s) for s in _DIFF_STYLES}
    parts = ", ".join(f"{n} {s}" for s, n in inside.items() if n)
    return [size, f"{counts}: {parts}" if parts else counts]


def _file_details(f: FileChange) -> list[str]:
    return [_size_change(f.old, f.new), *_table_details(f.stats)]


def _diff_rows(report: DiffReport) -> Iterator[tuple[str, str, list[str], bool]]:
    """(status, path, details, is a file inside a directory) in display order."""
    for c in report.changes:
        shown = c.path + ("/" if c.is_dir else "")
        yield c.status, shown, _change_details(c), False
        # An added or deleted directory is one fact; list the files only of a modified one.
        if c.status == "modified" and c.files:
            for f in c.files:
                yield f.status, f.path, _file_details(f), True


def diff_report(report: DiffReport) -> None:
    if not report.changes:
        echo(f"no changes between {report.a} and {report.b}", "green")
        return
    if _tty():
        _diff_table(report)
    else:
        for status, path, details, inner in _diff_rows(report):
            info = "; ".join(d for d in details if d)
            indent = "    " if inner else ""
            echo(f"{indent}{status}: {path}" + (f"  ({info})" if info else ""))
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s}" for s in ("modified", "added", "deleted") if counts[s])
    echo(f"{summary} ({report.a} → {report.b})", "bold")


def _diff_table(report: DiffReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, show_edge=False, pad_edge=False)
    table.add_column("change")
    table.add_column("path", no_wrap=True)
    table.add_column("size")
    table.add_column("details", overflow="fold")
    for status, path, details, inner in _diff_rows(report):
        style = _DIFF_STYLES[status]
        size, rest = (details[0], details[1:]) if details else ("", [])
        table.add_row(
            f"[{style}]{status}[/]",
            ("  " if inner else "") + escape(path),
            escape(size),
            escape("; ".join(d for d in rest if d)),
            style="dim" if inner else None,
        )
    _console(False).print(table)


# ---- metrics and params: tables of values across revisions ------------------

if TYPE_CHECKING:
    from dvx.compare import Diff, Row
    from dvx.metrics import MetricsShow


def _value(v: Any) -> str:
    from dvx.compare import MISSING

    if v is MISSING:
        return "—"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def _change(r: Row) -> str:
    if r.status == "unchanged":
        return "0" if r.delta is not None else ""
    if r.delta is None:
        return r.status
    delta = f"{r.delta:+d}" if isinstance(r.delta, int) else f"{r.delta:+.6g}"
    if r.pct is None:
        return delta
    pct = f"{r.pct:+.1f}" if abs(r.pct) >= 0.1 or r.pct == 0 else f"{r.pct:+.2g}"
    return f"{delta} ({pct}%)"


def _value_table(headers: list[str], rows: list[list[str]], styles: list[str | None]) -> None:
    """Rows under headers: a rich table on a terminal, columns aligned with spaces otherwise."""
    if _tty():
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, show_edge=False, pad_edge=False)
        for h in headers:
            table.add_column(escape(h), overflow="fold")
        for row, style in zip(rows, styles, strict=True):
            table.add_row(*map(escape, row), style=style)
        _console(False).print(table)
        return
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def value_diff(result: Diff) -> None:
    """``dvx params diff`` and ``dvx metrics diff``."""
    noun = "param" if result.kind == "params" else "metric"
    a, b = result.a.rev, result.b.rev
    if not result.rows:
        echo(f"no {noun} changes between {a} and {b}", "green")
        return
    headers = ["path", noun, a, b]
    if result.kind == "metrics":
        headers.append("change")
    rows: list[list[str]] = []
    styles: list[str | None] = []
    for d in result.rows:
        r = d.row
        cells = [d.path, r.key, _value(r.old), _value(r.new)]
        if result.kind == "metrics":
            cells.append(_change(r))
        rows.append(cells)
        styles.append({"added": "green", "removed": "red", "unchanged": "dim"}.get(r.status))
    _value_table(headers, rows, styles)


def metrics_show(result: MetricsShow) -> None:
    paths = result.paths()
    if not paths:
        echo("no metrics: no stage declares 'metrics:' outputs", "yellow")
        return
    rows: list[list[str]] = []
    styles: list[str | None] = []
    for path in paths:
        keys = result.keys(path) or [""]
        for key in keys:
            cells = [path, key]
            for rev in result.revs:
                f = rev.files.get(path)
                if f is None:
                    cells.append("—")  # the stage file of this revision does not declare it
                elif f.status != "ok":
                    cells.append(f.status)
                else:
                    cells.append(_value(f.values[key]) if key in f.values else "—")
            rows.append(cells)
            styles.append(None)
    _value_table(["path", "metric", *(r.rev for r in result.revs)], rows, styles)
