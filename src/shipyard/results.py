"""What a check reports, and the one judgement of whether a run failed.

Every check in shipyard reports through these types: the image and node rules, the config
rules and the config loader (its results' ids: ``shipyard.config.diagnostics``). ``failed`` is
the only place that decides whether such reports fail a run at a given level.

The bottom layer: it imports nothing from shipyard. The node side runs this on python 3.9.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol


class Status(str, Enum):  # noqa: UP042 - the node side runs on python 3.9: no StrEnum
    PASS = "pass"
    FAIL = "fail"  # an error-severity rule failed
    WARN = "warn"  # a warning-severity rule failed, or a rule passed with a caveat
    SKIP = "skip"  # the rule does not apply to this pool
    UNKNOWN = "unknown"  # the facts it needs could not be read; counts as a warning


class Severity(str, Enum):  # noqa: UP042 - as Status
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"  # a rule that only reports what it found (boot.generation): it never fails


class Judged(Protocol):
    """Anything ``failed`` can judge: it says which problem, if any, it reports."""

    @property
    def problem(self) -> Severity | None:
        """The severity of the problem reported; None when it reports none (a pass, a skip)."""
        ...


def failed(items: Iterable[Judged], level: Severity = Severity.ERROR) -> bool:
    """Whether any of ``items`` fails a run whose fail level is ``level``: an error always does,
    a warning only at ``level`` warning."""
    for item in items:
        problem = item.problem
        if problem is Severity.ERROR or (problem is Severity.WARNING and level is Severity.WARNING):
            return True
    return False


@dataclass(frozen=True)
class Location:
    """Where in the config a result points: the file, the line and the dotted key path."""

    file: str | None = None
    line: int | None = None
    path: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path}


@dataclass(frozen=True)
class Outcome:
    """What a rule's evaluation found; the engine turns it into a ``CheckResult``."""

    status: Status
    message: str
    location: Location | None = None

    @classmethod
    def ok(cls, message: str, location: Location | None = None) -> Outcome:
        return cls(Status.PASS, message, location)

    @classmethod
    def bad(cls, message: str, location: Location | None = None) -> Outcome:
        return cls(Status.FAIL, message, location)

    @classmethod
    def warn(cls, message: str, location: Location | None = None) -> Outcome:
        return cls(Status.WARN, message, location)

    @classmethod
    def unknown(cls, message: str, location: Location | None = None) -> Outcome:
        return cls(Status.UNKNOWN, message, location)


def result_severity(status: Status, rule_severity: Severity) -> Severity:
    """The severity a result carries: what its status weighs. ``warn`` and ``unknown`` are
    warnings (they fail only ``--fail-level warning``); ``fail`` is the rule's severity (always an
    error: a warning-level rule that fails reports ``warn``); ``pass`` and ``skip`` the rule's."""
    if status in (Status.WARN, Status.UNKNOWN):
        return Severity.WARNING
    return rule_severity


SKIPPED = "skipped: "  # how a skip result's message begins; the reason follows


@dataclass(frozen=True)
class CheckResult:
    """One rule's result. Its status and severity never disagree (see ``result_severity``).

    ``location``: where in the config it points (config rules, the config loader); image and node
    results have none.
    """

    id: str
    status: Status
    severity: Severity
    message: str
    fix: str
    location: Location | None = None

    def __post_init__(self) -> None:
        if self.status is Status.FAIL and self.severity is not Severity.ERROR:
            raise ValueError(f"{self.id}: a fail result has severity error, not {self.severity.value}")
        if self.status in (Status.WARN, Status.UNKNOWN) and self.severity is not Severity.WARNING:
            raise ValueError(f"{self.id}: a {self.status.value} result has severity warning, not {self.severity.value}")

    @classmethod
    def of(
        cls, rule_id: str, status: Status, rule_severity: Severity, message: str, fix: str,
        location: Location | None = None,
    ) -> CheckResult:
        """A result of a rule of ``rule_severity``: a warning-level rule's fail becomes warn."""
        if status is Status.FAIL and rule_severity in (Severity.WARNING, Severity.INFO):
            status = Status.WARN
        return cls(rule_id, status, result_severity(status, rule_severity), message, fix, location)

    @classmethod
    def skipped(cls, rule_id: str, rule_severity: Severity, reason: str, fix: str) -> CheckResult:
        return cls(rule_id, Status.SKIP, rule_severity, SKIPPED + reason, fix)

    @property
    def skip_reason(self) -> str | None:
        """Why the rule was skipped (its message without ``skipped: ``); None when it was not."""
        if self.status is not Status.SKIP:
            return None
        return self.message[len(SKIPPED):] if self.message.startswith(SKIPPED) else self.message

    @property
    def problem(self) -> Severity | None:
        """``fail`` is an error, ``warn`` and ``unknown`` are warnings; ``pass`` and ``skip`` are none."""
        if self.status is Status.FAIL:
            return Severity.ERROR
        if self.status in (Status.WARN, Status.UNKNOWN):
            return Severity.WARNING
        return None

    def fails_at(self, level: Severity) -> bool:
        """Whether this result fails a run whose fail level is ``level`` (see ``failed``)."""
        return failed((self,), level)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status.value,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
        }
        if self.location is not None:
            out.update(self.location.as_dict())
        return out
