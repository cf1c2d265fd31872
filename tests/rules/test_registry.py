"""The one registry: the image/node rules and the config rules, with ids unique across both."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shipyard.results import Severity
from shipyard.rules.registry import CONFIG_RULES, RULE_IDS, RULES

CONFIG_RULE_IDS = (
    "pool.image_source", "custom_image.source", "custom_image.arm_image_id", "custom_image.azure_vhd",
    "custom_image.bare_uri", "custom_image.storage_link", "custom_image.vhd_count",
    "custom_image.distinct_accounts", "custom_image.node_agent", "custom_image.account_mode",
    "pool.node_communication_mode", "config.storage_link",
)


def test_rule_ids_are_unique_across_both_rule_sets() -> None:
    ids = [rule.id for rule in (*RULES, *CONFIG_RULES)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_the_config_rules_keep_their_ids_and_their_order() -> None:
    assert tuple(rule.id for rule in CONFIG_RULES) == CONFIG_RULE_IDS


def test_every_config_rule_says_what_it_requires_and_how_to_fix_it() -> None:
    for rule in CONFIG_RULES:
        assert rule.requirement and rule.fix, rule.id
    warning_only = {rule.id for rule in CONFIG_RULES if rule.severity is Severity.WARNING}
    assert warning_only == {"custom_image.azure_vhd", "custom_image.distinct_accounts"}


def test_skip_check_takes_the_image_and_node_rule_ids_only() -> None:
    from shipyard.cli.checks import validate_skips
    from shipyard.errors import UsageError

    assert tuple(rule.id for rule in RULES) == RULE_IDS
    validate_skips(("docker.installed",))
    with pytest.raises(UsageError, match=r"unknown rule id pool\.image_source"):
        validate_skips(("pool.image_source",))


def test_the_image_rules_load_without_the_config_models() -> None:
    """`image check` and `node check` without config files import the registry, not the config models;
    the config rules load them on first use."""
    code = (
        "import sys; from shipyard.rules.registry import RULES; print('shipyard.config.loader' in sys.modules); "
        "from shipyard.rules.registry import CONFIG_RULES; print('shipyard.config.loader' in sys.modules, len(CONFIG_RULES))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", str(len(CONFIG_RULE_IDS))]


def test_an_unknown_attribute_of_the_registry_is_an_attribute_error() -> None:
    from shipyard.rules import registry

    with pytest.raises(AttributeError, match="NO_SUCH_RULES"):
        registry.NO_SUCH_RULES  # noqa: B018
