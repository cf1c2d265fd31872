"""``shipyard node check``: the custom-image rules on a live node."""

from __future__ import annotations

import os
from pathlib import Path

import click

from shipyard.cli.checks import check_options, non_empty_vm_size, render_results, validate_skips
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.errors import UsageError


@click.group("node")
@global_options
def node_group() -> None:
    """Compute nodes: check a node, prepare it (the start task), bundle node prep."""


def load_config(settings: Settings):
    """Whatever config files were given (maybe none), loaded and valid, or None."""
    if not (settings.configdir or settings.files or os.environ.get("SHIPYARD_CONFIGDIR")):
        return None  # no config given: skip importing the config models, ~50 ms of `image check`
    from shipyard.config.loader import load_config_set

    paths = settings.config_paths()
    if not paths:
        return None
    config = load_config_set(paths)
    config.require()
    return config


def pool_context(settings: Settings, vm_size: str | None, node_agent: str | None, config=None):
    """The pool side of the rules from the config files given (maybe none) and the overrides."""
    from shipyard.rules.context import PoolContext

    config = config if config is not None else load_config(settings)
    return PoolContext.from_config(config, vm_size=vm_size, node_agent=node_agent)


def storage_key(config, link_name: str) -> str:
    """A storage link's key, decrypted with the pool certificate when encryption is enabled."""
    link = config.credentials.storage[link_name]
    key = link.account_key.get_secret_value() if link.account_key else ""
    encryption = config.general.batch_shipyard.encryption if config.general else None
    if key and encryption and encryption.enabled:
        from shipyard.node.secrets import certificates_dir, decrypt_secret, load_certificate_key

        if not (encryption.pfx and encryption.pfx.sha1_thumbprint):
            raise UsageError("encryption is enabled but batch_shipyard.encryption.pfx.sha1_thumbprint is not set")
        key = decrypt_secret(key, load_certificate_key(encryption.pfx.sha1_thumbprint, certificates_dir()))
    return key


def azurefile_setup(config, root: str, shared_dir: Path, state_dir: Path):
    """Node prep's minimal set-up: mount the Azure File volumes (only on the real root)."""
    from shipyard.node.azurefile import mount_azurefile, plan_azurefile_mounts
    from shipyard.node.check import is_live_root
    from shipyard.node.probes import mounted_paths, run_command
    from shipyard.sources import DirectorySource

    mounts = plan_azurefile_mounts(config.general if config else None, config.credentials if config else None, shared_dir)
    if not mounts:
        return None
    live = is_live_root(root)

    def setup() -> list[dict[str, str]]:
        done = []
        mounted = mounted_paths(DirectorySource(root)) or frozenset()
        for mount in mounts:
            state = "planned (not the real root)"
            if live:
                key = storage_key(config, mount.link)
                state = mount_azurefile(mount, key, mounted=mounted, credentials_dir=state_dir / "cifs",
                                        runner=run_command)
            done.append({"volume": mount.volume, "source": mount.source, "mount_point": str(mount.mount_point),
                         "state": state})
        return done

    return setup


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
@global_options
@pass_settings
def prep(
    settings: Settings, root: str, state_dir: str | None, vm_size: str | None, node_agent: str | None,
    shared_dir: str | None, force: bool,
) -> int:
    """The start task's node preparation: check the custom-image contract; install nothing.

    Each failed error-level rule is one line on stderr (the start task's stderr.txt) and the exit
    status is 1. When the checks pass, the Azure File shared data volumes are mounted (only on
    the real root). A marker makes a re-run after a reboot cheap; every failure, a bad config
    included, leaves a failure marker.
    """
    import sys

    from shipyard.cli import render
    from shipyard.node.prep import default_state_dir, record_failure, run_node_prep

    if not Path(root).is_dir():
        raise UsageError(f"--root {root}: not a directory")
    state = Path(state_dir) if state_dir else default_state_dir(root)
    try:
        config = load_config(settings)
        pool = pool_context(settings, vm_size, node_agent, config)
        shared = Path(shared_dir or os.environ.get("AZ_BATCH_NODE_SHARED_DIR") or state / "shared")
        setup = azurefile_setup(config, root, shared, state)
    except Exception as exc:  # recorded, then reported by the CLI as one line (a bad config is exit 2)
        from shipyard.errors import ShipyardError

        record_failure(state, str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}")
        raise
    result = run_node_prep(root, pool, state, force=force, setup=setup)
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
