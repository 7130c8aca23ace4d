"""The shape of the code, held by a test: which top-level package may import which (read from the sources' own
import statements, lazy ones inside functions included), and how much sits directly in `classifier/`."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

# Ours; tests, bench and migrations are not part of the graph.
PACKAGES = ("project", "common", "fastpaths", "classifier", "autoscale", "status", "deploy", "stack")
# Where the local stack may be imported from: nothing that runs in production.
LOCAL_ONLY = "stack"


def _sources(package: str) -> list[Path]:
    return [path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts]


def _imported(path: Path) -> set[str]:
    """The top-level packages of ours that `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(PACKAGES)
    return found


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files that import it."""
    edges: dict[str, dict[str, list[str]]] = {package: defaultdict(list) for package in PACKAGES}
    for package in PACKAGES:
        for path in _sources(package):
            for other in _imported(path) - {package}:
                edges[package][other].append(str(path.relative_to(ROOT)))
    return edges


def _cycle(edges: dict[str, dict[str, list[str]]]) -> list[str]:
    """One cycle of packages, or [] when there is none (depth-first search)."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        trail.append(node)
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        trail.pop()
        return []

    for package in PACKAGES:
        if package not in state and (found := visit(package)):
            return found
    return []


def test_the_top_level_packages_import_each_other_without_a_cycle() -> None:
    edges = _graph()
    cycle = _cycle(edges)
    where = [f"{a} -> {b}: {', '.join(edges[a][b])}" for a, b in itertools.pairwise(cycle)]
    assert cycle == [], "\n".join(where)


def test_classifier_and_autoscale_never_import_each_other() -> None:
    edges = _graph()
    assert "autoscale" not in edges["classifier"], edges["classifier"]["autoscale"]
    assert "classifier" not in edges["autoscale"], edges["autoscale"]["classifier"]


def test_production_code_never_imports_the_local_stack() -> None:
    edges = _graph()
    offenders = {package: edges[package][LOCAL_ONLY] for package in PACKAGES if LOCAL_ONLY in edges[package]}
    assert offenders == {}


def test_the_shared_package_imports_none_of_ours() -> None:
    assert dict(_graph()["common"]) == {}


def test_the_fenced_package_bends_libraries_and_imports_only_the_shared_package() -> None:
    """fastpaths/ holds what bends a library; what our apps do with it stays in the apps."""
    assert set(_graph()["fastpaths"]) <= {"common"}, dict(_graph()["fastpaths"])


def test_classifier_holds_at_most_twelve_modules_directly() -> None:
    modules = sorted(path.name for path in (ROOT / "classifier").glob("*.py"))
    assert len(modules) <= 12, modules
