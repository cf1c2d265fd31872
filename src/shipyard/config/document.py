"""Read one YAML or JSON config file into plain data, keeping each key's line number.

The round-trip loader of ruamel.yaml records where every mapping key and sequence item starts;
``Document.line_of`` turns a key path such as ``("pool_specification", "vm_count")`` back into a
1-based line so every error can say ``pool.yaml:7: pool_specification.vm_count: ...``.
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.config.keypath import KeyPath, format_path
from shipyard.errors import ConfigError

@dataclass(frozen=True)
class Document:
    """One loaded file: its path, its plain data and the ruamel tree used for line lookups."""

    path: Path
    data: Any
    tree: Any = None

    @property
    def name(self) -> str:
        return self.path.name

    def line_of(self, path: KeyPath) -> int | None:
        """1-based line of the deepest node of ``path`` that exists in the file."""
        node = self.tree
        line: int | None = None
        for part in path:
            lc = getattr(node, "lc", None)
            try:
                if isinstance(part, int) and isinstance(node, list):
                    if lc is not None:
                        line = lc.item(part)[0] + 1
                    node = node[part]
                elif isinstance(node, dict) and part in node:
                    if lc is not None:
                        line = lc.key(part)[0] + 1
                    node = node[part]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):
                break
        if line is None and getattr(self.tree, "lc", None) is not None:
            line = self.tree.lc.line + 1
        return line

    def error(self, message: str, path: KeyPath = (), **kw: Any) -> ConfigError:
        return ConfigError(
            message,
            file=str(self.path),
            line=self.line_of(path),
            path=format_path(path) or None,
            **kw,
        )


def _plain(node: Any) -> Any:
    """Convert ruamel's commented containers and scalar subclasses to builtin types."""
    if isinstance(node, dict):
        return {(str(k) if not isinstance(k, (str, int)) else k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, (_dt.date, _dt.datetime)):
        return node.isoformat()
    return node


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    return yaml


def load_document(path: str | Path) -> Document:
    """Load ``path`` (YAML or JSON). Raise a one-line ``ConfigError`` on any failure.

    No error carries text from the file: a secret may sit next to the mistake (see
    ``config.parse_errors``).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a config file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None

    return parse_document(text, path, json_text=path.suffix.lower() == ".json")


def parse_document(text: str, path: Path, *, json_text: bool = False) -> Document:
    """``text`` (YAML, or JSON when ``json_text``) as the document ``path`` names; errors as :func:`load_document`'s."""
    from shipyard.config.parse_errors import json_error, yaml_error

    language = "YAML"
    if json_text:
        language = "JSON"
        try:
            json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise json_error(exc, str(path)) from None

    try:
        with warnings.catch_warnings():
            # ruamel warns (a reused anchor) with a snippet of the document: never show it.
            warnings.simplefilter("ignore")
            tree = _yaml().load(text)
    except Exception as exc:  # noqa: BLE001 -- any parser failure: one line, never the document's text
        raise yaml_error(exc, text, str(path), language) from None
    if tree is None:
        raise ConfigError("file is empty", file=str(path))
    if not isinstance(tree, dict):
        raise ConfigError(
            f"top level must be a mapping, found {type(_plain(tree)).__name__}", file=str(path), line=1
        )
    return Document(path=path, data=_plain(tree), tree=tree)
