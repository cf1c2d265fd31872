"""Where the pool's image comes from: exactly one source, a gallery id, no VHDs on Azure Batch."""

from __future__ import annotations

from shipyard.config.arm_ids import GALLERY_VERSION_FORM, parse_image_id
from shipyard.config.backend import batch_backend
from shipyard.config.loader import ConfigSet
from shipyard.results import Outcome, Severity
from shipyard.rules.config.base import (
    CUSTOM_IMAGE,
    POOL,
    POOL_AND_CREDENTIALS,
    VM_CONFIG,
    ConfigRule,
    Findings,
    custom_image,
    needs,
    pool_file,
    pool_spec,
)
from shipyard.rules.context import PoolContext

def check_image_source(config: ConfigSet, context: PoolContext) -> Findings:
    vm = pool_spec(config).vm_configuration
    where = pool_file(config).location(VM_CONFIG)
    if vm.platform_image and vm.custom_image:
        yield Outcome.bad("cannot specify both a platform_image and a custom_image; keep exactly one", where)
    elif not vm.platform_image and not vm.custom_image:
        yield Outcome.bad("needs a platform_image or a custom_image", where)


def check_custom_image_source(config: ConfigSet, context: PoolContext) -> Findings:
    image = custom_image(config)
    if image is None:
        return
    pool = pool_file(config)
    if image.image_uris is not None and image.arm_image_id:
        yield Outcome.bad(
            "cannot specify both image_uris (VHD page blobs) and arm_image_id; keep exactly one",
            pool.location(CUSTOM_IMAGE),
        )
    elif image.image_uris is None and not image.arm_image_id:
        yield Outcome.bad("needs image_uris (VHD page-blob URIs) or arm_image_id", pool.location(CUSTOM_IMAGE))
    elif image.image_uris is not None and not image.image_uris:
        yield Outcome.bad("image_uris is empty: list at least one VHD URI", pool.location((*CUSTOM_IMAGE, "image_uris")))


def check_arm_image_id(config: ConfigSet, context: PoolContext) -> Findings:
    """A managed image is an error on either backend; anything but a gallery id is too."""
    image = custom_image(config)
    if image is None or not image.arm_image_id:
        return
    where = pool_file(config).location((*CUSTOM_IMAGE, "arm_image_id"))
    parsed = parse_image_id(image.arm_image_id)
    if parsed is not None and parsed.kind == "managed_image":
        if batch_backend(config).is_azure:
            backend = "Azure Batch retired managed-image pools on 2026-03-31"
        else:
            backend = (
                "no backend runs one: Azure Batch retired managed-image pools on 2026-03-31 and the "
                "local backend runs VHDs (image_uris)"
            )
        yield Outcome.bad(
            f"is a managed image; {backend}: publish its VHD as a Compute Gallery image version "
            "(shipyard image publish) and use its id",
            where,
        )
    elif parsed is None:
        yield Outcome.bad(
            f"must be a Compute Gallery image id: {GALLERY_VERSION_FORM}, or a shared "
            "(/SharedGalleries/...) or community (/CommunityGalleries/...) gallery image",
            where,
        )


def check_vhds_on_azure(config: ConfigSet, context: PoolContext) -> Findings:
    """``image_uris`` left the Batch API in 2017: on an Azure account they lead nowhere."""
    image = custom_image(config)
    if image is None or not image.image_uris or not batch_backend(config).is_azure:
        return
    yield Outcome.bad(
        "VHD image_uris serve the local backend only; Azure Batch takes a custom image only as an Azure "
        "Compute Gallery image version: publish the VHD to a gallery and set arm_image_id to the version id",
        pool_file(config).location((*CUSTOM_IMAGE, "image_uris")),
    )


RULES: tuple[ConfigRule, ...] = (
    ConfigRule(
        "pool.image_source", Severity.ERROR, "exactly one of platform_image and custom_image",
        "keep exactly one of platform_image and custom_image under pool_specification.vm_configuration",
        check_image_source, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.source", Severity.ERROR, "exactly one of image_uris and arm_image_id",
        "set either image_uris (VHD page-blob URIs) or arm_image_id (a Compute Gallery image version id)",
        check_custom_image_source, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.arm_image_id", Severity.ERROR, "arm_image_id is a Compute Gallery image id",
        "publish the image as a Compute Gallery image version and set arm_image_id to its id",
        check_arm_image_id, needs(*POOL),
    ),
    ConfigRule(
        "custom_image.azure_vhd", Severity.WARNING,
        "on an Azure Batch account, image_uris warn: publish to a Compute Gallery",
        "publish the VHD as a Compute Gallery image version and set arm_image_id to its id",
        check_vhds_on_azure, needs(*POOL_AND_CREDENTIALS),
    ),
)
