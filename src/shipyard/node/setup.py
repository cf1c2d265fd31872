"""Node prep as a library call: the config it was given, its set-up, and the whole run.

``prepare_node`` is what ``shipyard node prep`` does, without the command line: load the config
files (maybe none), derive the pool context, plan the set-up (the Azure File mounts, with the
storage keys decrypted by the pool certificate when ``batch_shipyard.encryption`` is on), then
check the node, set it up and record the marker (``shipyard.node.prep.run_node_prep``). A pool
backend whose nodes run node prep calls it directly; nothing here imports ``shipyard.cli``.

Every failure is a ``ShipyardError`` (a bad config is a ``ConfigError``), recorded in a failure
marker before it is raised; only the CLI maps it to an exit status.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Union

from shipyard.errors import ConfigError, ShipyardError

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet
    from shipyard.node.prep import PrepResult, Setup

SHARED_DIR_ENV = "AZ_BATCH_NODE_SHARED_DIR"


def storage_key(config: ConfigSet, link_name: str, certs: Optional[Path] = None) -> str:
    """A storage link's key, decrypted with the pool certificate when encryption is enabled
    (``certs``: where the certificate is; default ``$AZ_BATCH_CERTIFICATES_DIR``)."""
    link = (config.credentials.storage if config.credentials else {}).get(link_name)
    if link is None:
        raise ConfigError(f"storage link '{link_name}' is not in the credentials")
    key = link.account_key.get_secret_value() if link.account_key else ""
    encryption = config.general.batch_shipyard.encryption if config.general else None
    if key and encryption and encryption.enabled:
        from shipyard.node.secrets import certificates_dir, decrypt_secret, load_certificate_key

        if not (encryption.pfx and encryption.pfx.sha1_thumbprint):
            raise ConfigError("encryption is enabled but batch_shipyard.encryption.pfx.sha1_thumbprint is not set")
        key = decrypt_secret(key, load_certificate_key(encryption.pfx.sha1_thumbprint, certs or certificates_dir()))
    return key


def azurefile_setup(
    config: Optional[ConfigSet], root: Union[str, Path], shared_dir: Path, state_dir: Path
) -> Optional[Setup]:
    """Node prep's minimal set-up: mount the Azure File volumes (only on the real root).

    The mounts are planned now (a volume whose storage link is missing is a ``ConfigError``
    before anything is checked); the returned callable mounts them once the checks pass. On any
    other root it only reports each mount as planned. None when there is nothing to mount.
    """
    from shipyard.node.azurefile import mount_azurefile, plan_azurefile_mounts
    from shipyard.node.check import is_live_root
    from shipyard.node.probes import mounted_paths, run_command
    from shipyard.sources import DirectorySource

    mounts = plan_azurefile_mounts(config.general if config else None, config.credentials if config else None, shared_dir)
    if not mounts or config is None:
        return None
    live = is_live_root(root)

    def setup() -> List[Dict[str, str]]:
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


LOCAL_FILES_DIR = ".shipyard-files"  # beside a local account's containers, never a container name


def local_share_dir(home: Union[str, Path], account: str, share: str) -> Path:
    """The folder that is an Azure File share of a local-store account (``endpoint: local``)."""
    return Path(home) / "storage" / account / LOCAL_FILES_DIR / share


def local_store_setup(config: Optional[ConfigSet], shared_dir: Path, home: Union[str, Path],
                      bind: bool = False, certs: Optional[Path] = None) -> Optional[Setup]:
    """The local backend's set-up: each Azure File volume is a folder of the local store, linked
    where Batch would have mounted the share (``$AZ_BATCH_NODE_SHARED_DIR/azfile-<account>-<share>``).
    With ``bind`` (a node that runs inside its image, where a link to a host path leads nowhere)
    the mount point is an empty directory, which the node's sandbox binds the folder onto.

    A volume on a storage link that is not the local store cannot be linked on this machine: the
    set-up fails with one line saying so. A key that is encrypted must still decrypt with the pool
    certificate, as on Azure. None when there is nothing to link.
    """
    from shipyard.node.azurefile import plan_azurefile_mounts

    mounts = plan_azurefile_mounts(config.general if config else None, config.credentials if config else None, shared_dir)
    if not mounts or config is None:
        return None
    links = config.credentials.storage if config.credentials else {}

    def setup() -> List[Dict[str, str]]:
        done = []
        for mount in mounts:
            link = links[mount.link]
            if not link.is_local or link.blob_endpoint:
                raise ShipyardError(
                    f"Azure File volume '{mount.volume}' is on storage link '{mount.link}', which is not the local "
                    "store: the local backend links only shares of links with endpoint: local")
            if "/" in mount.share or mount.share in (".", ".."):
                raise ConfigError(f"'{mount.share}' is not a valid Azure File share name")
            storage_key(config, mount.link, certs)
            target = local_share_dir(home, link.account, mount.share)
            target.mkdir(parents=True, exist_ok=True)
            state = "linked"
            if bind:
                if mount.mount_point.is_symlink() or (mount.mount_point.exists() and not mount.mount_point.is_dir()):
                    raise ShipyardError(f"{mount.mount_point} exists and is not the mount point of volume "
                                        f"'{mount.volume}'")
                mount.mount_point.mkdir(parents=True, exist_ok=True)
                state = "bound"
            elif mount.mount_point.is_symlink() and os.readlink(mount.mount_point) == str(target):
                state = "already linked"
            elif mount.mount_point.is_symlink() or mount.mount_point.exists():
                raise ShipyardError(f"{mount.mount_point} exists and is not the link to volume '{mount.volume}'")
            else:
                mount.mount_point.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, mount.mount_point)
            done.append({"volume": mount.volume, "source": str(target), "mount_point": str(mount.mount_point),
                         "state": state})
        return done

    return setup


def default_shared_dir(state_dir: Union[str, Path]) -> Path:
    """Where the volumes are mounted: Batch's shared directory in a start task, else beside the marker."""
    return Path(os.environ.get(SHARED_DIR_ENV) or Path(state_dir) / "shared")


def _failure_text(exc: BaseException) -> str:
    """What a failure marker says about ``exc``: a shipyard error's own line, else its type too."""
    return str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"


def prepare_node(
    root: Union[str, Path] = "/",
    *,
    configdir: Union[str, Path, None] = None,
    files: Optional[Mapping[str, Union[str, Path]]] = None,
    vm_size: Optional[str] = None,
    node_agent: Optional[str] = None,
    state_dir: Union[str, Path, None] = None,
    shared_dir: Union[str, Path, None] = None,
    force: bool = False,
) -> PrepResult:
    """The whole of node prep for the node rooted at ``root``: checks, set-up and marker.

    ``configdir``/``files`` name the config files as ``--configdir``/``--pool`` do (none: the
    checks need no config); ``vm_size`` and ``node_agent`` override the pool's. ``state_dir``
    defaults to ``shipyard.node.prep.default_state_dir(root)``, ``shared_dir`` to
    ``default_shared_dir(state_dir)``. A failure before the checks run (a bad config, a missing
    storage link) leaves a failure marker, then is raised; a failed check or set-up step is in
    the result (``status == "failed"``), as is a run skipped because the marker says it is done.
    """
    from shipyard.node.prep import default_state_dir, record_failure, run_node_prep
    from shipyard.rules.context import PoolContext

    state = Path(state_dir) if state_dir else default_state_dir(root)
    try:
        from shipyard.config.given import load_given

        config = load_given(configdir, files)
        pool = PoolContext.from_config(config, vm_size=vm_size, node_agent=node_agent)
        shared = Path(shared_dir) if shared_dir else default_shared_dir(state)
        setup = azurefile_setup(config, root, shared, state)
    except Exception as exc:  # recorded, then raised for the caller to report
        record_failure(state, _failure_text(exc))
        raise
    return run_node_prep(root, pool, state, force=force, setup=setup)
