"""The rule unit and the helpers rule modules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shipyard.results import Outcome, Severity
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence

S = TypeVar("S")  # what a rule looks at: an image's or a node's Evidence, or a ConfigSet

# the image and node rules' functions
Evaluate = Callable[[Evidence, PoolContext], Outcome]
Applies = Callable[[Evidence, PoolContext], "str | None"]


def always(subject: object, pool: PoolContext) -> str | None:
    return None


def linux_only(evidence: Evidence, pool: PoolContext) -> str | None:
    os_facts = evidence.facts.os
    if os_facts is not None and os_facts.family == "windows":
        return "not a Linux image"
    return None


@dataclass(frozen=True)
class Rule(Generic[S]):
    """A stable dotted id (never renamed), a severity, what is required and how to fix it.

    ``applies`` says why the rule does not apply to its subject (the result is ``skip``), or None.
    ``evaluate`` returns one outcome, or any number: each is one result with the rule's id (a
    config rule reports each bad ``image_uris[i]`` at its own location); none at all is a pass.
    """

    id: str
    severity: Severity
    requirement: str
    fix: str
    evaluate: Callable[[S, PoolContext], Outcome | Iterable[Outcome]]
    applies: Callable[[S, PoolContext], str | None] = always


def yes_no_unknown(value: bool | None, ok: str, bad: str, unknown: str) -> Outcome:
    """The common three-way outcome of a single fact."""
    if value is None:
        return Outcome.unknown(unknown)
    return Outcome.ok(ok) if value else Outcome.bad(bad)


def boot_outcome(enabled: bool | None, what: str, via: str | None = None) -> Outcome:
    """Whether a service starts on boot, as an outcome (``via``: the wants link that does it)."""
    if enabled:
        return Outcome.ok(f"{what} starts on boot" + (f" (via {via})" if via else ""))
    if enabled is None:
        return Outcome.unknown(f"whether {what} starts on boot cannot be decided offline")
    return Outcome.bad(f"{what} is installed but not enabled: it will not start on boot")


def binary_state(evidence: Evidence, *names: str) -> tuple[bool | None, str | None]:
    """Whether any of ``names`` is installed on the standard paths, and where."""
    binaries = evidence.facts.binaries
    if binaries is None:
        return None, None
    for name in names:
        path = binaries.path_of(name)
        if path:
            return True, path
    searched = [binaries.has(name) for name in names if binaries.has(name) is not None]
    return (False if searched else None), None
