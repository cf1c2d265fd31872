"""``pool listskus`` and ``account images``: the node agents and their images, from the Batch
account (``list_supported_images``) when one is configured, else the bundled catalogue."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from shipyard.catalog.node_agents import load_catalogue
from shipyard.cli import render
from shipyard.cli.options import Settings
from shipyard.cli.pool_session import load_files
from shipyard.config.kinds import ConfigKind

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet


def today() -> date:
    """Today's date, where the status comes from (a function, so that tests can set the day)."""
    return date.today()


CATALOGUE = "bundled catalogue"


def supported_images(on: date | None = None) -> list[dict[str, Any]]:
    """One row per node agent SKU x verified image, from the bundled catalogue. The status is
    derived on the day ``on`` (default today): a distribution past its end of life is not current."""
    day = on or today()
    return [
        {
            "node_agent": sku.id,
            "status": sku.status_on(day),
            "os_family": sku.os_family,
            "publisher": image.publisher,
            "offer": image.offer,
            "sku": image.sku,
            "distro_end_of_life": sku.distro_end_of_life,
            "source": CATALOGUE,
        }
        for sku in load_catalogue()
        for image in sku.images
    ]


def account_images(config: ConfigSet, on: date | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The Batch account's own list (``list_supported_images``), and where it came from."""
    from shipyard.pools.azure_batch.client import open_session
    from shipyard.pools.azure_batch.images import list_supported_images

    assert config.credentials is not None
    day = on or today()
    session = open_session(config.credentials)
    try:
        images = list_supported_images(session)
    finally:
        session.close()
    source = f"Batch account '{session.account}'"
    rows = [{"node_agent": i.node_agent, "status": "current" if i.warning(day) is None else "warning",
             "os_family": i.os_type, "publisher": i.publisher, "offer": i.offer, "sku": i.sku,
             "distro_end_of_life": None, "source": source, "verification": i.verification,
             "capabilities": list(i.capabilities),
             "batch_support_end_of_life": i.end_of_life.isoformat() if i.end_of_life else None,
             "warning": i.warning(day)} for i in images]
    return source, rows


def list_skus(settings: Settings) -> int:
    """The account's supported images when an Azure Batch account is configured, else the catalogue."""
    from shipyard.config.backend import batch_backend

    config = load_files(settings, (ConfigKind.CREDENTIALS,))
    if batch_backend(config).is_azure:
        source, rows = account_images(config)
    else:
        source, rows = CATALOGUE, supported_images()
    if settings.raw:
        render.emit_json(rows)
        return 0
    render.line(f"source: {source}" + ("" if source != CATALOGUE else " (no Azure Batch account configured)"))
    columns = ("node_agent", "status", "os_family", "publisher", "offer", "sku")
    extra = ("batch_support_end_of_life", "verification") if source != CATALOGUE else ("distro_end_of_life",)
    render.table(
        None,
        ("node agent", "status", "os", "publisher", "offer", "sku",
         *(("batch eol", "verification") if source != CATALOGUE else ("distro eol",))),
        [tuple(row.get(key) for key in (*columns, *extra)) for row in rows],
    )
    for row in rows:
        if row.get("warning"):
            render.line(f"warning: {row['node_agent']} ({row['publisher']} {row['offer']} {row['sku']}): "
                        f"{row['warning']}", stderr=True)
    return 0


