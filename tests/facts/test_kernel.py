"""Kernel modules per installed kernel, boot-time loads, blacklists."""

from __future__ import annotations

from pathlib import Path

from fixtures.trees import UBUNTU_KERNEL, UBUNTU_OLD_KERNEL, link, remove, write_files

from shipyard.facts.collectors.kernel import collect_kernel_modules
from shipyard.sources.directory import DirectorySource


def modules_of(root: Path):
    return collect_kernel_modules(DirectorySource(root))


def test_ubuntu_kernels_and_default(ubuntu_root: Path) -> None:
    facts = modules_of(ubuntu_root)
    assert [k.version for k in facts.kernels] == [UBUNTU_OLD_KERNEL, UBUNTU_KERNEL]
    assert facts.default_kernel == UBUNTU_KERNEL  # /boot/vmlinuz points to it
    assert facts.has_module("nvidia") is True
    assert facts.has_module("nvidia", UBUNTU_OLD_KERNEL) is False
    assert facts.has_module("mlx5_ib") is True  # .ko.zst in modules.dep
    assert facts.has_module("mlx4_ib") is False
    assert facts.has_module("rdma_ucm") is True
    assert facts.has_module("nvidia", "6.0.0-unknown") is None
    assert facts.kernel().modules["nvidia_uvm"] == "updates/dkms/nvidia-uvm.ko"
    assert facts.load_at_boot == ("ib_uverbs", "rdma_ucm")


def test_blacklists(ubuntu_root: Path) -> None:
    facts = modules_of(ubuntu_root)
    assert facts.is_blacklisted("nouveau") is True
    assert facts.is_blacklisted("nvidia") is False
    write_files(ubuntu_root, {
        "/etc/modprobe.d/nvidia-off.conf": "# off\nblacklist nvidia-drm\ninstall nvidia /bin/false\n",
        "/etc/default/grub": 'GRUB_CMDLINE_LINUX="console=ttyS0 modprobe.blacklist=mlx5_ib,rdma_ucm"\n'
                             '#GRUB_CMDLINE_LINUX="modprobe.blacklist=ib_uverbs"\n',
    })
    facts = modules_of(ubuntu_root)
    assert facts.is_blacklisted("nvidia") and facts.is_blacklisted("nvidia_drm")
    assert facts.is_blacklisted("mlx5_ib") and facts.is_blacklisted("rdma_ucm")
    assert not facts.is_blacklisted("ib_uverbs")  # only in a comment


def test_etc_modprobe_file_shadows_lib_file(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "/lib/modprobe.d/blacklist-nvidia.conf": "blacklist nvidia\n",
        "/etc/modprobe.d/blacklist-nvidia.conf": "# overridden\n",
        "/usr/lib/modprobe.d/nouveau.conf": "blacklist nouveau\n",
    })
    facts = modules_of(tmp_path)
    assert facts.is_blacklisted("nvidia") is False
    assert facts.is_blacklisted("nouveau") is True


def test_modules_found_without_modules_dep(tmp_path: Path) -> None:
    base = "/lib/modules/6.5.0-1015-azure"
    write_files(tmp_path, {
        f"{base}/kernel/drivers/infiniband/hw/mlx4/mlx4_ib.ko.xz": b"x",
        f"{base}/kernel/nvidia-535/nvidia.ko": b"x",
        f"{base}/extra/nvidia-peermem.ko.zst": b"x",
        f"{base}/kernel/drivers/net/ethernet/intel/e1000.ko": b"x",
    })
    kernel = modules_of(tmp_path).kernel()
    assert kernel.has_modules_dep is False
    assert set(kernel.modules) == {"mlx4_ib", "nvidia", "nvidia_peermem"}


def test_default_kernel_is_newest_without_vmlinuz_link(ubuntu_root: Path) -> None:
    remove(ubuntu_root, "/boot/vmlinuz")
    link(ubuntu_root, "/boot/vmlinuz", "vmlinuz-9.9.9")  # a kernel that is not installed
    write_files(ubuntu_root, {"/usr/lib/modules/5.15.0-200-azure/modules.dep": ""})
    assert modules_of(ubuntu_root).default_kernel == "5.15.0-1053-azure"  # 1053 > 200 numerically


def test_no_kernel_is_a_known_absence_not_unknown(tmp_path: Path) -> None:
    facts = modules_of(tmp_path)
    assert facts is not None
    assert (facts.kernels, facts.default_kernel, facts.kernel()) == ((), None, None)
    assert facts.has_module("nvidia") is None  # no kernel to have it
