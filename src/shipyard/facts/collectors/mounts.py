"""``/etc/fstab``'s entries, swap files, and a live node's volumes from ``/dev/disk/by-*``.

Offline, the volumes come from the image's partition table (``shipyard.checks``); on a live
node udev's ``/dev/disk/by-uuid``, ``by-label``, ``by-partuuid`` and ``by-partlabel`` links say
which device each identity names.
"""

from __future__ import annotations


from shipyard.facts.boot import DiskFacts, FstabEntry, MountFacts, VolumeFacts
from shipyard.facts.collectors.common import is_file, list_optional
from shipyard.sources.base import FileSource, join_link, read_optional
from shipyard.sources.fstab import parse_fstab, partition_number, unescape_udev

BY_LINKS = (("by-uuid", "uuid"), ("by-label", "label"), ("by-partuuid", "partuuid"), ("by-partlabel", "partlabel"))


def collect_mounts(source: FileSource) -> MountFacts:
    text = read_optional(source, "/etc/fstab")
    if text is None:
        return MountFacts(fstab_present=False, entries=())
    entries = tuple(
        FstabEntry(line=e.line, spec=e.spec, mount_point=e.mount_point, fstype=e.fstype, options=e.options)
        for e in parse_fstab(text)
    )
    swap_files = tuple(
        e.spec for e in entries
        if e.fstype == "swap" and e.spec.startswith("/") and not e.spec.startswith("/dev/") and is_file(source, e.spec)
    )
    return MountFacts(fstab_present=True, entries=entries, swap_files=swap_files)


def collect_live_disk(source: FileSource) -> DiskFacts | None:
    """The volumes udev names on a running system; None when ``/dev/disk`` is not there."""
    if not source.exists("/dev/disk"):
        return None
    volumes: dict[str, dict[str, str]] = {}
    for directory, key in BY_LINKS:
        base = f"/dev/disk/{directory}"
        for name in list_optional(source, base):
            try:
                target = join_link(f"{base}/{name}", source.readlink(f"{base}/{name}"))
            except OSError:
                continue
            volumes.setdefault(target, {})[key] = unescape_udev(name)
    facts: list[VolumeFacts] = []
    for device, ids in sorted(volumes.items()):
        number = partition_number(device)
        facts.append(VolumeFacts(
            location=device, partition=number[1] if number else None, uuid=ids.get("uuid"),
            label=ids.get("label"), partuuid=ids.get("partuuid"), partlabel=ids.get("partlabel"),
            device_paths=(device,),
        ))
    return DiskFacts(scheme=None, volumes=tuple(facts), source="live")

