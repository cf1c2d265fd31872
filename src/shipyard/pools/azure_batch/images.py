"""The account's supported images (``GET /supportedimages``, ``BatchClient.list_supported_images``).

Each entry is a node agent SKU id with one image reference, its OS type, its capabilities (for
example ``DockerCompatible``, ``NvidiaTeslaDriverInstalled``), whether Batch verified it, and the
date Batch stops supporting it. ``warning`` says what a pool using it should know: unverified, or
past its end of support on the day asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shipyard.pools.azure_batch.client import BatchSession


@dataclass(frozen=True)
class SupportedImage:
    node_agent: str
    os_type: str
    publisher: str
    offer: str
    sku: str
    verification: str  # "verified" or "unverified"
    capabilities: tuple[str, ...] = ()
    end_of_life: date | None = None

    def warning(self, today: date) -> str | None:
        if self.end_of_life is not None and self.end_of_life < today:
            return f"Batch support ended on {self.end_of_life.isoformat()}"
        if self.verification != "verified":
            return "unverified by Batch: pools may fail to start"
        return None


def _day(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def _text(value: Any) -> str:
    return str(getattr(value, "value", value) or "").lower()


def list_supported_images(session: BatchSession) -> list[SupportedImage]:
    found = session.call("listing the account's supported images", lambda: list(session.client.list_supported_images()))
    images = []
    for item in found:
        ref = item.image_reference
        images.append(SupportedImage(
            node_agent=item.node_agent_sku_id or "", os_type=_text(item.os_type),
            publisher=(ref.publisher if ref else None) or "", offer=(ref.offer if ref else None) or "",
            sku=(ref.sku if ref else None) or "", verification=_text(item.verification_type) or "unverified",
            capabilities=tuple(item.capabilities or ()), end_of_life=_day(item.batch_support_end_of_life)))
    return sorted(images, key=lambda i: (i.node_agent, i.publisher, i.offer, i.sku))
