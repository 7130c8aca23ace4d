"""Reading a module's source for the private names it takes from others: what tests/test_layout.py forbids outside
fastpaths/ and tests/fastpaths/test_guards.py requires a guard for inside it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

# Django documents the model `_meta` API as public (docs: "Model _meta API"), and Python `os._exit` (an exit that waits
# for no thread); nothing else underscored is ours to read.
PUBLIC_DESPITE_THE_UNDERSCORE = frozenset({"_meta", "_exit"})


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name not in PUBLIC_DESPITE_THE_UNDERSCORE


@dataclass(frozen=True)
class Use:
    line: int
    name: str
    code: str  # the expression, or "import <name>"


def private_uses(path: Path, ours: tuple[str, ...] = ()) -> list[Use]:
    """Private names a module reads off objects that are not its own: on anything but `self`/`cls`, on `self` where
    the module never assigns or defines the name (an inherited one), or imported from a module outside `ours`."""
    tree = ast.parse(path.read_text(), str(path))
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)  # a dataclass's fields, a class attribute
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            on_self = isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}
            if not on_self or node.attr not in own:
                found.append(Use(node.lineno, node.attr, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] not in ours:
            found += [Use(node.lineno, a.name, f"import {a.name}") for a in node.names if is_private(a.name)]
    return found
