"""The package's layers: arrows point one way, no module imports itself back, the core needs no Twisted,
modules stay short.

wire (bytes) → api (Docker facts) → translation → ops → shell (Twisted) → cli: a module imports
only from its own layer or those below it.  Every import counts, inside functions and under
TYPE_CHECKING too, since each is an arrow a reader follows.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "apiproxy"
LAYERS = ("wire", "api", "translation", "ops", "shell", "cli")
PURE = LAYERS[:4]  # below the shell: tested in microseconds, no reactor


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py")) if "schemas" not in path.parts}


def layer(module: str) -> int | None:
    """The layer's rank; None for the package's own __init__ and __main__, which stand above all."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def imports(module: str) -> set[str]:
    """apiproxy's modules that `module` imports, anywhere in its file, packages included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: a relative import; apiproxy's imports name their layer"
            base = node.module or ""
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            # Importing a.b.c runs a and a.b first: each is an arrow too.
            found.update(".".join(parts[:i]) for i in range(2, len(parts) + 1) if ".".join(parts[:i]) in MODULES)
    found.discard(module)
    return found


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_lives_in_a_layer():
    assert sorted(m for m in MODULES if layer(m) is None) == ["apiproxy", "apiproxy.__main__"]


@pytest.mark.parametrize("module", [m for m in MODULES if layer(m) is not None])
def test_no_import_from_a_layer_above(module):
    above = sorted(name for name in GRAPH[module] if (layer(name) is None or layer(name) > layer(module))
                   and name != "apiproxy")
    assert not above, f"{module} ({LAYERS[layer(module)]}) imports from above its layer: {above}"


def test_no_import_cycles():
    """Tarjan's strongly connected components: any with more than one module is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert not cycles


# Short modules, one idea each: http1 is the one allowed past this (a head's parsing and framing, whole).
MODULE_LINES = 400
LONGER_MODULES = {"apiproxy.wire.http1"}


def test_modules_stay_short():
    long = {module for module, path in MODULES.items() if path.read_text().count("\n") > MODULE_LINES}
    assert long <= LONGER_MODULES, f"over {MODULE_LINES} lines: split by idea {sorted(long - LONGER_MODULES)}"


def test_the_core_imports_without_twisted():
    """Every module below the shell, imported in a fresh interpreter, loads neither Twisted nor treq."""
    core = [m for m in MODULES if layer(m) is not None and LAYERS[layer(m)] in PURE]
    script = ("import sys\n" + "".join(f"import {m}\n" for m in core)
              + "print(sorted({n.split('.')[0] for n in sys.modules} & {'twisted', 'treq', 'zope'}))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_step_in_a_change_file_that_no_code_registers_fails_at_load():
    """Names in change files are resolved once, when they load, with the file and the key named."""
    from apiproxy.translation.changes import ChangeError, compile_step

    with pytest.raises(ChangeError, match=r"changes/9\.9\.json: call: no value step named 'no_such_step'"):
        compile_step({"op": "call", "function": "no_such_step"}, "changes/9.9.json")
