"""Warnings about files that validate but cannot do what their author meant.

``Note`` is what the checks of ``config.unknown_keys``, ``config.legacy`` and this module return;
``validate.validate_document`` turns each into a finding with the file's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from shipyard.config.keypath import KeyPath
from shipyard.config.jobs import JobsFile
from shipyard.config.pool import PoolFile
from shipyard.results import Severity


class Note(NamedTuple):
    severity: Severity
    message: str
    path: KeyPath
    line: int | None = None  # None: the line of ``path``


def empty_work(model: Any) -> Iterator[Note]:
    """A pool of 0 nodes that cannot grow, and a job with no task."""
    if isinstance(model, PoolFile):
        pool = model.pool_specification
        if pool.vm_count.total == 0 and pool.autoscale is None:
            yield Note(
                Severity.WARNING,
                "the pool has 0 nodes: vm_count.dedicated and vm_count.low_priority are 0 and there is no autoscale",
                ("pool_specification", "vm_count"),
            )
    elif isinstance(model, JobsFile):
        for index, job in enumerate(model.job_specifications):
            if not job.tasks:
                yield Note(Severity.WARNING, f"job {job.id} has no task: tasks is missing or empty", ("job_specifications", index))
