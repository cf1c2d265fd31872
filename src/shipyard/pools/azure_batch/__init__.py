"""The Azure Batch backend: the pool/job protocol on the official ``azure-batch`` SDK.

``client`` opens the account's ``BatchClient`` and words its errors; ``to_sdk`` and ``from_sdk``
map shipyard's models to the SDK's and back, one to one; ``nodeprep`` stages the start task (the
node bundle and the pool's config files, uploaded once); ``backend`` implements
:class:`~shipyard.pools.protocol.PoolBackend`; ``images`` reads the account's supported images;
``account`` reads the account through the management plane. ``open_azure_backend`` puts them
together from the config files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard import __version__
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import ConfigError

if TYPE_CHECKING:
    from shipyard.pools.azure_batch.arm_pools import ArmPools
    from shipyard.pools.azure_batch.backend import AzureBatchBackend
    from shipyard.pools.azure_batch.to_sdk import StartTaskPlan
    from shipyard.pools.models import PoolSpec

BUNDLE_ENV = "SHIPYARD_NODE_BUNDLE"  # a prebuilt `shipyard node bundle` folder (air-gapped machines)


def bundle_dir(home: Path) -> Path:
    """The node bundle the start task runs: ``$SHIPYARD_NODE_BUNDLE``, else one built once per
    shipyard version under the shipyard home (``node bundle``: ``pip download`` on this machine)."""
    given = os.environ.get(BUNDLE_ENV)
    if given:
        return Path(given)
    path = home / "bundles" / __version__
    if not (path / "nodeprep.py").is_file():
        from shipyard.node.bundle import build_bundle

        build_bundle(path, overwrite=True)
    return path


def open_azure_backend(config: ConfigSet) -> AzureBatchBackend:
    """The backend for the account of ``config``'s credentials; a config error at its file and line."""
    try:
        return _open(config)
    except ConfigError as exc:
        raise located(exc, config) from None


def located(exc: ConfigError, config: ConfigSet) -> ConfigError:
    """``exc`` with the file and line of its key path, where it names only the path."""
    if exc.file or not exc.path:
        return exc
    kind = ConfigKind.CREDENTIALS if exc.path.startswith("credentials.") else ConfigKind.CONFIG
    if kind not in config.files:
        return exc
    where = config.files[kind].location(tuple(exc.path.split(".")))
    return ConfigError(exc.message, file=where.file, line=where.line, path=where.path, hint=exc.hint)


def _open(config: ConfigSet) -> AzureBatchBackend:
    from shipyard.pools.azure_batch.backend import AzureBatchBackend
    from shipyard.pools.azure_batch.client import open_session
    from shipyard.pools.azure_batch.nodeprep import NodePrepStager
    from shipyard.pools.azure_batch.sas import TaskUrls
    from shipyard.storage.open import open_store, shipyard_home

    credentials = config.credentials
    assert credentials is not None
    settings = config.general.batch_shipyard if config.general is not None else None
    link_name = settings.storage_account_settings if settings is not None else None
    link = credentials.storage.get(link_name) if link_name else None
    if link is None:
        raise ConfigError(
            "an Azure Batch pool needs a storage link for its start task's files: "
            f"'{link_name}' is not in credentials.storage" if link_name else
            "an Azure Batch pool needs config.yaml's batch_shipyard.storage_account_settings (a storage link)",
            path="batch_shipyard.storage_account_settings",
        )
    session = open_session(credentials)
    home = shipyard_home()

    def start_task(spec: PoolSpec) -> StartTaskPlan:
        return NodePrepStager(open_store(link), bundle_dir(home))(spec)

    def arm_pools() -> ArmPools | None:
        from shipyard.pools.azure_batch.arm_pools import open_arm_pools

        return open_arm_pools(credentials)

    return AzureBatchBackend(session, start_task, sas_for=TaskUrls(credentials.storage), arm_pools=arm_pools)
