"""``shipyard account ...``."""

from __future__ import annotations

import click

from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli import skus


@click.group("account")
@global_options
def account_group() -> None:
    """The Batch account: supported images."""


@account_group.command("images")
@global_options
@pass_settings
def images(settings: Settings) -> int:
    """List supported images: node agent SKU ids and their verified images (pool listskus)."""
    return skus.list_skus(settings)
