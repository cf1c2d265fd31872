"""nftables rule files (``/etc/nftables.conf``, ``/etc/sysconfig/nftables.conf``) parsed into
normalised firewall chains.

The block syntax (``table inet filter { chain input { type filter hook input ...; policy drop;
... } }``) is read, ``include`` is followed, and ``define`` variables are substituted. Base
chains of type filter on the input and output hooks of ``inet`` and ``ip`` tables are the entry
points (IPv4 is what Batch uses). Imperative ``add rule`` commands make the file undecidable.
"""

from __future__ import annotations

import re

from shipyard.facts.collectors.common import list_matching
from shipyard.sources.base import read_optional
from shipyard.facts.collectors.iptables import parse_ports
from shipyard.facts.firewall import Action, FirewallChain, FirewallRule, PortRange, Verdict
from shipyard.sources.base import FileSource

MAX_INCLUDE_DEPTH = 8
_TOKEN = re.compile(r'"[^"]*"|[{};\n]|[^\s{};"]+')
SERVICES = {"ssh": "22", "http": "80", "https": "443", "domain": "53"}
VERDICTS: dict[str, Action] = {"accept": "allow", "drop": "deny", "reject": "deny", "return": "return"}
POLICIES: dict[str, Verdict] = {"accept": "allow", "drop": "deny", "reject": "deny"}
IGNORED_WORDS = {
    "counter", "log", "comment", "limit", "rate", "prefix", "level", "packets", "bytes", "notrack", "burst",
    "over", "with", "tcp-reset", "icmpx", "type", "admin-prohibited", "port-unreachable", "host-unreachable",
    "second", "minute", "hour", "flags", "syn", "mss",
}


BLOCK_OPENERS = ("table", "chain", "set", "map", "flowtable", "counter", "quota", "ct", "limit", "secmark", "synproxy")


class NftablesError(ValueError):
    pass


def _strip_comments(text: str) -> str:
    return "\n".join(re.sub(r'#(?=(?:[^"]*"[^"]*")*[^"]*$).*', "", line) for line in text.splitlines())


def load_nftables_tokens(source: FileSource, path: str, depth: int = 0, files: list[str] | None = None) -> list[str]:
    """Tokens of the file with includes inlined and ``define`` variables substituted."""
    text = read_optional(source, path)
    if text is None:
        raise FileNotFoundError(path)
    if files is not None:
        files.append(path)
    tokens: list[str] = []
    for token_match in _TOKEN.finditer(_strip_comments(text)):
        tokens.append(token_match[0])
    result: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] == "include" and i + 1 < len(tokens) and depth < MAX_INCLUDE_DEPTH:
            pattern = tokens[i + 1].strip('"')
            if not pattern.startswith("/"):
                pattern = path.rpartition("/")[0] + "/" + pattern
            paths = list_matching(source, pattern) if any(c in pattern for c in "*?[") else [pattern]
            for included in paths:
                result += [*load_nftables_tokens(source, included, depth + 1, files), "\n"]
            i += 2
            continue
        result.append(tokens[i])
        i += 1
    return result


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.i = 0
        self.defines: dict[str, list[str]] = {}

    def statement(self) -> list[str] | None:
        """Words up to ``;``/newline at this level; anonymous ``{...}`` sets become one word.
        Returns None at the end of a block (``}``) or of the input."""
        words: list[str] = []
        while self.i < len(self.tokens):
            token = self.tokens[self.i]
            if token == "}":
                if words:
                    return words
                self.i += 1
                return None
            self.i += 1
            if token in (";", "\n"):
                if words:
                    return words
                continue
            if token == "{":
                if words and words[0] in BLOCK_OPENERS and len(words) <= 3:
                    words.append("{")
                    return words
                depth, inner = 1, []
                while self.i < len(self.tokens) and depth:
                    t = self.tokens[self.i]
                    self.i += 1
                    depth += {"{": 1, "}": -1}.get(t, 0)
                    if depth and t not in ("\n", ";"):
                        inner.append(t)
                words.append("{" + " ".join(inner) + "}")
                continue
            if token.startswith("$") and token[1:] in self.defines:
                words += self.defines[token[1:]]
                continue
            words.append(token)
        return words or None

    def skip_block(self) -> None:
        while (words := self.statement()) is not None:
            if words[-1] == "{":
                self.skip_block()


def parse_nftables(tokens: list[str]) -> tuple[dict[str, FirewallChain], list[str], list[str]]:
    """Chains keyed "table/chain", and the inbound and outbound entry chains."""
    parser = _Parser(tokens)
    chains: dict[str, FirewallChain] = {}
    inbound: list[str] = []
    outbound: list[str] = []
    while parser.i < len(tokens):
        words = parser.statement()
        if words is None:
            continue
        if words[0] == "define" and len(words) >= 4 and words[2] == "=":
            parser.defines[words[1]] = words[3:]
        elif words[0] == "table" and words[-1] == "{":
            family, table = (words[1], words[2]) if len(words) == 4 else ("ip", words[1])
            _parse_table(parser, family, table, chains, inbound, outbound)
        elif words[-1] == "{":
            parser.skip_block()
        elif words[0] not in ("flush", "delete", "destroy"):
            raise NftablesError(f"unsupported nftables statement: {' '.join(words[:4])}")
    return chains, inbound, outbound


def _parse_table(
    parser: _Parser, family: str, table: str, chains: dict[str, FirewallChain], inbound: list[str], outbound: list[str]
) -> None:
    while (words := parser.statement()) is not None:
        if words[0] == "chain" and words[-1] == "{":
            _parse_chain(parser, family, table, words[1], chains, inbound, outbound)
        elif words[-1] == "{":
            parser.skip_block()


def _parse_chain(
    parser: _Parser,
    family: str,
    table: str,
    name: str,
    chains: dict[str, FirewallChain],
    inbound: list[str],
    outbound: list[str],
) -> None:
    key = f"{table}/{name}"
    hook = kind = None
    policy: Verdict = "allow"
    rules: list[FirewallRule] = []
    while (words := parser.statement()) is not None:
        if words[0] == "type" and "hook" in words[:-1]:
            kind, hook = words[1], words[words.index("hook") + 1]
        elif words[0] == "policy" and len(words) > 1:
            policy = POLICIES.get(words[1], "allow")
        elif words[-1] == "{":
            parser.skip_block()
        else:
            rule = parse_nft_rule(words, table)
            if rule is not None:
                rules.append(rule.model_copy(update={"text": " ".join(words)}))
    chains[key] = FirewallChain(name=key, policy=policy if hook else None, rules=tuple(rules))
    if kind == "filter" and family in ("inet", "ip"):
        if hook == "input":
            inbound.append(key)
        elif hook == "output":
            outbound.append(key)


def _nft_ports(value: str) -> tuple[PortRange, ...] | None:
    items = [v for v in re.split(r"[\s,]+", value.strip("{}")) if v]
    text = ",".join(SERVICES.get(v, v) for v in items)
    return parse_ports(text, "-") if items else None


def _protocol(value: str) -> str | None:
    """The protocol a match value names; None for a set or anything not modelled."""
    value = value.strip('"')
    return {"6": "tcp", "17": "udp"}.get(value, value) if not value.startswith(("{", "@", "$")) else None


def parse_nft_rule(words: list[str], table: str) -> FirewallRule | None:
    """One rule; None when it cannot match a new TCP connection from a remote host."""
    protocol, ports, certain = "any", None, True
    action: Action | None = None
    target: str | None = None
    i = 0
    while i < len(words) and action is None:
        word, following = words[i], [*words[i + 1:i + 4], "", "", ""]
        negated = following[1] == "!="
        value = following[2] if negated else following[1]
        step = 3 + negated
        if word in ("tcp", "udp", "th", "sctp", "dccp", "udplite") and following[0] in ("dport", "sport"):
            protocol = protocol if word == "th" else word
            found = _nft_ports(value) if following[0] == "dport" and not negated else None
            ports, certain = (found, certain) if found is not None else (ports, False)
        elif word in ("meta", "ip", "ip6") and following[0] in ("l4proto", "protocol", "nexthdr"):
            named = _protocol(value)
            if named is None or negated:
                certain = False
            else:
                protocol = named
        elif word in ("ip", "ip6") and following[0] in ("saddr", "daddr"):
            certain = certain and value in ("0.0.0.0/0", "::/0")
        elif word in ("iif", "iifname", "oif", "oifname") or (word == "meta" and following[0].startswith(("iif", "oif"))):
            if word == "meta":
                i += 1
                continue
            value = following[1] if following[0] == "!=" else following[0]
            step = 2 + (following[0] == "!=")
            if value.strip('"') == "lo":
                if following[0] != "!=":
                    return None
            else:
                certain = False
        elif word == "ct" and following[0] == "state":
            if value == "vmap":
                if "new" not in following[2]:
                    return None
                certain, step = False, 4
            else:
                states = set(re.split(r"[\s,{}]+", value)) - {""}
                if ("new" in states) == negated:
                    return None
        elif word in ("tcp", "udp", "icmp", "icmpv6", "igmp", "sctp") and protocol == "any":
            protocol, step = word, 1
        elif word in VERDICTS:
            action, step = VERDICTS[word], 1
        elif word in ("jump", "goto"):
            action = "jump" if word == "jump" else "goto"
            target, step = f"{table}/{following[0]}", 2
        elif word in IGNORED_WORDS or word.startswith('"') or word[:1].isdigit() or word == "continue":
            step = 1
        else:
            certain, step = False, 1
        i += step
    if action is None:
        return None
    return FirewallRule(action=action, target=target, protocol=protocol, ports=ports, certain=certain)
