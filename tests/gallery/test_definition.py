"""``shipyard.gallery.definition`` on real images: the Ubuntu fixture tree built by ``image build``
as MBR and as GPT with an EFI system partition, generalised and not, read by ``inspect_image``."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.pools import build_ubuntu_vhd
from fixtures.trees import write_files, write_ubuntu_2204
from shipyard.checks.image import inspect_image
from shipyard.errors import UsageError
from shipyard.gallery.definition import check_name, definition_fields
from shipyard.image.build import build_image

MIB = 1 << 20


@pytest.fixture(scope="module")
def mbr_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ubuntu_vhd(tmp_path_factory.mktemp("mbr"))


@pytest.fixture(scope="module")
def gpt_specialized_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GPT with an EFI system partition; a machine id and an SSH host key left in it."""
    directory = tmp_path_factory.mktemp("gpt")
    root = write_ubuntu_2204(directory / "root")
    write_files(root, {"/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
                       "/etc/ssh/ssh_host_ed25519_key": "-----BEGIN OPENSSH PRIVATE KEY-----\n"})
    (root / "boot" / "efi").mkdir(parents=True, exist_ok=True)
    return build_image(root, directory / "gpt.vhd", table="gpt", esp_bytes=34 * MIB)


def test_an_mbr_generalised_ubuntu_is_a_v1_generalized_linux_definition(mbr_vhd: Path) -> None:
    fields = definition_fields(inspect_image(mbr_vhd).facts, "batch.node.ubuntu 22.04")
    assert (fields.os_type, fields.os_state, fields.hyper_v_generation, fields.architecture) == (
        "Linux", "Generalized", "V1", "x64")
    assert fields.offer == "ubuntu-22.04" and fields.default_name == "ubuntu-22.04-gen1-x64"
    assert fields.identifier("d") == {"publisher": "shipyard", "offer": "ubuntu-22.04", "sku": "d"}
    assert "V1 assumed" in fields.reasons["hyper_v_generation"]


def test_gpt_with_an_esp_is_v2_and_leftovers_make_it_specialized(gpt_specialized_vhd: Path) -> None:
    fields = definition_fields(inspect_image(gpt_specialized_vhd).facts)
    assert fields.hyper_v_generation == "V2" and "EFI system partition" in fields.reasons["hyper_v_generation"]
    assert fields.os_state == "Specialized" and "machine-id" in fields.reasons["os_state"]
    assert fields.default_name == "ubuntu-22.04-gen2-x64-specialized"


def test_variants_never_share_a_definition(mbr_vhd: Path, gpt_specialized_vhd: Path) -> None:
    names = {definition_fields(inspect_image(p).facts).default_name for p in (mbr_vhd, gpt_specialized_vhd)}
    assert len(names) == 2


def test_a_windows_node_agent_makes_a_windows_definition(mbr_vhd: Path) -> None:
    assert definition_fields(inspect_image(mbr_vhd).facts, "batch.node.windows amd64").os_type == "Windows"


@pytest.mark.parametrize("name", ["-lead", "trail.", "has space", "a/b", "x" * 81, ""])
def test_bad_names(name: str) -> None:
    with pytest.raises(UsageError):
        check_name(name, "--definition")
