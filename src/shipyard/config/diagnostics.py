"""What the config loader reports: every problem it finds is a :class:`~shipyard.results.CheckResult`.

The loader's results are judged like every rule's (``shipyard.results.failed``): an error is a
``fail`` result of severity error, a warning a ``warn`` result of severity warning. Each carries
a :class:`~shipyard.results.Location` (the file, the line, the dotted key path) and one of these
ids, which say what produced it. They are not rules: no registry lists them, ``--skip-check``
does not take them, and ``config check`` reports them without a ``check`` key (see
``is_diagnostic``).

========================  ========  ==============================================================
id                        status    produced by
========================  ========  ==============================================================
``config.load``           fail      ``loader``: a file that cannot be read or parsed (not found, a
                                    directory, not UTF-8, invalid YAML or JSON, empty, not a mapping)
``config.schema``         fail      ``validate``: what the schema forbids, a file without its
                                    top-level key, a required key missing (beside a misspelling of
                                    it, from ``unknown_keys``: renaming it is the fix)
``config.unknown_key``    warn      ``unknown_keys``: a key no model knows (the closest known key
                                    is the fix)
``config.legacy``         warn      ``legacy``: a Batch Shipyard 2.x (or early 3.x) form, read as
                                    the 3.x form (writing that form is the fix)
``config.empty_work``     warn      ``advice``: a pool of 0 nodes that cannot grow, a job with no
                                    task
========================  ========  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shipyard.config.document import Document
from shipyard.config.keypath import KeyPath, format_path
from shipyard.errors import ConfigError
from shipyard.results import CheckResult, Location, Severity, Status

LOAD = "config.load"
SCHEMA = "config.schema"
UNKNOWN_KEY = "config.unknown_key"
LEGACY = "config.legacy"
EMPTY_WORK = "config.empty_work"
DIAGNOSTIC_IDS = (LOAD, SCHEMA, UNKNOWN_KEY, LEGACY, EMPTY_WORK)


def is_diagnostic(result: CheckResult) -> bool:
    """Whether ``result`` is the loader's (one of ``DIAGNOSTIC_IDS``), not a config rule's."""
    return result.id in DIAGNOSTIC_IDS


def diagnostic(check: str, severity: Severity, message: str, location: Location, fix: str = "") -> CheckResult:
    """A loader problem: ``fail`` for an error, ``warn`` for a warning."""
    return CheckResult.of(check, Status.FAIL, severity, message, fix, location)


class Locator(Protocol):
    """Where a key path is: the file, its line (``line`` when the producer knows a better one)."""

    def __call__(self, path: KeyPath, line: int | None = None) -> Location: ...


def locator(document: Document) -> Locator:
    """The locations of ``document``: its file name, the line of the key, the dotted path."""

    def locate(path: KeyPath, line: int | None = None) -> Location:
        return Location(
            file=str(document.path),
            line=line if line is not None else document.line_of(path),
            path=format_path(path),
        )

    return locate


def describe(result: CheckResult) -> str:
    """``file:line: key.path: message``, as a ``ConfigError`` of the result words it."""
    return str(as_config_error([result]))


def as_config_error(results: Sequence[CheckResult]) -> ConfigError:
    """The first of ``results`` as a ``ConfigError`` (where it is), counting the rest as ``more``."""
    first = results[0]
    where = first.location or Location()
    return ConfigError(first.message, file=where.file, line=where.line, path=where.path, more=len(results) - 1)
