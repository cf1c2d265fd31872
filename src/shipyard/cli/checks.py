"""Shared options and rendering for `image check` and `node check` (one rule set, two places)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from shipyard.cli import render
from shipyard.errors import ExitStatus, UsageError
from shipyard.rules.result import CheckResult, Severity, Status

_STYLES = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.WARN: "yellow",
    Status.UNKNOWN: "yellow",
    Status.SKIP: "dim",
}


def check_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--vm-size", metavar="SIZE", help="VM size to check for (default: the pool's vm_size)."),
        click.option("--node-agent", metavar="SKU", help="Node agent SKU id (default: the pool's node_agent)."),
        click.option(
            "--skip-check", "skip_checks", metavar="ID", multiple=True, help="Report this rule as skipped (repeatable)."
        ),
        click.option(
            "--fail-level",
            type=click.Choice(["warning", "error"]),
            default="error",
            show_default=True,
            help="Lowest result that fails the command (warning: warn and unknown fail too).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def validate_skips(skip_checks: tuple[str, ...]) -> None:
    from shipyard.rules.registry import RULE_IDS

    unknown = [s for s in skip_checks if s not in RULE_IDS]
    if unknown:
        raise UsageError(f"--skip-check: unknown rule id {', '.join(unknown)} (ids: {', '.join(RULE_IDS)})")


def render_results(subject_key: str, subject: str, results: list[CheckResult], fail_level: str, raw: bool) -> int:
    level = Severity(fail_level)
    failed = any(r.fails_at(level) for r in results)
    if raw:
        render.emit_json({subject_key: subject, "ok": not failed, "checks": [r.as_dict() for r in results]})
    else:
        from rich.table import Table

        table = Table(box=None, pad_edge=False, show_header=True)
        for column in ("check", "status", "found", "fix"):
            table.add_column(column, overflow="fold")
        for r in results:
            status = f"[{_STYLES[r.status]}]{r.status.value}[/]"
            fix = r.fix if r.status in (Status.FAIL, Status.WARN, Status.UNKNOWN) else ""
            table.add_row(r.id, status, render.escape(r.message), render.escape(fix))
        render.console().print(table)
        counts = {s: sum(1 for r in results if r.status is s) for s in Status}
        summary = ", ".join(f"{counts[s]} {s.value}" for s in Status if counts[s])
        verdict = "FAILED" if failed else "OK"
        render.line(f"{subject}: {verdict} ({summary}; fail level {fail_level})", style="bold")
    return int(ExitStatus.FAILED if failed else ExitStatus.OK)
