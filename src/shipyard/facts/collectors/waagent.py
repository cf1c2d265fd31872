"""The Azure Linux agent's ``/etc/waagent.conf``, and cloud-init's handling of the resource disk."""

from __future__ import annotations

import logging
from typing import Any

from shipyard.facts.collectors.common import list_matching
from shipyard.sources.base import read_optional
from shipyard.facts.model import CloudInitDiskFacts, WaagentFacts
from shipyard.sources.base import FileSource

log = logging.getLogger("shipyard.facts")

WAAGENT_CONF = "/etc/waagent.conf"
CLOUD_CFG = "/etc/cloud/cloud.cfg"
# WALinuxAgent's defaults (azurelinuxagent/common/conf.py) for keys the file leaves out
DEFAULTS = {
    "ResourceDisk.Format": "n",
    "ResourceDisk.Filesystem": "ext3",
    "ResourceDisk.MountPoint": "/mnt/resource",
    "ResourceDisk.EnableSwap": "n",
    "OS.EnableRDMA": "n",
    "Provisioning.Agent": "auto",
}
EPHEMERAL_NAMES = ("ephemeral0", "ephemeral0.1", "/dev/disk/cloud/azure_resource", "/dev/disk/cloud/azure_resource-part1")


def parse_waagent_conf(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip().strip('"')
    return values


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("y", "yes", "true", "1", "on"):
        return True
    if lowered in ("n", "no", "false", "0", "off"):
        return False
    return None


def collect_waagent(source: FileSource) -> WaagentFacts:
    text = read_optional(source, WAAGENT_CONF)
    values = {**DEFAULTS, **parse_waagent_conf(text)} if text is not None else {}
    return WaagentFacts(
        conf_present=text is not None,
        resource_disk_format=_flag(values.get("ResourceDisk.Format")),
        resource_disk_filesystem=values.get("ResourceDisk.Filesystem"),
        resource_disk_mount_point=values.get("ResourceDisk.MountPoint"),
        resource_disk_enable_swap=_flag(values.get("ResourceDisk.EnableSwap")),
        os_enable_rdma=_flag(values.get("OS.EnableRDMA")),
        provisioning_agent=values.get("Provisioning.Agent"),
        cloud_init=collect_cloud_init_disk(source),
    )


def _is_ephemeral(device: object) -> bool:
    return isinstance(device, str) and device in EPHEMERAL_NAMES


def read_cloud_config(source: FileSource) -> tuple[dict[str, Any], list[str]]:
    """cloud.cfg then cloud.cfg.d/*.cfg, later files replacing top-level keys, as cloud-init
    merges them; and the files read (none: no cloud-init configuration)."""
    from ruamel.yaml import YAML, YAMLError  # lazily: only images with cloud-init pay for it

    paths = [CLOUD_CFG, *list_matching(source, "/etc/cloud/cloud.cfg.d/*.cfg")]
    yaml = YAML(typ="safe", pure=True)
    merged: dict[str, Any] = {}
    files: list[str] = []
    for path in paths:
        text = read_optional(source, path)
        if text is None:
            continue
        try:
            document = yaml.load(text)
        except YAMLError:
            log.info("%s is not valid YAML; cloud-init skips it", path)
            continue
        files.append(path)
        if isinstance(document, dict):
            merged.update(document)
    return merged, files


def collect_cloud_init_disk(source: FileSource) -> CloudInitDiskFacts | None:
    """cloud-init's resource disk settings; None without a cloud-init configuration."""
    merged, files = read_cloud_config(source)
    if not files:
        return None
    mount_point: str | None = None
    disabled = False
    for entry in merged.get("mounts") or []:
        if isinstance(entry, list) and entry and _is_ephemeral(entry[0]):
            if len(entry) > 1 and isinstance(entry[1], str) and entry[1]:
                mount_point = entry[1]
            else:
                disabled = True
    disk_setup = merged.get("disk_setup") or {}
    fs_setup = merged.get("fs_setup") or []
    names_disk = isinstance(disk_setup, dict) and any(_is_ephemeral(k) for k in disk_setup)
    names_fs = isinstance(fs_setup, list) and any(isinstance(f, dict) and _is_ephemeral(f.get("device")) for f in fs_setup)
    return CloudInitDiskFacts(
        files=tuple(files),
        mounts_ephemeral=mount_point,
        mounts_disabled=disabled,
        disk_setup_ephemeral=names_disk or names_fs,
    )
