"""``shipyard.results``: one result type, and ``failed``, the one judge of whether results fail."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shipyard.results import CheckResult, Location, Outcome, Severity, Status, failed

E, W = Severity.ERROR, Severity.WARNING


def result(status: Status, rule_severity: Severity = E, location: Location | None = None) -> CheckResult:
    return CheckResult.of("x.y", status, rule_severity, "found", "fix it", location)


@pytest.mark.parametrize(
    ("status", "at_error", "at_warning"),
    [
        (Status.FAIL, True, True),
        (Status.WARN, False, True),
        (Status.UNKNOWN, False, True),
        (Status.PASS, False, False),
        (Status.SKIP, False, False),
    ],
)
def test_failed_judges_results_at_both_levels(status: Status, at_error: bool, at_warning: bool) -> None:
    passing = result(Status.PASS)
    assert failed([passing, result(status)], E) is at_error
    assert failed([passing, result(status)], W) is at_warning
    assert failed([result(status)]) is at_error  # the default level is error
    assert (result(status).fails_at(E), result(status).fails_at(W)) == (at_error, at_warning)


def test_a_warning_level_rule_that_fails_is_a_warning() -> None:
    demoted = result(Status.FAIL, W)
    assert (demoted.status, demoted.severity, demoted.problem) == (Status.WARN, W, W)
    assert not failed([demoted], E) and failed([demoted], W)
    with pytest.raises(ValueError, match="severity"):
        CheckResult("x.y", Status.FAIL, W, "found", "fix")


def test_as_dict_has_no_location_keys_without_a_location() -> None:
    assert result(Status.FAIL).as_dict() == {
        "id": "x.y", "status": "fail", "severity": "error", "message": "found", "fix": "fix it",
    }
    where = Location("pool.yaml", 7, "pool_specification.vm_size")
    assert result(Status.FAIL, location=where).as_dict() == {
        "id": "x.y", "status": "fail", "severity": "error", "message": "found", "fix": "fix it",
        "file": "pool.yaml", "line": 7, "path": "pool_specification.vm_size",
    }


def test_skip_results_say_why() -> None:
    skipped = CheckResult.skipped("x.y", E, "no pool file given", "fix it")
    assert (skipped.status, skipped.message, skipped.skip_reason) == (Status.SKIP, "skipped: no pool file given", "no pool file given")
    assert skipped.problem is None and result(Status.FAIL).skip_reason is None


def test_outcomes_carry_an_optional_location() -> None:
    where = Location("pool.yaml", 1, "pool_specification")
    assert Outcome.bad("x", where).location == where and Outcome.ok("x").location is None
    assert [Outcome.warn("x").status, Outcome.unknown("x").status] == [Status.WARN, Status.UNKNOWN]


def test_results_is_a_bottom_module() -> None:
    """It sits beside errors and redact: it imports nothing from shipyard but redact."""
    path = Path(__file__).resolve().parents[1] / "src" / "shipyard" / "results.py"
    tree = ast.parse(path.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in imported if m.startswith("shipyard")} <= {"shipyard.redact"}
