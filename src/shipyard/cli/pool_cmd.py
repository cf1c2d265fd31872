"""``shipyard pool ...``."""

from __future__ import annotations

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.catalog.node_agents import load_catalogue


@click.group("pool")
@global_options
def pool_group() -> None:
    """Pools: node agent SKUs."""


def supported_images() -> list[dict[str, str | None]]:
    """One row per node agent SKU x verified image, from the bundled catalogue."""
    return [
        {
            "node_agent": sku.id,
            "status": sku.status,
            "os_family": sku.os_family,
            "publisher": image.publisher,
            "offer": image.offer,
            "sku": image.sku,
            "distro_end_of_life": sku.distro_end_of_life,
        }
        for sku in load_catalogue()
        for image in sku.images
    ]


def list_skus(settings: Settings) -> int:
    rows = supported_images()
    if settings.raw:
        render.emit_json(rows)
        return 0
    render.table(
        None,
        ("node agent", "status", "os", "publisher", "offer", "sku", "distro eol"),
        [tuple(row.values()) for row in rows],
    )
    return 0


@pool_group.command("listskus")
@global_options
@pass_settings
def listskus(settings: Settings) -> int:
    """List node agent SKU ids and the images verified for each."""
    return list_skus(settings)
