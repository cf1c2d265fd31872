"""The ARM requests that publish a gallery image version, as data: what `--dry-run` prints and the
real path sends (:mod:`shipyard.gallery.arm`), so that the two cannot differ.

Three PUTs, each only where a GET finds nothing (a gallery and a definition are reused): the
gallery, the image definition, the version from the VHD blob. Each body is built with
``azure.mgmt.compute``'s own models (their keyword names are checked there) and kept in the
JSON form they send (``as_dict``); ``model`` is what the SDK call takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.config.arm_ids import gallery_version_id
from shipyard.gallery.definition import DefinitionFields

API_VERSION = "2026-03-03"  # azure-mgmt-compute 39's gallery API; passed on every call
GALLERY_DESCRIPTION = "Images published by shipyard"


@dataclass(frozen=True)
class GalleryTarget:
    """Where the version goes: subscription, resource group, gallery, definition, version, region."""

    subscription: str
    resource_group: str
    gallery: str
    definition: str
    version: str
    location: str

    @property
    def gallery_id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.Compute/galleries/{self.gallery}")

    @property
    def definition_id(self) -> str:
        return f"{self.gallery_id}/images/{self.definition}"

    @property
    def version_id(self) -> str:
        """The ``arm_image_id`` a pool takes."""
        return gallery_version_id(self.subscription, self.resource_group, self.gallery, self.definition, self.version)


@dataclass(frozen=True)
class VersionSource:
    """The VHD page blob (its bare URI) and the id of the storage account that holds it."""

    uri: str
    storage_account_id: str


@dataclass(frozen=True)
class ArmRequest:
    method: str
    path: str
    body: dict[str, Any] | None
    purpose: str  # "create the gallery (if it does not exist)"
    api_version: str = API_VERSION
    model: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "api_version": self.api_version, "purpose": self.purpose,
                "body": self.body}


def storage_account_id(subscription: str, resource_group: str, account: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/"
            f"Microsoft.Storage/storageAccounts/{account}")


def gallery_request(target: GalleryTarget) -> ArmRequest:
    from azure.mgmt.compute import models

    model = models.Gallery(location=target.location,
                           properties=models.GalleryProperties(description=GALLERY_DESCRIPTION))
    return ArmRequest("PUT", target.gallery_id, model.as_dict(), "create the gallery (if it does not exist)",
                      model=model)


def definition_request(target: GalleryTarget, fields: DefinitionFields) -> ArmRequest:
    from azure.mgmt.compute import models

    model = models.GalleryImage(
        location=target.location,
        properties=models.GalleryImageProperties(
            os_type=fields.os_type, os_state=fields.os_state, hyper_v_generation=fields.hyper_v_generation,
            architecture=fields.architecture,
            identifier=models.GalleryImageIdentifier(**fields.identifier(target.definition)),
            description=f"{fields.offer} {fields.variant}, published by shipyard",
        ),
    )
    return ArmRequest("PUT", target.definition_id, model.as_dict(),
                      "create the image definition (if it does not exist)", model=model)


def version_request(
    target: GalleryTarget, source: VersionSource, replicas: int, regions: Sequence[str], tags: Mapping[str, str],
) -> ArmRequest:
    from azure.mgmt.compute import models

    model = models.GalleryImageVersion(
        location=target.location,
        tags=dict(tags),
        properties=models.GalleryImageVersionProperties(
            publishing_profile=models.GalleryImageVersionPublishingProfile(
                replica_count=replicas,
                target_regions=[models.TargetRegion(name=region, regional_replica_count=replicas) for region in regions],
            ),
            storage_profile=models.GalleryImageVersionStorageProfile(
                os_disk_image=models.GalleryOSDiskImage(
                    source=models.GalleryDiskImageSource(uri=source.uri, storage_account_id=source.storage_account_id),
                ),
            ),
        ),
    )
    return ArmRequest("PUT", target.version_id, model.as_dict(), "create the image version from the VHD", model=model)


def publish_requests(
    target: GalleryTarget, fields: DefinitionFields, source: VersionSource, replicas: int, regions: Sequence[str],
    tags: Mapping[str, str],
) -> list[ArmRequest]:
    """The gallery's, the definition's and the version's PUTs, in the order they are sent."""
    return [gallery_request(target), definition_request(target, fields),
            version_request(target, source, replicas, regions, tags)]
