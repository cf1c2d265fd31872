"""Which Batch backend the config targets, and the node communication mode that follows from it.

The account is an Azure Batch account when ``credentials.batch.account_service_url`` is present
and is not a ``local://`` URL. Otherwise (a ``local://`` URL, a ``batch`` section without a URL,
no ``batch`` section, or no credentials file at all) the pool runs on the local backend.

``pool_specification.node_communication_mode`` defaults to ``simplified`` on Azure (Azure Batch
retired the classic mode on 2026-03-31) and to ``classic`` on the local backend, which keeps
the guide's model (inbound 29876/29877). A mode written in ``pool.yaml`` always wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet

BackendKind = Literal["azure", "local"]
LOCAL_SCHEME = "local://"
ACCOUNT_URL_PATH = "credentials.batch.account_service_url"


@dataclass(frozen=True)
class Backend:
    """``kind`` is None when the credentials file was given but did not load or validate."""

    kind: BackendKind | None
    reason: str

    @property
    def is_azure(self) -> bool:
        return self.kind == "azure"


def batch_backend(config: ConfigSet) -> Backend:
    """The backend the credentials name, with the reason in words."""
    if ConfigKind.CREDENTIALS in config.failed:
        return Backend(None, "the credentials file did not load")
    if ConfigKind.CREDENTIALS not in config.files:
        return Backend("local", "no credentials file given")
    credentials = config.credentials
    if credentials is None:
        return Backend(None, "the credentials file has errors")
    batch = credentials.batch
    if batch is None:
        return Backend("local", "the credentials have no batch section")
    url = (batch.account_service_url or "").strip()
    if not url:
        return Backend("local", "credentials.batch has no account_service_url")
    if url.lower().startswith(LOCAL_SCHEME):
        return Backend("local", f"{ACCOUNT_URL_PATH} is a {LOCAL_SCHEME} URL")
    return Backend("azure", f"{ACCOUNT_URL_PATH} names an Azure Batch account")


DEFAULT_MODE: dict[BackendKind, str] = {"azure": "simplified", "local": "classic"}


def node_communication_mode(config: ConfigSet) -> dict[str, Any] | None:
    """``{"mode", "source": "set"|"default", "backend", "reason"}`` for the pool; None without one.

    ``mode`` is None only when the mode is not set and the backend cannot be told (the
    credentials file did not load).
    """
    pool = config.pool
    if pool is None:
        return None
    backend = batch_backend(config)
    if "node_communication_mode" in pool.model_fields_set:
        return {
            "mode": pool.node_communication_mode,
            "source": "set",
            "backend": backend.kind,
            "reason": "set in pool_specification.node_communication_mode",
        }
    if backend.kind is None:
        return {"mode": None, "source": "default", "backend": None, "reason": f"not set, and {backend.reason}"}
    where = {"azure": "an Azure Batch account", "local": "the local backend"}[backend.kind]
    return {"mode": DEFAULT_MODE[backend.kind], "source": "default", "backend": backend.kind, "reason": f"default for {where}"}
