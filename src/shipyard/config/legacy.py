"""Keys written the Batch Shipyard 2.x way: each gets a warning naming the 3.x form.

The models read them as the 3.x form (``PoolSpecification``, ``PoolAzureStorageInput``,
``JobSpecification``), so an old file still works; this module only says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shipyard.config.advice import Note
from shipyard.config.jobs import AUTO_SCRATCH_2X
from shipyard.config.kinds import ConfigKind
from shipyard.config.pool import LEGACY_NODE_PREP_KEYS
from shipyard.results import Severity

_NODE_PREP_3X = {
    "additional_node_prep_commands": "additional_node_prep.commands.post",
    "additional_node_prep_commands_pre": "additional_node_prep.commands.pre",
    "additional_node_prep_commands_post": "additional_node_prep.commands.post",
}
_STORAGE_INPUT_3X = {"container": "remote_path", "file_share": "remote_path (with is_file_share: true)", "destination": "local_path"}


def _old(key: str, new: str, how: str = "", era: str = "2.x") -> str:
    return f"{key} is the Batch Shipyard {era} form; 3.x writes {new}{how}"


def legacy_forms(kind: ConfigKind, data: Any) -> Iterator[Note]:
    if kind is ConfigKind.POOL:
        yield from _pool(data.get("pool_specification"))
    elif kind is ConfigKind.JOBS:
        jobs = data.get("job_specifications")
        for index, job in enumerate(jobs if isinstance(jobs, list) else []):
            if isinstance(job, dict) and isinstance(job.get("auto_scratch"), bool):
                path = ("job_specifications", index, "auto_scratch")
                how = " (read as " + ", ".join(f"{k}: {v}" for k, v in AUTO_SCRATCH_2X.items()) + ")"
                if job["auto_scratch"] is False:
                    how = " (false: read as not set)"
                old = f"auto_scratch: {str(job['auto_scratch']).lower()}"
                yield Note(Severity.WARNING, _old(old, "auto_scratch.setup and auto_scratch.num_instances", how), path)


def _pool(pool: Any) -> Iterator[Note]:
    if not isinstance(pool, dict):
        return
    top = ("pool_specification",)
    count = pool.get("vm_count")
    if isinstance(count, int) and not isinstance(count, bool):
        yield Note(Severity.WARNING, _old(f"vm_count: {count}", f"vm_count.dedicated: {count}", " (read as that)"), (*top, "vm_count"))
    for key in LEGACY_NODE_PREP_KEYS:
        if key in pool:
            how = " (read as that)" if "additional_node_prep" not in pool else " (ignored: additional_node_prep is set)"
            era = "2.x" if key == "additional_node_prep_commands" else "early 3.x"
            yield Note(Severity.WARNING, _old(key, _NODE_PREP_3X[key], how, era), (*top, key))
    inputs = pool.get("input_data")
    storage = inputs.get("azure_storage") if isinstance(inputs, dict) else None
    for index, item in enumerate(storage if isinstance(storage, list) else []):
        if not isinstance(item, dict) or "remote_path" in item:
            continue
        for key, new in _STORAGE_INPUT_3X.items():
            if key in item:
                path = (*top, "input_data", "azure_storage", index, key)
                yield Note(Severity.WARNING, _old(f"input_data.azure_storage {key}", new, " (read as that)"), path)
