"""The VHDs a pool names in ``image_uris``: bare page-blob URIs, in linked storage accounts,
enough of them for the pool's nodes, each in its own account."""

from __future__ import annotations

from shipyard.catalog.vhd_policy import vhd_shortfall_message
from shipyard.config.loader import ConfigSet
from shipyard.redact import strip_query
from shipyard.results import Outcome, Severity
from shipyard.rules.config.base import (
    CUSTOM_IMAGE,
    POOL,
    POOL_AND_CREDENTIALS,
    ConfigRule,
    Findings,
    credentials_of,
    custom_image,
    image_uris,
    link_names,
    needs,
    pool_file,
    pool_spec,
)
from shipyard.rules.context import PoolContext
from shipyard.config.blob_uri import BlobUriError, has_query, parse_blob_uri

IMAGE_URIS = (*CUSTOM_IMAGE, "image_uris")


def check_bare_uris(config: ConfigSet, context: PoolContext) -> Findings:
    pool = pool_file(config)
    for index, uri in enumerate(image_uris(config)):
        where = pool.location((*IMAGE_URIS, index))
        if has_query(uri):
            yield Outcome.bad(
                f"image URIs must be bare, with no query string or SAS token: use {strip_query(uri)}", where
            )
            continue
        try:
            parse_blob_uri(uri)
        except BlobUriError as exc:
            yield Outcome.bad(str(exc), where)


def check_uri_storage_links(config: ConfigSet, context: PoolContext) -> Findings:
    credentials = credentials_of(config)
    pool = pool_file(config)
    for index, uri in enumerate(image_uris(config)):
        if has_query(uri):
            continue  # reported by custom_image.bare_uri
        try:
            ref = parse_blob_uri(uri, credentials.storage)
        except BlobUriError:
            continue  # reported by custom_image.bare_uri
        if ref.link is None:
            yield Outcome.bad(
                f"storage account '{ref.account}' is not one of the credentials' storage links "
                f"({link_names(credentials)})",
                pool.location((*IMAGE_URIS, index)),
            )


def check_vhd_count(config: ConfigSet, context: PoolContext) -> Findings:
    image = custom_image(config)
    if image is None or not image.image_uris:
        return
    pool = pool_spec(config)
    vhds = len(image.image_uris)
    where = pool_file(config).location(IMAGE_URIS)
    message = vhd_shortfall_message(vhds, pool.vm_count.total, image.node_agent)
    if message:
        yield Outcome.bad(message, where)
        return
    scenario = pool.autoscale.scenario if pool.autoscale else None
    if scenario and scenario.maximum_vm_count:
        message = vhd_shortfall_message(vhds, scenario.maximum_vm_count.total, image.node_agent)
        if message:
            yield Outcome.bad(f"autoscale maximum_vm_count: {message}", where)


def check_distinct_accounts(config: ConfigSet, context: PoolContext) -> Findings:
    seen: dict[str, int] = {}
    links = config.credentials.storage if config.credentials else None
    for index, uri in enumerate(image_uris(config)):
        try:
            ref = parse_blob_uri(uri, links)
        except BlobUriError:
            continue
        key = ref.link or ref.account
        if key in seen:
            yield Outcome.bad(
                f"shares storage account '{ref.account}' with image_uris[{seen[key]}]; put each VHD copy in "
                "its own account so the copies do not share one throttling limit",
                pool_file(config).location((*IMAGE_URIS, index)),
            )
        else:
            seen[key] = index


RULES: tuple[ConfigRule, ...] = (
    ConfigRule(
        "custom_image.bare_uri", Severity.ERROR, "image URIs are bare page-blob URIs, with no SAS",
        "write each VHD as https://<account>.blob.core.windows.net/<container>/<blob>, without a query string",
        check_bare_uris, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.storage_link", Severity.ERROR, "each image URI names one of the credentials' storage links",
        "add a storage link for the account to credentials.yaml, or use an account that has one",
        check_uri_storage_links, needs(*POOL_AND_CREDENTIALS),
    ),
    ConfigRule(
        "custom_image.vhd_count", Severity.ERROR, "one VHD per 40 Linux or 20 Windows nodes",
        "copy the VHD to more storage accounts (`shipyard image replicate`) and list every copy in image_uris",
        check_vhd_count, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.distinct_accounts", Severity.WARNING, "each VHD copy in its own storage account",
        "put each VHD copy in a storage account of its own (`shipyard image replicate`)",
        check_distinct_accounts, needs(*POOL),
    ),
)
