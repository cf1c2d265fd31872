"""The boot and provisioning rules on real disk images: Debian 12's cloud kernel package, its
initramfs made by the real mkinitramfs, Debian's walinuxagent and cloud-init packages, GRUB's
own MBR boot code and EFI loader, built into VHDs by `image build` (GPT with an EFI system
partition and a BIOS boot partition, and MBR), then read by `image check` as Azure would get them.

Each broken case breaks exactly one rule: every other boot and provisioning rule keeps its result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from facts.test_bootloader import debian_grub_cfg
from fixtures.debs import unpacked_deb
from fixtures.kernel import HYPERV_MODULES, KernelTree, compress, modules_cpio
from fixtures.trees import enable_unit, write_files
from shipyard.checks.image import check_image, inspect_image
from shipyard.image.build import build_image
from shipyard.results import Status
from shipyard.rules.context import PoolContext

ROOT_UUID = "5b1d3c1e-6a0e-4d52-9d4e-0b7a1f2c3d4e"
ESP_UUID = "ABCD-1234"
BOOT_RULES = ("boot.kernel", "boot.hyperv_drivers", "boot.fstab", "boot.console", "disk.os_swap", "provision.agent",
              "provision.generalized")
ERRORS = ("boot.kernel", "boot.hyperv_drivers", "boot.fstab", "provision.agent")  # the rest are warnings
CLOUD_UNITS = ("cloud-init-local.service", "cloud-init.service", "cloud-config.service", "cloud-final.service")
MIB = 1 << 20


@pytest.fixture(scope="module")
def debian_root(tmp_path_factory: pytest.TempPathFactory, debian_kernel: KernelTree, mkinitramfs_initrd: Path) -> Path:
    """A Debian 12 Azure root: the cloud kernel and its mkinitramfs initramfs, GRUB's menu for it,
    fstab by UUID (the root, and the EFI system partition on /boot/efi), waagent and cloud-init
    enabled as their packages enable them, generalised."""
    root = tmp_path_factory.mktemp("debian") / "root"
    version = debian_kernel.version
    for package in ("waagent", "cloud-init"):
        shutil.copytree(unpacked_deb(package), root, symlinks=True, dirs_exist_ok=True)
    enable_unit(root, "walinuxagent.service")
    for unit in CLOUD_UNITS:
        enable_unit(root, unit, "cloud-init.target")
    modules = root / "lib/modules" / version
    modules.mkdir(parents=True)
    for name in ("modules.builtin", "modules.order"):
        shutil.copy2(debian_kernel.modules_dir / name, modules / name)
    (root / "boot").mkdir(exist_ok=True)
    shutil.copy2(debian_kernel.vmlinuz, root / "boot" / f"vmlinuz-{version}")
    shutil.copy2(mkinitramfs_initrd, root / "boot" / f"initrd.img-{version}")
    grub_efi = unpacked_deb("grub-efi-amd64-bin") / "usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"
    write_files(root, {
        "/etc/os-release": 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
        "/etc/machine-id": "",
        "/boot/grub/grub.cfg": debian_grub_cfg("0").replace("6.1.0-57-cloud-amd64", version),
        "/etc/default/grub": 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=""\nGRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"\n',
        "/etc/fstab": f"UUID={ROOT_UUID} / ext4 rw,discard,errors=remount-ro,x-systemd.growfs 0 1\n"
                      f"UUID={ESP_UUID} /boot/efi vfat defaults 0 0\n",
        "/boot/efi/EFI/BOOT/BOOTX64.EFI": grub_efi.read_bytes(),
        "/boot/efi/EFI/debian/grubx64.efi": grub_efi.read_bytes(),
    })
    i386 = unpacked_deb("grub-pc-bin") / "usr/lib/grub/i386-pc"
    (root / "boot/grub/i386-pc").mkdir(parents=True)
    for name in ("boot.img", "normal.mod", "part_msdos.mod", "part_gpt.mod", "ext2.mod", "biosdisk.mod"):
        shutil.copy2(i386 / name, root / "boot/grub/i386-pc" / name)  # some of what grub-install --target=i386-pc puts there
    return root


def build(root: Path, out: Path, table: str) -> Path:
    if table == "gpt":
        return build_image(root, out, table="gpt", fs_uuid=ROOT_UUID, esp_bytes=34 * MIB, esp_uuid=ESP_UUID, bios_boot=True)
    image = build_image(root, out, table="mbr", fs_uuid=ROOT_UUID)
    # GRUB's boot.img in the MBR's boot code area, as grub-install --target=i386-pc writes it
    boot_img = (unpacked_deb("grub-pc-bin") / "usr/lib/grub/i386-pc/boot.img").read_bytes()
    with open(image, "r+b") as disk:
        disk.write(boot_img[:440])
    return image


def statuses(image: Path) -> dict[str, Status]:
    return {r.id: r.status for r in check_image(image, PoolContext())}


@pytest.mark.parametrize(("table", "generation"), [("gpt", "Generations 1 and 2"), ("mbr", "Generation 1: MBR with boot code")])
def test_a_real_debian_image_boots_and_provisions(tmp_path: Path, debian_root: Path, table: str, generation: str) -> None:
    root = tmp_path / "root"
    shutil.copytree(debian_root, root, symlinks=True)
    if table == "mbr":  # no EFI system partition on this disk: fstab mounts only the root
        (root / "etc/fstab").write_text(f"UUID={ROOT_UUID} / ext4 rw,discard,errors=remount-ro 0 1\n")
    image = build(root, tmp_path / "disk.vhd", table)
    results = {r.id: r for r in check_image(image, PoolContext())}
    for rule_id in BOOT_RULES:
        assert results[rule_id].status is Status.PASS, (rule_id, results[rule_id].message)
    assert results["boot.generation"].status is Status.PASS and generation in results["boot.generation"].message
    assert "hv_vmbus in the initramfs" in results["boot.hyperv_drivers"].message
    inspection = inspect_image(image).as_dict()
    boot = inspection["boot"]
    assert boot["default_kernel"] == next(k["version"] for k in boot["kernels"])
    kernel = boot["kernels"][0]
    assert kernel["format"] == "bzImage" and kernel["initramfs"]["segments"] == ["zstd"]
    assert set(HYPERV_MODULES) <= set(kernel["initramfs"]["modules"])
    assert "console=ttyS0,115200" in boot["cmdline"]
    if table == "gpt":
        assert inspection["format"]["mounted"] == {"/boot/efi": "partition 15"}
        assert boot["bootloader"]["efi_loaders"][0] == "/boot/efi/EFI/BOOT/BOOTX64.EFI"
        assert inspection["generation"]["generations"] == [1, 2]


def _swap_file(root: Path) -> None:
    write_files(root, {"/swapfile": b"\0" * 65536})
    with open(root / "etc/fstab", "a") as fstab:
        fstab.write("/swapfile none swap sw 0 0\n")


def _no_console(root: Path) -> None:
    grub = root / "boot/grub/grub.cfg"
    grub.write_text(grub.read_text().replace(" console=ttyS0,115200 earlyprintk=ttyS0,115200", " quiet"))


def _initramfs_without_storvsc(kernel: KernelTree) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        names = tuple(m for m in HYPERV_MODULES if m != "hv_storvsc")
        initrd = root / "boot" / f"initrd.img-{kernel.version}"
        initrd.write_bytes(compress(modules_cpio(kernel, names), "zstd"))

    return mutate


def _cloud_init_only_by_name(root: Path) -> None:
    # waagent.conf says Provisioning.Agent=cloud-init (Debian's), but cloud-init was removed
    shutil.rmtree(root / "etc/systemd/system/cloud-init.target.wants")
    for path in ("usr/bin/cloud-init", "lib/systemd/system-generators/cloud-init-generator"):
        (root / path).unlink()


BREAKS: list[tuple[str, Callable[[Path], None] | str]] = [
    ("boot.kernel", lambda r: (r / "boot/grub/grub.cfg").write_text(
        (r / "boot/grub/grub.cfg").read_text().replace("vmlinuz-", "vmlinuz-9.9.9-", 2))),
    ("boot.hyperv_drivers", "initramfs"),
    ("boot.fstab", lambda r: (r / "etc/fstab").write_text(
        (r / "etc/fstab").read_text() + "UUID=0f0f0f0f-0000-4000-8000-000000000000 /data ext4 defaults 0 2\n")),
    ("boot.console", _no_console),
    ("disk.os_swap", _swap_file),
    ("provision.agent", _cloud_init_only_by_name),
    ("provision.generalized", lambda r: write_files(r, {"/etc/machine-id": "4f2b0c7e9a7d4d6f9b0b5a1f3c2e1d00\n",
                                                          "/etc/ssh/ssh_host_ed25519_key": "-----BEGIN"})),
]


@pytest.mark.parametrize(("rule_id", "mutate"), BREAKS, ids=[b[0] for b in BREAKS])
def test_each_break_fails_exactly_its_rule(tmp_path: Path, debian_root: Path, debian_kernel: KernelTree,
                                           rule_id: str, mutate: Callable[[Path], None] | str) -> None:
    root = tmp_path / "root"
    shutil.copytree(debian_root, root, symlinks=True)
    (mutate if callable(mutate) else _initramfs_without_storvsc(debian_kernel))(root)
    found = statuses(build(root, tmp_path / "disk.vhd", "gpt"))
    broken = {r: s for r, s in found.items() if r in BOOT_RULES and s is not Status.PASS}
    assert broken == {rule_id: Status.FAIL if rule_id in ERRORS else Status.WARN}


def test_gpt_without_a_boot_partition_has_no_generation(tmp_path: Path, debian_root: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(debian_root, root, symlinks=True)
    (root / "etc/fstab").write_text(f"UUID={ROOT_UUID} / ext4 defaults 0 1\n")
    image = build_image(root, tmp_path / "disk.vhd", table="gpt", fs_uuid=ROOT_UUID)
    results = {r.id: r for r in check_image(image, PoolContext())}
    assert results["boot.generation"].status is Status.UNKNOWN
    assert "neither an EFI system partition" in results["boot.generation"].message
