"""``shipyard image verify URI [--against IMAGE]``: is the page blob the image, by its sparse digest?

Reads the blob's page ranges and only the ranges written (time in proportion to the data), and
compares the digest with the image's (``--against``, which also names the ranges that differ) or
with the one recorded when it was uploaded. Read-only: a failed verify changes nothing; `image
upload --verify` is what marks bad ranges for a rerun to resend.
"""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.storage_cmd import load_needed, open_link, resolve_blob_uri, storage_links, timeout_option
from shipyard.config.kinds import ConfigKind


@click.command("verify")
@click.argument("uri")
@click.option("--against", "image", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              metavar="IMAGE", help="The image the blob should hold (else: the digest recorded at upload).")
@click.option("--parallelism", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Concurrent ranged reads.")
@timeout_option
@global_options
@pass_settings
def verify(settings: Settings, uri: str, image: Path | None, parallelism: int, timeout_s: float | None) -> int:
    """Verify an uploaded image (a bare page-blob URI) by its sparse digest.

    Exit 0 when the blob's content matches and its upload is finished; 1 when it differs, or is
    unfinished.
    """
    from shipyard.storage.verify import verify_blob

    config = load_needed(settings, ConfigKind.CREDENTIALS)
    links = storage_links(config)
    link, container, blob = resolve_blob_uri(uri, links)
    store = open_link(links[link], timeout_s)
    result = verify_blob(store, container, blob, against=image, parallelism=parallelism)
    problem = result.problem()
    if settings.raw:
        render.emit_json(result.to_json())
        return 0 if problem is None else 1
    if problem is not None:
        render.line(problem, stderr=True)
        return 1
    against = f"{image.name}'s" if image is not None else "the one recorded at upload"
    render.line(
        f"ok {result.uri}: sparse digest {result.blob_sha256} matches {against} "
        f"({result.bytes_read:,} bytes read in {result.requests} ranges, {result.seconds:.1f} s)"
    )
    return 0
