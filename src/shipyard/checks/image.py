"""`image inspect` and `image check`: an image's facts and rule results, read offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.checks.disk import disk_facts, mounted_root
from shipyard.facts import collect_facts
from shipyard.facts.boot import boot_generation
from shipyard.facts.model import Facts
from shipyard.image.device import BlockDevice
from shipyard.image.root import open_image
from shipyard.results import CheckResult
from shipyard.rules.context import PoolContext
from shipyard.facts.evidence import Evidence, ImageReport
from shipyard.rules.engine import evaluate_rules
from shipyard.rules.registry import RULES

INSPECT_KEYS = (
    "format", "os", "node_agent", "packages", "services", "binaries", "kernel_modules",
    "docker", "sshd", "waagent", "firewall", "boot", "disk", "mounts", "provisioning", "generalization",
    "generation",
)


@dataclass(frozen=True)
class ImageInspection:
    format: dict[str, Any]
    facts: Facts
    evidence: Evidence
    bytes_read: int

    def as_dict(self) -> dict[str, Any]:
        facts = self.facts.model_dump(mode="json")
        disk, boot = self.facts.disk, self.facts.boot
        generation = None
        if disk is not None:
            generation = boot_generation(disk, boot.bootloader if boot is not None else None).model_dump(mode="json")
        return {"format": self.format, **{key: facts.get(key) for key in INSPECT_KEYS[1:-1]}, "generation": generation}


def inspect_image(path: str | Path | BlockDevice, *, allow_bad_checksum: bool = True) -> ImageInspection:
    """Open the image (a path, or a ``BlockDevice`` such as a blob read in place), find its root
    filesystem and collect every fact from it.

    A bad footer checksum does not stop the reading (the data is intact): the format report
    lists it as ``vhd.footer`` among ``azure_problems``, as ``image check`` fails it.
    """
    with open_image(path, allow_bad_checksum=allow_bad_checksum) as image:
        disk = disk_facts(image)
        root = mounted_root(image, disk)
        facts = collect_facts(root.source)
        # a /boot that could not be mounted leaves the boot facts unknown, never "no kernel"
        facts = facts.model_copy(update={"disk": disk, **({"boot": None} if root.failed else {})})
        return ImageInspection(
            format={**image.describe_format(), "mounted": root.mounted},
            facts=facts,
            evidence=Evidence(facts=facts, image=ImageReport(image.disk.format, image.problems)),
            bytes_read=image.disk.bytes_read,
        )


def check_image(path: str | Path | BlockDevice, pool: PoolContext, *, skip: tuple[str, ...] = ()) -> list[CheckResult]:
    return evaluate_rules(RULES, inspect_image(path).evidence, pool, skip=skip)
