"""Facts about an image or a live node, learned through a read-only ``FileSource``.

``collect_facts(source)`` runs every collector. A collector that fails (corrupt input, an
unreadable file) leaves its section ``None`` (unknown) and logs the error on the
``shipyard.facts`` logger; ``strict=True`` re-raises instead, for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from shipyard.facts.model import Facts
from shipyard.sources.base import FileSource

__all__ = ["Facts", "collect_facts"]

log = logging.getLogger("shipyard.facts")
T = TypeVar("T")


def _guarded(section: str, collect: Callable[[], T], strict: bool) -> T | None:
    try:
        return collect()
    except Exception:
        if strict:
            raise
        log.warning("could not collect %s facts; they stay unknown", section, exc_info=True)
        return None


def collect_facts(source: FileSource, *, strict: bool = False) -> Facts:
    """Every section the source allows; unknown sections are ``None``."""
    from shipyard.catalog.node_agents import WINDOWS_NODE_AGENT, node_agent_for
    from shipyard.facts.collectors.boot import collect_boot
    from shipyard.facts.collectors.common import collect_binaries, collect_os
    from shipyard.facts.collectors.docker import collect_docker
    from shipyard.facts.collectors.firewall import collect_firewall
    from shipyard.facts.collectors.kernel import collect_kernel_modules
    from shipyard.facts.collectors.kernels import InitramfsScans
    from shipyard.facts.collectors.mounts import collect_mounts
    from shipyard.facts.collectors.packages import collect_packages
    from shipyard.facts.collectors.provision import collect_generalization, collect_provisioning
    from shipyard.facts.collectors.sshd import collect_sshd
    from shipyard.facts.collectors.systemd import collect_services
    from shipyard.facts.collectors.waagent import collect_waagent

    os_facts = _guarded("os", lambda: collect_os(source), strict)
    if os_facts is not None and os_facts.family == "windows":
        return Facts(os=os_facts, node_agent=WINDOWS_NODE_AGENT)
    node_agent = None
    if os_facts is not None and os_facts.id and os_facts.version_id:
        sku = node_agent_for(os_facts.id, os_facts.version_id)
        node_agent = sku.id if sku else None
    # the initramfs files first: they unpack in a thread while the other collectors run
    scans = _guarded("boot", lambda: InitramfsScans(source), strict)
    services = _guarded("services", lambda: collect_services(source), strict)
    waagent = _guarded("waagent", lambda: collect_waagent(source), strict)
    packages = _guarded("packages", lambda: collect_packages(source), strict)
    binaries = _guarded("binaries", lambda: collect_binaries(source), strict)
    kernel_modules = _guarded("kernel_modules", lambda: collect_kernel_modules(source), strict)
    docker = _guarded("docker", lambda: collect_docker(source, services), strict)
    sshd = _guarded("sshd", lambda: collect_sshd(source), strict)
    firewall = _guarded("firewall", lambda: collect_firewall(source, services), strict)
    mounts = _guarded("mounts", lambda: collect_mounts(source), strict)
    generalization = _guarded("generalization", lambda: collect_generalization(source), strict)
    boot = _guarded("boot", lambda: collect_boot(source, scans), strict)
    cmdline = boot.cmdline if boot is not None else None
    return Facts(
        os=os_facts,
        node_agent=node_agent,
        packages=packages,
        binaries=binaries,
        services=services,
        kernel_modules=kernel_modules,
        docker=docker,
        sshd=sshd,
        waagent=waagent,
        firewall=firewall,
        boot=boot,
        mounts=mounts,
        provisioning=_guarded("provisioning", lambda: collect_provisioning(source, services, waagent, cmdline), strict),
        generalization=generalization,
    )
