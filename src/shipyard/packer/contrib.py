"""``python -m shipyard.packer.contrib DIR``: the checked-in templates of ``contrib/packer/``.

One directory per base and variant (Packer builds every ``*.pkr.hcl`` of a directory together),
each with the template, its variables and a ``scripts`` link to the package's scripts; written by
the same code as ``shipyard image packer``, so that they never drift (a test regenerates them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from shipyard.packer.plan import SCRIPTS_DIR, TEMPLATE, VARIABLES
from shipyard.packer.template import BASES, VARIANTS, Plan, render_template, render_variables


def contrib_files() -> dict[str, str]:
    """relative path -> text of every generated file."""
    files = {}
    for base in BASES.values():
        for variant in VARIANTS:
            plan = Plan(base, variant)
            files[f"{base.name}-{variant}/{TEMPLATE}"] = render_template(plan)
            files[f"{base.name}-{variant}/{VARIABLES}"] = render_variables(plan)
    return files


def write_contrib(directory: Path) -> None:
    for relative, text in contrib_files().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        link = path.parent / "scripts"
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(SCRIPTS_DIR, link.parent))


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "contrib/packer")
    write_contrib(target)
