"""The config loader's results (``shipyard.config.diagnostics``): ``CheckResult``s whose ids say
what produced them, located at the file, line and key path, with a fix where one is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import diagnostics
from shipyard.config.diagnostics import (
    DIAGNOSTIC_IDS,
    EMPTY_WORK,
    LEGACY,
    LOAD,
    SCHEMA,
    UNKNOWN_KEY,
    as_config_error,
    describe,
    is_diagnostic,
)
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.errors import ConfigError
from shipyard.results import CheckResult, Location, Severity, Status

POOL = """
pool_specification:
  id: p
  vm_configuration:
    platform_image:
      publisher: Canonical
      offer: ubuntu
      sku: 22_04-lts
  vm_size: STANDARD_D2S_V3
  vm_count:
    dedicted: 2
  additional_node_prep_commands:
  - echo hi
  zzqqxx: 1
"""


def _load(directory: Path) -> list[tuple[str, Status, Severity, str | None, int | None, str | None, str]]:
    config = load_config_set(ConfigPaths.resolve(directory))
    return [
        (r.id, r.status, r.severity, r.location.file and Path(r.location.file).name, r.location.line, r.location.path, r.fix)
        for r in config.findings
        if r.location is not None
    ]


def test_the_ids_are_not_rule_ids() -> None:
    """``config check`` and ``--skip-check`` name rules; the loader's ids are none of them."""
    from shipyard.rules.registry import CONFIG_RULES, RULE_IDS

    assert len(set(DIAGNOSTIC_IDS)) == len(DIAGNOSTIC_IDS)
    assert all(check.startswith("config.") for check in DIAGNOSTIC_IDS)
    assert set(DIAGNOSTIC_IDS).isdisjoint({*RULE_IDS, *(rule.id for rule in CONFIG_RULES)})
    for check in DIAGNOSTIC_IDS:  # documented in the module's table
        assert f"``{check}``" in (diagnostics.__doc__ or "")


def test_each_producer_reports_with_its_id_location_and_fix(write_config) -> None:
    directory = write_config(pool=POOL, jobs="job_specifications:\n- id: idle\n")
    F, W = (Status.FAIL, Severity.ERROR), (Status.WARN, Severity.WARNING)
    assert _load(directory) == [
        (LEGACY, *W, "pool.yaml", 11, "pool_specification.additional_node_prep_commands",
         "replace additional_node_prep_commands with additional_node_prep.commands.post"),
        (UNKNOWN_KEY, *W, "pool.yaml", 13, "pool_specification.zzqqxx", "remove zzqqxx: nothing reads it"),
        (UNKNOWN_KEY, *W, "pool.yaml", 10, "pool_specification.vm_count.dedicted", "rename dedicted to dedicated"),
        (EMPTY_WORK, *W, "pool.yaml", 9, "pool_specification.vm_count",
         "set vm_count.dedicated or vm_count.low_priority above 0, or set autoscale"),
        (EMPTY_WORK, *W, "jobs.yaml", 2, "job_specifications[0]", "give job idle a task under tasks"),
    ]
    write_config(pool=POOL.replace("vm_size:", "vm_sise:"), jobs="job_specifications: [unclosed\n")
    found = _load(directory)
    assert (SCHEMA, *F, "pool.yaml", 8, "pool_specification.vm_size", "rename vm_sise to vm_size") in found
    assert [item[:5] for item in found if item[0] == LOAD] == [(LOAD, *F, "jobs.yaml", 1)]
    write_config(pool="job_specifications: []\n", jobs="job_specifications: []\n")
    assert _load(directory)[0] == (SCHEMA, *F, "pool.yaml", 1, None, "pass it as the jobs file (--jobs FILE)")


def test_schema_and_load_errors_are_fail_results_judged_by_failed(write_config) -> None:
    directory = write_config(pool=POOL.replace("dedicted: 2", "dedicated: two"), jobs="- a list\n")
    config = load_config_set(ConfigPaths.resolve(directory))
    assert all(isinstance(r, CheckResult) and is_diagnostic(r) for r in config.findings)
    assert [(r.id, r.status) for r in config.errors] == [(SCHEMA, Status.FAIL), (LOAD, Status.FAIL)]
    assert [describe(r) for r in config.errors] == [
        f"{directory / 'pool.yaml'}:10: pool_specification.vm_count.dedicated: must be an integer, found a string",
        f"{directory / 'jobs.yaml'}:1: jobs file did not load: top level must be a mapping, found list",
    ]
    with pytest.raises(ConfigError) as caught:
        config.require(ConfigKind.POOL)
    assert str(caught.value) == describe(config.errors[0]) + " (and 1 more error)"
    assert (caught.value.file, caught.value.line) == (str(directory / "pool.yaml"), 10)


def test_as_config_error_counts_the_rest() -> None:
    where = Location("pool.yaml", 3, "pool_specification.vm_size")
    results = [diagnostics.diagnostic(SCHEMA, Severity.ERROR, f"bad {n}", where) for n in range(3)]
    error = as_config_error(results)
    assert (str(error), error.more) == ("pool.yaml:3: pool_specification.vm_size: bad 0 (and 2 more errors)", 2)
    assert describe(diagnostics.diagnostic(LOAD, Severity.ERROR, "x", Location())) == "x"
