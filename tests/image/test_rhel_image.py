"""A RHEL-family image end to end: MBR -> LVM2 physical volume -> XFS root in an LV -> rpmdb facts.

This is the layout of Azure's RHEL images (root on XFS in a `rootvg` logical volume). The XFS
filesystem is made by mkfs.xfs from a RHEL 9 tree, the PV written in LVM2's on-disk format, and
the raw disk converted to a fixed VHD by `image convert`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fixtures.images import LvSpec, write_lvm_pv
from fixtures.rhel import write_rhel_9
from shipyard.image.build import make_mbr

MIB = 1 << 20

pytest.importorskip("pyfsxfs", reason="the XFS extra (libfsxfs-python) is not installed")
if not (shutil.which("mkfs.xfs") or Path("/usr/sbin/mkfs.xfs").exists() or Path("/sbin/mkfs.xfs").exists()):
    pytest.skip("mkfs.xfs (xfsprogs) is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def rhel_vhd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from image.fs.fs_builders import make_xfs_image

    from shipyard.image.convert import convert_image

    work = tmp_path_factory.mktemp("rhel")
    tree = write_rhel_9(work / "root")
    xfs = make_xfs_image(tree, work / "root.xfs")
    disk_bytes = 1 * MIB + MIB + 310 * MIB  # MBR gap, PV header area, extents
    raw = work / "rhel.raw"
    with open(raw, "wb") as out:
        out.truncate(disk_bytes)
        out.write(make_mbr([(0x8E, MIB // 512, (disk_bytes - MIB) // 512, False)], 0x5EED1234))
    lvs = [LvSpec("rootlv", [(300, 0)], content=xfs), LvSpec("tmplv", [(8, 300)])]
    write_lvm_pv(raw, MIB, disk_bytes - MIB, lvs, vg_name="rootvg")
    return convert_image(raw, work / "rhel.vhd")


def test_inspect_finds_the_xfs_root_in_the_logical_volume(cli, rhel_vhd: Path) -> None:
    result = cli("image", "inspect", rhel_vhd, "--raw")
    assert result.code == 0, result.err
    data = result.json()
    assert data["format"]["type"] == "vhd-fixed"
    assert data["format"]["root"] == {"location": "LV rootvg/rootlv", "filesystem": "xfs"}
    assert (data["os"]["id"], data["os"]["version_id"], data["os"]["family"]) == ("rhel", "9.3", "rhel")
    assert data["node_agent"] == "batch.node.el 9"
    assert data["packages"]["manager"] == "rpm"
    assert data["packages"]["versions"]["openssh-server"] == "8.7p1-34.el9"


def test_check_runs_the_rules_on_it(cli, rhel_vhd: Path) -> None:
    result = cli("image", "check", rhel_vhd, "--node-agent", "batch.node.el 9", "--raw")
    statuses = {c["id"]: c["status"] for c in result.json()["checks"]}
    assert statuses["os.node_agent"] == "pass"
    assert statuses["ssh.installed"] == "pass"
    assert statuses["vhd.format"] == "pass"
    wrong = cli("image", "check", rhel_vhd, "--node-agent", "batch.node.ubuntu 22.04", "--raw")
    assert {c["id"]: c["status"] for c in wrong.json()["checks"]}["os.node_agent"] == "fail"
