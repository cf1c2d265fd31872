"""firewalld: the default zone (and zones bound to sources) as normalised firewall chains.

Inbound: a zone allows its services' and ports' TCP ports, its rich rules decide what they
name (uncertain when they carry an address), and everything else falls to its target
(``default``/``%%REJECT%%``/``DROP`` deny, ``ACCEPT`` allows). A zone bound to ``<source>``
addresses is tried first, uncertainly. Outbound is allowed unless policies or direct rules
exist, which make it unknown.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from shipyard.facts.collectors.common import list_optional, parse_env_file
from shipyard.sources.base import read_optional
from shipyard.facts.collectors.iptables import parse_ports
from shipyard.facts.firewall import Action, FirewallChain, FirewallRule, Verdict
from shipyard.sources.base import FileSource

CONFIG_DIRS = ("/etc/firewalld", "/usr/lib/firewalld", "/usr/share/firewalld")


def _find(source: FileSource, kind: str, name: str) -> str | None:
    for directory in CONFIG_DIRS:
        path = f"{directory}/{kind}/{name}.xml"
        if source.exists(path):
            return path
    return None


def _parse_xml(source: FileSource, path: str) -> ElementTree.Element:
    return ElementTree.fromstring(source.read_text(path))


def _port_rule(element: ElementTree.Element, action: Action, certain: bool) -> FirewallRule | None:
    protocol = element.get("protocol", "tcp")
    ports = parse_ports(element.get("port", ""), "-")
    if ports is None:
        return FirewallRule(action=action, protocol=protocol, certain=False)
    return FirewallRule(action=action, protocol=protocol, ports=ports, certain=certain)


def _service_rules(source: FileSource, name: str, files: list[str]) -> list[FirewallRule]:
    path = _find(source, "services", name)
    if path is None:
        return [FirewallRule(action="allow", certain=False, text=f"service {name} (not found)")]
    files.append(path)
    root = _parse_xml(source, path)
    rules = [_port_rule(p, "allow", True) for p in root.findall("port")]
    for protocol in root.findall("protocol"):
        rules.append(FirewallRule(action="allow", protocol=protocol.get("value", "any")))
    return [r.model_copy(update={"text": f"service {name}"}) for r in rules if r is not None]


def _rich_rule(source: FileSource, element: ElementTree.Element, files: list[str]) -> list[FirewallRule]:
    verdicts: dict[str, Verdict] = {"accept": "allow", "reject": "deny", "drop": "deny"}
    action = next((verdicts[c.tag] for c in element if c.tag in verdicts), None)
    if action is None:
        return []  # log/audit/mark only
    certain = element.find("source") is None and element.find("destination") is None
    certain = certain and element.get("family") in (None, "ipv4")
    port = element.find("port")
    if port is not None:
        rule = _port_rule(port, action, certain)
        return [rule] if rule else []
    service = element.find("service")
    if service is not None:
        rules = _service_rules(source, service.get("name", ""), files)
        return [r.model_copy(update={"action": action, "certain": certain and r.certain}) for r in rules]
    return [FirewallRule(action=action, certain=certain)]


def zone_chain(source: FileSource, zone: str, files: list[str]) -> FirewallChain:
    path = _find(source, "zones", zone)
    if path is None:
        raise FileNotFoundError(f"firewalld zone {zone!r} not found")
    files.append(path)
    root = _parse_xml(source, path)
    rules: list[FirewallRule] = []
    for service in root.findall("service"):
        rules += _service_rules(source, service.get("name", ""), files)
    for port in root.findall("port"):
        rule = _port_rule(port, "allow", True)
        if rule is not None:
            rules.append(rule.model_copy(update={"text": f"port {port.get('port')}/{port.get('protocol')}"}))
    for protocol in root.findall("protocol"):
        rules.append(FirewallRule(action="allow", protocol=protocol.get("value", "any")))
    for rich in root.findall("rule"):
        rules += _rich_rule(source, rich, files)
    target = root.get("target", "default")
    policy: Verdict = "allow" if target == "ACCEPT" else "deny"
    return FirewallChain(name=f"zone {zone}", policy=policy, rules=tuple(rules))


def _zone_names(source: FileSource) -> list[str]:
    names: list[str] = []
    for directory in CONFIG_DIRS:
        names += [n[:-4] for n in list_optional(source, f"{directory}/zones") if n.endswith(".xml")]
    return list(dict.fromkeys(names))


def firewalld_chains(source: FileSource, files: list[str]) -> tuple[dict[str, FirewallChain], list[str]]:
    """Chains and notes; the entry chains are "inbound" and "outbound"."""
    notes: list[str] = []
    config = read_optional(source, "/etc/firewalld/firewalld.conf")
    if config is not None:
        files.append("/etc/firewalld/firewalld.conf")
    default_zone = parse_env_file(config or "").get("DefaultZone") or "public"
    chains: dict[str, FirewallChain] = {}
    entry_rules: list[FirewallRule] = []
    for zone in _zone_names(source):
        path = _find(source, "zones", zone)
        root = _parse_xml(source, path) if path else None
        if zone != default_zone and root is not None and (root.findall("source") or root.findall("interface")):
            chains[f"zone {zone}"] = zone_chain(source, zone, files)
            entry_rules.append(FirewallRule(action="goto", target=f"zone {zone}", certain=False))
            notes.append(f"zone {zone} is bound to sources or interfaces")
    chains[f"zone {default_zone}"] = zone_chain(source, default_zone, files)
    entry_rules.append(FirewallRule(action="goto", target=f"zone {default_zone}"))
    chains["inbound"] = FirewallChain(name="inbound", policy="deny", rules=tuple(entry_rules))
    outbound: list[FirewallRule] = []
    policies = [n for d in CONFIG_DIRS[:1] for n in list_optional(source, f"{d}/policies") if n.endswith(".xml")]
    direct = read_optional(source, "/etc/firewalld/direct.xml")
    if policies or (direct is not None and "OUTPUT" in direct):
        outbound.append(FirewallRule(action="deny", certain=False, text="firewalld policies or direct rules"))
        notes.append("firewalld policies or direct rules may filter outbound traffic")
    chains["outbound"] = FirewallChain(name="outbound", policy="allow", rules=tuple(outbound))
    return chains, notes
