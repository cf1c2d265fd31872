"""iptables-save files (``/etc/iptables/rules.v4``, ``/etc/sysconfig/iptables``, ufw's
``user.rules``) parsed into normalised firewall chains.

Only the ``filter`` table is read. Each ``-A`` rule is judged for a new TCP connection from a
remote host: rules that can never match it (loopback, ``ESTABLISHED``/``RELATED`` state, UDP,
ICMP) are dropped; conditions that depend on what cannot be known offline (addresses, sets,
interfaces other than ``lo``) make the rule uncertain.
"""

from __future__ import annotations

import shlex

from shipyard.facts.firewall import Action, FirewallChain, FirewallRule, PortRange, Verdict

TERMINAL: dict[str, Action] = {"ACCEPT": "allow", "DROP": "deny", "REJECT": "deny", "RETURN": "return"}
POLICIES: dict[str, Verdict] = {"ACCEPT": "allow", "DROP": "deny", "REJECT": "deny"}
NON_TERMINAL = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK", "TCPMSS"}
BUILTIN = ("INPUT", "OUTPUT", "FORWARD")
ANY_ADDRESS = {"0.0.0.0/0", "::/0", "0/0"}
HARMLESS_OPTIONS = {
    "-m", "--match", "--comment", "--icmp-type", "--limit", "--limit-burst", "--tcp-flags", "--reject-with",
    "--log-prefix", "--log-level", "--name", "--seconds", "--hitcount", "--mask", "--to-ports",
}
NO_VALUE = {"--syn", "--set", "--rcheck", "--update", "--remove", "--rsource", "--rdest", "!"}


def parse_ports(value: str, range_sep: str = ":") -> tuple[PortRange, ...] | None:
    """"22", "22,80", "1000:2000" -> ranges; None when a port is not numeric."""
    ranges = []
    for part in value.split(","):
        first, sep, last = part.strip().partition(range_sep)
        if not first.isdigit() or (sep and not last.isdigit()):
            return None
        ranges.append(PortRange(first=int(first), last=int(last) if sep else int(first)))
    return tuple(ranges)


def parse_rule(words: list[str], chains: set[str]) -> FirewallRule | None:
    """One rule's words after ``-A CHAIN``; None when it cannot match a new remote TCP connection."""
    protocol, ports, certain = "any", None, True
    action: Action | None = None
    target: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        negated = word == "!"
        if negated:
            i += 1
            if i >= len(words):
                break
            word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        takes_value = word.startswith("-") and word not in NO_VALUE
        if word in ("-p", "--protocol"):
            protocol = "any" if negated else value.lower()
            certain = certain and not negated
            if value.isdigit():
                protocol = {"6": "tcp", "17": "udp"}.get(value, value)
        elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports = None if negated else parse_ports(value)
            certain = certain and not negated and ports is not None
        elif word in ("-s", "--source", "-d", "--destination", "--sport", "--source-port", "--sports"):
            certain = certain and value in ANY_ADDRESS
        elif word in ("-i", "--in-interface", "-o", "--out-interface"):
            if value == "lo" and not negated:
                return None
            if not (negated and value == "lo"):
                certain = False
        elif word in ("--state", "--ctstate"):
            states = set(value.upper().split(","))
            if negated:
                certain = certain and "NEW" not in states
                if "NEW" in states:
                    return None
            elif "NEW" not in states:
                return None
        elif word in ("--update", "--rcheck"):
            return None  # ufw's "limit": only connections over the rate match
        elif word == "--dst-type":
            if value.upper() != "LOCAL" and not negated:
                return None
        elif word in ("-j", "--jump", "-g", "--goto"):
            takes_value = True
            if value in TERMINAL:
                action = TERMINAL[value]
            elif value in NON_TERMINAL:
                action = None
            else:
                action, target = ("goto" if word in ("-g", "--goto") else "jump"), value
                if value not in chains:
                    certain = False
        elif word in HARMLESS_OPTIONS:
            if word == "--tcp-flags":
                i += 1  # two values: mask and comparison
        elif word.startswith("-"):
            certain = False  # a condition this parser does not model
        i += 2 if takes_value else 1
    if action is None:
        return None
    protocol = "any" if protocol == "all" else protocol
    return FirewallRule(action=action, target=target, protocol=protocol, ports=ports, certain=certain)


def parse_iptables_save(text: str) -> dict[str, FirewallChain]:
    """The filter table's chains; built-in chains carry their policy. Raises ValueError when the
    text has no filter table at all."""
    policies: dict[str, Verdict | None] = {}
    rule_lines: list[tuple[str, list[str]]] = []
    table = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            continue
        if table != "filter" or line == "COMMIT":
            continue
        if line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            policy = rest.split()[0] if rest.split() else "-"
            policies[name] = POLICIES.get(policy)
        elif line.startswith(("-A ", "--append ")):
            words = shlex.split(line)
            rule_lines.append((words[1], words[2:]))
    if table is None and not policies:
        raise ValueError("no *filter table")
    names = set(policies) | {chain for chain, _ in rule_lines}
    rules: dict[str, list[FirewallRule]] = {name: [] for name in names}
    for chain, words in rule_lines:
        rule = parse_rule(words, names)
        if rule is not None:
            rules[chain].append(rule.model_copy(update={"text": f"-A {chain} " + " ".join(words)}))
    chains: dict[str, FirewallChain] = {}
    for name in names:
        chain_policy: Verdict | None = policies.get(name) or ("allow" if name in BUILTIN else None)
        chains[name] = FirewallChain(name=name, policy=chain_policy, rules=tuple(rules[name]))
    return chains
