"""The shape of the code, held by a test: which top-level package may import which (read from the sources' own
import statements, lazy ones inside functions included), and how much sits directly in `classifier/`."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT
from tests.private_names import is_private, private_uses

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


FENCED = "fastpaths"


def _private_reads(path: Path) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{use.line}: {use.code}" for use in private_uses(path, PACKAGES)]


def test_only_the_fenced_package_reads_a_library_s_private_names() -> None:
    """Everything that bends a library lives in fastpaths/, where tests/fastpaths/test_guards.py holds each name."""
    found = [
        line for package in PACKAGES if package != FENCED for path in _sources(package) for line in _private_reads(path)
    ]
    assert found == []


def _private_methods(path: Path) -> dict[str, list[str]]:
    """Class name -> the private methods its body defines, for the classes at a module's top level."""
    tree = ast.parse(path.read_text(), str(path))
    return {
        node.name: [item.name for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                    and is_private(item.name)]
        for node in tree.body if isinstance(node, ast.ClassDef)
    }  # fmt: skip


def test_only_the_fenced_package_overrides_a_library_s_private_methods() -> None:
    import importlib

    found = []
    for package in PACKAGES:
        if package == FENCED:
            continue
        for path in _sources(package):
            methods = {name: defined for name, defined in _private_methods(path).items() if defined}
            if not methods:
                continue
            module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
            for class_name, defined in methods.items():
                cls = getattr(module, class_name)
                libraries = [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] not in PACKAGES]
                found += [f"{cls.__module__}.{class_name}.{name} over {base.__module__}.{base.__name__}"
                          for name in defined for base in libraries if name in vars(base)]  # fmt: skip
    assert found == []


# --- The worker and the web side: one contract between them ---------------------------------------------------
WORKER_CODE = ("classifier/worker", "classifier/tasks.py")
RESULTS_CODE = ("classifier/results",)


def _modules_imported(path: Path) -> set[str]:
    """The dotted names `path` imports (a `from a import b` counts as `a` and, where it is a module of ours, `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {
                f"{node.module}.{alias.name}" for alias in node.names if _module_path(f"{node.module}.{alias.name}")
            }
    return names


def _module_path(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _reached(paths: list[Path]) -> set[str]:
    """Every module the given files import, and what those import in turn, through our own modules."""
    seen: set[str] = set()
    todo = [name for path in paths for name in _modules_imported(path)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name.split(".")[0] in PACKAGES and (path := _module_path(name)) is not None:
            todo += _modules_imported(path)
    return seen


def _files(places: tuple[str, ...]) -> list[Path]:
    return [
        path for place in places for path in ([ROOT / place] if place.endswith(".py") else (ROOT / place).rglob("*.py"))
    ]


def test_the_worker_and_the_results_side_never_import_each_other() -> None:
    worker = {name for path in _files(WORKER_CODE) for name in _modules_imported(path)}
    results = {name for path in _files(RESULTS_CODE) for name in _modules_imported(path)}
    assert {name for name in worker if name.startswith("classifier.results")} == set()
    assert {name for name in results if name.startswith(("classifier.worker", "classifier.tasks"))} == set()


def test_worker_code_never_reaches_the_models_or_the_database() -> None:
    """Workers have no database (ARCHITECTURE.md): nothing they import, however indirectly, is a model (classifying
    a database error, as common/outages.py does, needs only django.db's exception classes)."""
    reached = _reached(_files(WORKER_CODE))
    models = {name for name in reached if name.endswith(".models") or ".models." in name}
    assert models | {name for name in reached if name.startswith("classifier.results")} == set()
