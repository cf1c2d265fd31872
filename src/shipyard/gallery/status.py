"""A gallery image version's state as the service reports it, read from the SDK's model (pure).

``provisioningState`` says whether the version exists yet (Creating, Updating, Succeeded,
Failed); ``replicationStatus`` (returned with ``$expand=ReplicationStatus``) says, per target
region, how far its replica has got (``progress``, a percentage) and what went wrong
(``details``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TERMINAL_STATES = ("Succeeded", "Failed", "Canceled")


@dataclass(frozen=True)
class RegionProgress:
    region: str
    state: str | None  # Unknown, Replicating, Completed, Failed
    progress: int | None  # percent
    details: str | None = None


@dataclass(frozen=True)
class VersionStatus:
    provisioning_state: str | None
    aggregated_state: str | None
    regions: tuple[RegionProgress, ...]
    source_uri: str | None
    tags: dict[str, str]

    @property
    def done(self) -> bool:
        return self.provisioning_state in TERMINAL_STATES

    @property
    def failed(self) -> bool:
        return self.provisioning_state in ("Failed", "Canceled") or self.aggregated_state == "Failed"

    @property
    def percent(self) -> float:
        """The mean of the regions' progress (100 once the version succeeded everywhere)."""
        if self.provisioning_state == "Succeeded" and not self.regions:
            return 100.0
        known = [r.progress for r in self.regions if r.progress is not None]
        return sum(known) / len(self.regions) if self.regions and known else 0.0

    def failure(self) -> str:
        """What failed, in one phrase: the regions that failed and their details."""
        bad = [r for r in self.regions if r.state == "Failed"]
        if bad:
            return "; ".join(f"{r.region}: {r.details or 'replication failed'}" for r in bad)
        return f"provisioning state {self.provisioning_state}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "provisioning_state": self.provisioning_state,
            "replication": self.aggregated_state,
            "regions": [{"region": r.region, "state": r.state, "progress": r.progress, "details": r.details}
                        for r in self.regions],
        }


def version_status(version: Any) -> VersionStatus:
    """From an ``azure.mgmt.compute.models.GalleryImageVersion``."""
    props = version.properties
    replication = getattr(props, "replication_status", None) if props is not None else None
    summary = (replication.summary or []) if replication is not None else []
    regions = tuple(RegionProgress(str(item.region or ""), _text(item.state), item.progress, item.details)
                    for item in summary)
    source = None
    storage = getattr(props, "storage_profile", None) if props is not None else None
    if storage is not None and storage.os_disk_image is not None and storage.os_disk_image.source is not None:
        source = storage.os_disk_image.source.uri
    return VersionStatus(
        provisioning_state=_text(getattr(props, "provisioning_state", None)),
        aggregated_state=_text(replication.aggregated_state) if replication is not None else None,
        regions=regions, source_uri=source, tags=dict(version.tags or {}),
    )


def _text(value: Any) -> str | None:
    """An enum member or a string, as its string (the service may send values the SDK does not know)."""
    if value is None:
        return None
    return str(getattr(value, "value", value))
