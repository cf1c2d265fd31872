"""`contrib/packer/`: the checked-in templates are exactly what the generator writes (they never
drift), each directory links the package's scripts, and every file parses."""

from __future__ import annotations

from pathlib import Path

import hcl2

from shipyard.packer.contrib import contrib_files
from shipyard.packer.plan import SCRIPTS_DIR

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "packer"


def test_the_checked_in_templates_are_up_to_date() -> None:
    expected = contrib_files()
    found = {p.relative_to(CONTRIB).as_posix() for p in CONTRIB.rglob("*.pkr.hcl")}
    assert found == set(expected)
    stale = [name for name, text in expected.items() if (CONTRIB / name).read_text() != text]
    assert stale == [], f"run: python -m shipyard.packer.contrib contrib/packer ({stale})"


def test_each_directory_links_the_scripts_and_parses() -> None:
    for directory in sorted({(CONTRIB / name).parent for name in contrib_files()}):
        link = directory / "scripts"
        assert link.is_symlink() and link.resolve() == SCRIPTS_DIR, directory
        for path in directory.glob("*.pkr.hcl"):
            assert hcl2.loads(path.read_text()), path
