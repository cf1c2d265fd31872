"""Shared options and rendering for `image check` and `node check` (one rule set, two places)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings
from shipyard.errors import ExitStatus, UsageError
from shipyard.results import CheckResult, Severity, Status, failed

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet
    from shipyard.rules.context import PoolContext

_STYLES = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.WARN: "yellow",
    Status.UNKNOWN: "yellow",
    Status.SKIP: "dim",
}


def non_empty_vm_size(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--vm-size ""`` is a usage error (exit 2), not "no size": it would turn the GPU rules off."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty (an Azure VM size name, e.g. Standard_NC6s_v3)")
    return value.strip() if value is not None else None


def check_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--vm-size", metavar="SIZE", callback=non_empty_vm_size,
            help="VM size to check for (default: the pool's vm_size).",
        ),
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


def load_config(settings: Settings) -> ConfigSet | None:
    """The config files given (maybe none: then None), loaded and valid."""
    from shipyard.config.given import load_given

    return load_given(settings.configdir, settings.files)


def pool_context(
    settings: Settings, vm_size: str | None, node_agent: str | None, config: ConfigSet | None = None
) -> PoolContext:
    """The pool side of the rules from the config files given (maybe none) and the overrides."""
    from shipyard.rules.context import PoolContext

    if config is None:
        config = load_config(settings)
    return PoolContext.from_config(config, vm_size=vm_size, node_agent=node_agent)


MODE_LINES = {
    "live": "live: the running system's files plus runtime probes (/proc, the docker socket, nvidia-smi)",
    "offline": "offline: the tree's files only, as for an image; runtime probes run only on the live /",
}


def render_results(
    subject_key: str, subject: str, results: list[CheckResult], fail_level: str, raw: bool, *, mode: str | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """The results as a table (or JSON with ``raw``); ``mode`` (live/offline) is shown when given.

    ``extra`` keys join the JSON after the subject (e.g. `image check URI`'s ``blob``).
    """
    fails = failed(results, Severity(fail_level))
    if raw:
        head: dict[str, Any] = {subject_key: subject, **(extra or {})}
        if mode is not None:
            head["mode"] = mode
        render.emit_json({**head, "ok": not fails, "checks": [r.as_dict() for r in results]})
    else:
        if mode is not None:
            render.line(f"mode: {MODE_LINES[mode]}")
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
        verdict = "FAILED" if fails else "OK"
        render.line(f"{subject}: {verdict} ({summary}; fail level {fail_level})", style="bold")
    return int(ExitStatus.FAILED if fails else ExitStatus.OK)
