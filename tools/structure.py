"""Facts about the package's structure: imports between packages, cycles, the longest import chain, the widest
interface and classes with more than one base. ``python -m tools.structure process_memory``."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

#: Bases that are frameworks' or markers, not behaviour of ours.
_FRAMEWORK_BASES = {"ABC", "Generic", "Protocol", "Exception", "ValueError", "LookupError"}


def _modules(root: Path) -> dict[str, Path]:
    package = root.name
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if ".migrations." not in name + "." or not name.startswith(package):
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports at module level (not under TYPE_CHECKING, not inside functions)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        found |= {target for target in targets if target in modules and target != name}
    return found


def _graph(root: Path) -> dict[str, set[str]]:
    modules = _modules(root)
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest chain of imports, each module once (back edges of a cycle are not followed)."""
    best: dict[str, list[str]] = {}
    visiting: set[str] = set()

    def longest(name: str) -> list[str]:
        if name in best:
            return best[name]
        visiting.add(name)
        chains = [longest(target) for target in sorted(graph[name]) if target not in visiting]
        visiting.discard(name)
        best[name] = [name, *max(chains, key=len, default=[])]
        return best[name]

    return max((longest(name) for name in sorted(graph)), key=len)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles, index, low, stack, on_stack = [], {}, {}, [], set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def _classes(root: Path) -> tuple[list[tuple[str, int]], list[str]]:
    """The three classes with the most abstract methods, and the classes with more than one base that is
    neither a framework's nor an abstract base class of ours."""
    defined: list[tuple[str, str, list[str], int]] = []
    for name, path in _modules(root).items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                abstract = sum(
                    1
                    for item in node.body
                    if isinstance(item, ast.FunctionDef)
                    and any(ast.unparse(d).endswith("abstractmethod") for d in item.decorator_list)
                )
                bases = [ast.unparse(base).split(".")[-1].split("[")[0] for base in node.bases]
                defined.append((name, node.name, bases, abstract))
    abcs = {"ABC"}
    while True:  # a class is abstract when one of its bases is
        more = {cls for _, cls, bases, _ in defined if cls not in abcs and set(bases) & abcs}
        if not more:
            break
        abcs |= more
    widest = sorted(((f"{module}.{cls}", n) for module, cls, _, n in defined), key=lambda item: -item[1])[:3]
    many = [
        f"{module}.{cls}({', '.join(bases)})"
        for module, cls, bases, _ in defined
        if len([base for base in bases if base not in abcs and base not in _FRAMEWORK_BASES]) > 1
    ]
    return widest, many


def _package_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    packages: dict[str, set[str]] = {}
    for source, targets in graph.items():
        packages.setdefault(_package(source), set()).update(
            _package(t) for t in targets if _package(t) != _package(source)
        )
    for targets in list(packages.values()):
        for target in targets:
            packages.setdefault(target, set())
    return _cycles(packages)


def _package(module: str) -> str:
    parts = module.split(".")  # a top-level module is a package of its own
    return parts[1] if len(parts) > 1 else ""


def facts(root: Path) -> dict[str, object]:
    """The facts ``main`` prints, for the test that holds them (tests/test_structure.py)."""
    graph = _graph(root)
    between = Counter((_package(source), _package(target)) for source, targets in graph.items() for target in targets)
    widest, many_bases = _classes(root)
    return {
        "history_to_memory": between[("history", "memory")],
        "module_cycles": _cycles(graph),
        "package_cycles": _package_cycles(graph),
        "widest": widest[0],
        "many_bases": many_bases,
    }


def main(root: Path) -> None:
    graph = _graph(root)
    between = Counter()
    for source, targets in graph.items():
        for target in targets:
            between[(_package(source), _package(target))] += 1
    print(f"history -> memory imports: {between[('history', 'memory')]}")
    print(f"memory -> history imports: {between[('memory', 'history')]}")
    print(f"module cycles: {_cycles(graph) or 'none'}")
    print(f"package cycles: {_package_cycles(graph) or 'none'}")
    chain = _longest_chain(graph)
    print(f"longest import chain: {len(chain) - 1} hops: {' -> '.join(chain)}")
    widest, many_bases = _classes(root)
    print(f"most abstract methods: {widest}")
    print(f"classes with more than one base, frameworks' and ABCs aside: {many_bases or 'none'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve())
