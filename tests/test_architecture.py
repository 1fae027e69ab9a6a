"""The structure docs/architecture.md draws, checked against the code's own imports so it
cannot creep back: every package sits on a floor and imports only packages of lower floors
(never a higher one, never one beside it), no modules import each other in a circle, the
API process never imports PyTorch or the model package, and no class outgrows one job."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from harness.processes import ROOT

# Lowest first. A package may import any package of a lower floor (and itself).
FLOORS: list[tuple[str, ...]] = [
    ("contract",),  # what the API and the runners share: jobs, parameters, families, formats, voice layout, metrics
    ("config",),  # settings
    ("audio", "text", "lifecycle"),  # signal work, the text front end, the process's life (drain, periodic tasks)
    ("storage", "db"),  # local folder or S3; the metadata database (SQLite or PostgreSQL)
    ("voices", "outputs", "models"),  # the domains: the voice library, generated outputs, the models (PyTorch)
    ("concat", "runners", "maintenance"),  # joining outputs, the model services, the storage checker
    ("api",),  # HTTP: routers, middlewares, serving
    ("service",),  # the composition root
    ("scripts", "harness"),  # command-line tools; what tests and benchmarks start and read
    ("benchmarks",),
    ("tests",),
]
FLOOR_OF = {package: level for level, packages in enumerate(FLOORS) for package in packages}
OUTSIDE = {"clients", "examples", "deploy", "docs", "studio", "node_modules"}  # not Python of the service (the SDK is its own package)


def python_files() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py") if path.relative_to(ROOT).parts[0] in FLOOR_OF or path.name == "service.py" and path.parent == ROOT)


def package_of(path: Path) -> str:
    first = path.relative_to(ROOT).parts[0]
    return first.removesuffix(".py")


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> set[str]:
    """The modules of ours `path` imports (anywhere in it, or at module level only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in FLOOR_OF}


def test_every_package_has_a_floor() -> None:
    packages = {path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()} | {"service"}
    assert packages - OUTSIDE == set(FLOOR_OF), "give the new package a floor here and in docs/architecture.md"


def test_no_package_imports_a_higher_floor_or_one_beside_it() -> None:
    wrong = []
    for path in python_files():
        package = package_of(path)
        for name in imports(path, top_level_only=False):
            target = name.split(".")[0]
            if target != package and FLOOR_OF[target] >= FLOOR_OF[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {name} (floor {FLOOR_OF[target]} from floor {FLOOR_OF[package]})")
    assert not wrong, "\n".join(wrong)


def test_no_modules_import_each_other_in_a_circle() -> None:
    modules = {module_of(path): path for path in python_files()}
    edges: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        for name in imports(path, top_level_only=True):
            while name and name not in modules:  # `from package import name` names a module or a symbol
                name = name.rpartition(".")[0]
            if name and name != module:
                edges[module].add(name)
    circles = [cycle for cycle in strongly_connected(modules, edges) if len(cycle) > 1]
    assert not circles, circles


def strongly_connected(nodes: dict[str, Path], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (the module graph is deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
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
                found.append(sorted(component))
    return found


def test_the_api_process_imports_neither_pytorch_nor_the_model_package() -> None:
    """The runners import the models when they start; the API service (and the contract it
    shares with them) stays light: `import service` took 19 s of CPU with PyTorch, 4 s without."""
    check = "import sys, service, contract.families, contract.runner_jobs; print(sorted({'torch', 'chatterbox', 'models'} & {m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_no_class_does_more_than_one_job() -> None:
    """About 200 lines is where a class starts holding several jobs: split it by job."""
    large = []
    for path in python_files() + sorted((ROOT / "clients" / "python" / "chatterbox_client").glob("*.py")):
        if path.name == "models.py" and "chatterbox_client" in path.parts:
            continue  # generated from docs/openapi.yaml
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > 200:
                large.append(f"{path.relative_to(ROOT)}: {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not large, large
