"""The image definition an image is published under, from the image's facts (pure).

A gallery's image definition fixes what every version in it is: its OS type (Linux or
Windows), its state (generalised: provisioned afresh on each VM; specialised: booted as it is),
its Hyper-V generation and architecture, and an identifier (publisher, offer, SKU) that no two
definitions of one gallery may share. Here:

- ``os_type``: Windows for a Windows image or node agent, else Linux;
- ``os_state``: Specialized when the image still carries machine-specific files (the
  generalisation facts' leftovers: machine-id, SSH host keys, agent state), Generalized when it
  carries none, or when that could not be read;
- ``hyper_v_generation``: V2 for GPT with an EFI system partition (UEFI), V1 for a disk that
  boots from BIOS only (``shipyard.facts.boot.boot_generation``), and V1 (Azure's default) where
  no boot path was found (the boot rules judge that);
- ``architecture``: Arm64 for an arm64 kernel (or an ``AA64`` EFI loader), else x64;
- the identifier: publisher ``shipyard``, offer ``<os id>-<version>`` (``ubuntu-22.04``), SKU the
  definition's name, which defaults to the offer and the variant (``ubuntu-22.04-gen2-x64``,
  ``-specialized`` added for a specialised one): one definition per variant, so identifiers never
  collide and each version of a definition is the same kind of image.

A purchase plan (``purchasePlan``) is for images derived from a Marketplace image that has one;
no fact read from a disk says that, so none is set.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from shipyard.catalog.node_agents import is_windows_node_agent
from shipyard.errors import UsageError
from shipyard.facts.boot import boot_generation
from shipyard.facts.model import Facts

PUBLISHER = "shipyard"
ARM64_KERNEL_FORMATS = ("arm64-image", "efi-zboot")
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,78}[A-Za-z0-9])?$")

OsType = Literal["Linux", "Windows"]
OsState = Literal["Generalized", "Specialized"]
Generation = Literal["V1", "V2"]
Architecture = Literal["x64", "Arm64"]


@dataclass(frozen=True)
class DefinitionFields:
    """What the image definition says, and why (``reasons``: one phrase per field)."""

    os_type: OsType
    os_state: OsState
    hyper_v_generation: Generation
    architecture: Architecture
    offer: str
    variant: str  # "gen2-x64", "gen1-x64-specialized"
    publisher: str = PUBLISHER
    reasons: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def default_name(self) -> str:
        return f"{self.offer}-{self.variant}"

    def identifier(self, definition: str) -> dict[str, str]:
        return {"publisher": self.publisher, "offer": self.offer, "sku": definition}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_name(name: str, option: str) -> str:
    """A gallery or image definition name: letters, digits, ``.``, ``_``, ``-``; at most 80; a
    letter or digit at each end."""
    if not _NAME_RE.match(name):
        raise UsageError(f"{option} {name!r}: use letters, digits, '.', '_' and '-' (at most 80, "
                         "beginning and ending with a letter or digit)")
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "unknown"


def definition_fields(facts: Facts, node_agent: str | None = None) -> DefinitionFields:
    """The definition's fields for an image with ``facts``, booted with ``node_agent``."""
    reasons: dict[str, str] = {}
    os_facts = facts.os
    windows = (os_facts is not None and os_facts.family == "windows") or bool(
        node_agent and is_windows_node_agent(node_agent))
    os_type: OsType = "Windows" if windows else "Linux"
    reasons["os_type"] = f"{'Windows' if windows else 'a Linux'} image" + (f" ({os_facts.name})" if os_facts and os_facts.name else "")

    leftovers = facts.generalization.leftovers if facts.generalization is not None else None
    os_state: OsState = "Specialized" if leftovers else "Generalized"
    if leftovers:
        kinds = sorted({item.kind for item in leftovers})
        reasons["os_state"] = f"it carries machine-specific files ({', '.join(kinds)})"
    elif leftovers is None:
        reasons["os_state"] = "the generalisation facts could not be read: Generalized assumed"
    else:
        reasons["os_state"] = "no machine-specific files left in it"

    if facts.disk is None:
        raise UsageError("the image's partition table could not be read: its Hyper-V generation is unknown",
                         hint="run `shipyard image inspect` on it")
    generation = boot_generation(facts.disk, facts.boot.bootloader if facts.boot is not None else None)
    if 2 in generation.generations:
        hyper_v: Generation = "V2"
    else:
        hyper_v = "V1"
    reasons["hyper_v_generation"] = generation.reason + ("" if generation.generations else ": V1 assumed (Azure's default)")

    architecture, reasons["architecture"] = _architecture(facts)
    version = (os_facts.version_id if os_facts else None) or "unknown"
    offer = f"{_slug(os_facts.id if os_facts and os_facts.id else 'unknown')}-{_slug(version)}"
    variant = f"gen{hyper_v[1]}-{architecture.lower()}" + ("-specialized" if os_state == "Specialized" else "")
    return DefinitionFields(os_type, os_state, hyper_v, architecture, offer, variant, reasons=reasons)


def _architecture(facts: Facts) -> tuple[Architecture, str]:
    boot = facts.boot
    if boot is not None:
        kernel = next((k for k in boot.kernels if k.version == boot.default_kernel), None)
        if kernel is not None and kernel.format in ARM64_KERNEL_FORMATS:
            return "Arm64", f"the default kernel is an arm64 {kernel.format}"
        loaders = boot.bootloader.efi_loaders
        if any("aa64" in loader.lower() for loader in loaders):
            return "Arm64", "an arm64 EFI loader"
        if kernel is not None and kernel.format:
            return "x64", f"the default kernel is a {kernel.format}"
    return "x64", "no arm64 kernel or loader found"
