"""``shipyard.results``: one result type, and ``failed``, the one judge of findings and results alike."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shipyard.config.validate import Finding
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


@pytest.mark.parametrize(("severity", "at_error", "at_warning"), [(E, True, True), (W, False, True)])
def test_failed_judges_loader_findings_at_both_levels(severity: Severity, at_error: bool, at_warning: bool) -> None:
    finding = Finding(severity, "must be an integer", file="pool.yaml", line=3, path="pool_specification.vm_count")
    assert (failed([finding], E), failed([finding], W)) == (at_error, at_warning)
    assert (finding.fails_at(E), finding.fails_at(W)) == (at_error, at_warning)


def test_failed_judges_findings_and_results_in_one_list() -> None:
    warning = Finding(W, "unknown key x")
    assert failed([warning, result(Status.PASS), result(Status.SKIP)], W)
    assert not failed([warning, result(Status.PASS), result(Status.WARN)], E)
    assert failed([warning, result(Status.FAIL)], E)
    assert failed([Finding(E, "bad"), result(Status.PASS)], E)
    assert not failed([], E) and not failed([], W)


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


def test_a_finding_keeps_its_shape_and_its_severity_is_the_enum() -> None:
    finding = Finding(W, "unknown key x", file="pool.yaml", line=2, path="pool_specification.x")
    assert finding.severity is Severity.WARNING and finding.problem is Severity.WARNING
    assert finding.as_dict() == {"file": "pool.yaml", "line": 2, "path": "pool_specification.x", "message": "unknown key x"}


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
