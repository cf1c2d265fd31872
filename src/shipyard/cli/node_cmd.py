"""``shipyard node check``, ``node prep`` and ``node bundle``: options and output; the work is in ``shipyard.node``."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli.checks import check_options, pool_context, non_empty_vm_size, render_results, validate_skips
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.errors import UsageError


@click.group("node")
@global_options
def node_group() -> None:
    """Compute nodes: check a node, prepare it (the start task), bundle node prep."""


@node_group.command("check")
@click.option("--root", default="/", show_default=True, metavar="DIR", help="Root of the system to check.")
@check_options
@global_options
@pass_settings
def check(
    settings: Settings, root: str, vm_size: str | None, node_agent: str | None, skip_checks: tuple[str, ...], fail_level: str
) -> int:
    """Evaluate the custom-image rules on this node: its files, plus runtime probes on the live /.

    On any other --root (an unpacked image, a chroot) the check is offline: the rules read the
    tree's files only, as `image check` does. Exits 0 when no result at or above the fail level
    fails, 1 when one does.
    """
    from shipyard.node.check import check_mode, check_node

    validate_skips(skip_checks)
    if not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a directory")
    results = check_node(root, pool_context(settings, vm_size, node_agent), skip=skip_checks)
    return render_results("root", root, results, fail_level, settings.raw, mode=check_mode(root))


@node_group.command("prep")
@click.option("--root", default="/", show_default=True, metavar="DIR", help="Root of the system to prepare.")
@click.option("--state-dir", metavar="DIR",
              help="Where the marker goes [default: $AZ_BATCH_NODE_ROOT_DIR/volatile/shipyard, else "
                   "/var/lib/shipyard; for a --root other than /: ROOT/var/lib/shipyard].")
@click.option("--vm-size", metavar="SIZE", callback=non_empty_vm_size, help="VM size (default: the pool's vm_size).")
@click.option("--node-agent", metavar="SKU", help="Node agent SKU id (default: the pool's node_agent).")
@click.option("--shared-dir", metavar="DIR", help="Where volumes are mounted [default: $AZ_BATCH_NODE_SHARED_DIR].")
@click.option("--force", is_flag=True, help="Check again even if a marker says the node is prepared.")
@click.option("--environment-file", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Write additional_node_prep's environment (its Key Vault secret fetched as the pool's identity) "
                   "to FILE (mode 0600) for the start task to source.")
@click.option("--task-launcher", type=click.Path(path_type=Path, file_okay=False), metavar="DIR",
              help="Write the launcher that reads a task's Key Vault environment as the pool's identity into DIR.")
@global_options
@pass_settings
def prep(
    settings: Settings, root: str, state_dir: str | None, vm_size: str | None, node_agent: str | None,
    shared_dir: str | None, force: bool, environment_file: Path | None, task_launcher: Path | None,
) -> int:
    """The start task's node preparation: check the custom-image contract; install nothing.

    Each failed error-level rule is one line on stderr (the start task's stderr.txt) and the exit
    status is 1. When the checks pass, the Azure File shared data volumes are mounted (only on
    the real root). A marker makes a re-run after a reboot cheap; every failure, a bad config
    included, leaves a failure marker.
    """
    import sys

    from shipyard.cli import render
    from shipyard.node.setup import prepare_node

    if not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a directory")
    # a failure before the checks (a bad config is exit 2) leaves a failure marker, then is reported
    result = prepare_node(root, configdir=settings.configdir, files=settings.files, vm_size=vm_size,
                          node_agent=node_agent, state_dir=state_dir, shared_dir=shared_dir, force=force)
    if (environment_file or task_launcher) and result.status in ("ok", "skipped"):
        from shipyard.config.given import load_given

        config = load_given(settings.configdir, settings.files)
        pool = config.pool if config else None
        if environment_file is not None:
            from shipyard.node.environment import node_prep_environment, write_environment_file

            write_environment_file(environment_file, node_prep_environment(pool))
        if task_launcher is not None:
            from shipyard.node.task_environment import write_launcher

            identity = pool.managed_identity if pool else None
            write_launcher(task_launcher, identity.client_id if identity else None)
    if settings.raw:
        render.emit_json(result.as_dict())
    elif result.status == "skipped":
        sys.stdout.write(f"shipyard: node prep: already done ({result.marker}); nothing to check\n")
    else:
        for line in result.failure_lines():
            sys.stderr.write(f"shipyard: node prep: {line}\n")
        verdict = "node is ready" if result.status == "ok" else f"{len(result.failures)} check(s) failed"
        sys.stdout.write(f"shipyard: node prep: {verdict} ({len(result.results)} checks; marker {result.marker})\n")
    return 0 if result.status in ("ok", "skipped") else 1


@node_group.command("bundle")
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.option("--python", "pythons", multiple=True, metavar="X.Y",
              help="Target CPython version of the nodes (repeatable) [default: 3.9 3.10 3.11 3.12].")
@click.option("--machine", default="x86_64", show_default=True, help="Node CPU architecture (x86_64 or aarch64).")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it is not empty.")
@global_options
@pass_settings
def bundle(settings: Settings, out_dir: Path, pythons: tuple[str, ...], machine: str, overwrite: bool) -> int:
    """Build the node prep bundle: a stdlib-only bootstrap and the wheels it unpacks on the node.

    Upload OUT_DIR as the start task's resource files; the start task runs `python3 nodeprep.py`.
    """
    from shipyard.cli import render
    from shipyard.node.bundle import DEFAULT_PYTHONS, build_bundle

    result = build_bundle(out_dir, pythons=pythons or DEFAULT_PYTHONS, machine=machine, overwrite=overwrite)
    summary = {"path": str(result.path), "command": result.command, "pythons": list(result.pythons),
               "wheels": list(result.wheels)}
    if settings.raw:
        render.emit_json(summary)
    else:
        render.line(f"wrote {result.path}: {len(result.wheels)} wheels for python {', '.join(result.pythons)}")
        render.line(f"start task command: {result.command}")
    return 0
