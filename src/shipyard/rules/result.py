"""What a rule reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"  # an error-severity rule failed
    WARN = "warn"  # a warning-severity rule failed, or a rule passed with a caveat
    SKIP = "skip"  # the rule does not apply to this pool
    UNKNOWN = "unknown"  # the facts it needs could not be read; counts as a warning


class Severity(str, Enum):
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


@dataclass(frozen=True)
class CheckResult:
    id: str
    status: Status
    severity: Severity
    message: str
    fix: str

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
