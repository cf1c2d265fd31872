"""The one explicit list of rules: the image and node rules, and the config rules.

``RULES`` (``Rule[Evidence]``) run on an image offline and on a node live; ``RULE_IDS`` are what
``--skip-check`` accepts. ``CONFIG_RULES`` (``Rule[ConfigSet]``) run in ``config check``; they
are loaded on first use, because they import the config models, which ``image check`` and
``node check`` without config files do not pay for. Ids are unique across both lists.
``rules.engine.evaluate_rules`` runs either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.rules import accelerators, boot, docker, host, image, mounts, provision, ssh, storage, vm
from shipyard.rules.base import Rule
from shipyard.facts.evidence import Evidence

if TYPE_CHECKING:
    from shipyard.config.loader import ConfigSet

RULES: tuple[Rule[Evidence], ...] = (
    *image.RULES,
    *boot.RULES,
    *mounts.RULES,
    *provision.RULES,
    *docker.RULES,
    *ssh.RULES,
    *vm.RULES,
    *accelerators.RULES,
    *storage.RULES,
    *host.RULES,
)
RULE_IDS = tuple(rule.id for rule in RULES)


def _config_rules() -> tuple[Rule[ConfigSet], ...]:
    from shipyard.rules.config import service, source, uris

    return (*source.RULES, *uris.RULES, *service.RULES)


if TYPE_CHECKING:
    CONFIG_RULES: tuple[Rule[ConfigSet], ...]
else:

    def __getattr__(name: str) -> object:
        """``CONFIG_RULES``, built on first use (module ``__getattr__``, PEP 562)."""
        if name == "CONFIG_RULES":
            rules = _config_rules()
            globals()["CONFIG_RULES"] = rules
            return rules
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
