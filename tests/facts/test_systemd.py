"""Units present and enabled at boot: wants links, aliases, masks, sysv, presets."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.trees import enable_unit, link, mask_unit, remove, write_files, write_systemd_base

from shipyard.facts.collectors.systemd import collect_services, parse_unit_file
from shipyard.sources.directory import DirectorySource


def services_of(root: Path):
    return collect_services(DirectorySource(root))


def test_ubuntu_enabled_units(ubuntu_root: Path) -> None:
    facts = services_of(ubuntu_root)
    assert facts.default_target == "graphical.target"
    assert facts.first_boot is False
    for name in ("docker", "containerd", "ssh", "ufw", "walinuxagent", "docker.socket"):
        assert facts.is_enabled(name) is True, name
    assert facts.unit("docker").via == "multi-user.target.wants"
    assert facts.is_enabled("nvidia-persistenced") is False
    assert facts.is_enabled("nftables") is False  # installed, not enabled (Ubuntu's default)
    assert facts.unit("systemd-journald.service").via == "sysinit.target.wants (vendor)"


def test_alias_sshd_to_ssh(ubuntu_root: Path) -> None:
    facts = services_of(ubuntu_root)
    assert facts.units["sshd.service"].alias_of == "ssh.service"
    assert facts.unit("sshd").path == "/usr/lib/systemd/system/ssh.service"
    assert facts.is_enabled("sshd") is True


def test_masked_beats_wants_link(ubuntu_root: Path) -> None:
    mask_unit(ubuntu_root, "docker.service")
    facts = services_of(ubuntu_root)
    assert facts.unit("docker").masked is True
    assert facts.is_enabled("docker") is False
    assert facts.is_masked("docker") is True
    assert facts.is_present("docker") is True


def test_disabled_when_wants_link_removed(ubuntu_root: Path) -> None:
    remove(ubuntu_root, "/etc/systemd/system/multi-user.target.wants/docker.service")
    facts = services_of(ubuntu_root)
    assert facts.is_enabled("docker") is False  # machine-id set: presets do not apply
    assert facts.is_enabled("docker.socket") is True


def test_wanted_by_unreached_target_is_not_enabled_at_boot(ubuntu_root: Path) -> None:
    enable_unit(ubuntu_root, "nvidia-persistenced.service", "rescue.target")
    unit = services_of(ubuntu_root).unit("nvidia-persistenced")
    assert unit.enabled is False
    assert unit.via == "rescue.target.wants, not reached at boot"


def test_requires_dir_and_dependency_of_enabled_unit(ubuntu_root: Path) -> None:
    link(ubuntu_root, "/etc/systemd/system/multi-user.target.requires/nvidia-persistenced.service",
         "/lib/systemd/system/nvidia-persistenced.service")
    remove(ubuntu_root, "/etc/systemd/system/multi-user.target.wants/containerd.service")
    facts = services_of(ubuntu_root)
    assert facts.unit("nvidia-persistenced").via == "multi-user.target.requires"
    assert facts.unit("containerd").enabled is True  # pulled in by docker.service's Wants=
    assert facts.unit("containerd").via == "Wants= of docker.service"


def test_etc_unit_file_overrides_vendor(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/systemd/system/docker.service": "[Service]\nExecStart=/usr/bin/dockerd\n"})
    assert services_of(ubuntu_root).unit("docker").path == "/etc/systemd/system/docker.service"


def test_absent_unit_is_known_absent(ubuntu_root: Path) -> None:
    facts = services_of(ubuntu_root)
    assert facts.unit("glusterd") is None
    assert facts.is_enabled("glusterd") is False
    assert facts.is_present("glusterd") is False


def test_sysv_script_without_native_unit(tmp_path: Path) -> None:
    write_systemd_base(tmp_path, "/lib/systemd/system")
    write_files(tmp_path, {"/etc/machine-id": "x\n", "/etc/init.d/glusterd": "#!/bin/sh\n", "/etc/init.d/nvidia-docker": "#!/bin/sh\n",
                           "/etc/init.d/README": "", "/etc/init.d/ssh": "#!/bin/sh\n",
                           "/lib/systemd/system/ssh.service": "[Unit]\n"})
    link(tmp_path, "/etc/rc3.d/S01glusterd", "../init.d/glusterd")
    link(tmp_path, "/etc/rc3.d/K01nvidia-docker", "../init.d/nvidia-docker")
    facts = services_of(tmp_path)
    assert (facts.unit("glusterd").enabled, facts.unit("glusterd").via) == (True, "sysv rc3.d")
    assert facts.unit("nvidia-docker").enabled is False
    assert facts.unit("ssh").path == "/lib/systemd/system/ssh.service"  # the native unit wins
    assert facts.unit("README") is None


def test_presets_only_at_first_boot_and_only_without_explicit_state(rhel_root: Path) -> None:
    facts = services_of(rhel_root)
    assert facts.first_boot is True
    assert facts.unit("sshd").via == "multi-user.target.wants"  # explicit state first
    assert (facts.unit("waagent").enabled, facts.unit("waagent").via) == (
        True, "multi-user.target.wants (preset, first boot)")
    assert facts.unit("nvidia-persistenced").enabled is True  # /etc preset file
    assert (facts.unit("rpcbind").enabled, facts.unit("rpcbind").via) == (False, "preset disable (first boot)")
    mask_unit(rhel_root, "waagent.service")
    assert services_of(rhel_root).is_enabled("waagent") is False  # a mask beats a preset


def test_no_matching_preset_rule_enables_as_systemd_does(rhel_root: Path) -> None:
    """systemd.preset(5): a unit that no rule matches is enabled (RHEL's 99-default-disable stops that)."""
    remove(rhel_root, "/usr/lib/systemd/system-preset/99-default-disable.preset")
    facts = services_of(rhel_root)
    assert (facts.unit("rpcbind").enabled, facts.unit("rpcbind").via) == (
        True, "multi-user.target.wants (preset, first boot)")
    assert facts.is_enabled("rpcbind", "sshd") is True


@pytest.mark.parametrize(("machine_id", "first_boot"), [
    (None, True), ("uninitialized\n", True), ("uninitialized", True),
    ("", False), ("\n", False), ("0123456789abcdef0123456789abcdef\n", False),
])
def test_first_boot_is_a_missing_or_uninitialized_machine_id_never_an_empty_one(
    rhel_root: Path, machine_id: str | None, first_boot: bool
) -> None:
    remove(rhel_root, "/etc/machine-id")
    if machine_id is not None:
        write_files(rhel_root, {"/etc/machine-id": machine_id})
    facts = services_of(rhel_root)
    assert facts.first_boot is first_boot
    # waagent.service has no link: only the presets of a first boot enable it
    assert facts.unit("waagent").enabled is first_boot
    assert facts.unit("waagent").via == ("multi-user.target.wants (preset, first boot)" if first_boot else "disabled")


def test_also_and_default_instance_at_first_boot(tmp_path: Path) -> None:
    write_systemd_base(tmp_path, "/usr/lib/systemd/system", default_target="multi-user.target")
    write_files(tmp_path, {
        "/etc/machine-id": "uninitialized\n",
        "/usr/lib/systemd/system/net.service": "[Unit]\n[Install]\nWantedBy=multi-user.target\nAlso=net.socket\n",
        "/usr/lib/systemd/system/net.socket": "[Unit]\n[Install]\nWantedBy=sockets.target\n",
        "/usr/lib/systemd/system/tty@.service": "[Unit]\n[Install]\nWantedBy=multi-user.target\nDefaultInstance=tty1\n",
        "/usr/lib/systemd/system/serial@.service": "[Unit]\n[Install]\nWantedBy=multi-user.target\n",
        "/usr/lib/systemd/system-preset/90-x.preset": "enable net.service\ndisable net.socket\nenable *@.service\n",
    })
    facts = services_of(tmp_path)
    assert facts.unit("net.socket").enabled is True  # Also= of an enabled unit, despite its own disable rule
    assert facts.units["tty@tty1.service"].enabled is True
    assert facts.units["tty@.service"].via == "instance tty@tty1.service"
    assert facts.unit("serial@.service").enabled is False  # a template without DefaultInstance= stays disabled


def test_presets_ignored_after_first_boot(rhel_root: Path) -> None:
    write_files(rhel_root, {"/etc/machine-id": "0123456789abcdef0123456789abcdef\n"})
    facts = services_of(rhel_root)
    assert (facts.unit("waagent").enabled, facts.unit("waagent").via) == (False, "disabled")


def test_etc_preset_shadows_vendor_file_of_same_name(rhel_root: Path) -> None:
    write_files(rhel_root, {"/etc/systemd/system-preset/90-default.preset": "disable waagent.service\n"})
    assert services_of(rhel_root).unit("waagent").enabled is False


def test_template_instance_enabled(tmp_path: Path) -> None:
    write_systemd_base(tmp_path, "/usr/lib/systemd/system")
    write_files(tmp_path, {"/etc/machine-id": "x\n", "/usr/lib/systemd/system/getty@.service": "[Unit]\n"})
    link(tmp_path, "/etc/systemd/system/getty.target.wants/getty@tty1.service", "/usr/lib/systemd/system/getty@.service")
    link(tmp_path, "/etc/systemd/system/multi-user.target.wants/getty.target", "/usr/lib/systemd/system/getty.target")
    write_files(tmp_path, {"/usr/lib/systemd/system/getty.target": "[Unit]\n"})
    facts = services_of(tmp_path)
    assert facts.units["getty@tty1.service"].enabled is True
    assert facts.units["getty@.service"].via == "instance getty@tty1.service"


def test_missing_default_target_falls_back_to_multi_user(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/machine-id": "x\n", "/lib/systemd/system/multi-user.target": "[Unit]\n",
                           "/lib/systemd/system/docker.service": "[Unit]\n"})
    enable_unit(tmp_path, "docker.service")
    facts = services_of(tmp_path)
    assert facts.default_target is None
    assert facts.is_enabled("docker") is True


def test_no_systemd_at_all(tmp_path: Path) -> None:
    facts = services_of(tmp_path)
    assert facts.units == {} and facts.is_enabled("docker") is False


def test_parse_unit_file_semantics() -> None:
    text = "[Unit]\nWants=a.service \\\n  b.service\n# c\nWants=c.service\n[Service]\nExecStart=/x\nExecStart=\nExecStart=/y\n"
    parsed = parse_unit_file(text)
    assert parsed["Unit"]["Wants"] == ["a.service b.service", "c.service"]
    assert parsed["Service"]["ExecStart"] == ["/y"]
