"""``shipyard pool ...``."""

from __future__ import annotations

from datetime import date

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.catalog.node_agents import load_catalogue


@click.group("pool")
@global_options
def pool_group() -> None:
    """Pools: node agent SKUs."""


def today() -> date:
    """Today's date, where the status comes from (a function, so that tests can set the day)."""
    return date.today()


def supported_images(on: date | None = None) -> list[dict[str, str | None]]:
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
