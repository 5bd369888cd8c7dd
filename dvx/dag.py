"""The stage graph: a dep equal to, inside, or containing another stage's output
links the two stages. Cycles are refused, naming every stage on the cycle."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from dvx.errors import StageFileError, UsageError
from dvx.stagefile import Out, Stage


def _inside(path: str, parent: str) -> bool:
    return parent == "." or path == parent or path.startswith(parent + "/")


@dataclass
class Dag:
    stages: dict[str, Stage]
    outs: dict[str, tuple[str, Out]] = field(default_factory=dict)  # out path → (stage, out)
    upstream: dict[str, set[str]] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological, stage-file order on ties

    def producer(self, path: str) -> tuple[str, Out] | None:
        """The stage whose output is ``path`` or a directory containing it."""
        cur = path
        while True:
            hit = self.outs.get(cur)
            if hit is not None:
                return hit
            if "/" not in cur:
                return None
            cur = cur.rsplit("/", 1)[0]

    def producers_within(self, path: str) -> list[tuple[str, Out]]:
        """Stages with an output inside directory ``path`` (a dep on a whole directory)."""
        return [hit for p, hit in self.outs.items() if p != path and _inside(p, path)]

    def ancestors(self, names: set[str]) -> set[str]:
        return self._closure(names, self.upstream)

    def descendants(self, names: set[str]) -> set[str]:
        return self._closure(names, self.downstream)

    @staticmethod
    def _closure(names: set[str], edges: dict[str, set[str]]) -> set[str]:
        seen = set(names)
        todo = list(names)
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def resolve_targets(self, targets: list[str]) -> set[str]:
        """Stage names for targets: a stage name, a matrix/foreach group, or an output path."""
        found: set[str] = set()
        for t in targets:
            if t in self.stages:
                found.add(t)
                continue
            group = {n for n in self.stages if n.startswith(t + "@")}
            if group:
                found |= group
                continue
            hit = self.producer(t.rstrip("/"))
            if hit is not None:
                found.add(hit[0])
                continue
            close = difflib.get_close_matches(t, list(self.stages), n=1)
            raise UsageError(
                f"unknown stage '{t}'",
                hint=f"did you mean '{close[0]}'?" if close else "'dvx dag' lists the stages",
            )
        return found

    def select(self, targets: list[str], *, downstream: bool = False) -> list[str]:
        """Stages a command on ``targets`` covers, in dependency order (all when no targets)."""
        if not targets:
            return list(self.order)
        names = self.resolve_targets(targets)
        chosen = self.descendants(names) if downstream else self.ancestors(names)
        return [n for n in self.order if n in chosen]


def build(stages: list[Stage]) -> Dag:
    dag = Dag(stages={s.name: s for s in stages})
    for s in stages:
        for o in s.outs:
            dag.outs[o.path] = (s.name, o)
    for s in stages:
        dag.upstream[s.name] = set()
        dag.downstream.setdefault(s.name, set())
    for s in stages:
        for dep in s.deps:
            hits = [h for h in [dag.producer(dep)] if h] + dag.producers_within(dep)
            for producer, _ in hits:
                if producer == s.name:
                    raise StageFileError(
                        f"{s.where()}: dep '{dep}' is also its own output",
                        hint="a stage cannot read what it writes; use 'persist: true' for "
                        "outputs kept between runs",
                    )
                dag.upstream[s.name].add(producer)
                dag.downstream[producer].add(s.name)
    dag.order = _toposort(dag)
    return dag


def _toposort(dag: Dag) -> list[str]:
    index = {n: i for i, n in enumerate(dag.stages)}
    indegree = {n: len(dag.upstream[n]) for n in dag.stages}
    ready = sorted((n for n, d in indegree.items() if d == 0), key=index.__getitem__)
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in sorted(dag.downstream[n], key=index.__getitem__):
            indegree[m] -= 1
            if indegree[m] == 0:
                ready.append(m)
        ready.sort(key=index.__getitem__)
    if len(order) < len(dag.stages):
        cycle = _find_cycle(dag, set(dag.stages) - set(order))
        first = dag.stages[cycle[0]]
        raise StageFileError(
            f"{first.where()}: dependency cycle: {' -> '.join(cycle)}",
            hint="each stage on the cycle reads an output of the next; break one of those deps",
        )
    return order


def _find_cycle(dag: Dag, remaining: set[str]) -> list[str]:
    # Every node left after Kahn's algorithm lies on or downstream of a cycle;
    # walking upstream edges inside that set must revisit a node.
    start = min(remaining, key=list(dag.stages).index)
    path = [start]
    seen = {start: 0}
    cur = start
    while True:
        nxt = min((u for u in dag.upstream[cur] if u in remaining), key=list(dag.stages).index)
        if nxt in seen:
            cycle = path[seen[nxt] :]
            cycle.reverse()
            # Report in data-flow order starting from the first stage in the file.
            i = cycle.index(min(cycle, key=list(dag.stages).index))
            cycle = cycle[i:] + cycle[:i]
            return [*cycle, cycle[0]]
        seen[nxt] = len(path)
        path.append(nxt)
        cur = nxt
