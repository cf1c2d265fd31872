"""The software firewall that will be loaded at boot: ufw, saved iptables rules, nftables and
firewalld, each normalised into a ``FirewallRuleset``.

A rule set is ``active`` when its loader starts at boot (``ufw.service`` with ``ENABLED=yes``,
``netfilter-persistent``/``iptables``, ``nftables``, ``firewalld``); ``None`` when the services
are unknown. A file that cannot be parsed gives an undecidable rule set (every answer unknown)
rather than failing the whole section. IPv6 rule sets (``rules.v6``, ufw's ``user6.rules``) are
recorded but do not decide: Batch talks to nodes over IPv4.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree

from shipyard.facts.collectors.common import parse_env_file
from shipyard.sources.base import read_optional
from shipyard.facts.collectors.firewalld import firewalld_chains
from shipyard.facts.collectors.iptables import POLICIES, parse_iptables_save
from shipyard.facts.collectors.nftables import NftablesError, load_nftables_tokens, parse_nftables
from shipyard.facts.firewall import FirewallChain, FirewallFacts, FirewallRule, FirewallRuleset, RulesetKind
from shipyard.facts.model import ServiceFacts
from shipyard.sources.base import FileSource

log = logging.getLogger("shipyard.facts")

IPTABLES_FILES: tuple[tuple[str, RulesetKind, tuple[str, ...]], ...] = (
    ("/etc/iptables/rules.v4", "iptables", ("netfilter-persistent", "iptables-persistent")),
    ("/etc/sysconfig/iptables", "iptables", ("iptables",)),
    ("/etc/iptables/rules.v6", "ip6tables", ("netfilter-persistent", "iptables-persistent")),
    ("/etc/sysconfig/ip6tables", "ip6tables", ("ip6tables",)),
)
NFTABLES_FILES = ("/etc/nftables.conf", "/etc/sysconfig/nftables.conf")
UFW_CHAINS = (("INPUT", "ufw-input", "ufw-user-input"), ("OUTPUT", "ufw-output", "ufw-user-output"))


def active_state(services: ServiceFacts | None, names: tuple[str, ...], switch: bool | None = True) -> bool | None:
    """Loaded at boot: the unit enabled, and the backend's own switch (ufw's ENABLED) on."""
    if switch is False:
        return False
    enabled = services.is_enabled(*names) if services is not None else None
    if enabled is False:
        return False
    return True if enabled and switch else None


def collect_ufw(source: FileSource, services: ServiceFacts | None) -> list[FirewallRuleset]:
    conf = read_optional(source, "/etc/ufw/ufw.conf")
    if conf is None:
        return []
    defaults_text = read_optional(source, "/etc/default/ufw") or ""
    defaults = parse_env_file(defaults_text)
    switch = parse_env_file(conf).get("ENABLED", "no").lower() == "yes"
    active = active_state(services, ("ufw",), switch)
    rulesets = []
    ufw_files: tuple[tuple[str, RulesetKind], ...] = (("/etc/ufw/user.rules", "ufw"), ("/etc/ufw/user6.rules", "ip6tables"))
    for rules_file, kind in ufw_files:
        files = ["/etc/ufw/ufw.conf", "/etc/default/ufw"]
        chains: dict[str, FirewallChain] = {}
        text = read_optional(source, rules_file)
        decidable = True
        if text is not None:
            files.append(rules_file)
            try:
                chains = parse_iptables_save(text)
            except ValueError:
                decidable = False
        for direction, chain_name, user_chain in UFW_CHAINS:
            policy = POLICIES.get(defaults.get(f"DEFAULT_{direction}_POLICY", "").upper())
            if policy is None:
                decidable = False
            rules = (FirewallRule(action="jump", target=user_chain),) if user_chain in chains else ()
            chains[chain_name] = FirewallChain(name=chain_name, policy=policy or "deny", rules=rules)
        rulesets.append(
            FirewallRuleset(
                kind=kind,
                active=active,
                ip_version=4 if kind == "ufw" else 6,
                files=tuple(files),
                decidable=decidable,
                chains=chains,
                inbound=("ufw-input",),
                outbound=("ufw-output",),
            )
        )
    return rulesets


def collect_iptables(source: FileSource, services: ServiceFacts | None) -> list[FirewallRuleset]:
    rulesets = []
    for path, kind, units in IPTABLES_FILES:
        text = read_optional(source, path)
        if text is None:
            continue
        active = active_state(services, units)
        try:
            chains, decidable = parse_iptables_save(text), True
        except ValueError:
            chains, decidable = {}, False
        rulesets.append(
            FirewallRuleset(
                kind=kind,
                active=active,
                ip_version=4 if kind == "iptables" else 6,
                files=(path,),
                decidable=decidable,
                chains=chains,
                inbound=("INPUT",),
                outbound=("OUTPUT",),
            )
        )
    return rulesets


def collect_nftables(source: FileSource, services: ServiceFacts | None) -> list[FirewallRuleset]:
    rulesets = []
    for path in NFTABLES_FILES:
        if not source.exists(path):
            continue
        files: list[str] = []
        notes: tuple[str, ...] = ()
        try:
            chains, inbound, outbound = parse_nftables(load_nftables_tokens(source, path, files=files))
            decidable = True
        except (NftablesError, FileNotFoundError, IndexError) as error:
            chains, inbound, outbound, decidable = {}, [], [], False
            notes = (str(error),)
        rulesets.append(
            FirewallRuleset(
                kind="nftables",
                active=active_state(services, ("nftables",)),
                files=tuple(files) or (path,),
                decidable=decidable,
                chains=chains,
                inbound=tuple(inbound),
                outbound=tuple(outbound),
                notes=notes,
            )
        )
    return rulesets


def collect_firewalld(source: FileSource, services: ServiceFacts | None) -> list[FirewallRuleset]:
    installed = services.is_present("firewalld") if services is not None else None
    if not installed and not source.exists("/etc/firewalld/firewalld.conf"):
        return []
    files: list[str] = []
    try:
        chains, notes = firewalld_chains(source, files)
        decidable = True
    except (FileNotFoundError, ElementTree.ParseError) as error:
        chains, notes, decidable = {}, [str(error)], False
    return [
        FirewallRuleset(
            kind="firewalld",
            active=active_state(services, ("firewalld",)),
            files=tuple(files),
            decidable=decidable,
            chains=chains,
            inbound=("inbound",),
            outbound=("outbound",),
            notes=tuple(notes),
        )
    ]


def collect_firewall(source: FileSource, services: ServiceFacts | None) -> FirewallFacts:
    rulesets = []
    for collect in (collect_ufw, collect_iptables, collect_nftables, collect_firewalld):
        rulesets += collect(source, services)
    return FirewallFacts(rulesets=tuple(rulesets))
