"""Where the Azure seam sits: storage may import it; it imports neither storage nor the CLI, and
the readers, facts, rules, config and catalog never import it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "shipyard"
SDK_FREE = ("image", "sources", "facts", "rules", "config", "catalog")


def shipyard_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "shipyard" or n.startswith("shipyard.")}


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


@pytest.mark.parametrize("path", sorted((PACKAGE / "azure").glob("*.py")), ids=_rel)
def test_the_seam_imports_only_the_bottom_layers_and_itself(path: Path) -> None:
    allowed = ("shipyard.azure", "shipyard.config.credentials", "shipyard.errors", "shipyard.redact")
    offending = sorted(n for n in shipyard_imports(path) if not n.startswith(allowed))
    assert offending == [], f"{_rel(path)} imports {offending}"


@pytest.mark.parametrize("path", [p for p in sorted(PACKAGE.rglob("*.py")) if _rel(p).split("/")[0] in SDK_FREE], ids=_rel)
def test_the_layers_below_never_import_the_seam(path: Path) -> None:
    offending = sorted(n for n in shipyard_imports(path) if n.startswith("shipyard.azure"))
    assert offending == [], f"{_rel(path)} imports {offending}"
