"""``shipyard.storage.local_gallery``: the local backend's registry of published image versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.errors import StorageError, UsageError
from shipyard.storage import local_gallery

FIELDS = {"os_type": "Linux", "os_state": "Generalized", "hyper_v_generation": "V2", "architecture": "x64"}


def _publish(home: Path, version: str, source: str = "local://a/vhds/x.vhd", **kwargs):
    return local_gallery.publish("g", "def", version, image_uris=[source, "local://b/vhds/x.vhd"], source_uri=source,
                                 definition_fields=kwargs.pop("fields", FIELDS), home=home, **kwargs)


def test_publish_resolve_and_latest(tmp_path: Path) -> None:
    first, new = _publish(tmp_path, "1.0.9")
    assert new and first.id == local_gallery.local_version_id("g", "def", "1.0.9")
    second, _ = _publish(tmp_path, "1.0.10", source="local://a/vhds/y.vhd")
    assert local_gallery.resolve(first.id, home=tmp_path) == first
    assert local_gallery.resolve(first.id.upper().replace("/VERSIONS/", "/versions/"), home=tmp_path) == first
    definition_id = first.id.rsplit("/versions/", 1)[0]
    assert local_gallery.resolve(definition_id, home=tmp_path) == second  # 1.0.10 is later than 1.0.9
    assert first.image_uris == ("local://a/vhds/x.vhd", "local://b/vhds/x.vhd")
    assert [e.version for e in local_gallery.entries(home=tmp_path)] == ["1.0.9", "1.0.10"]


def test_unknown_and_foreign_ids_resolve_to_none(tmp_path: Path) -> None:
    _publish(tmp_path, "1.0.0")
    assert local_gallery.resolve(local_gallery.local_version_id("g", "def", "2.0.0"), home=tmp_path) is None
    azure = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/galleries/g/images/def/versions/1.0.0"
    assert local_gallery.resolve(azure, home=tmp_path) is None
    assert local_gallery.resolve("not an id", home=tmp_path) is None


def test_republishing_is_idempotent_and_conflicts_are_refused(tmp_path: Path) -> None:
    entry, _ = _publish(tmp_path, "1.0.0")
    again, new = _publish(tmp_path, "1.0.0")
    assert again == entry and not new
    with pytest.raises(UsageError, match="made from"):
        _publish(tmp_path, "1.0.0", source="local://a/vhds/other.vhd")
    with pytest.raises(UsageError, match="hyper_v_generation V2 \\(this image: V1\\)"):
        _publish(tmp_path, "1.0.1", fields={**FIELDS, "hyper_v_generation": "V1"})


def test_the_registry_is_written_atomically_and_checked_on_read(tmp_path: Path) -> None:
    _publish(tmp_path, "1.0.0")
    path = local_gallery.registry_path(tmp_path)
    assert json.loads(path.read_text())["format"] == 1
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".registry-")] == []
    path.write_text("{broken")
    with pytest.raises(StorageError, match="cannot read the local gallery"):
        local_gallery.resolve(local_gallery.local_version_id("g", "def", "1.0.0"), home=tmp_path)
