"""The architecture's arrows point down: checked from every import in the package, lazy ones included."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "shipyard"

# Entry points: they exist to start the CLI.
CLI_ENTRY_POINTS = {"__main__.py", "node/bootstrap.py"}
# Layers that must never touch an Azure SDK (readers, facts, rules, and the bottom).
SDK_FREE = ("image", "sources", "facts", "rules", "config", "catalog")


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (function-level imports are imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_the_scan_sees_lazy_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from shipyard.cli.main import main\n    import azure.storage.blob\n")
    assert {"shipyard.cli.main", "azure.storage.blob"} <= imports_of(source)


@pytest.mark.parametrize("path", [p for p in modules() if not rel(p).startswith("cli/")], ids=rel)
def test_nothing_below_cli_imports_cli(path: Path) -> None:
    if rel(path) in CLI_ENTRY_POINTS:
        pytest.skip(f"{rel(path)} is an entry point: it starts the CLI")
    offending = sorted(n for n in imports_of(path) if n == "shipyard.cli" or n.startswith("shipyard.cli."))
    assert offending == [], f"{rel(path)} imports {offending}"


@pytest.mark.parametrize("path", [p for p in modules() if rel(p).split("/")[0] in SDK_FREE], ids=rel)
def test_readers_facts_rules_and_config_never_import_an_azure_sdk(path: Path) -> None:
    offending = sorted(n for n in imports_of(path) if n == "azure" or n.startswith("azure."))
    assert offending == [], f"{rel(path)} imports {offending}"
