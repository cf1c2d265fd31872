"""What a rule reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):  # noqa: UP042 - the node side runs on python 3.9: no StrEnum
    PASS = "pass"
    FAIL = "fail"  # an error-severity rule failed
    WARN = "warn"  # a warning-severity rule failed, or a rule passed with a caveat
    SKIP = "skip"  # the rule does not apply to this pool
    UNKNOWN = "unknown"  # the facts it needs could not be read; counts as a warning


class Severity(str, Enum):  # noqa: UP042 - as Status
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Outcome:
    """What a rule's evaluation found; the registry turns it into a ``CheckResult``."""

    status: Status
    message: str

    @classmethod
    def ok(cls, message: str) -> Outcome:
        return cls(Status.PASS, message)

    @classmethod
    def bad(cls, message: str) -> Outcome:
        return cls(Status.FAIL, message)

    @classmethod
    def warn(cls, message: str) -> Outcome:
        return cls(Status.WARN, message)

    @classmethod
    def unknown(cls, message: str) -> Outcome:
        return cls(Status.UNKNOWN, message)


def result_severity(status: Status, rule_severity: Severity) -> Severity:
    """The severity a result carries: what its status weighs. ``warn`` and ``unknown`` are
    warnings (they fail only ``--fail-level warning``); ``fail`` is the rule's severity (always an
    error: a warning-level rule that fails reports ``warn``); ``pass`` and ``skip`` the rule's."""
    if status in (Status.WARN, Status.UNKNOWN):
        return Severity.WARNING
    return rule_severity


@dataclass(frozen=True)
class CheckResult:
    """One rule's result. Its status and severity never disagree (see ``result_severity``)."""

    id: str
    status: Status
    severity: Severity
    message: str
    fix: str

    def __post_init__(self) -> None:
        if self.status is Status.FAIL and self.severity is not Severity.ERROR:
            raise ValueError(f"{self.id}: a fail result has severity error, not {self.severity.value}")
        if self.status in (Status.WARN, Status.UNKNOWN) and self.severity is not Severity.WARNING:
            raise ValueError(f"{self.id}: a {self.status.value} result has severity warning, not {self.severity.value}")

    @classmethod
    def of(cls, rule_id: str, status: Status, rule_severity: Severity, message: str, fix: str) -> CheckResult:
        """A result of a rule of ``rule_severity``: a warning-level rule's fail becomes warn."""
        if status is Status.FAIL and rule_severity is Severity.WARNING:
            status = Status.WARN
        return cls(rule_id, status, result_severity(status, rule_severity), message, fix)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "severity": self.severity.value,
            "message": self.message,
            "fix": self.fix,
        }

    def fails_at(self, level: Severity) -> bool:
        """Whether this result fails a run whose fail level is ``level``."""
        if self.status is Status.FAIL:
            return True
        return level is Severity.WARNING and self.status in (Status.WARN, Status.UNKNOWN)
