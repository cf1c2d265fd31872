"""The normalised software firewall: chains of simple rules that answer "is TCP port P allowed".

Every backend (ufw, iptables-save files, nftables, firewalld) is parsed into the same shape:
named chains of rules, entry chains per direction, and a policy for each base chain. One
evaluator walks them for a hypothetical *new TCP connection from a remote host*. A rule whose
conditions cannot be decided offline (a source address, a set, a mark) is ``certain=False``: both
of its outcomes are kept, and the answer is ``None`` (unknown) when they disagree.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Action = Literal["allow", "deny", "jump", "goto", "return"]
Verdict = Literal["allow", "deny"]
Direction = Literal["inbound", "outbound"]
RulesetKind = Literal["ufw", "iptables", "ip6tables", "nftables", "firewalld"]
MAX_JUMP_DEPTH = 16


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class PortRange(_Frozen):
    first: int
    last: int

    def contains(self, port: int) -> bool:
        return self.first <= port <= self.last


class FirewallRule(_Frozen):
    """One rule that may match a new TCP connection; rules that never can are dropped on parse."""

    action: Action
    target: str | None = None  # the chain of a jump or goto
    protocol: str = "any"  # "tcp", "udp", "any", ...
    ports: tuple[PortRange, ...] | None = None  # destination ports; None: any port
    certain: bool = True  # False: other conditions (addresses, sets, marks) decide
    text: str = ""  # the source line, for messages

    def match_tcp(self, port: int) -> Literal["yes", "no", "maybe"]:
        if self.protocol not in ("any", "tcp"):
            return "no"
        if self.ports is not None and not any(r.contains(port) for r in self.ports):
            return "no"
        return "yes" if self.certain else "maybe"


class FirewallChain(_Frozen):
    name: str
    policy: Verdict | None = None  # base chains only; None: a user chain that returns
    rules: tuple[FirewallRule, ...] = ()


class FirewallRuleset(_Frozen):
    """One backend's rules as they will be loaded at boot."""

    kind: RulesetKind
    active: bool | None  # loaded at boot (its service enabled); None: unknown
    ip_version: int = 4  # 6: recorded, not deciding (Batch reaches nodes over IPv4)
    files: tuple[str, ...] = ()
    decidable: bool = True  # False: parts could not be parsed, every answer is unknown
    chains: dict[str, FirewallChain] = {}
    inbound: tuple[str, ...] = ()  # entry chains on the input hook; a packet must pass all
    outbound: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def verdict_tcp(self, direction: Direction, port: int) -> bool | None:
        """True: allowed, False: denied, None: cannot be decided offline."""
        if not self.decidable:
            return None
        entries = self.inbound if direction == "inbound" else self.outbound
        answers = [_verdict_of(self._outcomes(name, port, 0)) for name in entries]
        if any(a is False for a in answers):
            return False
        if any(a is None for a in answers):
            return None
        return True

    def _outcomes(self, chain_name: str, port: int, depth: int) -> set[str]:
        chain = self.chains.get(chain_name)
        if chain is None or depth > MAX_JUMP_DEPTH:
            return {"unknown"}
        outcomes: set[str] = set()
        for rule in chain.rules:
            match = rule.match_tcp(port)
            if match == "no":
                continue
            if rule.action in ("jump", "goto"):
                sub = self._outcomes(rule.target or "", port, depth + 1)
                outcomes |= sub - {"return"}
                returns = "return" in sub
                if rule.action == "goto" and returns:  # a goto's return leaves this chain too
                    outcomes.add("return")
                if match == "yes" and (rule.action == "goto" or not returns):
                    return _finish(chain, outcomes)
                continue
            outcomes.add(rule.action)
            if match == "yes":
                return _finish(chain, outcomes)
        outcomes.add("return")
        return _finish(chain, outcomes)


def _finish(chain: FirewallChain, outcomes: set[str]) -> set[str]:
    """At a base chain, falling off the end (or returning) means its policy."""
    if chain.policy is not None and "return" in outcomes:
        outcomes = (outcomes - {"return"}) | {chain.policy}
    return outcomes


def _verdict_of(outcomes: set[str]) -> bool | None:
    if outcomes == {"allow"}:
        return True
    if outcomes == {"deny"}:
        return False
    return None


class FirewallFacts(_Frozen):
    """Every firewall rule set found; none active means nothing filters and all is allowed."""

    rulesets: tuple[FirewallRuleset, ...] = ()

    def allows_inbound_tcp(self, port: int) -> bool | None:
        return self._allows("inbound", port)

    def allows_outbound_tcp(self, port: int) -> bool | None:
        return self._allows("outbound", port)

    def _allows(self, direction: Direction, port: int) -> bool | None:
        unknown = False
        for ruleset in self.rulesets:
            if ruleset.active is False or ruleset.ip_version != 4:
                continue
            verdict = ruleset.verdict_tcp(direction, port)
            if verdict is False and ruleset.active:
                return False
            if verdict is not True:  # denied by a rule set that may not load, or undecidable
                unknown = True
        return None if unknown else True

    def active_kinds(self) -> list[str]:
        """The backends that load at boot (or may: active unknown)."""
        return [r.kind for r in self.rulesets if r.active is not False and r.ip_version == 4]
