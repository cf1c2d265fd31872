"""How many VHD copies a pool needs: the guide's one VHD per 40 Linux or 20 Windows nodes.

The policy of the config rules (custom_image.vhd_count), the pool summary and replication.
"""

from __future__ import annotations

import math

from shipyard.catalog.node_agents import is_windows_node_agent

LINUX_NODES_PER_VHD = 40
WINDOWS_NODES_PER_VHD = 20


def nodes_per_vhd(node_agent: str) -> int:
    return WINDOWS_NODES_PER_VHD if is_windows_node_agent(node_agent) else LINUX_NODES_PER_VHD


def required_vhd_count(nodes: int, node_agent: str) -> int:
    """One VHD per 40 Linux or 20 Windows nodes (the storage account throttling limit)."""
    return math.ceil(nodes / nodes_per_vhd(node_agent))


def vhd_shortfall_message(vhds: int, nodes: int, node_agent: str) -> str | None:
    """The guide's error when ``vhds`` URIs cannot serve ``nodes`` nodes; None when they can.

    Used at load time, and again on resize with the new node count.
    """
    required = required_vhd_count(nodes, node_agent)
    if vhds >= required:
        return None
    return (
        f"insufficient number of VHDs ({vhds}) supplied for {nodes} compute nodes. "
        f"At least {required} VHDs are required."
    )
