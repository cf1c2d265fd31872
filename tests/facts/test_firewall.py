"""Firewall verdicts for inbound 22/29876/29877 and outbound 443: allowed, denied, unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.trees import enable_unit, mask_unit, remove, write_files

from shipyard.facts.collectors.firewall import collect_firewall
from shipyard.facts.collectors.nftables import parse_nftables
from shipyard.facts.collectors.systemd import collect_services
from shipyard.facts.firewall import FirewallChain, FirewallRule, FirewallRuleset
from shipyard.sources.directory import DirectorySource


def firewall_of(root: Path, with_services: bool = True):
    source = DirectorySource(root)
    return collect_firewall(source, collect_services(source) if with_services else None)


def verdicts(facts) -> tuple:
    return (facts.allows_inbound_tcp(22), facts.allows_inbound_tcp(29876), facts.allows_inbound_tcp(29877),
            facts.allows_inbound_tcp(8080), facts.allows_outbound_tcp(443))


def test_ubuntu_ufw_limit_and_range(ubuntu_root: Path) -> None:
    facts = firewall_of(ubuntu_root)
    assert facts.active_kinds() == ["ufw"]  # nftables.conf exists but its service is disabled
    assert verdicts(facts) == (True, True, True, False, True)


def test_ufw_disabled_means_allowed(ubuntu_root: Path) -> None:
    write_files(ubuntu_root, {"/etc/ufw/ufw.conf": "ENABLED=no\n"})
    assert verdicts(firewall_of(ubuntu_root)) == (True, True, True, True, True)


def test_ufw_without_rules_and_output_deny(ubuntu_root: Path) -> None:
    remove(ubuntu_root, "/etc/ufw/user.rules")
    write_files(ubuntu_root, {"/etc/default/ufw": 'DEFAULT_INPUT_POLICY="DROP"\nDEFAULT_OUTPUT_POLICY="REJECT"\n'})
    assert verdicts(firewall_of(ubuntu_root)) == (False, False, False, False, False)


def test_services_unknown_gives_unknown_where_a_rule_set_denies(ubuntu_root: Path) -> None:
    facts = firewall_of(ubuntu_root, with_services=False)
    assert verdicts(facts) == (None, None, None, None, True)  # nftables.conf drops all, if it loads
    remove(ubuntu_root, "/etc/nftables.conf")
    assert verdicts(firewall_of(ubuntu_root, with_services=False)) == (True, True, True, None, True)


def test_nftables_enabled_drop_policy_denies(ubuntu_root: Path) -> None:
    enable_unit(ubuntu_root, "nftables.service", "sysinit.target")
    facts = firewall_of(ubuntu_root)
    assert sorted(facts.active_kinds()) == ["nftables", "ufw"]
    assert verdicts(facts) == (False, False, False, False, True)  # nftables' input chain drops all


NFT_RULES = """
#!/usr/sbin/nft -f
flush ruleset
define batch_ports = { 29876-29877 }
table inet filter {
    set trusted { type ipv4_addr; elements = { 10.0.0.0/8 } }
    chain input {
        type filter hook input priority filter; policy drop;
        ct state established,related accept  # replies
        ct state invalid drop
        iifname "lo" accept
        tcp dport ssh accept
        tcp dport $batch_ports counter accept
        ip saddr @trusted tcp dport 8080 accept
        udp dport 53 accept
        jump extra
    }
    chain extra {
        tcp dport 9000 accept
    }
    chain output {
        type filter hook output priority filter; policy drop;
        oifname "lo" accept
        tcp dport { 80, 443 } accept
    }
}
table ip6 v6only {
    chain input { type filter hook input priority 0; policy drop; }
}
"""


def test_nftables_rules(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/nftables.conf": NFT_RULES, "/lib/systemd/system/nftables.service": "[Unit]\n"})
    write_files(tmp_path, {"/etc/machine-id": "x\n", "/lib/systemd/system/multi-user.target": "[Unit]\n"})
    enable_unit(tmp_path, "nftables.service")
    facts = firewall_of(tmp_path)
    assert verdicts(facts) == (True, True, True, None, True)  # 8080: only from a trusted set
    assert facts.allows_inbound_tcp(9000) is True  # via the jump
    assert facts.allows_inbound_tcp(53) is False
    assert facts.allows_outbound_tcp(22) is False


def test_nftables_include_and_unsupported_syntax(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "/etc/sysconfig/nftables.conf": 'include "/etc/nftables/*.nft"\n',
        "/etc/nftables/main.nft": "table ip t { chain i { type filter hook input priority 0; policy accept; tcp dport 22 drop; } }\n",
    })
    facts = firewall_of(tmp_path, with_services=False)
    assert facts.rulesets[0].files == ("/etc/sysconfig/nftables.conf", "/etc/nftables/main.nft")
    assert facts.allows_inbound_tcp(22) is None  # denies, but whether it loads is unknown
    assert facts.allows_inbound_tcp(29876) is True
    write_files(tmp_path, {"/etc/nftables/main.nft": "add rule ip t i tcp dport 22 drop\n"})
    ruleset = firewall_of(tmp_path, with_services=False).rulesets[0]
    assert ruleset.decidable is False and ruleset.verdict_tcp("inbound", 22) is None


def test_nftables_vmap_and_negation() -> None:
    from shipyard.facts.collectors.nftables import _TOKEN  # the tokenizer is internal

    text = ("table inet f { chain i { type filter hook input priority 0; policy drop;\n"
            "ct state vmap { established : accept, related : accept, invalid : drop }\n"
            "iif != lo tcp dport 22 accept\n iifname eth0 tcp dport 80 accept\n } }")
    chains, inbound, _ = parse_nftables([m[0] for m in _TOKEN.finditer(text)])
    ruleset = FirewallRuleset(kind="nftables", active=True, chains=chains, inbound=tuple(inbound))
    assert ruleset.verdict_tcp("inbound", 22) is True  # "iif != lo": every remote packet
    assert ruleset.verdict_tcp("inbound", 80) is None  # depends on the interface
    assert ruleset.verdict_tcp("inbound", 23) is False


IPTABLES_V4 = """
# Generated by iptables-save v1.8.7
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp --dport 22 -j DROP
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:BATCH - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh in" -j ACCEPT
-A INPUT -s 168.63.129.16/32 -p tcp -m multiport --dports 9000:9100 -j ACCEPT
-A INPUT -p tcp -j BATCH
-A INPUT -j LOG --log-prefix "dropped: "
-A BATCH -p tcp -m multiport --dports 29876:29877 -m state --state NEW -j ACCEPT
-A BATCH -j RETURN
-A OUTPUT -p tcp --dport 443 -j REJECT --reject-with tcp-reset
COMMIT
"""


def test_iptables_saved_rules(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/iptables/rules.v4": IPTABLES_V4, "/etc/iptables/rules.v6": "*filter\n:INPUT DROP [0:0]\nCOMMIT\n",
                           "/etc/machine-id": "x\n", "/lib/systemd/system/multi-user.target": "[Unit]\n",
                           "/lib/systemd/system/netfilter-persistent.service": "[Unit]\n"})
    facts = firewall_of(tmp_path)
    assert facts.active_kinds() == []  # netfilter-persistent not enabled: nothing loads them
    assert verdicts(facts) == (True, True, True, True, True)
    enable_unit(tmp_path, "netfilter-persistent.service")
    facts = firewall_of(tmp_path)
    assert facts.active_kinds() == ["iptables"]  # the IPv6 rule set is recorded, not deciding
    assert verdicts(facts) == (True, True, True, False, False)
    assert facts.allows_inbound_tcp(9050) is None  # accepted only from one source address


def test_iptables_garbage_is_undecidable(tmp_path: Path) -> None:
    write_files(tmp_path, {"/etc/sysconfig/iptables": "this is not iptables-save output\n"})
    facts = firewall_of(tmp_path, with_services=False)
    assert facts.rulesets[0].decidable is False
    assert facts.allows_inbound_tcp(22) is None


def test_firewalld_public_zone(rhel_root: Path) -> None:
    facts = firewall_of(rhel_root)
    assert facts.active_kinds() == ["firewalld"]
    assert verdicts(facts) == (True, True, True, False, True)
    assert facts.allows_inbound_tcp(9090) is False  # cockpit: only in the vendor zone, shadowed by /etc


def test_firewalld_vendor_zone_rich_rules_and_source_zone(rhel_root: Path) -> None:
    remove(rhel_root, "/etc/firewalld/zones/public.xml")
    write_files(rhel_root, {
        "/etc/firewalld/zones/trusted-batch.xml": '<zone target="ACCEPT"><source address="10.1.0.0/16"/></zone>',
        "/etc/firewalld/zones/internal.xml": "<zone><service name=\"ssh\"/></zone>",
        "/etc/firewalld/firewalld.conf": "DefaultZone=internal\n",
    })
    write_files(rhel_root, {"/etc/firewalld/zones/internal.xml": """
        <zone>
          <service name="ssh"/>
          <rule family="ipv4"><port protocol="tcp" port="29876"/><accept/></rule>
          <rule family="ipv4"><source address="10.0.0.0/8"/><port protocol="tcp" port="29877"/><accept/></rule>
        </zone>"""})
    facts = firewall_of(rhel_root)
    assert facts.allows_inbound_tcp(22) is True  # both zones allow it
    assert facts.allows_inbound_tcp(29876) is True
    assert facts.allows_inbound_tcp(29877) is None  # source-dependent
    assert facts.allows_inbound_tcp(8080) is None  # the source-bound zone accepts everything


def test_firewalld_disabled_and_policies(rhel_root: Path) -> None:
    write_files(rhel_root, {"/etc/firewalld/policies/egress.xml": "<policy/>"})
    assert firewall_of(rhel_root).allows_outbound_tcp(443) is None
    remove(rhel_root, "/etc/systemd/system/multi-user.target.wants/firewalld.service")
    assert firewall_of(rhel_root).active_kinds() == ["firewalld"]  # first boot: its preset enables it
    mask_unit(rhel_root, "firewalld.service")
    assert verdicts(firewall_of(rhel_root)) == (True, True, True, True, True)


def test_firewalld_missing_zone_is_undecidable(rhel_root: Path) -> None:
    write_files(rhel_root, {"/etc/firewalld/firewalld.conf": "DefaultZone=nowhere\n"})
    assert firewall_of(rhel_root).allows_inbound_tcp(22) is None


def test_no_firewall_allows_everything(tmp_path: Path) -> None:
    facts = firewall_of(tmp_path)
    assert facts.rulesets == () and verdicts(facts) == (True, True, True, True, True)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([FirewallRule(action="allow", protocol="tcp")], True),
        ([FirewallRule(action="deny", protocol="udp")], True),
        ([FirewallRule(action="deny", certain=False)], None),
        ([FirewallRule(action="allow", certain=False)], True),  # both outcomes allow
        ([FirewallRule(action="deny", certain=False), FirewallRule(action="deny")], False),
        ([FirewallRule(action="goto", target="sub")], False),
        ([FirewallRule(action="jump", target="missing")], None),
        ([FirewallRule(action="return"), FirewallRule(action="deny")], True),
    ],
)
def test_evaluator(rules: list, expected: bool | None) -> None:
    chains = {"in": FirewallChain(name="in", policy="allow", rules=tuple(rules)),
              "sub": FirewallChain(name="sub", rules=(FirewallRule(action="deny"),))}
    assert FirewallRuleset(kind="iptables", active=True, chains=chains, inbound=("in",)).verdict_tcp("inbound", 22) is expected
