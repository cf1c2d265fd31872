"""Output helpers: text from files, images and the service is shown as written."""

from __future__ import annotations

import pytest

from shipyard.cli import render


@pytest.mark.parametrize("cell", ["[/]", "[bold]pool[/bold]", "a[red]b", "[link=x]y"])
def test_table_cells_are_never_read_as_markup(capsys: pytest.CaptureFixture[str], cell: str) -> None:
    render.table(None, ("name", "value"), [("id", cell)])
    out = capsys.readouterr().out
    assert cell in out


def test_table_shows_none_as_empty(capsys: pytest.CaptureFixture[str]) -> None:
    render.table(None, ("a", "b"), [("x", None)], header=False)
    assert capsys.readouterr().out.strip() == "x"
