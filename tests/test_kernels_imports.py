"""The import graph of tradeoff.kernels has no cycle, lazy (in-function) imports included.

The dispatcher (_api) imports the backends lazily; the backends take the call record,
the constants and the packing from the leaf _call, never from the dispatcher.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tradeoff.kernels

ROOT = Path(tradeoff.kernels.__file__).parent
PACKAGE = "tradeoff.kernels"


def _imports(path: Path) -> set[str]:
    """The kernels modules that ``path`` imports anywhere in its body (as module names)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                base = node.module
            elif node.level == 0 and (node.module or "").startswith(PACKAGE):
                base = node.module[len(PACKAGE) + 1 :] or None
            else:
                continue
            if base:
                out.add(base.split(".")[0])
            else:  # from . import a, b
                out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    out.add(alias.name[len(PACKAGE) + 1 :].split(".")[0])
    return out


def _graph() -> dict[str, set[str]]:
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    return {m: _imports(ROOT / f"{m}.py") & modules for m in modules}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_kernels_import_graph_is_acyclic():
    graph = _graph()
    assert {"_api", "_call", "_cpu", "_cuda_numba", "_cupy"} <= set(graph)
    assert _cycle(graph) is None, _cycle(graph)


def test_call_is_a_leaf_and_backends_do_not_import_the_dispatcher():
    graph = _graph()
    assert graph["_call"] == set()
    for backend in ("_cpu", "_cuda_numba", "_cupy"):
        assert "_api" not in graph[backend], backend
        assert "_call" in graph[backend], backend
