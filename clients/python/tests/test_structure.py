"""The package's shape: no import cycles (not even under TYPE_CHECKING),
each module importable on its own, no source file over 800 lines. (That no
file of the clients names a recipe's nodes is checked by the wire package's
TestClientsKnowNoRecipeNodeNames.)"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

PACKAGE = Path(__file__).resolve().parents[1] / "warden"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def _imports(name: str) -> Set[str]:
    """The package's modules that module name imports, anywhere in it."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    out: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("warden."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("warden."))
    return out & set(MODULES)


def test_no_import_cycles() -> None:
    graph: Dict[str, Set[str]] = {m: _imports(m) for m in MODULES if m != "__init__"}
    done: Set[str] = set()

    def visit(m: str, path: List[str]) -> None:
        if m in path:
            raise AssertionError("import cycle: " + " -> ".join(path[path.index(m):] + [m]))
        if m in done:
            return
        for dep in sorted(graph.get(m, ())):
            visit(dep, path + [m])
        done.add(m)

    for m in graph:
        visit(m, [])


def test_each_module_imports_alone() -> None:
    for m in MODULES:
        name = "warden" if m == "__init__" else f"warden.{m}"
        r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=PACKAGE.parent,
                           capture_output=True, text=True)
        assert r.returncode == 0, f"import {name} failed:\n{r.stderr}"


def test_no_source_file_over_800_lines() -> None:
    # Generated tables (_protocol.py, from the protocol's description) are
    # data, not source.
    long = {p.name: n for p in PACKAGE.glob("*.py") if (n := len(p.read_text().splitlines())) > 800
            and not p.read_text().startswith("# Code generated")}
    assert not long, long

