"""``shipyard config check``."""

from __future__ import annotations

import unicodedata
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.config.loader import load_config_set
from shipyard.config.summary import summarize_pool
from shipyard.config.validate import Finding
from shipyard.errors import ConfigError, ExitStatus, UsageError
from shipyard.results import CheckResult, Location, Severity, Status, failed
from shipyard.rules.context import PoolContext
from shipyard.rules.engine import evaluate_rules
from shipyard.rules.registry import CONFIG_RULES


@click.group("config")
@global_options
def config_group() -> None:
    """Load and validate Batch Shipyard config files."""


def build_report(settings: Settings) -> dict[str, Any]:
    paths = settings.config_paths()
    if not paths:
        raise UsageError("no config files: pass --configdir DIR, or --credentials/--config/--pool/--jobs FILE")
    config = load_config_set(paths)
    results = evaluate_rules(CONFIG_RULES, config, PoolContext.from_config(config))
    reported: list[Finding | CheckResult] = [*config.findings, *results]
    return {
        "ok": not failed(reported, Severity.ERROR),
        "files": [{"kind": kind.value, "file": str(path)} for kind, path in paths.files.items()],
        "errors": [_finding(item) for item in reported if item.problem is Severity.ERROR],
        "warnings": [_finding(item) for item in reported if item.problem is Severity.WARNING],
        "skipped": [{"check": r.id, "reason": r.skip_reason} for r in results if r.status is Status.SKIP],
        "summary": summarize_pool(config),
    }


def _finding(item: Finding | CheckResult) -> dict[str, Any]:
    """A loader finding as it is; a config rule's result in the same shape, with its rule id as
    ``check`` (and no ``fix``: ``config check`` reports what is wrong and where)."""
    if isinstance(item, Finding):
        return item.as_dict()
    return {**(item.location or Location()).as_dict(), "message": item.message, "check": item.id}


def _where(item: dict[str, Any]) -> str:
    where = item["file"] or ""
    if where and item["line"]:
        where += f":{item['line']}"
    return where


def _printable(text: str) -> str:
    """``text`` on one line: a control character from the file (a newline, ESC) is shown escaped."""
    return "".join(
        ch if ch == " " or unicodedata.category(ch)[0] not in "CZ" else ascii(ch)[1:-1] for ch in text
    )


def _findings_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """One row per finding: level, file:line, key path, rule id, message; then the skipped rules."""
    rows: list[tuple[str, str, str, str, str]] = []
    for level in ("errors", "warnings"):
        for item in report[level]:
            where, path = _printable(_where(item) or "-"), _printable(item["path"] or "-")
            rows.append((level[:-1], where, path, item.get("check") or "-", _printable(item["message"])))
    for item in report["skipped"]:
        rows.append(("skipped", "-", "-", item["check"], item["reason"]))
    return rows


def _render_findings(report: dict[str, Any]) -> None:
    """The findings table: a header, then exactly one line per finding (never folded)."""
    rows = _findings_rows(report)
    if not rows:
        return
    header = ("level", "where", "key", "rule", "message")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(4)]
    styles = {"error": "red", "warning": "yellow", "skipped": "dim"}
    for index, row in enumerate((header, *rows)):
        text = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4]
        render.line(text, style="bold" if index == 0 else styles[row[0]])


def _mode_text(mode: dict[str, Any]) -> str:
    return f"{mode['mode'] or 'unknown'} ({mode['reason']})"


def _render_summary(summary: dict[str, Any]) -> None:
    nodes = summary["nodes"]
    node_text = f"{nodes['dedicated']} dedicated, {nodes['low_priority']} low priority"
    if nodes["autoscale_maximum"] is not None:
        node_text += f"; autoscale up to {nodes['autoscale_maximum']}"
    rows = [("pool", summary["pool_id"]), ("vm size", summary["vm_size"]), ("nodes", node_text)]
    source = summary["image_source"]
    if source and source["kind"] == "platform_image":
        rows.append(("image", f"platform image {source['publisher']}/{source['offer']}/{source['sku']}"))
    elif source and source["kind"] == "custom_image.none":
        rows.append(("image", "custom_image: neither image_uris nor arm_image_id"))
    elif source:
        rows.append(("image", source["kind"].replace(".", ": ")))
    agent = summary["node_agent"]
    if agent:
        state = agent["status"] if agent["known"] else "unknown"
        rows.append(("node agent", f"{agent['id']} ({state})"))
    vhds = summary["vhds"]
    if vhds:
        rows.append(
            ("VHDs", f"{vhds['given']} given, {vhds['required']} required ({vhds['nodes_per_vhd']} nodes per VHD)")
        )
    backend = summary["batch_backend"]
    rows.append(("backend", f"{backend['kind'] or 'unknown'} ({backend['reason']})"))
    rows.append(("node comm", _mode_text(summary["node_communication_mode"])))
    for requirement in summary["requirements"]:
        rows.append(("requires", requirement))
    # The values come from the files (a pool id, a VM size): shown as written, never as rich markup.
    render.table(None, ("", ""), [(name, _printable(str(value))) for name, value in rows], header=False)


def _verdict(report: dict[str, Any]) -> str:
    n_err, n_warn = len(report["errors"]), len(report["warnings"])
    warnings = f"{n_warn} warning{'s' * (n_warn != 1)}"
    if report["ok"]:
        return f"config is valid, {warnings}"
    return f"config is invalid: {n_err} error{'s' * (n_err != 1)}, {warnings}"


@config_group.command("check")
@global_options
@pass_settings
def check(settings: Settings) -> int:
    """Load the config files, run every config rule, and summarize the pool.

    stdout: the files, the pool summary and the findings table (one line per error, warning and
    skipped rule), then the verdict when the config is valid. An invalid config ends with one
    line on stderr, ``shipyard: error: config is invalid: N errors, M warnings``, and exit 2.
    ``--raw``: the report as JSON on stdout, nothing on stderr; exit 0 or 2 as above.
    """
    report = build_report(settings)
    if settings.raw:
        render.emit_json(report)
        return int(ExitStatus.OK if report["ok"] else ExitStatus.INVALID)
    for item in report["files"]:
        render.line(f"{item['kind']:<12} {item['file']}")
    if report["summary"]:
        render.line()
        _render_summary(report["summary"])
    render.line()
    _render_findings(report)
    if not report["ok"]:
        raise ConfigError(_verdict(report))
    render.line(_verdict(report), style="bold")
    return int(ExitStatus.OK)
