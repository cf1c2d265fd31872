"""What rules look at: the facts, plus the image's container report offline or probes live."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.facts.model import Facts


@dataclass(frozen=True)
class FormatProblem:
    """One way the image container breaks Azure's rules (from the VHD reader)."""

    id: str  # vhd.format, vhd.alignment, vhd.footer, vhd.size
    message: str
    fix: str


@dataclass(frozen=True)
class ImageReport:
    """The container facts of an offline image: its format and what Azure would refuse."""

    format: str  # "vhd-fixed", "vhd-dynamic", "raw", ...
    problems: tuple[FormatProblem, ...] = ()

    def problems_for(self, rule_id: str) -> list[FormatProblem]:
        return [p for p in self.problems if p.id == rule_id]


@dataclass(frozen=True)
class RuntimeProbes:
    """What only a running node can tell. ``None`` means the probe could not run."""

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
