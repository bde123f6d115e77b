"""``graph --format text``: the chain graph as the indented tree the demo draws, for any tenant.

Roots are the apps no edge targets; a cycle nothing outside starts is entered at its first
member. A child already drawn with its own children is not drawn again (``see above``), so a
wide diamond-shaped chain stays as long as it has edges; an edge back to an app on the current
branch reads ``↻ cycle back to``. A join target appears under each of its members, marked with
what it waits for, because the tree reads "what follows this app"; its own successors are drawn
under the first of them only. Native task edges are drawn beside reload-chain's, after them,
marked with their task; what stands out on an edge (``also native``, a disabled task) is said
after it, and every native task that will not fire is listed at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from jobs.edges import Edge
from jobs.graph import ChainGraph, Node
from jobs.graph_native import Mark, as_edge, describe, edge_marks, is_native

PREFIXES = {"success": "", "failure": "on failure: ", "any": "always: "}
CYCLE = "↻ cycle back to "
SEE_ABOVE = "  (see above)"


def to_text(graph: ChainGraph) -> str:
    """The indented tree of every chain, then the cycles, missing apps and bad tags."""
    if not graph.nodes:
        lines = ["No chains: no chain tags and no chain-file edges."]
    else:
        tree = _Tree(graph)
        tree.draw(entry_points(graph))
        lines = tree.lines
    return "\n".join([*lines, *_problems(graph)])


def edges_with_joins(graph: ChainGraph) -> list[Edge]:
    """The graph's edges and one edge per join member (``edge.join`` set), as the sweep has."""
    join_edges = [Edge(m, j.target, "success", j.origin, j) for j in graph.joins for m in j.after]
    return [*graph.edges, *join_edges]


def drawn_edges(graph: ChainGraph) -> list[Edge]:
    """Every edge drawn: the sweep's (joins included), then the native tasks'."""
    return [*edges_with_joins(graph), *(as_edge(native) for native in graph.native.edges())]


def sort_key(node: Node) -> tuple[str, str]:
    """Apps in name order, then by id; a missing app by its id."""
    return ((node.name or node.app_id).casefold(), node.app_id)


def label(node: Node) -> str:
    """An app's name, ``(script)`` for scripts, or its id marked ``(missing)``."""
    if node.missing:
        return f"{node.app_id} (missing)"
    return f"{node.name} (script)" if node.resource_type == "script" else str(node.name)


def entry_points(graph: ChainGraph) -> list[str]:
    """The roots in order, then the first member of each cycle that nothing outside it starts."""
    edges = drawn_edges(graph)
    targets = {edge.target for edge in edges}
    roots = _ordered(graph, (app for app in graph.nodes if app not in targets))
    for cycle in graph.cycles:
        members = set(cycle)
        if not any(e.target in members and e.source not in members for e in edges):
            roots.append(_ordered(graph, cycle)[0])
    return roots


def _ordered(graph: ChainGraph, apps: Iterable[str]) -> list[str]:
    return sorted(apps, key=lambda app: sort_key(graph.nodes[app]))


@dataclass(frozen=True)
class _Step:
    """Draw ``app`` after ``line``, ``note`` after it, its children at ``indent``; or leave it."""

    app: str
    line: str = ""
    note: str = ""
    indent: str = ""
    edge: Edge | None = None
    leaving: bool = False


@dataclass
class _Tree:
    graph: ChainGraph
    lines: list[str] = field(default_factory=list)
    drawn: set[str] = field(default_factory=set)
    expanded: set[str] = field(default_factory=set)
    children: dict[str, list[Edge]] = field(default_factory=dict)
    marks: dict[Edge, list[Mark]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for edge in drawn_edges(self.graph):
            self.children.setdefault(edge.source, []).append(edge)
        for edges in self.children.values():
            edges.sort(
                key=lambda e: (*sort_key(self.graph.nodes[e.target]), is_native(e), e.on, e.origin)
            )
        self.marks = edge_marks(self.graph.edges, self.graph.native)

    def draw(self, roots: list[str]) -> None:
        """Draw each root and what follows it, then any app still not drawn (none, normally)."""
        for app in [*roots, *_ordered(self.graph, self.graph.nodes)]:
            if app not in self.drawn:
                self._walk(app)

    def _walk(self, root: str) -> None:
        """Depth first, with a stack of its own so a chain thousands of apps deep draws too."""
        on_branch: set[str] = set()
        work: list[_Step] = [_Step(root, "", "", "")]
        while work:
            step = work.pop()
            if step.leaving:
                on_branch.discard(step.app)
            elif step.edge is not None and step.app in on_branch:
                self.lines.append(
                    f"{step.line}{CYCLE}{label(self.graph.nodes[step.app])}{step.note}"
                )
            elif self._node(step):
                on_branch.add(step.app)
                work.append(_Step(step.app, leaving=True))
                work += reversed(self._steps(step.app, step.indent))

    def _node(self, step: _Step) -> bool:
        """Write an app's line; True when its children are to be drawn under it."""
        edges = self.children.get(step.app, [])
        seen = step.app in self.expanded and bool(edges)
        name = label(self.graph.nodes[step.app])
        self.lines.append(f"{step.line}{name}{step.note}{SEE_ABOVE if seen else ''}")
        self.drawn.add(step.app)
        self.expanded.add(step.app)
        return not seen

    def _steps(self, app: str, indent: str) -> list[_Step]:
        edges = self.children.get(app, [])
        steps = []
        for number, edge in enumerate(edges, start=1):
            last = number == len(edges)
            line = indent + ("└─ " if last else "├─ ") + PREFIXES[edge.on]
            deeper = indent + ("   " if last else "│  ")
            steps.append(_Step(edge.target, line, self._note(edge), deeper, edge))
        return steps

    def _note(self, edge: Edge) -> str:
        if edge.join is not None:
            members = ", ".join(label(self.graph.nodes[m]) for m in edge.join.after)
            return f"  [join: waits for {members} within {edge.join.within_minutes} min]"
        words = [mark.detail for mark in self.marks.get(edge, [])]
        if is_native(edge):
            words.insert(0, edge.origin)
        elif not edge.origin.startswith("tag "):
            words.insert(0, edge.origin.replace(chr(92), "/").rsplit("/", 1)[-1])
        return f"  [{'; '.join(words)}]" if words else ""


def _problems(graph: ChainGraph) -> list[str]:
    names = {app: label(node) for app, node in graph.nodes.items()}
    lines: list[str] = []
    if graph.cycles:
        lines += ["", "Cycles (each external start runs them once):"]
        lines += ["  " + ", ".join(names[a] for a in _ordered(graph, c)) for c in graph.cycles]
    missing = [app for app in _ordered(graph, graph.nodes) if graph.nodes[app].missing]
    if missing:
        lines += ["", "Missing (a chain names them; the tenant does not have them):"]
        lines += [f"  {app}" for app in missing]
    if graph.bad_tags:
        lines += ["", "Bad tags (name no app or script id; ignored):"]
        lines += [f"  {names.get(app, app)}: {tag}" for app, tag in sorted(graph.bad_tags)]
    return lines + _native_problems(graph, names)


def _native_problems(graph: ChainGraph, names: dict[str, str]) -> list[str]:
    problems = sorted(graph.native.problems().values(), key=lambda p: p.task.task_id)
    if not problems:
        return []
    lines = ["", "Native tasks that will not fire:"]
    return lines + [f"  {describe(p, graph.native, lambda a: names.get(a, a))}" for p in problems]
