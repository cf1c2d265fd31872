"""``shipyard config check``."""

from __future__ import annotations

from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.config.loader import load_config_set
from shipyard.config.rules import run_config_rules
from shipyard.config.summary import summarize_pool
from shipyard.errors import ExitStatus, UsageError


@click.group("config")
@global_options
def config_group() -> None:
    """Load and validate Batch Shipyard config files."""


def build_report(settings: Settings) -> dict[str, Any]:
    paths = settings.config_paths()
    if not paths:
        raise UsageError("no config files: pass --configdir DIR, or --credentials/--config/--pool/--jobs FILE")
    config = load_config_set(paths)
    findings, skipped = run_config_rules(config)
    everything = config.findings + findings
    errors = [f for f in everything if f.severity == "error"]
    warnings = [f for f in everything if f.severity == "warning"]
    return {
        "ok": not errors,
        "files": [{"kind": kind.value, "file": str(path)} for kind, path in paths.files.items()],
        "errors": [f.as_dict() for f in errors],
        "warnings": [f.as_dict() for f in warnings],
        "skipped": [s.as_dict() for s in skipped],
        "summary": summarize_pool(config),
    }


def _where(item: dict[str, Any]) -> str:
    where = item["file"] or ""
    if where and item["line"]:
        where += f":{item['line']}"
    if item["path"]:
        where += (": " if where else "") + item["path"]
    return f"{where}: {item['message']}" if where else item["message"]


def _render_summary(summary: dict[str, Any]) -> None:
    nodes = summary["nodes"]
    node_text = f"{nodes['dedicated']} dedicated, {nodes['low_priority']} low priority"
    if nodes["autoscale_maximum"] is not None:
        node_text += f"; autoscale up to {nodes['autoscale_maximum']}"
    rows = [("pool", summary["pool_id"]), ("vm size", summary["vm_size"]), ("nodes", node_text)]
    source = summary["image_source"]
    if source and source["kind"] == "platform_image":
        rows.append(("image", f"platform image {source['publisher']}/{source['offer']}/{source['sku']}"))
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
    for requirement in summary["requirements"]:
        rows.append(("requires", requirement))
    render.table(None, ("", ""), rows, header=False)


@config_group.command("check")
@global_options
@pass_settings
def check(settings: Settings) -> int:
    """Load the config files, run every custom-image rule, and summarize the pool.

    Exits 0 when valid and 2 when a file or a rule has an error.
    """
    report = build_report(settings)
    if settings.raw:
        render.emit_json(report)
    else:
        for item in report["files"]:
            render.line(f"{item['kind']:<12} {item['file']}")
        if report["summary"]:
            render.line()
            _render_summary(report["summary"])
            render.line()
        for item in report["errors"]:
            render.line(f"error: {_where(item)}", style="red")
        for item in report["warnings"]:
            render.line(f"warning: {_where(item)}", style="yellow")
        for item in report["skipped"]:
            render.line(f"skipped: {item['check']}: {item['reason']}", style="dim")
        n_err, n_warn = len(report["errors"]), len(report["warnings"])
        verdict = "config is valid" if report["ok"] else f"config is invalid: {n_err} error{'s' * (n_err != 1)}"
        render.line(f"{verdict}, {n_warn} warning{'s' * (n_warn != 1)}", style="bold")
    return int(ExitStatus.OK if report["ok"] else ExitStatus.INVALID)
