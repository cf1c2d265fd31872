"""The one place that picks a pool backend from the credentials (``config.backend.batch_backend``).

``credentials.batch.account_service_url: local://...``, a ``batch`` section without a URL, no
``batch`` section or no credentials file: the local backend (``pools.local``). Any other URL
names an Azure Batch account: the Azure Batch backend (``pools.azure_batch``). A credentials file that did not load or
validate is its first ``ConfigError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.config.backend import BackendKind, batch_backend
from shipyard.config.diagnostics import as_config_error
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.errors import BackendError, ConfigError

if TYPE_CHECKING:
    from shipyard.pools.protocol import PoolBackend

LOCAL_BACKEND_MODULE = "shipyard.pools.local.backend"


def backend_kind(config: ConfigSet) -> BackendKind:
    """``local`` or ``azure``, as the credentials say; the credentials' first error when they do not load."""
    backend = batch_backend(config)
    if backend.kind is not None:
        return backend.kind
    path = str(config.failed.get(ConfigKind.CREDENTIALS) or config.files[ConfigKind.CREDENTIALS].document.path)
    errors = [result for result in config.errors if result.location and result.location.file == path]
    if errors:
        raise as_config_error(errors)
    raise ConfigError(f"cannot tell the pool backend: {backend.reason}", file=path)


def open_backend(config: ConfigSet) -> PoolBackend:
    """The backend the credentials name, opened."""
    kind = backend_kind(config)
    if kind == "azure":
        from shipyard.pools.azure_batch import open_azure_backend

        return open_azure_backend(config)
    from importlib import import_module

    try:
        module = import_module(LOCAL_BACKEND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != LOCAL_BACKEND_MODULE:
            raise
        raise BackendError("the local backend is not part of this build of shipyard") from None
    backend: PoolBackend = module.LocalBackend()
    return backend
