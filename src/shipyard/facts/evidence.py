"""What rules look at: the facts, plus the image's container report offline or probes live.

The readers below fill these in (``shipyard.image`` finds the container's problems, the node's
probes read ``/proc`` and the docker socket); the rules above only read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipyard.facts.model import Facts

if TYPE_CHECKING:
    from shipyard.image.azure import AzureProblem


@dataclass(frozen=True)
class ImageReport:
    """The container facts of an offline image: its format and what Azure would refuse."""

    format: str  # "vhd-fixed", "vhd-dynamic", "raw", ...
    problems: tuple[AzureProblem, ...] = ()

    def problems_for(self, rule_id: str) -> list[AzureProblem]:
        return [p for p in self.problems if p.id == rule_id]


@dataclass(frozen=True)
class RuntimeProbes:
    """What only a running node can tell, as the node's probes (``shipyard.node.probes``) report
    it. ``None`` means the probe could not run."""

    docker_responds: bool | None = None
    docker_socket: bool | None = None
    nvidia_module_loaded: bool | None = None
    nvidia_driver_version: str | None = None
    nvidia_smi_ok: bool | None = None
    infiniband_uverbs: bool | None = None
    listening_tcp_ports: frozenset[int] | None = None
    mounted_paths: frozenset[str] | None = None
    errors: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Evidence:
    facts: Facts
    image: ImageReport | None = None  # offline only
    probes: RuntimeProbes | None = None  # live only
