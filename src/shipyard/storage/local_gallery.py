"""The local backend's Compute Gallery: image versions published on this machine, as a registry.

`image publish` on the local backend records each version here, so that a pool whose
``custom_image.arm_image_id`` names it runs on the local backend as one with ``image_uris``
does: :func:`resolve` turns the id into the VHDs (the local store's replicas) the nodes boot
from. The ids have Azure's form in subscription ``local``, resource group ``local``::

    /subscriptions/local/resourceGroups/local/providers/Microsoft.Compute/galleries/G/images/D/versions/V

and, as on Azure, a definition's id (no ``/versions/V``) means its latest version. One JSON file,
``<home>/gallery/registry.json``, holds the definitions (their fields, as ``image publish`` read
them from the image) and the versions; it is rewritten atomically (temporary file, then
``os.replace``) under an ``flock``, so two publishes never lose each other's entry. ARM ids are
case-insensitive: so are the keys here.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shipyard.config.arm_ids import gallery_version_id, parse_image_id, version_key
from shipyard.errors import StorageError, UsageError
from shipyard.storage.open import shipyard_home

LOCAL_SUBSCRIPTION = "local"
LOCAL_RESOURCE_GROUP = "local"
REGISTRY_FILE = "registry.json"
FORMAT = 1


@dataclass(frozen=True)
class GalleryEntry:
    """One published version: its id, the VHDs it boots from, and its definition's fields."""

    id: str
    gallery: str
    definition: str
    version: str
    image_uris: tuple[str, ...]
    source_uri: str
    definition_fields: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    published_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_uris"] = list(self.image_uris)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GalleryEntry:
        return cls(**{**data, "image_uris": tuple(data.get("image_uris") or ())})


def local_version_id(gallery: str, definition: str, version: str) -> str:
    return gallery_version_id(LOCAL_SUBSCRIPTION, LOCAL_RESOURCE_GROUP, gallery, definition, version)


def registry_path(home: Path | str | None = None) -> Path:
    return shipyard_home(home) / "gallery" / REGISTRY_FILE


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"format": FORMAT, "definitions": {}, "versions": {}}
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the local gallery {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StorageError(f"{path} is not a local gallery registry this shipyard reads (format {FORMAT})")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    handle, tmp = tempfile.mkstemp(prefix=".registry-", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(home: Path | str | None) -> Iterator[Path]:
    path = registry_path(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.parent / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
    except OSError as exc:
        raise StorageError(f"cannot update the local gallery under {path.parent}: {exc.strerror or exc}") from None


def entries(home: Path | str | None = None) -> list[GalleryEntry]:
    """Every published version, oldest name first within each definition."""
    data = _read(registry_path(home))
    found = [GalleryEntry.from_dict(item) for item in data["versions"].values()]
    return sorted(found, key=lambda e: (e.gallery.lower(), e.definition.lower(), version_key(e.version)))


def resolve(arm_image_id: str, home: Path | str | None = None) -> GalleryEntry | None:
    """The version an ``arm_image_id`` of the local gallery names (a definition: its latest version);
    None when it names nothing published here (or is no local gallery id)."""
    parsed = parse_image_id(arm_image_id)
    if parsed is None or parsed.kind not in ("gallery_version", "gallery_definition"):
        return None
    if (parsed.subscription or "").lower() != LOCAL_SUBSCRIPTION or (parsed.resource_group or "").lower() != LOCAL_RESOURCE_GROUP:
        return None
    versions = _read(registry_path(home))["versions"]
    if parsed.kind == "gallery_version":
        item = versions.get(arm_image_id.strip().lower())
        return GalleryEntry.from_dict(item) if item else None
    prefix = f"{(parsed.definition_id or '').lower()}/versions/"
    matches = [GalleryEntry.from_dict(item) for key, item in versions.items() if key.startswith(prefix)]
    return max(matches, key=lambda e: version_key(e.version)) if matches else None


def publish(
    gallery: str, definition: str, version: str, *, image_uris: Sequence[str], source_uri: str,
    definition_fields: Mapping[str, Any], tags: Mapping[str, str] | None = None, home: Path | str | None = None,
    now: datetime.datetime | None = None,
) -> tuple[GalleryEntry, bool]:
    """Record a version; returns it and whether it is new (False: the same one was already there).

    As on Azure: a definition that exists with other fields, or a version that exists from
    another source, is a ``UsageError``; nothing is changed then.
    """
    version_id = local_version_id(gallery, definition, version)
    definition_key = version_id.rsplit("/versions/", 1)[0].lower()
    fields = dict(definition_fields)
    with _locked(home) as path:
        data = _read(path)
        known = data["definitions"].get(definition_key)
        if known is not None:
            differ = sorted(k for k in ("os_type", "os_state", "hyper_v_generation", "architecture")
                            if k in known and k in fields and known[k] != fields[k])
            if differ:
                raise UsageError(
                    f"image definition {definition} exists with other fields: "
                    + ", ".join(f"{k} {known[k]} (this image: {fields[k]})" for k in differ),
                    hint="pass another --definition (one definition per kind of image)")
        existing = data["versions"].get(version_id.lower())
        if existing is not None:
            entry = GalleryEntry.from_dict(existing)
            if entry.source_uri != source_uri:
                raise UsageError(f"image version {version} of {definition} exists, made from {entry.source_uri}, "
                                 f"not {source_uri}", hint="pass another --version")
            return entry, False
        stamp = (now or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
        entry = GalleryEntry(version_id, gallery, definition, version, tuple(image_uris), source_uri,
                             dict(fields), dict(tags or {}), stamp)
        data["definitions"].setdefault(definition_key, fields)
        data["versions"][version_id.lower()] = entry.as_dict()
        _write(path, data)
        return entry, True
