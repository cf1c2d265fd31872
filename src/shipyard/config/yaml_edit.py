"""Rewrite a user's YAML config file in place, as a person would: comments, key order, quoting and
indentation kept (ruamel.yaml's round trip), and the file replaced atomically.

``round_trip(text)`` gives the YAML object (set up for this file's layout) and the data to change;
``dump`` writes it back as text; ``replace_file`` puts the text in place of the file.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from shipyard.errors import ShipyardError


def round_trip(text: str) -> tuple[Any, Any]:
    """(the ruamel YAML object, the loaded data) for ``text``, set up to write it back unchanged."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, seq_indent, seq_offset = load_yaml_guess_indent(text)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold long URIs or ciphertexts
    # ruamel guesses the sequence layout ("- " and its offset) but not the mapping indent
    yaml.indent(mapping=_mapping_indent(text), sequence=seq_indent or 2, offset=seq_offset or 0)
    return yaml, yaml.load(text)


def dump(yaml: Any, data: Any) -> str:
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _mapping_indent(text: str) -> int:
    """The indent of the first nested mapping key (2 when there is none)."""
    previous: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith(("#", "- ", "---")):
            continue
        column = len(line) - len(stripped)
        if previous is not None and column > previous:
            return column - previous
        previous = column if stripped.rstrip().endswith(":") else None
    return 2



def replace_file(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, keeping its permission bits.

    A temporary file in the same directory, flushed to disk, then renamed over ``path``; on any
    failure the temporary file is removed and ``path`` is as it was.
    """
    try:
        mode = path.stat().st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".shipyard-tmp", dir=path.parent)
    except OSError as exc:
        raise ShipyardError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ShipyardError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
