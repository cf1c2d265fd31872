"""Output helpers: JSON for ``--raw``, rich tables for people. rich is imported only when used."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def emit_json(data: Any) -> None:
    """``--raw``: one JSON document on stdout and nothing else there."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(file=sys.stderr if stderr else sys.stdout, highlight=False, soft_wrap=True)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, header: bool = True
) -> None:
    from rich.table import Table

    out = Table(title=title, title_justify="left", show_header=header, pad_edge=False, box=None)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("" if cell is None else str(cell) for cell in row))
    console().print(out)


def line(text: str = "", *, style: str | None = None, stderr: bool = False) -> None:
    console(stderr).print(text, style=style, markup=False)
