"""Who provisions the VM on Azure (waagent, cloud-init), and what a generalised image must not carry.

cloud-init starts at boot when its systemd generator (``cloud-init-generator``) links
``cloud-init.target`` in, unless ``/etc/cloud/cloud-init.disabled`` exists or the kernel command
line says ``cloud-init=disabled``; images without the generator enable its units directly.
WALinuxAgent's ``Provisioning.Agent=auto`` hands provisioning to cloud-init when cloud-init is
enabled, else provisions itself (``azurelinuxagent/pa/provision/factory.py``).
"""

from __future__ import annotations

import re

from shipyard.facts.boot import GeneralizationFacts, Leftover, ProvisioningFacts
from shipyard.facts.collectors.common import is_file, list_matching, list_optional
from shipyard.facts.collectors.waagent import read_cloud_config
from shipyard.facts.model import ServiceFacts, WaagentFacts
from shipyard.sources.base import FileKind, FileSource, read_optional

WAAGENT_BINARIES = ("/usr/sbin/waagent", "/usr/bin/waagent", "/usr/local/sbin/waagent")
WAAGENT_UNITS = ("walinuxagent.service", "waagent.service")  # Debian/Ubuntu, RHEL/SUSE/Mariner
CLOUD_INIT_BINARIES = ("/usr/bin/cloud-init", "/bin/cloud-init", "/usr/local/bin/cloud-init")
CLOUD_INIT_UNITS = ("cloud-init-local.service", "cloud-init.service", "cloud-init-network.service",
                    "cloud-config.service", "cloud-final.service")
CLOUD_INIT_GENERATORS = ("/usr/lib/systemd/system-generators/cloud-init-generator",
                         "/lib/systemd/system-generators/cloud-init-generator")
CLOUD_INIT_DISABLED = "/etc/cloud/cloud-init.disabled"
DEPROVISION = "waagent -deprovision+user -force"
CLOUD_INIT_CLEAN = "cloud-init clean --logs --machine-id"
_MAC_RULE = re.compile(r'ATTR\{address\}=="([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})"')


def _first_file(source: FileSource, paths: tuple[str, ...]) -> str | None:
    return next((p for p in paths if is_file(source, p)), None)


def _datasources(source: FileSource) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    merged, files = read_cloud_config(source)
    listed = merged.get("datasource_list")
    names: tuple[str, ...] | None = None
    if isinstance(listed, list):
        names = tuple(str(n).strip() for n in listed)
    elif isinstance(listed, str):  # "datasource_list: Azure" is read as one name
        names = tuple(n.strip() for n in listed.strip("[] ").split(",") if n.strip())
    ds_identify = read_optional(source, "/etc/cloud/ds-identify.cfg")
    if ds_identify is not None:  # "datasource: Azure" pins ds-identify to one datasource
        match = re.search(r"^\s*datasource:\s*(\w+)", ds_identify, re.MULTILINE)
        if match:
            names = (match.group(1),)
            files.append("/etc/cloud/ds-identify.cfg")
    return names, tuple(files)


def collect_provisioning(source: FileSource, services: ServiceFacts | None, waagent: WaagentFacts | None,
                         cmdline: str | None) -> ProvisioningFacts:
    waagent_path = _first_file(source, WAAGENT_BINARIES)
    waagent_unit = next((u for u in WAAGENT_UNITS if services is not None and services.unit(u) is not None), None)
    waagent_enabled = services.is_enabled(waagent_unit) if services is not None and waagent_unit else (
        None if services is None else False)
    cloud_init_path = _first_file(source, CLOUD_INIT_BINARIES)
    disabled_by = None
    if source.exists(CLOUD_INIT_DISABLED):
        disabled_by = CLOUD_INIT_DISABLED
    elif cmdline is not None and "cloud-init=disabled" in cmdline.split():
        disabled_by = "cloud-init=disabled on the kernel command line"
    cloud_enabled: bool | None
    present = [u for u in CLOUD_INIT_UNITS if services is not None and services.unit(u) is not None]
    if services is None:
        cloud_enabled = None
    elif not present or disabled_by or services.is_masked("cloud-init-local.service", "cloud-init.service"):
        cloud_enabled = False
    elif _first_file(source, CLOUD_INIT_GENERATORS):
        cloud_enabled = True  # the generator links cloud-init.target in at every boot
    else:
        cloud_enabled = services.is_enabled(*present)
    datasources, files = _datasources(source) if cloud_init_path else (None, ())
    agent = waagent.provisioning_agent if waagent is not None and waagent.conf_present else None
    return ProvisioningFacts(
        waagent_installed=waagent_path is not None, waagent_path=waagent_path, waagent_enabled=waagent_enabled,
        waagent_unit=waagent_unit, cloud_init_installed=cloud_init_path is not None, cloud_init_path=cloud_init_path,
        cloud_init_enabled=cloud_enabled if cloud_init_path else False, cloud_init_disabled_by=disabled_by,
        datasources=datasources, datasource_files=files, provisioning_agent=agent,
    )


def _non_empty_files(source: FileSource, directory: str) -> list[str]:
    found: list[str] = []
    for name in list_optional(source, directory):
        path = f"{directory}/{name}"
        try:
            stat = source.lstat(path)
        except OSError:
            continue
        if stat.kind is not FileKind.DIRECTORY:
            found.append(path)
    return found


def collect_generalization(source: FileSource) -> GeneralizationFacts:
    leftovers: list[Leftover] = []
    machine_id = read_optional(source, "/etc/machine-id")
    if machine_id is not None and machine_id.strip() not in ("", "uninitialized"):
        leftovers.append(Leftover(kind="machine-id", path="/etc/machine-id", detail="a machine id is set",
                                  fix=f"{CLOUD_INIT_CLEAN} (or truncate -s 0 /etc/machine-id)"))
    keys = list_matching(source, "/etc/ssh/ssh_host_*_key")
    if keys:
        leftovers.append(Leftover(kind="ssh-host-key", path="/etc/ssh", detail=f"{len(keys)} SSH host keys "
                                  f"({', '.join(k.rpartition('/')[2] for k in keys)})", fix=DEPROVISION))
    state = [p for p in _non_empty_files(source, "/var/lib/waagent")
             if p.rpartition("/")[2] in ("provisioned", "ovf-env.xml", "Certificates.pem", "Certificates.p7m",
                                         "TransportCert.pem", "TransportPrivate.pem", "HostingEnvironmentConfig.xml",
                                         "SharedConfig.xml", "GoalState.1.xml") or p.endswith((".crt", ".prv"))]
    if state:
        leftovers.append(Leftover(kind="waagent-state", path="/var/lib/waagent",
                                  detail=f"the state of a provisioned VM ({len(state)} files, e.g. {state[0].rpartition('/')[2]})",
                                  fix=DEPROVISION))
    instances = list_optional(source, "/var/lib/cloud/instances")
    if instances or source.exists("/var/lib/cloud/instance"):
        leftovers.append(Leftover(kind="cloud-init-state", path="/var/lib/cloud",
                                  detail=f"the state of {max(len(instances), 1)} cloud-init instance(s)",
                                  fix=CLOUD_INIT_CLEAN))
    homes = [f"/home/{n}" for n in list_optional(source, "/home")] + ["/root"]
    for home in homes:
        path = f"{home}/.ssh/authorized_keys"
        text = read_optional(source, path)
        if text is not None and any(line.strip() and not line.startswith("#") for line in text.splitlines()):
            count = sum(1 for line in text.splitlines() if line.strip() and not line.startswith("#"))
            leftovers.append(Leftover(kind="authorized-keys", path=path, detail=f"{count} authorized key(s)",
                                      fix=f"{DEPROVISION} (it removes the provisioned user), or rm {path}"))
    for name in ("70-persistent-net.rules", "75-persistent-net-generator.rules"):
        path = f"/etc/udev/rules.d/{name}"
        text = read_optional(source, path)
        if text is not None and _MAC_RULE.search(text):
            leftovers.append(Leftover(kind="udev-net-rules", path=path,
                                      detail=f"{len(_MAC_RULE.findall(text))} interface name(s) bound to a MAC address",
                                      fix=f"rm {path}"))
    return GeneralizationFacts(leftovers=tuple(leftovers))
