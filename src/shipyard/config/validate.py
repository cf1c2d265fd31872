"""Validate one Batch Shipyard document against its typed model, and report every problem.

Every problem becomes a :class:`Finding` that names the file, the line and the dotted key path:
schema errors in words a person can act on (never a value of a secret key), a required key that
is missing beside its misspelling, unknown keys (with the closest known one, even in a file
with errors elsewhere), Batch Shipyard 2.x keys, a pool of 0 nodes and a job with no task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from shipyard.config.advice import Note, empty_work
from shipyard.config.credentials import CredentialsFile
from shipyard.config.document import Document
from shipyard.config.keypath import KeyPath, format_path
from shipyard.config.kinds import ConfigKind
from shipyard.config.jobs import JobsFile
from shipyard.config.legacy import legacy_forms
from shipyard.config.other import FsFile
from shipyard.config.pool import PoolFile
from shipyard.config.services import FederationFile, MonitorFile, SlurmFile
from shipyard.config.settings import GeneralConfig
from shipyard.config.unknown_keys import misspelled_required, unknown_keys
from shipyard.errors import ConfigError
from shipyard.redact import is_secret_key
from shipyard.results import Severity, failed

MODELS: dict[ConfigKind, type[BaseModel]] = {
    ConfigKind.CREDENTIALS: CredentialsFile,
    ConfigKind.CONFIG: GeneralConfig,
    ConfigKind.POOL: PoolFile,
    ConfigKind.JOBS: JobsFile,
    ConfigKind.FS: FsFile,
    ConfigKind.MONITOR: MonitorFile,
    ConfigKind.FEDERATION: FederationFile,
    ConfigKind.SLURM: SlurmFile,
}


@dataclass(frozen=True)
class Finding:
    """One problem in the config: an error (invalid) or a warning (valid but unwise)."""

    severity: Severity
    message: str
    file: str | None = None
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        return str(ConfigError(self.message, file=self.file, line=self.line, path=self.path))

    @property
    def problem(self) -> Severity:
        """Every finding is a problem of its severity (what ``shipyard.results.failed`` judges)."""
        return self.severity

    def fails_at(self, level: Severity) -> bool:
        return failed((self,), level)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


def detect_kind(document: Document) -> ConfigKind | None:
    """The kind of a file from its top-level key (``pool_specification`` -> pool)."""
    for kind in ConfigKind:
        if kind.top_key in document.data:
            return kind
    return None


_FRIENDLY = {
    "missing": "required key is missing",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}

_LOC_RENAMES = {"storage_aad": ("storage", "aad")}


def _describe(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), _describe_other(value))


def _describe_other(value: Any) -> str:
    """A value YAML gave a tag of its own (``!secret x``) is named by its tag, not a parser class."""
    tag = getattr(value, "tag", None)
    tag = getattr(tag, "value", tag)
    return f"a value tagged {tag}" if isinstance(tag, str) and tag else "a value of an unsupported kind"


def _schema_message(error: Mapping[str, Any], path: KeyPath) -> str:
    kind = error["type"]
    value = error.get("input")
    secret = any(isinstance(p, str) and is_secret_key(p) for p in path)
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        found = f"'{value}'" if isinstance(value, str) and len(value) <= 64 and not secret else _describe(value)
        return f"must be one of {expected}, found {found}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = next(iter(error.get("ctx", {}).values()), "")
        op = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">", "less_than": "<"}[kind]
        found = f", found {value}" if isinstance(value, (int, float)) and not secret else ""
        return f"must be {op} {bound}{found}"
    if kind == "too_short":
        return "must have at least one entry"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == r"\S":
        return "must not be empty"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in _FRIENDLY:
        text = _FRIENDLY[kind]
        return text if kind == "missing" else f"{text}, found {_describe(value)}"
    return str(error["msg"])


def _loc_to_path(top: KeyPath, loc: tuple[Any, ...]) -> KeyPath:
    path: list[str | int] = list(top)
    for part in loc:
        if isinstance(part, str) and part in _LOC_RENAMES:
            path.extend(_LOC_RENAMES[part])
        else:
            path.append(part)
    return tuple(path)


_SET_ASIDE = object()  # a part of a file that failed validation, left out of the next try
_MAX_TRIES = 20


def _set_aside(tree: Any, path: KeyPath) -> bool:
    """Mark the deepest node of ``path`` (original coordinates) that exists in ``tree``; False if none."""
    parent: Any = None
    key: Any = None
    node = tree
    for part in path:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if not present or node[part] is _SET_ASIDE:
            break
        parent, key, node = node, part, node[part]
    if parent is None:
        return False
    parent[key] = _SET_ASIDE
    return True


def _without_set_aside(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_set_aside(v) for k, v in node.items() if v is not _SET_ASIDE}
    if isinstance(node, list):
        return [_without_set_aside(v) for v in node if v is not _SET_ASIDE]
    return node


def _original_path(tree: Any, path: KeyPath) -> KeyPath:
    """``path`` in the data without the set-aside parts -> the same place in the file (list indices shift)."""
    out: list[str | int] = []
    node = tree
    for part in path:
        if isinstance(node, list) and isinstance(part, int):
            kept = [i for i, item in enumerate(node) if item is not _SET_ASIDE]
            if part >= len(kept):
                return (*out, *path[len(out):])
            part = kept[part]
            node = node[part]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            node = None
        out.append(part)
    return tuple(out)


def _unknown_keys_of_invalid(kind: ConfigKind, data: Any, errors: list[Any]) -> list[Note]:
    """Unknown keys of a file with schema errors: the parts that failed are set aside and the rest
    validated again, so a typo'd key is reported even when the same file has an error elsewhere."""
    import copy

    tree = copy.deepcopy(data)
    for _ in range(_MAX_TRIES):
        changed = False
        for error in errors:
            changed |= _set_aside(tree, _original_path(tree, _loc_to_path((), error["loc"])))
        if not changed:
            return []
        try:
            model = MODELS[kind].model_validate(_without_set_aside(tree))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            continue
        return [note._replace(path=_original_path(tree, note.path)) for note in unknown_keys(model)]
    return []


def validate_document(kind: ConfigKind, document: Document) -> tuple[Any, list[Finding]]:
    """Validate one document as ``kind``: its model (or None when an error was found) and its findings.

    Errors: what the schema forbids. Warnings: unknown keys (with the closest known key), keys
    of Batch Shipyard 2.x (read as the 3.x form), a pool of 0 nodes and a job with no task.
    """
    data = document.data
    top = kind.top_key
    if top not in data:
        other = detect_kind(document)
        found = f" (it looks like a {other.value} file)" if other else ""
        return None, [
            Finding(Severity.ERROR, f"missing top-level key '{top}'{found}", file=str(document.path), line=1)
        ]
    notes = list(legacy_forms(kind, data))
    model: BaseModel | None = None
    try:
        model = MODELS[kind].model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        for error in errors:
            path = _loc_to_path((), error["loc"])
            typo = misspelled_required(document, path) if error["type"] == "missing" else None
            notes.append(typo or Note(Severity.ERROR, _schema_message(error, path), path))
        notes.extend(_unknown_keys_of_invalid(kind, data, errors))
    if model is not None:
        notes.extend(unknown_keys(model))
        notes.extend(empty_work(model))
    findings = [
        Finding(
            note.severity,
            note.message,
            file=str(document.path),
            line=note.line if note.line is not None else document.line_of(note.path),
            path=format_path(note.path),
        )
        for note in notes
    ]
    return model, findings
