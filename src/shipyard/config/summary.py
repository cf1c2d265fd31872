"""What ``config check`` reports about a pool besides its errors: a plain summary."""

from __future__ import annotations

from typing import Any

from shipyard.catalog.node_agents import get_node_agent
from shipyard.catalog.vhd_policy import nodes_per_vhd, required_vhd_count
from shipyard.config.backend import batch_backend, node_communication_mode
from shipyard.config.loader import ConfigSet


def summarize_pool(config: ConfigSet) -> dict[str, Any] | None:
    """Pool id, image source, node counts, VHDs required vs given, node agent, requirements.

    Also the Batch backend the credentials name and the node communication mode that applies,
    with where it came from (``source``: ``set`` in pool.yaml, or the backend's ``default``).
    """
    pool = config.pool
    if pool is None:
        return None
    vm = pool.vm_configuration
    backend = batch_backend(config)
    scenario = pool.autoscale.scenario if pool.autoscale else None
    autoscale_max = scenario.maximum_vm_count.total if scenario and scenario.maximum_vm_count else None
    summary: dict[str, Any] = {
        "pool_id": pool.id,
        "vm_size": pool.vm_size,
        "nodes": {
            "dedicated": pool.vm_count.dedicated,
            "low_priority": pool.vm_count.low_priority,
            "autoscale_maximum": autoscale_max,
            "maximum": pool.max_node_count,
        },
        "batch_backend": {"kind": backend.kind, "reason": backend.reason},
        "node_communication_mode": node_communication_mode(config),
        "image_source": None,
        "node_agent": None,
        "vhds": None,
        "requirements": [],
    }
    if vm.platform_image and not vm.custom_image:
        platform = vm.platform_image
        summary["image_source"] = {
            "kind": "platform_image",
            "publisher": platform.publisher,
            "offer": platform.offer,
            "sku": platform.sku,
        }
    elif vm.custom_image:
        image = vm.custom_image
        if image.image_uris is not None:
            kind = "image_uris"
        elif image.arm_image_id:
            kind = "arm_image_id"
        else:
            kind = "none"  # neither key (a typo such as image_uri): the source rule says so
        summary["image_source"] = {"kind": f"custom_image.{kind}"}
        sku = get_node_agent(image.node_agent)
        summary["node_agent"] = {
            "id": image.node_agent,
            "known": sku is not None,
            "status": sku.status if sku else None,
            "os_family": sku.os_family if sku else None,
        }
        if image.image_uris is not None:
            summary["vhds"] = {
                "given": len(image.image_uris),
                "required": required_vhd_count(pool.max_node_count, image.node_agent),
                "nodes_per_vhd": nodes_per_vhd(image.node_agent),
            }
        batch = config.credentials.batch if config.credentials else None
        # a Batch account's allocation mode matters on Azure only; the local backend has no account
        if backend.kind != "local" and (batch is None or batch.pool_allocation_mode is None):
            summary["requirements"].append(
                "custom images need a User Subscription Batch account "
                "(the credentials do not say which mode the account is in)"
            )
    return summary
