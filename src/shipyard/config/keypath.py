"""A key's place in a config file: ``("pool_specification", "vm_configuration", 0)`` and its
``pool_specification.vm_configuration[0]`` spelling. Imported by the document loader and the
parse-error translators alike, so neither imports the other."""

from __future__ import annotations

from typing import Tuple, Union

KeyPath = Tuple[Union[str, int], ...]  # typing spelling: node prep runs on older python3


def format_path(path: KeyPath) -> str:
    """``("a", "b", 1, "c")`` -> ``a.b[1].c``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
