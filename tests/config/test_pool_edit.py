"""`set_custom_image`: the pool file points at the image, and every other byte of it stays."""

from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest

from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.config.pool_edit import set_custom_image
from shipyard.errors import ConfigError, ShipyardError

URI1 = "https://acct1.blob.core.windows.net/vhds/disk.vhd"
URI2 = "https://acct2.blob.core.windows.net/vhds/disk.vhd"
ARM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ubuntu/versions/1.0.0"
AGENT = "batch.node.ubuntu 22.04"

URIS_YAML = f"""\
# pool for the image tests
pool_specification:
  id: mypool  # keep this id
  vm_configuration:
    custom_image:
      image_uris:
        - {URI1}  # the uploaded image
      # the agent that matches the image
      node_agent: {AGENT}
  vm_size: STANDARD_D2S_V3
  vm_count:
    dedicated: 100
  # ssh settings follow
  ssh:
    username: shipyard
"""
ARM_YAML = URIS_YAML.replace(f"      image_uris:\n        - {URI1}  # the uploaded image\n",
                             f'      arm_image_id: "{ARM}"  # the gallery image\n')


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def valid_pool(path: Path) -> None:
    """The result still loads and satisfies custom_image.source (exactly one of the two)."""
    config = load_config_set(ConfigPaths({**ConfigPaths.resolve(pool=path).files}))
    assert config.errors == [], [str(f) for f in config.errors]


def test_more_uris_are_added_after_the_last_and_nothing_else_moves(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.yaml", URIS_YAML)
    assert set_custom_image(path, image_uris=[URI1, URI2]) is True
    lines = URIS_YAML.splitlines()
    # the new item goes after the last one, before the comment line that precedes node_agent
    assert path.read_text().splitlines() == [*lines[:7], f"        - {URI2}", *lines[7:]]
    assert set_custom_image(path, image_uris=[URI1, URI2]) is False  # already so: not written
    assert set_custom_image(path, image_uris=[URI2]) is True
    assert path.read_text() == URIS_YAML.replace(URI1, URI2)  # the comment lines stay where they were
    valid_pool(path)


def test_arm_image_id_replaces_image_uris_in_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.yaml", URIS_YAML)
    assert set_custom_image(path, arm_image_id=ARM) is True
    assert path.read_text() == URIS_YAML.replace(f"image_uris:\n        - {URI1}  # the uploaded image\n",
                                                 f"arm_image_id: {ARM}\n")
    valid_pool(path)
    assert set_custom_image(path, arm_image_id=ARM) is False


def test_a_new_arm_image_id_keeps_the_old_quoting_and_comment(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.yaml", ARM_YAML)
    newer = ARM.replace("1.0.0", "1.1.0")
    assert set_custom_image(path, arm_image_id=newer) is True
    assert path.read_text() == ARM_YAML.replace(ARM, newer)


def test_image_uris_replace_arm_image_id_in_its_place(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.yaml", ARM_YAML)
    assert set_custom_image(path, image_uris=[URI1, URI2]) is True
    text = path.read_text()
    assert ARM not in text and "arm_image_id" not in text
    # no other sequence in the file to copy the layout of: ruamel's own ("- " under the key)
    assert "      image_uris:\n" f"      - {URI1}\n" f"      - {URI2}\n" "      # the agent that matches" in text
    assert text.replace(f"      image_uris:\n      - {URI1}\n      - {URI2}\n", "") == ARM_YAML.replace(
        f'      arm_image_id: "{ARM}"  # the gallery image\n', "")
    valid_pool(path)


def test_both_keys_present_leaves_only_the_one_written(tmp_path: Path) -> None:
    both = URIS_YAML.replace(f"      node_agent: {AGENT}\n", f"      arm_image_id: {ARM}\n      node_agent: {AGENT}\n")
    path = write(tmp_path, "pool.yaml", both)
    assert set_custom_image(path, image_uris=[URI1]) is True  # the uris were right; the arm id goes
    assert path.read_text() == URIS_YAML
    path.write_text(both)
    assert set_custom_image(path, arm_image_id=ARM) is True
    # the comment line after the removed first key now leads the mapping
    assert path.read_text() == URIS_YAML.replace(f"      image_uris:\n        - {URI1}  # the uploaded image\n", "").replace(
        f"      node_agent: {AGENT}\n", f"      arm_image_id: {ARM}\n      node_agent: {AGENT}\n")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_keep_other_refreshes_image_uris_and_leaves_arm_image_id_as_it_was(tmp_path: Path, suffix: str) -> None:
    both = URIS_YAML.replace(f"      node_agent: {AGENT}\n", f"      arm_image_id: {ARM}\n      node_agent: {AGENT}\n")
    if suffix == ".json":
        from ruamel.yaml import YAML

        both = json.dumps(YAML(typ="safe").load(both), indent=2) + "\n"
    path = write(tmp_path, f"pool{suffix}", both)
    assert set_custom_image(path, image_uris=[URI1], keep_other=True) is False  # already says exactly that
    assert set_custom_image(path, image_uris=[URI1, URI2], keep_other=True) is True
    data = load_config_set(ConfigPaths.resolve(pool=path)).pool
    assert data is not None and data.vm_configuration.custom_image is not None
    assert data.vm_configuration.custom_image.image_uris == [URI1, URI2]
    assert data.vm_configuration.custom_image.arm_image_id == ARM


def test_flow_style_and_an_empty_list_key(tmp_path: Path) -> None:
    flow = write(tmp_path, "flow.yaml", textwrap.dedent(f"""\
        pool_specification:
          id: p   # comment
          vm_configuration:
            custom_image:
              image_uris: [{URI1}]  # one so far
              node_agent: {AGENT}
        """))
    before = flow.read_text()
    assert set_custom_image(flow, image_uris=[URI1, URI2])
    assert flow.read_text() == before.replace(f"[{URI1}]  #", f"[{URI1}, {URI2}] #")
    empty = write(tmp_path, "empty.yaml", f"pool_specification:\n  vm_configuration:\n    custom_image:\n"
                                          f"      node_agent: {AGENT}\n      image_uris:\n")
    assert set_custom_image(empty, image_uris=[URI1])
    assert empty.read_text().endswith(f"      image_uris:\n      - {URI1}\n")


def test_json_keeps_its_indent_and_key_order(tmp_path: Path) -> None:
    pool = {"pool_specification": {"id": "p", "vm_configuration": {"custom_image": {
        "image_uris": [URI1], "node_agent": AGENT}}, "vm_size": "STANDARD_D2S_V3", "vm_count": {"dedicated": 2}}}
    path = write(tmp_path, "pool.json", json.dumps(pool, indent=4) + "\n")
    assert set_custom_image(path, image_uris=[URI1, URI2])
    text = path.read_text()
    assert text.startswith('{\n    "pool_specification"') and text.endswith("}\n")
    custom = json.loads(text)["pool_specification"]["vm_configuration"]["custom_image"]
    assert custom == {"image_uris": [URI1, URI2], "node_agent": AGENT}
    assert set_custom_image(path, arm_image_id=ARM)
    custom = json.loads(path.read_text())["pool_specification"]["vm_configuration"]["custom_image"]
    assert list(custom.items()) == [("arm_image_id", ARM), ("node_agent", AGENT)]
    assert not set_custom_image(path, arm_image_id=ARM)
    valid_pool(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("config.yaml", "batch_shipyard:\n  storage_account_settings: sa1\n",
         "config.yaml:1: not a pool file: it has no pool_specification"),
        ("pool.yaml", "pool_specification:\n  id: p\n",
         "pool.yaml:1: pool_specification: vm_configuration.custom_image is missing"),
        ("pool.yaml", "pool_specification:\n  id: p\n  vm_configuration:\n    platform_image:\n      sku: x\n",
         "pool.yaml:3: pool_specification.vm_configuration: custom_image is missing"),
        ("pool.yaml", "pool_specification:\n  vm_configuration:\n    custom_image: [a]\n",
         "pool.yaml:3: pool_specification.vm_configuration: custom_image is not a mapping"),
        ("pool.json", '{"pool_specification": {"vm_configuration": {}}}',
         "pool.json:1: pool_specification.vm_configuration: custom_image is missing"),
        ("pool.yaml", "pool_specification: [\n", "pool.yaml:1: "),
        ("pool.yaml", "- a list\n", "pool.yaml:1: top level must be a mapping, found list"),
    ],
)
def test_a_file_that_is_not_a_pool_with_a_custom_image_is_a_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        set_custom_image(path, image_uris=[URI1])
    assert str(info.value).startswith(str(tmp_path / message)), str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_text() == text and os.listdir(tmp_path) == [name]


def test_exactly_one_non_empty_source(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.yaml", URIS_YAML)
    with pytest.raises(TypeError, match="exactly one"):
        set_custom_image(path)
    with pytest.raises(TypeError, match="exactly one"):
        set_custom_image(path, image_uris=[URI1], arm_image_id=ARM)
    with pytest.raises(TypeError, match="not one string"):
        set_custom_image(path, image_uris=URI1)
    with pytest.raises(ValueError, match="at least one"):
        set_custom_image(path, image_uris=[])
    with pytest.raises(ValueError, match="must not be empty"):
        set_custom_image(path, arm_image_id=" ")
    assert path.read_text() == URIS_YAML


def test_the_write_is_atomic_and_keeps_the_permissions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "pool.yaml", URIS_YAML)
    path.chmod(0o640)
    inode = path.stat().st_ino
    assert set_custom_image(path, image_uris=[URI2])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.stat().st_ino != inode  # renamed over it
    assert os.listdir(tmp_path) == ["pool.yaml"]
    before = path.read_text()

    def fail(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(ShipyardError, match=r"cannot write .*pool\.yaml: No space left on device"):
        set_custom_image(path, image_uris=[URI1])
    assert path.read_text() == before and os.listdir(tmp_path) == ["pool.yaml"]  # no temporary file left


def test_a_directory_it_cannot_write_into_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "pool.yaml", URIS_YAML)

    def denied(**kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path / ".pool.yaml.x.shipyard-tmp"))

    monkeypatch.setattr("tempfile.mkstemp", denied)  # what a read-only directory does, even to root
    with pytest.raises(ShipyardError) as info:
        set_custom_image(path, image_uris=[URI2])
    assert str(info.value) == f"cannot write {path}: Permission denied"
    assert path.read_text() == URIS_YAML
