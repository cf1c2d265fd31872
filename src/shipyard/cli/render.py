"""Output helpers: JSON for ``--raw``, rich tables for people. rich is imported only when used."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from shipyard.redact import redact


def emit_json(data: Any) -> None:
    """``--raw``: one JSON document on stdout and nothing else there."""
    sys.stdout.write(redact(json.dumps(data, indent=2, sort_keys=False, default=str)) + "\n")


def console(stderr: bool = False) -> Any:
    """A rich console on the current stdout/stderr. Piped output is not folded to 80 columns."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not (hasattr(stream, "isatty") and stream.isatty()) and "COLUMNS" not in os.environ:
        width = 200
    return Console(file=stream, highlight=False, soft_wrap=True, width=width)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, header: bool = True
) -> None:
    """Cells are shown verbatim: text from a file or an image is never read as rich markup."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, title_justify="left", show_header=header, pad_edge=False, box=None)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(Text("" if cell is None else redact(str(cell))) for cell in row))
    console().print(out)


def line(text: str = "", *, style: str | None = None, stderr: bool = False) -> None:
    console(stderr).print(redact(text), style=style, markup=False)


def escape(text: str) -> str:
    """Text shown verbatim inside rich markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)
