"""Keys written the Batch Shipyard 2.x way: each gets a warning naming the 3.x form.

The models read them as the 3.x form (``PoolSpecification``, ``PoolAzureStorageInput``,
``JobSpecification``), so an old file still works; this module only says so (``config.legacy``,
with the 3.x form as the fix).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.config.diagnostics import LEGACY, Locator, diagnostic
from shipyard.config.jobs import AUTO_SCRATCH_2X
from shipyard.config.kinds import ConfigKind
from shipyard.config.pool import LEGACY_NODE_PREP_KEYS
from shipyard.results import CheckResult, Location, Severity

_NODE_PREP_3X = {
    "additional_node_prep_commands": "additional_node_prep.commands.post",
    "additional_node_prep_commands_pre": "additional_node_prep.commands.pre",
    "additional_node_prep_commands_post": "additional_node_prep.commands.post",
}
_STORAGE_INPUT_3X = {"container": "remote_path", "file_share": "remote_path (with is_file_share: true)", "destination": "local_path"}


def _old(key: str, new: str, location: Location, how: str = "", era: str = "2.x", fix: str = "") -> CheckResult:
    """The warning for ``key`` (the old form), which 3.x writes as ``new``; ``fix`` by default: replace it."""
    message = f"{key} is the Batch Shipyard {era} form; 3.x writes {new}{how}"
    return diagnostic(LEGACY, Severity.WARNING, message, location, fix or f"replace {key} with {new}")


def legacy_forms(kind: ConfigKind, data: Any, at: Locator) -> Iterator[CheckResult]:
    if kind is ConfigKind.POOL:
        yield from _pool(data.get("pool_specification"), at)
    elif kind is ConfigKind.JOBS:
        jobs = data.get("job_specifications")
        for index, job in enumerate(jobs if isinstance(jobs, list) else []):
            if isinstance(job, dict) and isinstance(job.get("auto_scratch"), bool):
                path = ("job_specifications", index, "auto_scratch")
                how = " (read as " + ", ".join(f"{k}: {v}" for k, v in AUTO_SCRATCH_2X.items()) + ")"
                fix = ""
                old = f"auto_scratch: {str(job['auto_scratch']).lower()}"
                if job["auto_scratch"] is False:
                    how, fix = " (false: read as not set)", f"remove {old}"
                yield _old(old, "auto_scratch.setup and auto_scratch.num_instances", at(path), how, fix=fix)


def _pool(pool: Any, at: Locator) -> Iterator[CheckResult]:
    if not isinstance(pool, dict):
        return
    top = ("pool_specification",)
    count = pool.get("vm_count")
    if isinstance(count, int) and not isinstance(count, bool):
        yield _old(f"vm_count: {count}", f"vm_count.dedicated: {count}", at((*top, "vm_count")), " (read as that)")
    for key in LEGACY_NODE_PREP_KEYS:
        if key in pool:
            ignored = "additional_node_prep" in pool
            how = " (ignored: additional_node_prep is set)" if ignored else " (read as that)"
            era = "2.x" if key == "additional_node_prep_commands" else "early 3.x"
            fix = f"move its commands to {_NODE_PREP_3X[key]} and remove {key}" if ignored else ""
            yield _old(key, _NODE_PREP_3X[key], at((*top, key)), how, era, fix)
    inputs = pool.get("input_data")
    storage = inputs.get("azure_storage") if isinstance(inputs, dict) else None
    for index, item in enumerate(storage if isinstance(storage, list) else []):
        if not isinstance(item, dict) or "remote_path" in item:
            continue
        for key, new in _STORAGE_INPUT_3X.items():
            if key in item:
                path = (*top, "input_data", "azure_storage", index, key)
                yield _old(f"input_data.azure_storage {key}", new, at(path), " (read as that)")
