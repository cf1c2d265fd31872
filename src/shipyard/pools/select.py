"""The one place that picks a pool backend from the credentials (``config.backend.batch_backend``).

``credentials.batch.account_service_url: local://...``, a ``batch`` section without a URL, no
``batch`` section or no credentials file: the local backend (``pools.local``). Any other URL
names an Azure Batch account, whose backend is not available yet (issue 14): a one-line
``BackendError`` says so and how to run locally instead. A credentials file that did not load or
validate is its first ``ConfigError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.config.backend import ACCOUNT_URL_PATH, LOCAL_SCHEME, BackendKind, batch_backend
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
    errors = [finding for finding in config.errors if finding.file == path]
    if errors:
        first = errors[0]
        raise ConfigError(first.message, file=first.file, line=first.line, path=first.path, more=len(errors) - 1)
    raise ConfigError(f"cannot tell the pool backend: {backend.reason}", file=path)


def open_backend(config: ConfigSet) -> PoolBackend:
    """The backend the credentials name, opened."""
    kind = backend_kind(config)
    if kind == "azure":
        batch = config.credentials.batch if config.credentials else None
        account = batch.account_name if batch else None
        raise BackendError(
            f"{ACCOUNT_URL_PATH} names the Azure Batch account '{account}': the Azure Batch backend is not "
            "available yet (issue 14)",
            hint=f"to run the pool on this machine, set it to {LOCAL_SCHEME} or remove the batch section",
        )
    from importlib import import_module

    try:
        module = import_module(LOCAL_BACKEND_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != LOCAL_BACKEND_MODULE:
            raise
        raise BackendError("the local backend is not part of this build of shipyard") from None
    backend: PoolBackend = module.LocalBackend()
    return backend
