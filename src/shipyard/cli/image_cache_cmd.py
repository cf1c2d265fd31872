"""``shipyard image cache list|prune``: the image roots the local backend's ``image`` runtime unpacked.

The library is ``pools.local.rootcache``; this module lists its entries (with the pools that use
each) and removes them. An entry a pool uses is kept: delete the pool first.
"""

from __future__ import annotations

from datetime import datetime, UTC
from typing import Any

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.errors import UsageError


@click.group("cache")
@global_options
def cache_group() -> None:
    """The image roots unpacked for local pools (one per image content): list, prune."""


def _rows() -> list[dict[str, Any]]:
    from shipyard.pools.local.rootcache import RootCache, pools_using

    using = pools_using()
    rows = []
    for entry in RootCache().entries():
        manifest = entry.manifest or {}
        created = manifest.get("created")
        rows.append({
            "key": entry.key, "complete": entry.complete, "path": str(entry.path),
            "uri": manifest.get("uri"), "machine": manifest.get("machine"),
            "files": manifest.get("files"), "size_bytes": entry.size_bytes(),
            "skipped_device_nodes": len(manifest.get("skipped") or ()),
            "created": datetime.fromtimestamp(created, UTC).isoformat() if created else None,
            "pools": using.get(entry.key, []),
        })
    return rows


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover


@cache_group.command("list")
@global_options
@pass_settings
def list_cache(settings: Settings) -> int:
    """List the unpacked image roots: key, source VHD, size, and the pools that use each."""
    rows = _rows()
    if settings.raw:
        render.emit_json(rows)
        return 0
    if not rows:
        render.line("the image cache is empty")
        return 0
    render.table(None, ("key", "state", "image", "files", "size", "used by"), [
        (r["key"], "complete" if r["complete"] else "interrupted (prune removes it)", r["uri"] or "",
         r["files"] if r["files"] is not None else "", _size(r["size_bytes"]), ", ".join(r["pools"]) or "no pool")
        for r in rows])
    return 0


@cache_group.command("prune")
@click.argument("keys", nargs=-1)
@global_options
@pass_settings
def prune(settings: Settings, keys: tuple[str, ...]) -> int:
    """Remove unpacked image roots: those of KEYS, or else every one no pool uses (and what an
    interrupted unpack left). A root a pool uses is kept. Asks first; -y answers yes."""
    from shipyard.cli.prompt import confirm
    from shipyard.pools.local.rootcache import RootCache, pools_using

    cache = RootCache()
    entries = {e.key: e for e in cache.entries()}
    using = pools_using()
    unknown = [k for k in keys if k not in entries]
    if unknown:
        raise UsageError(f"no cached image root {', '.join(unknown)}", hint="see `shipyard image cache list`")
    busy = [k for k in keys if k in using]
    if busy:
        raise UsageError(f"the image root {busy[0]} is used by pool {', '.join(using[busy[0]])}: delete the pool "
                         "first (`shipyard pool del`)")
    chosen = [entries[k] for k in keys] if keys else [e for e in entries.values() if e.key not in using]
    kept = [] if keys else [k for k in entries if k in using]
    if chosen:
        total = sum(e.size_bytes() for e in chosen)
        if not confirm(settings, f"remove {len(chosen)} image root{'s' if len(chosen) != 1 else ''} "
                                 f"({_size(total)})?"):
            render.line("nothing removed", stderr=True)
            return 1
    for entry in chosen:
        cache.remove(entry)
    cache.sweep()  # what an interrupted prune left
    if settings.raw:
        render.emit_json({"removed": [e.key for e in chosen], "kept": kept})
        return 0
    render.line(f"removed {len(chosen)} image root{'s' if len(chosen) != 1 else ''}"
                + (f"; kept {len(kept)} that pools use" if kept else ""))
    return 0
