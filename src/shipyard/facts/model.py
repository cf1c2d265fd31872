"""The typed, frozen facts model: what a compute node needs to know about an image.

Every section is optional: ``None`` means the fact could not be read (unknown), never "no".
Inside a section, an absent entry (a unit not in ``services.units``, a binary in
``binaries.missing``) is a known "not there".
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shipyard.facts.boot import BootFacts, DiskFacts, GeneralizationFacts, MountFacts, ProvisioningFacts
from shipyard.facts.firewall import FirewallFacts

__all__ = [
    "BinaryFacts",
    "CloudInitDiskFacts",
    "DockerFacts",
    "Facts",
    "FirewallFacts",
    "KernelFacts",
    "KernelModuleFacts",
    "OsFacts",
    "PackageFacts",
    "ServiceFacts",
    "SshdFacts",
    "UnitFacts",
    "WaagentFacts",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class OsFacts(_Frozen):
    id: str | None = None  # os-release ID, lower case: "ubuntu", "rhel", "windows"
    version_id: str | None = None  # "22.04", "9.3"
    version_codename: str | None = None
    name: str | None = None  # PRETTY_NAME where given, else NAME
    family: str | None = None  # debian, rhel, suse, mariner, windows, or None when not known
    id_like: tuple[str, ...] = ()
    source_file: str | None = None  # the file the facts came from


class PackageFacts(_Frozen):
    manager: str  # "dpkg" or "rpm"
    source_file: str
    versions: dict[str, str]  # name -> version ("[epoch:]version-release" for rpm)

    def has(self, *names: str) -> bool:
        return any(name in self.versions for name in names)

    def version_of(self, name: str) -> str | None:
        return self.versions.get(name)


class BinaryFacts(_Frozen):
    found: dict[str, str]  # name -> the first path where it is an executable file
    missing: tuple[str, ...]
    search_path: tuple[str, ...]

    def has(self, name: str) -> bool | None:
        """True/False for a searched name; None for a name that was never looked for."""
        if name in self.found:
            return True
        return False if name in self.missing else None

    def path_of(self, name: str) -> str | None:
        return self.found.get(name)


class UnitFacts(_Frozen):
    path: str | None  # the unit file systemd loads; None for a masked unit
    enabled: bool | None  # started at boot; None when it cannot be decided offline
    masked: bool = False
    via: str  # why: "multi-user.target.wants", "preset", "sysv rc2.d", "masked", "disabled", ...
    alias_of: str | None = None  # for an alias name such as sshd.service -> ssh.service


class ServiceFacts(_Frozen):
    units: dict[str, UnitFacts]  # every unit file found, and every alias
    default_target: str | None = None
    first_boot: bool | None = None  # /etc/machine-id missing or 'uninitialized' (not empty): presets apply

    def unit(self, name: str) -> UnitFacts | None:
        """A unit by name, following aliases; a name without a suffix means ``.service``."""
        name = name if "." in name else name + ".service"
        unit = self.units.get(name)
        if unit is not None and unit.alias_of:
            return self.units.get(unit.alias_of, unit)
        return unit

    def is_present(self, *names: str) -> bool:
        return any(self.unit(n) is not None for n in names)

    def is_enabled(self, *names: str) -> bool | None:
        """True if any of the names starts at boot; None if one might and none surely does."""
        states = [u.enabled for u in (self.unit(n) for n in names) if u is not None]
        if any(s is True for s in states):
            return True
        return None if any(s is None for s in states) else False

    def is_masked(self, *names: str) -> bool:
        return any(u is not None and u.masked for u in (self.unit(n) for n in names))


class KernelFacts(_Frozen):
    version: str
    modules: dict[str, str]  # watched module name -> its path under /lib/modules/<version>
    has_modules_dep: bool  # depmod ran: modprobe can load what is listed


class KernelModuleFacts(_Frozen):
    kernels: tuple[KernelFacts, ...]  # oldest to newest
    default_kernel: str | None  # what boots: /boot/vmlinuz link or the newest
    load_at_boot: tuple[str, ...]  # modules-load.d and /etc/modules
    blacklisted: tuple[str, ...]  # "blacklist X" or "install X /bin/false" in modprobe.d
    files: tuple[str, ...] = ()

    def kernel(self, version: str | None = None) -> KernelFacts | None:
        wanted = version or self.default_kernel
        return next((k for k in self.kernels if k.version == wanted), None)

    def has_module(self, prefix: str, kernel: str | None = None) -> bool | None:
        """A module named ``prefix`` (or ``prefix_*`` / ``prefix-*``) exists for the kernel."""
        facts = self.kernel(kernel)
        if facts is None:
            return None
        return any(_module_matches(name, prefix) for name in facts.modules)

    def is_blacklisted(self, name: str) -> bool:
        return _normal_module(name) in self.blacklisted


def _normal_module(name: str) -> str:
    return name.replace("-", "_")


def _module_matches(name: str, prefix: str) -> bool:
    name, prefix = _normal_module(name), _normal_module(prefix)
    return name == prefix or name.startswith(prefix + "_")


class DockerFacts(_Frozen):
    daemon_json_present: bool
    daemon_json_valid: bool | None  # None when absent
    data_root: str | None  # data-root (or the old "graph") in daemon.json; None: not set
    runtimes: dict[str, str]  # name -> path
    default_runtime: str | None
    hosts: tuple[str, ...]  # daemon.json hosts
    service_hosts: tuple[str, ...]  # -H/--host in the docker.service ExecStart
    socket_unit: str | None  # the docker.socket unit file, if any
    socket_listen: tuple[str, ...] = ()  # its ListenStream values

    @property
    def effective_data_root(self) -> str:
        return self.data_root or "/var/lib/docker"

    @property
    def hosts_conflict(self) -> bool:
        """dockerd refuses to start with hosts both in daemon.json and on its command line."""
        return bool(self.hosts) and bool(self.service_hosts)

    def serves_default_socket(self) -> bool:
        """Whether ``/var/run/docker.sock`` will exist once docker runs."""
        listens = set(self.hosts) | set(self.service_hosts)
        if not listens:
            return True  # dockerd's default host is unix:///var/run/docker.sock
        if listens & {"unix:///var/run/docker.sock", "unix:///run/docker.sock"}:
            return True
        if "fd://" in listens:  # socket activation: the socket unit decides
            return any(p in ("/var/run/docker.sock", "/run/docker.sock") for p in self.socket_listen)
        return False


class SshdFacts(_Frozen):
    config_present: bool
    ports: tuple[int, ...]  # Port values (all of them: sshd accumulates Port); default (22,)
    listen_addresses: tuple[str, ...]
    files: tuple[str, ...]  # every config file read, includes followed

    def listen_ports(self) -> tuple[int, ...]:
        """The ports sshd listens on: a ListenAddress with its own port overrides Port."""
        result: list[int] = []
        for address in self.listen_addresses or ("",):
            port = _address_port(address)
            for p in (port,) if port is not None else self.ports:
                if p not in result:
                    result.append(p)
        return tuple(result)

    def listens_on(self, port: int) -> bool:
        return port in self.listen_ports()


def _address_port(address: str) -> int | None:
    if address.startswith("["):
        _, _, rest = address.partition("]")
        return int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if address.count(":") == 1:
        port = address.rpartition(":")[2]
        return int(port) if port.isdigit() else None
    return None


class CloudInitDiskFacts(_Frozen):
    """cloud-init's handling of the Azure ephemeral (resource) disk."""

    files: tuple[str, ...]
    mounts_ephemeral: str | None  # mount point cloud-init's "mounts" gives ephemeral0; None: not set
    mounts_disabled: bool  # ephemeral0 listed with no mount point
    disk_setup_ephemeral: bool  # disk_setup or fs_setup names the ephemeral disk


class WaagentFacts(_Frozen):
    """waagent.conf values with the agent's own defaults for keys it leaves out."""

    conf_present: bool
    resource_disk_format: bool | None
    resource_disk_filesystem: str | None
    resource_disk_mount_point: str | None
    resource_disk_enable_swap: bool | None
    os_enable_rdma: bool | None
    provisioning_agent: str | None  # Provisioning.Agent: auto, waagent, cloud-init, disabled
    cloud_init: CloudInitDiskFacts | None = None

    def resource_mount_point(self) -> str | None:
        """Where the resource disk ends up: waagent's mount point when it formats the disk,
        else cloud-init's (default /mnt on Azure); None when neither says."""
        if self.resource_disk_format:
            return self.resource_disk_mount_point
        if self.cloud_init is not None:
            if self.cloud_init.mounts_disabled:
                return None
            return self.cloud_init.mounts_ephemeral or "/mnt"
        return None


class Facts(_Frozen):
    """Everything the collectors learned; keys match ``image inspect``'s JSON."""

    os: OsFacts | None = None
    node_agent: str | None = None
    packages: PackageFacts | None = None
    binaries: BinaryFacts | None = None
    services: ServiceFacts | None = None
    kernel_modules: KernelModuleFacts | None = None
    docker: DockerFacts | None = None
    sshd: SshdFacts | None = None
    waagent: WaagentFacts | None = None
    firewall: FirewallFacts | None = None
    boot: BootFacts | None = None
    disk: DiskFacts | None = None  # offline: from the image's partition table; live: /dev/disk/by-*
    mounts: MountFacts | None = None
    provisioning: ProvisioningFacts | None = None
    generalization: GeneralizationFacts | None = None
