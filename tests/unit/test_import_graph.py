"""The import graph of components/: no stage imports another stage, and no module imports
itself through others, counting every import the code holds (inside functions and under
TYPE_CHECKING too).

A lifecycle stage (prepare, finetune, ...) imports only itself and the shared packages:
`components.common`, the model registry and the data snapshot, which import no stage
(`components.common` only itself). What two stages share lives in `components.common`.
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "components"
STAGES = ("prepare", "finetune", "evaluate", "serve", "batch_predict", "deploy", "monitor")
# Packages every stage may use: the shared building blocks, the model registry (a store the
# stages read and write) and the data snapshot.
SHARED = ("common", "registry", "snapshot")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of this tree that the file imports anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports the module; other names come from `base`.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        else:
            continue
        found |= {target for target in targets if target in modules}
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_reads_imports_in_functions_and_under_type_checking(tmp_path: Path) -> None:
    """The parser sees the kinds of import a cycle or a sideways import could hide in."""
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from components.evaluate.result import Evaluation\n"
        "def late():\n"
        "    import components.serve.config\n"
        "    from components.monitor import statistics\n"
        "    from . import report\n"
    )
    modules = _modules()
    imports = _imports("components.evaluate.probe", path, modules)
    assert imports == {
        "components.evaluate.result",
        "components.serve.config",
        "components.monitor.statistics",
        "components.evaluate.report",
    }
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_package_is_a_stage_or_shared() -> None:
    packages = {p.parent.name for p in (ROOT / PACKAGE).glob("*/__init__.py")}
    assert packages == {*STAGES, *SHARED}


def test_no_stage_imports_another_stage() -> None:
    sideways = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if _package(module) in STAGES and _package(target) not in ("", _package(module), *SHARED)
    )
    assert sideways == [], "move what stages share into components/common:\n" + "\n".join(sideways)


def test_shared_packages_import_no_stage_and_common_only_itself() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (_package(module) in SHARED and _package(target) in STAGES)
        or (_package(module) == "common" and _package(target) not in ("", "common"))
    )
    assert wrong == []


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert cycles == [], "modules that import each other: " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )
