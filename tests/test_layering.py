"""The package layout follows the pipeline, and imports point down it only.

Every import of every module (at module level and inside functions) is read with ``ast``; each
module belongs to a stage, and a stage may import only the stages below it and its own package.
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symbackprop"

#: the stages from the bottom up; a module may import its own package and any lower stage
STAGES = [
    {"symbackprop.errors", "symbackprop.choices", "symbackprop.collector"},
    {"symbackprop.model"},
    {"symbackprop.documents"},
    {"symbackprop.proof"},
    {"symbackprop.claims"},
    {"symbackprop.graph", "symbackprop.numbers", "symbackprop.codegen", "symbackprop.diffusion"},
    {"symbackprop.examples"},
    {"symbackprop.cli", "symbackprop.__main__", "symbackprop"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """The stage unit a module belongs to: its subpackage, or the top-level module itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _rank(unit: str) -> int:
    for rank, units in enumerate(STAGES):
        if unit in units:
            return rank
    raise AssertionError(f"{unit} is in no stage of the layout; add it to STAGES in {__file__}")


@functools.cache
def _tree(path: Path) -> ast.Module:
    """The syntax tree of a module, read once for both tests."""
    return ast.parse(path.read_text(encoding="utf-8"))


def _imports(path: Path):
    """(imported module, line, at module level?) for every import of symbackprop in the file."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = _tree(path)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # `from pkg import name`: name may be a submodule; judge by the package imported from
            names = [prefix]
        else:
            continue
        for name in names:
            if name == "symbackprop" or name.startswith("symbackprop."):
                yield name, node.lineno, id(node) in top_level


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down_the_pipeline(path):
    here = _unit(_module_name(path))
    for target, line, _ in _imports(path):
        there = _unit(target)
        if there == here or {here, there} <= STAGES[-1]:
            continue  # its own package; the entry points (package, cli, __main__) use one another
        assert _rank(there) < _rank(here), (
            f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} (stage {_rank(there)}) "
            f"from stage {_rank(here)}: imports must point down the pipeline")


def test_no_module_level_import_circles():
    graph = {}
    for path in _modules():
        name = _module_name(path)
        graph[name] = {target for target, _, top in _imports(path) if top and target != name}
    known = set(graph)

    def resolve(target):  # `from .x import y` names the package x; a submodule y is resolved as x.y when it exists
        return target if target in known else None

    state = {}

    def visit(node, trail):
        state[node] = "open"
        for target in sorted(filter(None, map(resolve, graph.get(node, ())))):
            if state.get(target) == "open":
                cycle = trail[trail.index(target):] + [target]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_every_module_is_in_a_stage():
    for path in _modules():
        _rank(_unit(_module_name(path)))


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """A planted upward import (the model importing the renderer) is caught."""
    model = tmp_path / "symbackprop" / "model"
    model.mkdir(parents=True)
    (tmp_path / "symbackprop" / "__init__.py").write_text("")
    (model / "__init__.py").write_text("")
    planted = model / "planted.py"
    planted.write_text("def show():\n    from ..documents.render import environment\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "symbackprop")
    with pytest.raises(AssertionError, match="must point down"):
        test_imports_point_down_the_pipeline(planted)
