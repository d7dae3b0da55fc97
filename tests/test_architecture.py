"""The package's layers: no import cycle between packages, and the component library never
imports the recipes or the entry points above it."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "adapterlab"
# Each layer may import only layers below it (lower index); modules at the top level of the
# package (runs.py, setting.py, names.py, errors.py, fingerprint.py, backbone.py, runtime.py) sit below all.
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
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph.get(start, ())
        )

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
    # runs.py, setting.py, names.py, errors.py and fingerprint.py are the floor every layer stands on
    for name in ("runs", "setting", "names", "errors", "fingerprint"):
        imported = {package_of(m) for m in imports_of(SRC / f"{name}.py")}
        assert imported <= {"errors", "names", "setting", "backbone"}, (name, imported)
    # config.json's record and the settings comparison stand on run folders only
    assert {package_of(m) for m in imports_of(SRC / "recorded_config.py")} <= {
        "errors",
        "names",
        "setting",
        "backbone",
        "runs",
        "fingerprint",
    }


# ------------------------------------------------------------------------- module by module
# The checks above see packages; these see every module of src/, with the imports inside
# functions counted too (a function-level import hid a module cycle in study/ for months).

# The modules that may import the recipe of a run (train/run.py): the entry points, and what runs
# one run on a user's behalf. Everything else uses the components (train/accelerator.py,
# train/method.py, train/model_setup.py, ...), so that an analysis or a prediction never depends
# on how a run is trained.
RECIPE = "adapterlab.train.run"
RECIPE_USERS = {
    "adapterlab.cli",  # `adapterlab train` (a cli/ package counts as a whole: adapterlab.cli.*)
    "adapterlab.quickstart",  # `adapterlab quickstart`
    "adapterlab.__main__",
    "adapterlab.train.api",  # the Python API, `adapterlab.train(...)`: one run
    "adapterlab.study.child",  # one study run in its own process
    "adapterlab.study.attempt",  # one study run in the worker itself (isolation="inline")
    "adapterlab.study.claimed_run",  # `adapterlab train` into a folder it claims first, as a worker does
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in SRC.rglob("*.py")}


def module_imports(path: Path) -> set[str]:
    """The adapterlab modules a file imports, anywhere in it. `from adapterlab.x import y` names
    module adapterlab.x.y when that is a module, else adapterlab.x."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "adapterlab"
        ):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "adapterlab")
    return found


def module_graph() -> dict[str, set[str]]:
    return {name: {m for m in module_imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_the_module_index_sees_every_file():
    assert len(MODULES) == len(list(SRC.rglob("*.py"))) and "adapterlab.study.executor" in MODULES


def test_no_import_cycle_between_modules():
    graph = module_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(node: str) -> None:  # Tarjan: each strongly connected component of more than one module is a cycle
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert not cycles, [{m: sorted(graph[m] & set(c)) for m in c} for c in cycles]


def test_the_package_root_is_imported_only_from_outside():
    """`import adapterlab` (or `from adapterlab import NAME` where NAME is no module) inside the
    package ties a module to the whole public API; the version is adapterlab._version."""
    wrong = []
    for name, path in MODULES.items():
        if name in ("adapterlab", "adapterlab.__main__"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(alias.name == "adapterlab" for alias in node.names):
                wrong.append(f"{name}: import adapterlab")
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "adapterlab":
                wrong.extend(
                    f"{name}: from adapterlab import {alias.name}"
                    for alias in node.names
                    if f"adapterlab.{alias.name}" not in MODULES
                )
    assert not wrong, wrong


def test_only_entry_points_import_the_recipe():
    users = {name for name, imported in module_graph().items() if RECIPE in imported}
    allowed = {name for name in users if name in RECIPE_USERS or name.startswith("adapterlab.cli.")}
    assert users - allowed == set(), sorted(users - allowed)
    assert "adapterlab.study.child" in users  # the check sees function-level imports


# Issue #30: files that show the architecture stay small, measured on the code as `ruff format`
# leaves it (make lint checks the format), so that the limits hold for the code people read.
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60


def test_no_source_file_or_function_is_too_long():
    files, functions = [], []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_FILE_LINES:
            files.append(f"{path.relative_to(SRC)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}: {length} lines")
    assert not files, f"files over {MAX_FILE_LINES} lines: {files}"
    assert not functions, f"functions over {MAX_FUNCTION_LINES} lines: {functions}"
