"""The architecture's arrows point down, against the layering written in the README.

The README's design notes hold a table, one row per package: its layer (1 is the top) and its
job. Every import in ``src/shipyard`` is read from the source: lazy (function-level),
``if TYPE_CHECKING:`` (a type-only arrow couples the packages too) and relative imports, and
``importlib.import_module`` of a literal name. An import goes to a package on a lower layer
only: never sideways to a package on its own layer, never back up; and no two modules import
each other, however indirectly.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "shipyard"
README = REPO / "README.md"

# Entry points: they exist to start the CLI. `python -m shipyard`, and the stdlib-only node
# bootstrap, which runs `shipyard node prep` from the unpacked wheels (its docstring says so).
CLI_ENTRY_POINTS = {"shipyard.__main__", "shipyard.node.bootstrap"}
# Packages that never import an Azure SDK: the readers, facts, rules, the pipeline and the bottom.
SDK_FREE = {"image", "sources", "facts", "rules", "checks", "config", "catalog", "results", "errors", "redact", "logs"}
# The one seam to Azure is for Azure implementations only.
AZURE_SEAM_USERS = {"azure", "storage", "pools", "gallery", "vault"}

_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*`([a-z_]+)`\s*\|")


def written_layers(text: str | None = None) -> dict[str, int]:
    """``package -> layer`` from the README's table rows ``| 3 | `node` | ... |``."""
    layers: dict[str, int] = {}
    for line in (text if text is not None else README.read_text()).splitlines():
        match = _ROW.match(line)
        if match:
            name = match.group(2)
            assert name not in layers, f"README lists `{name}` twice in the layer table"
            layers[name] = int(match.group(1))
    return layers


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str | None:
    """``from ..x import y`` in ``importer`` -> ``shipyard.x``; None for an import past the top."""
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if level - 1 > len(base) - 1:
        return None
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(path: Path, importer: str = "shipyard._scan") -> set[str]:
    """Every module ``path`` (the module ``importer``) imports, at any depth."""
    names: set[str] = set()
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, importer, is_package)
            if module:
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return names


def _resolve(name: str) -> str | None:
    """The shipyard module an imported name lives in (``a.b.func`` -> ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def package_of(module: str) -> str:
    """``shipyard.storage.azure`` -> ``storage``; ``shipyard.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in MODULES.items():
        for name in imports_of(path, module):
            target = _resolve(name) if name.startswith("shipyard") else None
            # importing a package's own parent (its __init__) is not an arrow between modules
            if target and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(set(graph) | {t for ts in graph.values() for t in ts}):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        if module in CLI_ENTRY_POINTS:
            continue
        for target in targets:
            if package_of(target) and package_of(module) and package_of(target) != package_of(module):
                packages[package_of(module)].add(package_of(target))
    return packages


# --- the checker checks what it claims -----------------------------------------------------------


def test_the_scan_sees_lazy_type_checking_relative_and_importlib_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "import importlib\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shipyard.cli import x\n"
        "def f():\n    from shipyard.cli.main import main\n    import azure.storage.blob\n"
        "from ..cli import render\nfrom . import sibling\nimportlib.import_module('shipyard.cli.options')\n"
    )
    names = imports_of(source, "shipyard.rules.engine")
    assert {"shipyard.cli.x", "shipyard.cli.main", "azure.storage.blob", "shipyard.cli.render",
            "shipyard.rules.sibling", "shipyard.cli.options"} <= names
    package = tmp_path / "__init__.py"
    package.write_text("from . import engine\nfrom .. import errors\n")
    assert {"shipyard.rules.engine", "shipyard.errors"} <= imports_of(package, "shipyard.rules")


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_table_is_read() -> None:
    text = "| layer | package | job |\n|---|---|---|\n| 1 | `cli` | the top |\n| 7 | `errors` | bottom |\n"
    assert written_layers(text) == {"cli": 1, "errors": 7}


# --- the package against the written layering ----------------------------------------------------


def test_every_package_is_in_the_written_layering() -> None:
    layers = written_layers()
    present = {package_of(m) for m in MODULES if package_of(m) and m not in CLI_ENTRY_POINTS}
    assert sorted(present - set(layers)) == [], "add these to the README's layer table"


def test_arrows_point_down_never_sideways() -> None:
    layers = written_layers()
    upward = []
    for module, targets in module_graph().items():
        if module in CLI_ENTRY_POINTS:
            continue
        source = package_of(module)
        for target in sorted(targets):
            destination = package_of(target)
            if source and destination and source != destination and layers[destination] <= layers[source]:
                upward.append(f"{module} (layer {layers[source]}) imports {target} (layer {layers[destination]})")
    assert upward == []


def test_no_package_cycles() -> None:
    assert cycles(package_graph(module_graph())) == []


def test_no_module_cycles() -> None:
    assert cycles(module_graph()) == []


@pytest.mark.parametrize("module", sorted(CLI_ENTRY_POINTS))
def test_entry_points_say_why_they_import_the_cli(module: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text())) or ""
    assert "entry point" in doc, f"{module}: its docstring must say it is an entry point that starts the CLI"


def test_nothing_below_cli_imports_cli() -> None:
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in module_graph().items()
        for target in targets
        if package_of(target) == "cli" and package_of(module) != "cli" and module not in CLI_ENTRY_POINTS
    )
    assert offending == []


@pytest.mark.parametrize("module", [m for m in MODULES if package_of(m) in SDK_FREE])
def test_readers_facts_rules_and_config_never_import_an_azure_sdk(module: str) -> None:
    offending = sorted(n for n in imports_of(MODULES[module]) if n == "azure" or n.startswith("azure."))
    assert offending == [], f"{module} imports {offending}"


def test_only_azure_implementations_use_the_azure_seam() -> None:
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in module_graph().items()
        for target in targets
        if package_of(target) == "azure" and package_of(module) not in AZURE_SEAM_USERS
    )
    assert offending == []


def test_the_azure_seam_stands_on_the_bottom_only() -> None:
    """Storage and the backends build on the seam; it needs only the credentials (their secrets
    revealed, decrypted where encrypted: ``config.decrypt``) and the errors."""
    allowed = ("shipyard.azure", "shipyard.config.credentials", "shipyard.config.decrypt", "shipyard.config.base",
               "shipyard.errors", "shipyard.redact")
    offending = sorted(
        f"{module} imports {target}"
        for module, targets in module_graph().items()
        if package_of(module) == "azure"
        for target in targets
        if not target.startswith(allowed)
    )
    assert offending == []
