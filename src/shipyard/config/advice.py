"""Warnings about files that validate but cannot do what their author meant (``config.empty_work``).

Like the checks of ``config.unknown_keys`` and ``config.legacy``, these return the loader's
results (``config.diagnostics``), located through the ``Locator`` of the file they check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.config.diagnostics import EMPTY_WORK, Locator, diagnostic
from shipyard.config.jobs import JobsFile
from shipyard.config.pool import PoolFile
from shipyard.results import CheckResult, Severity


def empty_work(model: Any, at: Locator) -> Iterator[CheckResult]:
    """A pool of 0 nodes that cannot grow, and a job with no task."""
    if isinstance(model, PoolFile):
        pool = model.pool_specification
        if pool.vm_count.total == 0 and pool.autoscale is None:
            yield diagnostic(
                EMPTY_WORK, Severity.WARNING,
                "the pool has 0 nodes: vm_count.dedicated and vm_count.low_priority are 0 and there is no autoscale",
                at(("pool_specification", "vm_count")),
                "set vm_count.dedicated or vm_count.low_priority above 0, or set autoscale",
            )
    elif isinstance(model, JobsFile):
        for index, job in enumerate(model.job_specifications):
            if not job.tasks:
                yield diagnostic(
                    EMPTY_WORK, Severity.WARNING, f"job {job.id} has no task: tasks is missing or empty",
                    at(("job_specifications", index)), f"give job {job.id} a task under tasks",
                )
