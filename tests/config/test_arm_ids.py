"""``custom_image.arm_image_id``: each form Batch takes, told apart from its text alone."""

from __future__ import annotations

import pytest

from shipyard.config.arm_ids import gallery_version_id, parse_image_id

VERSION = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Compute/galleries/gal/images/ubuntu-22/versions/1.2.3"


def test_a_gallery_version_and_its_definition() -> None:
    parsed = parse_image_id(f"  {VERSION} ")
    assert parsed is not None
    assert (parsed.kind, parsed.subscription, parsed.resource_group, parsed.gallery, parsed.definition, parsed.version) == (
        "gallery_version", "sub-1", "rg-1", "gal", "ubuntu-22", "1.2.3")
    assert parsed.batch_field == "virtualMachineImageId"
    assert parsed.definition_id == VERSION.rsplit("/versions/", 1)[0]
    latest = parse_image_id(parsed.definition_id)
    assert latest is not None and (latest.kind, latest.version) == ("gallery_definition", None)
    assert gallery_version_id("sub-1", "rg-1", "gal", "ubuntu-22", "1.2.3") == VERSION


@pytest.mark.parametrize(("value", "kind", "field"), [
    ("/SharedGalleries/0000-abc/Images/ubuntu/Versions/1.0.0", "shared", "sharedGalleryImageId"),
    ("/sharedgalleries/0000-abc/images/ubuntu", "shared", "sharedGalleryImageId"),
    ("/CommunityGalleries/pub-9/Images/ubuntu/Versions/latest", "community", "communityGalleryImageId"),
])
def test_shared_and_community_galleries(value: str, kind: str, field: str) -> None:
    parsed = parse_image_id(value)
    assert parsed is not None and (parsed.kind, parsed.batch_field, parsed.definition_id) == (kind, field, None)


def test_a_managed_image_is_recognised_to_be_refused_by_name() -> None:
    parsed = parse_image_id("/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/legacy")
    assert parsed is not None and (parsed.kind, parsed.definition) == ("managed_image", "legacy")


@pytest.mark.parametrize("value", ["myimage", "", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g",
                                   f"{VERSION}/extra", "https://acct.blob.core.windows.net/vhds/a.vhd",
                                   "/subscriptions/s p/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/i"])
def test_anything_else_is_none(value: str) -> None:
    assert parse_image_id(value) is None
