"""One VHD per 40 Linux or 20 Windows nodes."""

from __future__ import annotations

import pytest

from shipyard.catalog.vhd_policy import nodes_per_vhd, required_vhd_count, vhd_shortfall_message


@pytest.mark.parametrize(
    ("nodes", "agent", "required"),
    [(0, "batch.node.ubuntu 22.04", 0), (1, "batch.node.ubuntu 22.04", 1), (40, "batch.node.el 9", 1),
     (41, "batch.node.el 9", 2), (100, "batch.node.ubuntu 22.04", 3), (20, "batch.node.windows amd64", 1),
     (21, "batch.node.windows amd64", 2), (100, "Batch.Node.Windows  AMD64", 5)],
)
def test_required_vhd_count(nodes: int, agent: str, required: int) -> None:
    assert required_vhd_count(nodes, agent) == required


def test_shortfall_message_for_resize() -> None:
    assert vhd_shortfall_message(3, 120, "batch.node.ubuntu 22.04") is None
    assert vhd_shortfall_message(3, 121, "batch.node.ubuntu 22.04") == (
        "insufficient number of VHDs (3) supplied for 121 compute nodes. At least 4 VHDs are required."
    )


def test_nodes_per_vhd_by_node_agent() -> None:
    assert (nodes_per_vhd("batch.node.ubuntu 24.04"), nodes_per_vhd("batch.node.windows amd64")) == (40, 20)
