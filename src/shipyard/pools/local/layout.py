"""Where the local backend keeps things: the database, each pool's directory, Batch's node layout.

``$SHIPYARD_HOME/local/pools.db`` is the state; ``$SHIPYARD_HOME/local/pools/<pool>/`` holds the
supervisor's log, its lock, the node processes' logs and one directory per node, laid out as on a
Batch node::

    <node>/shared/  startup/  workitems/<job>/job-1/<task>/{stdout.txt,stderr.txt,wd/}  volatile/  certs/

Ids become path components, so they are checked here: Batch's own rule, letters, digits, hyphens
and underscores, at most 64 characters.
"""

from __future__ import annotations

import re
from pathlib import Path

from shipyard.errors import BackendError
from shipyard.storage.open import shipyard_home

NODE_SUBDIRS = ("shared", "startup", "workitems", "volatile", "certs")
# every process of a pool carries this in its environment: recovery and delete find them by it
POOL_MARKER_ENV = "SHIPYARD_LOCAL_POOL"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_id(kind: str, value: str) -> str:
    """``value`` when it is a valid Batch id, else a one-line ``BackendError``."""
    if not isinstance(value, str) or not _ID.match(value):
        shown = value if isinstance(value, str) and len(value) <= 80 and value.isprintable() else "given"
        raise BackendError(f"the {kind} id '{shown}' is not valid: use letters, digits, hyphens and underscores "
                           "(at most 64)")
    return value


class Layout:
    """The paths of one shipyard home."""

    def __init__(self, home: Path | str | None = None) -> None:
        self.home = shipyard_home(home).absolute()
        self.root = self.home / "local"
        self.db = self.root / "pools.db"

    def pool_dir(self, pool_id: str) -> Path:
        return self.root / "pools" / pool_id

    def supervisor_log(self, pool_id: str) -> Path:
        return self.pool_dir(pool_id) / "supervisor.log"

    def supervisor_lock(self, pool_id: str) -> Path:
        return self.pool_dir(pool_id) / "supervisor.lock"

    def node_log(self, pool_id: str, node_id: str) -> Path:
        return self.pool_dir(pool_id) / "logs" / f"{node_id}.log"

    def image_lock(self, pool_id: str, key: str) -> Path:
        return self.pool_dir(pool_id) / "images" / f"{key}.lock"

    def node_root(self, pool_id: str, node_id: str) -> Path:
        return self.pool_dir(pool_id) / node_id


def task_dir(node_root: Path, job_id: str, task_id: str) -> Path:
    return node_root / "workitems" / job_id / "job-1" / task_id


def node_environment(root: Path, pool_id: str, node_id: str, is_dedicated: bool) -> dict[str, str]:
    """Batch's node variables, for the start task and every task."""
    return {
        "AZ_BATCH_NODE_ROOT_DIR": str(root),
        "AZ_BATCH_NODE_SHARED_DIR": str(root / "shared"),
        "AZ_BATCH_NODE_STARTUP_DIR": str(root / "startup"),
        "AZ_BATCH_CERTIFICATES_DIR": str(root / "certs"),
        "AZ_BATCH_NODE_ID": node_id,
        "AZ_BATCH_POOL_ID": pool_id,
        "AZ_BATCH_NODE_IS_DEDICATED": "true" if is_dedicated else "false",
    }
