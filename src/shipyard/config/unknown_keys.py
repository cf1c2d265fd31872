"""Keys that no model knows: kept (``extra="allow"``), but each one is a warning.

A misspelled key is the worst case of a config file: ``vm_count.dedicted`` leaves a pool of 0
nodes, ``tasks[0].comand`` a task without its command. Every unknown key is reported at its line
with the closest known key (``config.unknown_key``); a required key that is missing next to a
close misspelling is an error at the misspelled key's line (``config.schema``). Both say what to
rename as their fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from shipyard.config.diagnostics import SCHEMA, UNKNOWN_KEY, Locator, diagnostic
from shipyard.config.document import Document
from shipyard.config.keypath import KeyPath
from shipyard.results import CheckResult, Severity

CUTOFF = 0.75  # difflib's ratio for "close": dedicted/dedicated 0.94, image_uri/image_uris 0.95
SHORT_CUTOFF = 0.6  # for keys of up to 4 letters, where one letter moves the ratio most: aa/a 0.67


def field_key(model: type[BaseModel], name: str) -> str:
    """The key a field is written as in the file (its alias: ``lambda`` for ``lambda_``)."""
    return model.model_fields[name].alias or name


def field_path(model: type[BaseModel], name: str) -> KeyPath:
    """Where a field lives in the file, relative to its model (``storage_aad``: ``storage.aad``)."""
    paths: dict[str, KeyPath] = getattr(model, "key_paths", {})
    return paths.get(name, (field_key(model, name),))


def known_keys(model: type[BaseModel]) -> list[str]:
    paths: dict[str, KeyPath] = getattr(model, "key_paths", {})
    return [field_key(model, name) for name in model.model_fields if name not in paths]


def closest(key: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(key, candidates, n=1, cutoff=SHORT_CUTOFF if len(key) <= 4 else CUTOFF)
    return found[0] if found else None


def unknown_keys(model: BaseModel, at: Locator, path: KeyPath = ()) -> Iterator[CheckResult]:
    """One warning for each key of the validated ``model`` tree that no field took."""
    cls = type(model)
    if model.model_extra and not getattr(cls, "open_keys", False):
        known = known_keys(cls)
        for key in model.model_extra:
            guess = closest(str(key), known)
            hint = f"; did you mean {guess}?" if guess else "; it is not a Batch Shipyard key and is ignored"
            fix = f"rename {key} to {guess}" if guess else f"remove {key}: nothing reads it"
            yield diagnostic(UNKNOWN_KEY, Severity.WARNING, f"unknown key {key}{hint}", at((*path, key)), fix)
    for name in cls.model_fields:
        yield from _values(getattr(model, name), at, (*path, *field_path(cls, name)))


def _values(value: Any, at: Locator, path: KeyPath) -> Iterator[CheckResult]:
    if isinstance(value, BaseModel):
        yield from unknown_keys(value, at, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values(item, at, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _values(item, at, (*path, key))


def misspelled_required(document: Document, path: KeyPath, at: Locator) -> CheckResult | None:
    """For a missing required key at ``path``: an error at a sibling key that looks like its misspelling."""
    parent: Any = document.data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(parent, dict):
        return None
    missing = str(path[-1])
    typo = closest(missing, [str(k) for k in parent if k != missing])
    if typo is None:
        return None
    line = document.line_of((*path[:-1], typo))
    where = f" at line {line}" if line else ""
    message = f"required key {missing} is missing; found {typo}{where} — a misspelling?"
    return diagnostic(SCHEMA, Severity.ERROR, message, at(path, line), f"rename {typo} to {missing}")
