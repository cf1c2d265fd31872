"""Which node boots from which VHD: round robin over the distinct ``image_uris``, never more than
40 Linux or 20 Windows nodes on one VHD (the guide's storage throttling limit, ``catalog.vhd_policy``).

Nodes are numbered as the pool lists them: the dedicated nodes first, then the low-priority ones.
Node ``i`` boots from VHD ``i mod K``; with too few VHDs each takes its 40 (or 20) and the rest
have none, and ``shortfall`` says so in the guide's words. Pure: `pool add`, `pool resize` and a
backend placing its nodes all plan with ``plan_vhds``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.catalog.vhd_policy import nodes_per_vhd, required_vhd_count, vhd_shortfall_message
from shipyard.redact import strip_query


@dataclass(frozen=True)
class NodeBoot:
    index: int  # 0-based, dedicated nodes first
    low_priority: bool
    image_uri: str | None  # None: no VHD has room for it (a shortfall), or the image is no VHD

    def as_dict(self) -> dict[str, Any]:
        uri = strip_query(self.image_uri) if self.image_uri is not None else None
        return {"index": self.index, "low_priority": self.low_priority, "image_uri": uri}


@dataclass(frozen=True)
class VhdPlan:
    node_agent: str
    dedicated: int
    low_priority: int
    image_uris: tuple[str, ...]  # distinct, in the pool's order
    nodes_per_vhd: int
    required: int  # VHDs the node count needs (0 when the image is not a VHD)
    nodes: tuple[NodeBoot, ...]
    shortfall: str | None  # the guide's error when the VHDs cannot serve every node

    @property
    def node_count(self) -> int:
        return self.dedicated + self.low_priority

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per VHD, how many dedicated and low-priority nodes boot from it."""
        counts = {uri: [0, 0] for uri in self.image_uris}
        for node in self.nodes:
            if node.image_uri is not None:
                counts[node.image_uri][node.low_priority] += 1
        return {uri: (dedicated, low) for uri, (dedicated, low) in counts.items()}

    @property
    def unplaced(self) -> int:
        """Nodes no VHD has room for (none when the image is not a VHD)."""
        return sum(node.image_uri is None for node in self.nodes) if self.image_uris else 0

    def as_dict(self) -> dict[str, Any]:
        """The plan as `pool add --raw` prints it (a URI's query string, a SAS, left out)."""
        return {
            "node_agent": self.node_agent,
            "dedicated": self.dedicated,
            "low_priority": self.low_priority,
            "nodes_per_vhd": self.nodes_per_vhd,
            "vhds_given": len(self.image_uris),
            "vhds_required": self.required,
            "shortfall": self.shortfall,
            "vhds": [
                {"uri": strip_query(uri), "dedicated": dedicated, "low_priority": low}
                for uri, (dedicated, low) in self.counts().items()
            ],
            "unplaced": self.unplaced,
            "nodes": [node.as_dict() for node in self.nodes],
        }


def distinct(uris: Sequence[str]) -> tuple[str, ...]:
    """``uris`` without repeats, in order: a URI listed twice is still one VHD."""
    return tuple(dict.fromkeys(uris))


def plan_vhds(image_uris: Sequence[str], node_agent: str, dedicated: int, low_priority: int) -> VhdPlan:
    """The boot plan of ``dedicated + low_priority`` nodes over ``image_uris`` (none: a gallery image)."""
    uris = distinct(image_uris)
    per_vhd = nodes_per_vhd(node_agent)
    total = dedicated + low_priority
    capacity = per_vhd * len(uris)
    nodes = []
    for index in range(total):
        uri = uris[index % len(uris)] if uris and index < capacity else None
        nodes.append(NodeBoot(index, index >= dedicated, uri))
    required = required_vhd_count(total, node_agent) if uris else 0
    shortfall = vhd_shortfall_message(len(uris), total, node_agent) if uris else None
    return VhdPlan(node_agent, dedicated, low_priority, uris, per_vhd, required, tuple(nodes), shortfall)
