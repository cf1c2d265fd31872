"""The start task of an Azure Batch pool: shipyard's node prep, on a node with no PyPI access.

The ``node bundle`` folder (``nodeprep.py`` and its wheels) and the pool's ``config.yaml`` and
``pool.yaml`` are uploaded once to the storage link that ``config.yaml``'s
``batch_shipyard.storage_account_settings`` names: block blobs under
``shipyard/nodeprep/<digest>/``, named by their content, so a second pool, or a second ``pool add``,
uploads nothing. Each becomes a resource file of the start task with a read SAS that is never
printed or logged. ``credentials.yaml`` is not uploaded: it holds the account keys.

The command runs node prep (which writes ``additional_node_prep``'s environment, its Key Vault
secret fetched as the pool's identity, to a 0600 file the command sources and removes), then
``additional_node_prep``'s ``pre`` and ``post`` commands, under
``/bin/sh -c`` (Batch runs a command line without a shell) with ``set -e``, so the first failure
fails the start task.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from azure.batch import models as m

from shipyard.errors import BackendError
from shipyard.pools.azure_batch.to_sdk import StartTaskPlan
from shipyard.pools.models import PoolSpec

if TYPE_CHECKING:
    from shipyard.storage.store import PageBlobStore

CONTAINER = "shipyard"
PREFIX = "nodeprep"
SAS_LIFETIME = timedelta(days=30)  # a node added by a resize weeks later still reads its files
UPLOADED_CONFIG = ("config", "pool")  # never credentials: they hold the keys
BUNDLE_DIR = "nodeprep"  # in the start task's working directory
CONFIG_DIR = "config"


def bundle_digest(bundle: Path) -> str:
    """One digest over every file of the bundle (names and contents): the upload's folder name."""
    digest = hashlib.sha256()
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        digest.update(path.relative_to(bundle).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


ENVIRONMENT_FILE = ".shipyard-environment"  # additional_node_prep's environment, sourced, then removed


def start_command(spec: PoolSpec) -> str:
    prep = f"python3 {BUNDLE_DIR}/nodeprep.py --configdir {CONFIG_DIR}"
    if spec.identity is not None:  # tasks may read Key Vault as the pool's identity: their launcher
        prep += ' --task-launcher "$AZ_BATCH_NODE_SHARED_DIR/shipyard"'
    steps = [f"{prep} --environment-file {ENVIRONMENT_FILE}", f". ./{ENVIRONMENT_FILE}", f"rm -f {ENVIRONMENT_FILE}"] \
        if spec.start_commands.environment else [prep]
    steps += [*spec.start_commands.pre, *spec.start_commands.post]
    return "/bin/sh -c " + shlex.quote("set -e; " + "; ".join(steps))


class NodePrepStager:
    """Uploads the bundle and the pool's config files, and makes the start task that uses them."""

    def __init__(self, store: PageBlobStore, bundle: Path) -> None:
        if not (bundle / "nodeprep.py").is_file():
            raise BackendError(f"{bundle} is no node prep bundle (no nodeprep.py)",
                               hint="build one with `shipyard node bundle DIR`")
        self.store = store
        self.bundle = bundle
        self._digest = bundle_digest(bundle)

    def _upload(self, blob: str, data: bytes, present: set[str]) -> str:
        if blob not in present:
            self.store.put_blob(CONTAINER, blob, data, overwrite=True)
            present.add(blob)
        return self.store.read_sas_url(CONTAINER, blob, SAS_LIFETIME)  # type: ignore[attr-defined]

    def __call__(self, spec: PoolSpec) -> StartTaskPlan:
        self.store.ensure_container(CONTAINER)
        present = {item.name for item in self.store.list_blobs(CONTAINER, f"{PREFIX}/")}
        files: list[m.ResourceFile] = []
        for path in sorted(p for p in self.bundle.rglob("*") if p.is_file()):
            relative = path.relative_to(self.bundle).as_posix()
            url = self._upload(f"{PREFIX}/{self._digest}/{relative}", path.read_bytes(), present)
            files.append(m.ResourceFile(http_url=url, file_path=f"{BUNDLE_DIR}/{relative}"))
        for kind, name in config_names(dict(spec.config_files)).items():
            data = Path(dict(spec.config_files)[kind]).read_bytes()
            blob = f"{PREFIX}/config/{hashlib.sha256(data).hexdigest()[:16]}/{name}"
            files.append(m.ResourceFile(http_url=self._upload(blob, data, present), file_path=f"{CONFIG_DIR}/{name}"))
        return StartTaskPlan(start_command(spec), tuple(files))


def config_names(config_files: Mapping[str, str]) -> dict[str, str]:
    """``kind -> file name`` on the node for the config files that go there (``config.yaml``, ``pool.yaml``)."""
    return {kind: f"{kind}.yaml" for kind in UPLOADED_CONFIG if kind in config_files}
