"""The one explicit list of rules.

``RULES`` (``Rule[Evidence]``) run on an image offline and on a node live; ``RULE_IDS`` are what
``--skip-check`` accepts. ``rules.engine.evaluate_rules`` runs them.
"""

from __future__ import annotations

from shipyard.rules import accelerators, docker, host, image, ssh, storage, vm
from shipyard.rules.base import Rule
from shipyard.rules.evidence import Evidence

RULES: tuple[Rule[Evidence], ...] = (
    *image.RULES,
    *docker.RULES,
    *ssh.RULES,
    *vm.RULES,
    *accelerators.RULES,
    *storage.RULES,
    *host.RULES,
)
RULE_IDS = tuple(rule.id for rule in RULES)

