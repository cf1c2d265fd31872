"""The node agent SKU catalogue: which Batch node agent serves which distribution.

The data lives in ``node_agents.json`` beside this module; this module only reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

WINDOWS_NODE_AGENT = "batch.node.windows amd64"


@dataclass(frozen=True)
class ImageReference:
    publisher: str
    offer: str
    sku: str


@dataclass(frozen=True)
class DistroMatch:
    os_ids: tuple[str, ...]
    version: str  # a VERSION_ID prefix at a dot boundary; "" matches any version

    def matches(self, os_id: str, version: str) -> bool:
        if os_id.lower() not in self.os_ids:
            return False
        if not self.version:
            return True
        version = version.strip().lower()
        return version == self.version or version.startswith(self.version + ".")


@dataclass(frozen=True)
class NodeAgentSku:
    id: str
    os_family: str  # "linux" or "windows"
    status: str  # "current" or "retired"
    match: tuple[DistroMatch, ...]
    images: tuple[ImageReference, ...]
    distro_end_of_life: str | None = None

    @property
    def is_windows(self) -> bool:
        return self.os_family == "windows"

    @property
    def is_current(self) -> bool:
        """Batch accepts the id (the catalogue's status); see ``status_on`` for the distribution's life."""
        return self.status == "current"

    def end_of_life(self) -> date | None:
        return date.fromisoformat(self.distro_end_of_life) if self.distro_end_of_life else None

    def status_on(self, today: date) -> str:
        """``retired`` (Batch no longer accepts the id), ``end of life`` (a current id whose
        distribution's standard support ended before ``today``), else ``current``."""
        if not self.is_current:
            return "retired"
        end = self.end_of_life()
        return "end of life" if end is not None and today > end else "current"

    def serves(self, os_id: str, version: str) -> bool:
        return any(m.matches(os_id, version) for m in self.match)


@cache
def load_catalogue() -> tuple[NodeAgentSku, ...]:
    """Every known node agent SKU, current ones first."""
    text = resources.files("shipyard.catalog").joinpath("node_agents.json").read_text("utf-8")
    skus = []
    for entry in json.loads(text)["node_agents"]:
        skus.append(
            NodeAgentSku(
                id=entry["id"],
                os_family=entry["os_family"],
                status=entry["status"],
                match=tuple(
                    DistroMatch(tuple(i.lower() for i in m["os_ids"]), m["version"]) for m in entry["match"]
                ),
                images=tuple(ImageReference(**image) for image in entry["images"]),
                distro_end_of_life=entry.get("distro_end_of_life"),
            )
        )
    return tuple(sorted(skus, key=lambda s: not s.is_current))


def get_node_agent(sku_id: str) -> NodeAgentSku | None:
    """The SKU with this id. Ids compare case-insensitively, with runs of spaces folded."""
    wanted = " ".join(sku_id.split()).lower()
    for sku in load_catalogue():
        if sku.id == wanted:
            return sku
    return None


def node_agents_for(os_id: str, version: str) -> tuple[NodeAgentSku, ...]:
    """Every SKU that serves this distribution (``/etc/os-release`` ID and VERSION_ID)."""
    return tuple(sku for sku in load_catalogue() if sku.serves(os_id, version))


def node_agent_for(os_id: str, version: str) -> NodeAgentSku | None:
    """The preferred SKU for a distribution: a current one if any, else a retired one."""
    matches = node_agents_for(os_id, version)
    return matches[0] if matches else None


def is_windows_node_agent(sku_id: str) -> bool:
    sku = get_node_agent(sku_id)
    return sku.is_windows if sku else " ".join(sku_id.split()).lower() == WINDOWS_NODE_AGENT
