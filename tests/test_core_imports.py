"""The core's import graph: no loops, and the rules and read models never import
the operations (an operation calls the rules, never the other way round).

Imports under `if TYPE_CHECKING:` do not count (they never run); imports inside
functions do (they run, just later)."""
from __future__ import annotations

import ast
from pathlib import Path

import ketamon.core

CORE = Path(ketamon.core.__file__).parent
PACKAGE_ROOT = CORE.parent.parent

#: functions whose imports are not yet held to the rules: the benchmark's session
#: builders in core/alerts.py, which move to the scenario builder (issue 8, point 8).
#: Remove an entry once its function has left the core.
PENDING_MOVE: set[tuple[str, str]] = set()

#: modules that are rules or read models (everything in the core but the operations,
#: the demo that drives them, and the device listener's process, which runs them as
#: the command line does)
NOT_RULES = ("ketamon.core.ops", "ketamon.core.demo", "ketamon.core.demo_record", "ketamon.core.scenario",
             "ketamon.core.feed_process")


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()

        def visit(node: ast.AST, function: str | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if (name, function) in PENDING_MOVE:
                    continue
                if isinstance(child, ast.Import):
                    deps.update(a.name for a in child.names)
                elif isinstance(child, ast.ImportFrom) and child.module:
                    deps.add(child.module)
                    deps.update(f"{child.module}.{a.name}" for a in child.names)
                inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
                visit(child, inner)

        visit(ast.parse(path.read_text(), str(path)), None)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_core_has_no_import_loops():
    assert cycles(import_graph()) == []


def test_rules_and_read_models_never_import_the_operations():
    graph = import_graph()
    offenders = {m: sorted(d for d in deps if d.startswith("ketamon.core.ops"))
                 for m, deps in graph.items() if not m.startswith(NOT_RULES)}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_the_check_sees_a_loop():
    """The checker itself finds a loop when there is one (else the tests above prove nothing)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "ketamon.core.alerts" in import_graph()["ketamon.core.alert_views"]
