"""What `image publish` will do, worked out before any request to the gallery: the plan.

:func:`plan_publish` reads the loaded config (credentials and pool), opens the VHD blob in place
with its storage link, reads its facts and runs the image rules on it (an image an error rule
fails is not published), and from those makes the definition's fields, the replicas, the
target regions, the provenance tags and, for Azure, the ARM requests. The version is named by
the caller (``--version``) or later: :func:`choose_version` reuses the version an earlier
publish of the same blob made, so a rerun resumes instead of publishing twice.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shipyard import __version__
from shipyard.config.backend import batch_backend
from shipyard.config.credentials import StorageLink
from shipyard.config.loader import ConfigSet
from shipyard.errors import GalleryError, UsageError
from shipyard.gallery import plan as planning
from shipyard.gallery.definition import DefinitionFields, check_name, definition_fields
from shipyard.gallery.requests import ArmRequest, GalleryTarget, VersionSource, publish_requests, storage_account_id

DEFAULT_GALLERY = "shipyard"
DIGEST_TAG = "shipyard_sparse_sha256"
SOURCE_TAG = "shipyard_source"


@dataclass(frozen=True)
class PublishOptions:
    gallery: str = DEFAULT_GALLERY
    definition: str | None = None
    version: str | None = None
    source: str | None = None
    resource_group: str | None = None
    nodes_per_replica: int = planning.NODES_PER_REPLICA
    max_replicas: int | None = None
    regions: tuple[str, ...] = ()
    skip_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishPlan:
    backend: str  # "azure" or "local"
    target: GalleryTarget  # version "" until chosen
    fields: DefinitionFields
    source: VersionSource
    image_uris: tuple[str, ...]  # local: the VHDs the version boots from
    nodes: int
    replicas: int
    regions: tuple[str, ...]
    tags: dict[str, str]
    digest: str | None
    checks: dict[str, int] = field(default_factory=dict)  # status -> count

    def with_version(self, version: str) -> PublishPlan:
        return replace(self, target=replace(self.target, version=version))

    @property
    def requests(self) -> list[ArmRequest]:
        return publish_requests(self.target, self.fields, self.source, self.replicas, self.regions, self.tags)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "arm_image_id": self.target.version_id if self.target.version else None,
            "gallery": self.target.gallery, "definition": self.target.definition, "version": self.target.version,
            "resource_group": self.target.resource_group, "location": self.target.location,
            "definition_fields": {k: v for k, v in self.fields.as_dict().items() if k != "reasons"},
            "reasons": self.fields.reasons, "source": self.source.uri, "image_uris": list(self.image_uris),
            "nodes": self.nodes, "replicas": self.replicas, "regions": list(self.regions), "tags": self.tags,
            "checks": self.checks,
        }


def batch_region(config: ConfigSet) -> str:
    """The Batch account's region: from ``https://<account>.<region>.batch.azure.com``, else the
    account's location as the management plane reads it."""
    from shipyard.azure.batch_account import account_region

    assert config.credentials is not None
    region = account_region(config.credentials, GalleryError)
    if region is None:
        batch = config.credentials.batch
        raise UsageError(f"credentials.batch.account_service_url {batch.account_service_url if batch else None!r}: "
                         "the region cannot be read from it (https://<account>.<region>.batch.azure.com), and "
                         "credentials.batch.resource_group with credentials.management.subscription_id would let "
                         "shipyard ask the management plane", hint="or pass --region REGION for the account's region")
    return planning.normalise_region(region)


def plan_publish(config: ConfigSet, options: PublishOptions) -> PublishPlan:
    """The plan for the pool in ``config`` (credentials and pool loaded); usage errors for bad input,
    ``GalleryError`` for an image the rules fail."""
    from shipyard.storage.blob_open import find_blob_link

    credentials, pool = config.credentials, config.pool
    assert credentials is not None and pool is not None
    backend = batch_backend(config)
    if backend.kind is None:
        raise UsageError(f"cannot tell the backend: {backend.reason}")
    custom = pool.vm_configuration.custom_image
    if custom is None:
        raise UsageError(f"pool '{pool.id}' has no custom_image: nothing to publish")
    source = options.source
    if source is None:
        if not custom.image_uris:
            raise UsageError(f"pool '{pool.id}' lists no image_uris: pass --source URI (see `image upload`)")
        source = custom.image_uris[0]
    links = dict(credentials.storage)
    if not links:
        raise UsageError("credentials.yaml has no storage links (credentials.storage)")
    link_name, _ = find_blob_link(source, links)
    gallery = check_name(options.gallery, "--gallery")
    fields, digest, passed, counts = _read_image(config, source, links, custom.node_agent, options.skip_checks)
    definition = check_name(options.definition or fields.default_name, "--definition")
    version = planning.parse_version(options.version) if options.version else ""
    nodes = pool.max_node_count
    base_tags = {"shipyard_version": __version__, DIGEST_TAG: digest or "unknown", SOURCE_TAG: source}
    tags = planning.provenance_tags(base_tags, passed)
    if backend.kind == "local":
        from shipyard.storage.local_gallery import LOCAL_RESOURCE_GROUP, LOCAL_SUBSCRIPTION

        target = GalleryTarget(LOCAL_SUBSCRIPTION, LOCAL_RESOURCE_GROUP, gallery, definition, version, "local")
        uris = tuple(custom.image_uris or ()) if source in (custom.image_uris or ()) else (source,)
        return PublishPlan("local", target, fields, VersionSource(source, ""), uris, nodes, 0, (), tags, digest, counts)
    link = links[link_name]
    try:
        region = batch_region(config)
    except UsageError:
        if not options.regions:
            raise
        region = options.regions[0]  # the user named the regions: the first is the account's
    subscription = _subscription(config, link, link_name)
    group = options.resource_group or (credentials.batch.resource_group if credentials.batch else None) or link.resource_group
    if not group:
        raise UsageError("no resource group for the gallery: pass --resource-group, or set "
                         "credentials.batch.resource_group")
    if not link.resource_group:
        raise UsageError(f"storage link '{link_name}' has no resource_group: the image version needs the id of the "
                         "storage account that holds the VHD", hint=f"set credentials.storage.{link_name}.resource_group")
    account_id = storage_account_id(link.subscription_id or subscription, link.resource_group, link.account)
    replicas = planning.replica_count(nodes, options.nodes_per_replica, options.max_replicas)
    regions = tuple(planning.target_regions(region, options.regions))
    target = GalleryTarget(subscription, group, gallery, definition, version, region)
    return PublishPlan("azure", target, fields, VersionSource(source, account_id), (source,), nodes, replicas, regions,
                       tags, digest, counts)


def _subscription(config: ConfigSet, link: StorageLink, link_name: str) -> str:
    management = config.credentials.management if config.credentials else None
    subscription = (management.subscription_id if management else None) or link.subscription_id
    if not subscription:
        raise UsageError("no subscription for the gallery: set credentials.management.subscription_id",
                         hint=f"or credentials.storage.{link_name}.subscription_id")
    return subscription


def _read_image(
    config: ConfigSet, source: str, links: Mapping[str, StorageLink], node_agent: str, skip: Sequence[str],
) -> tuple[DefinitionFields, str | None, list[str], dict[str, int]]:
    """The definition's fields, the recorded sparse digest, the rule ids that passed, and the counts
    per status, from the blob read in place. An error rule that fails stops the publish."""
    from shipyard.checks.image import inspect_image
    from shipyard.results import Status, failed
    from shipyard.rules.context import PoolContext
    from shipyard.rules.engine import evaluate_rules
    from shipyard.rules.registry import RULES, RULE_IDS
    from shipyard.storage.blob_open import open_blob_in
    from shipyard.storage.digest import recorded_digest

    unknown = [s for s in skip if s not in RULE_IDS]
    if unknown:
        raise UsageError(f"--skip-check: unknown rule id {', '.join(unknown)}")
    device = open_blob_in(source, links)
    try:
        inspection = inspect_image(device)
        digest = recorded_digest(device.properties)
    finally:
        device.close()
    results = evaluate_rules(RULES, inspection.evidence, PoolContext.from_config(config), skip=tuple(skip))
    failing = [r.id for r in results if failed([r])]
    if failing:
        raise GalleryError(f"{source}: {len(failing)} image rule(s) fail: {', '.join(failing)}; not published",
                           hint=f"run `shipyard image check {source}` for the details (or --skip-check ID)")
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status.value] = counts.get(result.status.value, 0) + 1
    passed = [r.id for r in results if r.status is Status.PASS]
    return definition_fields(inspection.facts, node_agent), digest, passed, counts


def choose_version(plan: PublishPlan, existing: Mapping[str, Mapping[str, str]], today: datetime.date) -> tuple[str, bool]:
    """The version name for a plan without ``--version``: the existing version published from the
    same blob with the same digest (True: found), else today's first free ``YEAR.MMDD.N``."""
    for name, tags in sorted(existing.items(), key=lambda item: item[0]):
        if tags.get(SOURCE_TAG) == plan.source.uri and plan.digest and tags.get(DIGEST_TAG) == plan.digest:
            return name, True
    return planning.default_version(today, existing), False

