"""The Batch Shipyard config file kinds. Kept free of heavy imports: the CLI reads it at start-up."""

from __future__ import annotations

from enum import Enum


class ConfigKind(str, Enum):  # noqa: UP042 -- node prep imports this on python3 < 3.11 (no StrEnum)
    """The config files, named by their ``--<kind>`` option; ``top_key`` is their top-level key."""

    CREDENTIALS = "credentials"
    CONFIG = "config"
    POOL = "pool"
    JOBS = "jobs"
    FS = "fs"
    MONITOR = "monitor"
    FEDERATION = "federation"
    SLURM = "slurm"

    @property
    def top_key(self) -> str:
        return _TOP_KEYS[self]


_TOP_KEYS = {
    ConfigKind.CREDENTIALS: "credentials",
    ConfigKind.CONFIG: "batch_shipyard",
    ConfigKind.POOL: "pool_specification",
    ConfigKind.JOBS: "job_specifications",
    ConfigKind.FS: "remote_fs",
    ConfigKind.MONITOR: "monitoring",
    ConfigKind.FEDERATION: "federation",
    ConfigKind.SLURM: "slurm",
}
