"""``shipyard node check``: the custom-image rules on a live node."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli.checks import check_options, render_results, validate_skips
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.errors import UsageError


@click.group("node")
@global_options
def node_group() -> None:
    """Compute nodes: check a live node against the custom-image rules."""


def pool_context(settings: Settings, vm_size: str | None, node_agent: str | None):
    """The pool side of the rules from whatever config files were given (maybe none)."""
    from shipyard.config.loader import load_config_set
    from shipyard.rules.context import PoolContext

    paths = settings.config_paths()
    config = None
    if paths:
        config = load_config_set(paths)
        config.require()
    return PoolContext.from_config(config, vm_size=vm_size, node_agent=node_agent)


@node_group.command("check")
@click.option("--root", default="/", show_default=True, metavar="DIR", help="Root of the system to check.")
@check_options
@global_options
@pass_settings
def check(
    settings: Settings, root: str, vm_size: str | None, node_agent: str | None, skip_checks: tuple[str, ...], fail_level: str
) -> int:
    """Evaluate the custom-image rules on this node: its files plus live probes.

    Exits 0 when no result at or above the fail level fails, 1 when one does.
    """
    from shipyard.node.check import check_node

    validate_skips(skip_checks)
    if not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a directory")
    results = check_node(root, pool_context(settings, vm_size, node_agent), skip=skip_checks)
    return render_results("root", root, results, fail_level, settings.raw)
