"""Custom-image rules that can be decided from the config files alone.

Each rule has a stable dotted id, the config files it needs, and a function that yields
findings. A rule whose files are missing is skipped (and listed as such), never failed. A rule
that raises becomes an error finding that names it, so the other rules still report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from shipyard.catalog.node_agents import get_node_agent
from shipyard.catalog.vhd_policy import vhd_shortfall_message
from shipyard.config.backend import batch_backend, node_communication_mode
from shipyard.config.credentials import Credentials
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet, Finding, LoadedFile
from shipyard.config.pool import CustomImage, PoolSpecification
from shipyard.config.settings import GeneralConfig
from shipyard.redact import redact, strip_query
from shipyard.storage.uri import BlobUriError, has_query, parse_blob_uri

VM_CONFIG = ("pool_specification", "vm_configuration")
CUSTOM_IMAGE = (*VM_CONFIG, "custom_image")

_GALLERY_VERSION_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+"
    r"/images/[^/]+(/versions/[^/]+)?$",
    re.IGNORECASE,
)
_MANAGED_IMAGE_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/images/[^/]+$", re.IGNORECASE
)


@dataclass(frozen=True)
class ConfigRule:
    id: str
    needs: tuple[ConfigKind, ...]
    run: Callable[[ConfigSet], Iterable[Finding]]
    summary: str


@dataclass(frozen=True)
class SkippedRule:
    id: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"check": self.id, "reason": self.reason}


def _pool_file(config: ConfigSet) -> LoadedFile:
    return config.files[ConfigKind.POOL]


# A rule runs only when the files it needs loaded (``run_config_rules``); these say so to mypy.
def _pool(config: ConfigSet) -> PoolSpecification:
    pool = config.pool
    if pool is None:
        raise LookupError("the pool file did not load")
    return pool


def _credentials(config: ConfigSet) -> Credentials:
    credentials = config.credentials
    if credentials is None:
        raise LookupError("the credentials file did not load")
    return credentials


def _general(config: ConfigSet) -> GeneralConfig:
    general = config.general
    if general is None:
        raise LookupError("the config file did not load")
    return general


def _custom_image(config: ConfigSet) -> CustomImage | None:
    pool = config.pool
    return pool.vm_configuration.custom_image if pool else None


def _image_uris(config: ConfigSet) -> list[str]:
    image = _custom_image(config)
    return list(image.image_uris or []) if image else []


def check_image_source(config: ConfigSet) -> Iterable[Finding]:
    vm = _pool(config).vm_configuration
    pool = _pool_file(config)
    if vm.platform_image and vm.custom_image:
        yield pool.finding(
            "error",
            "cannot specify both a platform_image and a custom_image; keep exactly one",
            VM_CONFIG,
        )
    elif not vm.platform_image and not vm.custom_image:
        yield pool.finding("error", "needs a platform_image or a custom_image", VM_CONFIG)


def check_custom_image_source(config: ConfigSet) -> Iterable[Finding]:
    image = _custom_image(config)
    if image is None:
        return
    pool = _pool_file(config)
    if image.image_uris is not None and image.arm_image_id:
        yield pool.finding(
            "error",
            "cannot specify both image_uris (VHD page blobs) and arm_image_id; keep exactly one",
            CUSTOM_IMAGE,
        )
    elif image.image_uris is None and not image.arm_image_id:
        yield pool.finding("error", "needs image_uris (VHD page-blob URIs) or arm_image_id", CUSTOM_IMAGE)
    elif image.image_uris is not None and not image.image_uris:
        yield pool.finding("error", "image_uris is empty: list at least one VHD URI", (*CUSTOM_IMAGE, "image_uris"))


def check_arm_image_id(config: ConfigSet) -> Iterable[Finding]:
    """A managed image is an error on either backend; anything but a gallery id is too."""
    image = _custom_image(config)
    if image is None or not image.arm_image_id:
        return
    path = (*CUSTOM_IMAGE, "arm_image_id")
    value = image.arm_image_id.strip()
    if _MANAGED_IMAGE_RE.match(value):
        if batch_backend(config).is_azure:
            where = "Azure Batch retired managed-image pools on 2026-03-31"
        else:
            where = (
                "no backend runs one: Azure Batch retired managed-image pools on 2026-03-31 and the "
                "local backend runs VHDs (image_uris)"
            )
        yield _pool_file(config).finding(
            "error",
            f"is a managed image; {where}: publish it as a Compute Gallery image version and use its id",
            path,
        )
    elif not _GALLERY_VERSION_RE.match(value):
        yield _pool_file(config).finding(
            "error",
            "must be a Compute Gallery image (version) id: /subscriptions/<id>/resourceGroups/<rg>/providers/"
            "Microsoft.Compute/galleries/<gallery>/images/<image>/versions/<version>",
            path,
        )


def check_vhds_on_azure(config: ConfigSet) -> Iterable[Finding]:
    """``image_uris`` left the Batch API in 2017: on an Azure account they lead nowhere."""
    image = _custom_image(config)
    if image is None or not image.image_uris or not batch_backend(config).is_azure:
        return
    yield _pool_file(config).finding(
        "warning",
        "VHD image_uris serve the local backend only; Azure Batch takes a custom image only as an Azure "
        "Compute Gallery image version: publish the VHD to a gallery and set arm_image_id to the version id",
        (*CUSTOM_IMAGE, "image_uris"),
    )


def check_node_communication_mode(config: ConfigSet) -> Iterable[Finding]:
    """``classic`` written for an Azure account: retired on 2026-03-31."""
    effective = node_communication_mode(config)
    if effective and effective["source"] == "set" and effective["mode"] == "classic" and effective["backend"] == "azure":
        yield _pool_file(config).finding(
            "error",
            "classic was retired by Azure Batch on 2026-03-31: set simplified or remove the key (simplified "
            "nodes need no inbound port, only outbound 443 to BatchNodeManagement.<region>)",
            ("pool_specification", "node_communication_mode"),
        )


def check_bare_uris(config: ConfigSet) -> Iterable[Finding]:
    pool = _pool_file(config)
    for index, uri in enumerate(_image_uris(config)):
        path = (*CUSTOM_IMAGE, "image_uris", index)
        if has_query(uri):
            yield pool.finding(
                "error",
                f"image URIs must be bare, with no query string or SAS token: use {strip_query(uri)}",
                path,
            )
            continue
        try:
            parse_blob_uri(uri)
        except BlobUriError as exc:
            yield pool.finding("error", str(exc), path)


def _link_names(credentials: Credentials) -> str:
    return ", ".join(sorted(credentials.storage)) or "none"


def check_uri_storage_links(config: ConfigSet) -> Iterable[Finding]:
    credentials = _credentials(config)
    pool = _pool_file(config)
    for index, uri in enumerate(_image_uris(config)):
        if has_query(uri):
            continue  # reported by custom_image.bare_uri
        try:
            ref = parse_blob_uri(uri, credentials.storage)
        except BlobUriError:
            continue  # reported by custom_image.bare_uri
        if ref.link is None:
            yield pool.finding(
                "error",
                f"storage account '{ref.account}' is not one of the credentials' storage links "
                f"({_link_names(credentials)})",
                (*CUSTOM_IMAGE, "image_uris", index),
            )


def check_vhd_count(config: ConfigSet) -> Iterable[Finding]:
    image = _custom_image(config)
    if image is None or not image.image_uris:
        return
    pool = _pool(config)
    vhds = len(image.image_uris)
    path = (*CUSTOM_IMAGE, "image_uris")
    message = vhd_shortfall_message(vhds, pool.vm_count.total, image.node_agent)
    if message:
        yield _pool_file(config).finding("error", message, path)
        return
    scenario = pool.autoscale.scenario if pool.autoscale else None
    if scenario and scenario.maximum_vm_count:
        message = vhd_shortfall_message(vhds, scenario.maximum_vm_count.total, image.node_agent)
        if message:
            yield _pool_file(config).finding("error", f"autoscale maximum_vm_count: {message}", path)


def check_distinct_accounts(config: ConfigSet) -> Iterable[Finding]:
    seen: dict[str, int] = {}
    links = config.credentials.storage if config.credentials else None
    for index, uri in enumerate(_image_uris(config)):
        try:
            ref = parse_blob_uri(uri, links)
        except BlobUriError:
            continue
        key = ref.link or ref.account
        if key in seen:
            yield _pool_file(config).finding(
                "warning",
                f"shares storage account '{ref.account}' with image_uris[{seen[key]}]; put each VHD copy in "
                "its own account so the copies do not share one throttling limit",
                (*CUSTOM_IMAGE, "image_uris", index),
            )
        else:
            seen[key] = index


def check_node_agent(config: ConfigSet) -> Iterable[Finding]:
    image = _custom_image(config)
    if image is None:
        return
    path = (*CUSTOM_IMAGE, "node_agent")
    sku = get_node_agent(image.node_agent)
    if sku is None:
        yield _pool_file(config).finding(
            "error",
            f"'{image.node_agent}' is not a known node agent SKU id; `shipyard pool listskus` lists them",
            path,
        )
    elif not sku.is_current:
        yield _pool_file(config).finding(
            "warning", f"'{sku.id}' is retired: Azure Batch no longer accepts it for new pools", path
        )


def check_account_mode(config: ConfigSet) -> Iterable[Finding]:
    if _custom_image(config) is None:
        return
    batch = _credentials(config).batch
    creds = config.files[ConfigKind.CREDENTIALS]
    if batch is None or batch_backend(config).kind == "local":
        return  # the local backend has no Batch account, so no allocation mode
    if batch.pool_allocation_mode == "batch_service":
        yield creds.finding(
            "error",
            "custom images need a User Subscription Batch account; this account is in Batch Service mode",
            ("credentials", "batch", "pool_allocation_mode"),
        )
    elif batch.pool_allocation_mode is None and batch.account_key is not None and batch.aad is None:
        yield creds.finding(
            "warning",
            "custom images need a User Subscription Batch account, which authenticates with Azure AD only; "
            "only an account_key is given (set pool_allocation_mode to say which mode the account is in)",
            ("credentials", "batch"),
        )


def check_storage_account_settings(config: ConfigSet) -> Iterable[Finding]:
    name = _general(config).batch_shipyard.storage_account_settings
    credentials = _credentials(config)
    if name not in credentials.storage:
        yield config.files[ConfigKind.CONFIG].finding(
            "error",
            f"'{name}' is not one of the credentials' storage links ({_link_names(credentials)})",
            ("batch_shipyard", "storage_account_settings"),
        )


POOL = (ConfigKind.POOL,)
POOL_AND_CREDENTIALS = (ConfigKind.POOL, ConfigKind.CREDENTIALS)

CONFIG_RULES: tuple[ConfigRule, ...] = (
    ConfigRule("pool.image_source", POOL, check_image_source, "exactly one of platform_image and custom_image"),
    ConfigRule("custom_image.source", POOL, check_custom_image_source, "exactly one of image_uris and arm_image_id"),
    ConfigRule("custom_image.arm_image_id", POOL, check_arm_image_id, "arm_image_id is a Compute Gallery image id"),
    ConfigRule(
        "custom_image.azure_vhd",
        POOL_AND_CREDENTIALS,
        check_vhds_on_azure,
        "on an Azure Batch account, image_uris warn: publish to a Compute Gallery",
    ),
    ConfigRule("custom_image.bare_uri", POOL, check_bare_uris, "image URIs are bare page-blob URIs, with no SAS"),
    ConfigRule(
        "custom_image.storage_link",
        POOL_AND_CREDENTIALS,
        check_uri_storage_links,
        "each image URI names one of the credentials' storage links",
    ),
    ConfigRule("custom_image.vhd_count", POOL, check_vhd_count, "one VHD per 40 Linux or 20 Windows nodes"),
    ConfigRule(
        "custom_image.distinct_accounts", POOL, check_distinct_accounts, "each VHD copy in its own storage account"
    ),
    ConfigRule("custom_image.node_agent", POOL, check_node_agent, "node_agent is a known node agent SKU id"),
    ConfigRule(
        "custom_image.account_mode",
        POOL_AND_CREDENTIALS,
        check_account_mode,
        "custom images need a User Subscription Batch account",
    ),
    ConfigRule(
        "pool.node_communication_mode",
        POOL_AND_CREDENTIALS,
        check_node_communication_mode,
        "classic node communication is not set for an Azure Batch account",
    ),
    ConfigRule(
        "config.storage_link",
        (ConfigKind.CONFIG, ConfigKind.CREDENTIALS),
        check_storage_account_settings,
        "storage_account_settings names a credentials storage link",
    ),
)


def _skip_reason(config: ConfigSet, needs: tuple[ConfigKind, ...]) -> str | None:
    """Why a rule cannot run: a file not given, a file that did not load, or one with errors."""
    failed = [kind.value for kind in needs if kind in config.failed]
    if failed:
        return f"the {' and '.join(failed)} file{'s' * (len(failed) > 1)} did not load"
    missing = [kind.value for kind in needs if kind not in config.files]
    if missing:
        return f"no {' or '.join(missing)} file given"
    invalid = [kind.value for kind in needs if not config.has(kind)]
    if invalid:
        return f"the {' and '.join(invalid)} file{'s' * (len(invalid) > 1)} {'has' if len(invalid) == 1 else 'have'} errors"
    return None


def run_config_rules(
    config: ConfigSet, rules: Iterable[ConfigRule] = CONFIG_RULES
) -> tuple[list[Finding], list[SkippedRule]]:
    """Run every rule whose files are present and valid; list the others as skipped."""
    findings: list[Finding] = []
    skipped: list[SkippedRule] = []
    for rule in rules:
        reason = _skip_reason(config, rule.needs)
        if reason:
            skipped.append(SkippedRule(rule.id, reason))
            continue
        try:
            findings.extend(replace(finding, check=rule.id) for finding in rule.run(config))
        except Exception as exc:  # noqa: BLE001 -- one broken rule must not hide the others
            detail = redact(f"{type(exc).__name__}: {exc}")
            findings.append(Finding("error", f"check {rule.id} failed: {detail}", check=rule.id))
    return findings, skipped
