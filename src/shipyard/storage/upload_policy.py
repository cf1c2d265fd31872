"""Which images may be uploaded as a page blob, and the refusal (with its fix) for the rest.

Azure boots a custom image from a page blob only when it is a fixed VHD whose virtual size is a
whole number of MiB, with a valid footer; a page blob holds at most 8 TiB. An image that breaks
one of these is refused before any byte is sent, with the command that fixes it.
"""

from __future__ import annotations

from pathlib import Path

from shipyard.errors import ImageFormatError, UsageError

# The container problems an upload cannot carry (``shipyard.image.azure.azure_problems`` ids).
REFUSED_PROBLEMS = ("vhd.format", "vhd.alignment", "vhd.footer")


def check_upload_format(image: Path) -> None:
    """The format rules an upload needs: a fixed VHD, 1 MiB aligned, a valid footer, a size that fits.

    Raises ``UsageError`` when ``image`` does not exist and ``ImageFormatError`` (its ``field`` the
    problem id, its ``hint`` the fix for this file) when it may not be uploaded as is.
    """
    from shipyard.image.azure import azure_problems
    from shipyard.image.disk import open_disk
    from shipyard.image.vhd import FOOTER_BYTES, PAGE_BLOB_MAX_BYTES

    if not image.exists():
        raise UsageError(f"{image}: no such file")
    with open_disk(image, allow_bad_checksum=True) as disk:
        problems = azure_problems(disk)
        too_big = disk.size_bytes + FOOTER_BYTES > PAGE_BLOB_MAX_BYTES
    refused = [p for p in problems if p.id in REFUSED_PROBLEMS]
    if refused:
        first = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise ImageFormatError(
            f"{image.name} cannot be uploaded as is: {first.id}: {first.found}, needs {first.required}{more}",
            field=first.id,
            hint=first.fix,  # the command that fixes it, with this file's name
        )
    if too_big:
        raise ImageFormatError(f"{image.name} is larger than a page blob can hold (8 TiB)", field="vhd.size")
