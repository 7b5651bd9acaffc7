"""The package's layout rules, read from the source: no import circle, the CLI imports no client.

Every ``import``/``from ... import`` counts, at module level or inside a function (a function-level
import that closes a circle is still a circle: it only moves the failure to run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import entra_bootstrap

ROOT = Path(entra_bootstrap.__file__).parent


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import mod`` counts as ``pkg.mod``,
    ``from pkg import name`` as ``pkg``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, (path, is_package) in modules.items():
        base = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    target = ".".join(base[:len(base) - (node.level - 1)] + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                # ``from pkg import mod`` depends on the submodule; ``from pkg import name`` on pkg
                candidates = [f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target
                              for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            graph[name] |= {c for c in candidates if c in modules and c != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_relative_and_function_level_imports():
    graph = import_graph()
    assert "entra_bootstrap.errors" in graph["entra_bootstrap.cli.common"]            # from ..errors import
    assert "entra_bootstrap.steps.registry" in graph["entra_bootstrap.cli.bootstrap"]  # inside a function


def test_no_import_circle_in_the_package():
    assert circles(import_graph()) == []


def test_no_cli_module_imports_a_client():
    graph = import_graph()
    offenders = {name: sorted(m for m in targets if m.startswith("entra_bootstrap.clients"))
                 for name, targets in graph.items()
                 if name == "entra_bootstrap.cli" or name.startswith("entra_bootstrap.cli.")}
    assert {name: mods for name, mods in offenders.items() if mods} == {}
