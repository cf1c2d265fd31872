"""What a pool's ``custom_image.arm_image_id`` names, read from its form alone (no request).

Azure Batch takes a custom image as one of:

- a Compute Gallery image **version**: ``/subscriptions/S/resourceGroups/R/providers/
  Microsoft.Compute/galleries/G/images/D/versions/V`` (Batch's ``virtualMachineImageId``);
- an image **definition**, the same without ``/versions/V``: its latest version;
- a **shared** gallery image (direct sharing): ``/SharedGalleries/U/Images/D[/Versions/V]``
  (``sharedGalleryImageId``);
- a **community** gallery image: ``/CommunityGalleries/P/Images/D[/Versions/V]``
  (``communityGalleryImageId``).

A managed image (``.../providers/Microsoft.Compute/images/NAME``) is recognised so that it can be
refused by name: Batch retired managed-image pools on 2026-03-31.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ImageIdKind = Literal["gallery_version", "gallery_definition", "shared", "community", "managed_image"]

_SEGMENT = r"[^/\s]+"
_GALLERY = re.compile(
    rf"^/subscriptions/(?P<subscription>{_SEGMENT})/resourceGroups/(?P<resource_group>{_SEGMENT})"
    rf"/providers/Microsoft\.Compute/galleries/(?P<gallery>{_SEGMENT})/images/(?P<definition>{_SEGMENT})"
    rf"(?:/versions/(?P<version>{_SEGMENT}))?$",
    re.IGNORECASE,
)
_SHARED = re.compile(
    rf"^/(?P<scope>SharedGalleries|CommunityGalleries)/(?P<gallery>{_SEGMENT})/Images/(?P<definition>{_SEGMENT})"
    rf"(?:/Versions/(?P<version>{_SEGMENT}))?$",
    re.IGNORECASE,
)
_MANAGED = re.compile(
    rf"^/subscriptions/(?P<subscription>{_SEGMENT})/resourceGroups/(?P<resource_group>{_SEGMENT})"
    rf"/providers/Microsoft\.Compute/images/(?P<definition>{_SEGMENT})$",
    re.IGNORECASE,
)
GALLERY_VERSION_FORM = (
    "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Compute/galleries/<gallery>/images/<image>"
    "[/versions/<version>]"
)


@dataclass(frozen=True)
class ImageId:
    value: str
    kind: ImageIdKind
    gallery: str | None = None  # the gallery's name (a shared or community gallery's unique/public name)
    definition: str | None = None  # the image definition's name (a managed image's name)
    version: str | None = None  # None: the definition's latest version
    subscription: str | None = None
    resource_group: str | None = None

    @property
    def definition_id(self) -> str | None:
        """The image definition's id of a gallery version or definition (None for the others)."""
        if self.kind not in ("gallery_version", "gallery_definition"):
            return None
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.Compute/galleries/{self.gallery}/images/{self.definition}")

    @property
    def batch_field(self) -> str:
        """Which field of Batch's image reference carries it (the data-plane JSON name)."""
        return {"shared": "sharedGalleryImageId", "community": "communityGalleryImageId"}.get(
            self.kind, "virtualMachineImageId")


def parse_image_id(value: str) -> ImageId | None:
    """What ``value`` names, or None when it is none of the forms above."""
    text = value.strip()
    if match := _GALLERY.match(text):
        parts = match.groupdict()
        kind: ImageIdKind = "gallery_version" if parts["version"] else "gallery_definition"
        return ImageId(text, kind, parts["gallery"], parts["definition"], parts["version"],
                       parts["subscription"], parts["resource_group"])
    if match := _SHARED.match(text):
        parts = match.groupdict()
        kind = "shared" if parts["scope"].lower() == "sharedgalleries" else "community"
        return ImageId(text, kind, parts["gallery"], parts["definition"], parts["version"])
    if match := _MANAGED.match(text):
        parts = match.groupdict()
        return ImageId(text, "managed_image", definition=parts["definition"],
                       subscription=parts["subscription"], resource_group=parts["resource_group"])
    return None


def gallery_version_id(subscription: str, resource_group: str, gallery: str, definition: str, version: str) -> str:
    return (f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Compute/"
            f"galleries/{gallery}/images/{definition}/versions/{version}")


def version_key(version: str) -> tuple[int, ...]:
    """A gallery image version (MAJOR.MINOR.PATCH) as numbers, for ordering: the latest is the largest."""
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))
