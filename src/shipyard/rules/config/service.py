"""What the Batch service and the credentials accept: a known node agent, a User Subscription
account for custom images, simplified node communication, and a linked storage account."""

from __future__ import annotations

from shipyard.catalog.node_agents import get_node_agent
from shipyard.config.backend import batch_backend, node_communication_mode
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.results import Outcome, Severity
from shipyard.rules.config.base import (
    CUSTOM_IMAGE,
    POOL,
    POOL_AND_CREDENTIALS,
    ConfigRule,
    Findings,
    credentials_of,
    custom_image,
    general_of,
    link_names,
    needs,
    pool_file,
)
from shipyard.rules.context import PoolContext


def check_node_agent(config: ConfigSet, context: PoolContext) -> Findings:
    image = custom_image(config)
    if image is None:
        return
    where = pool_file(config).location((*CUSTOM_IMAGE, "node_agent"))
    sku = get_node_agent(image.node_agent)
    if sku is None:
        yield Outcome.bad(
            f"'{image.node_agent}' is not a known node agent SKU id; `shipyard pool listskus` lists them", where
        )
    elif not sku.is_current:
        yield Outcome.warn(f"'{sku.id}' is retired: Azure Batch no longer accepts it for new pools", where)


def check_account_mode(config: ConfigSet, context: PoolContext) -> Findings:
    if custom_image(config) is None:
        return
    batch = credentials_of(config).batch
    creds = config.files[ConfigKind.CREDENTIALS]
    if batch is None or batch_backend(config).kind == "local":
        return  # the local backend has no Batch account, so no allocation mode
    if batch.pool_allocation_mode == "batch_service":
        yield Outcome.bad(
            "custom images need a User Subscription Batch account; this account is in Batch Service mode",
            creds.location(("credentials", "batch", "pool_allocation_mode")),
        )
    elif batch.pool_allocation_mode is None and batch.account_key is not None and batch.aad is None:
        yield Outcome.warn(
            "custom images need a User Subscription Batch account, which authenticates with Azure AD only; "
            "only an account_key is given (set pool_allocation_mode to say which mode the account is in)",
            creds.location(("credentials", "batch")),
        )


def check_node_communication_mode(config: ConfigSet, context: PoolContext) -> Findings:
    """``classic`` written for an Azure account: retired on 2026-03-31."""
    effective = node_communication_mode(config)
    if effective and effective["source"] == "set" and effective["mode"] == "classic" and effective["backend"] == "azure":
        yield Outcome.bad(
            "classic was retired by Azure Batch on 2026-03-31: set simplified or remove the key (simplified "
            "nodes need no inbound port, only outbound 443 to BatchNodeManagement.<region>)",
            pool_file(config).location(("pool_specification", "node_communication_mode")),
        )


def check_storage_account_settings(config: ConfigSet, context: PoolContext) -> Findings:
    name = general_of(config).batch_shipyard.storage_account_settings
    credentials = credentials_of(config)
    if name not in credentials.storage:
        yield Outcome.bad(
            f"'{name}' is not one of the credentials' storage links ({link_names(credentials)})",
            config.files[ConfigKind.CONFIG].location(("batch_shipyard", "storage_account_settings")),
        )


RULES: tuple[ConfigRule, ...] = (
    ConfigRule(
        "custom_image.node_agent", Severity.ERROR, "node_agent is a known node agent SKU id",
        "set node_agent to a current SKU id from `shipyard pool listskus`",
        check_node_agent, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.account_mode", Severity.ERROR, "custom images need a User Subscription Batch account",
        "use a Batch account in User Subscription mode, with Azure AD credentials (credentials.batch.aad)",
        check_account_mode, needs(*POOL_AND_CREDENTIALS),
    ),
    ConfigRule(
        "pool.node_communication_mode", Severity.ERROR,
        "classic node communication is not set for an Azure Batch account",
        "set node_communication_mode to simplified, or remove the key",
        check_node_communication_mode, needs(*POOL_AND_CREDENTIALS),
    ),
    ConfigRule(
        "config.storage_link", Severity.ERROR, "storage_account_settings names a credentials storage link",
        "set batch_shipyard.storage_account_settings to one of the storage links in credentials.yaml",
        check_storage_account_settings, needs(ConfigKind.CONFIG, ConfigKind.CREDENTIALS),
    ),
)
