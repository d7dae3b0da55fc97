"""The package's layers: no import cycle between packages, and the component library never
imports the recipes or the entry points above it."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "adapterlab"
# Each layer may import only layers below it (lower index); modules at the top level of the
# package (runs.py, setting.py, names.py, errors.py, backbone.py, runtime.py) sit below all.
LAYERS = ["adapters", "methods", "data", "train", "analysis", "use", "study", "report", "policy"]
ENTRY_POINTS = {"cli", "quickstart", "__main__", "__init__"}


def imports_of(path: Path) -> set[str]:
    """adapterlab modules a file imports, anywhere in it (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("adapterlab"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("adapterlab"))
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        for module in imports_of(path):
            other = package_of(module)
            if other and other != own:
                graph.setdefault(own, set()).add(other)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph.get(start, ()))

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert not cycles, {name: sorted(graph[name]) for name in cycles}


def test_each_layer_imports_only_layers_below_it():
    wrong = []
    for path in SRC.rglob("*.py"):
        own = path.relative_to(SRC).parts[0].removesuffix(".py")
        if own not in LAYERS:
            continue
        for module in imports_of(path):
            other = package_of(module)
            if other in ENTRY_POINTS or (other in LAYERS and LAYERS.index(other) > LAYERS.index(own)):
                wrong.append(f"{path.relative_to(SRC)} imports {module}")
    assert not wrong, wrong


def test_top_level_modules_import_no_package():
    # runs.py, setting.py, names.py and errors.py are the floor every layer stands on
    for name in ("runs", "setting", "names", "errors"):
        imported = {package_of(m) for m in imports_of(SRC / f"{name}.py")}
        assert imported <= {"errors", "names", "setting", "backbone"}, (name, imported)
