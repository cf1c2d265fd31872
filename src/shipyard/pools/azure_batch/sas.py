"""The signed URLs a task's files need on an Azure Batch node, made from the storage links.

A resource file named by its bare blob URI gets a read SAS; an output container (``link/container``)
gets a write SAS on the container. They last as long as a task may wait and run (``TASK_SAS_LIFETIME``),
are handed to the service in the task's definition, and are never printed or logged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from shipyard.config.credentials import StorageLink
from shipyard.errors import BackendError
from shipyard.pools.models import TaskSpec

TASK_SAS_LIFETIME = timedelta(days=7)  # Batch keeps a task's files 7 days by default


class TaskUrls:
    def __init__(self, links: Mapping[str, StorageLink]) -> None:
        self.links = dict(links)
        self._stores: dict[str, Any] = {}

    def _store(self, name: str) -> Any:
        from shipyard.storage.azure import AzurePageBlobStore

        if name not in self._stores:
            link = self.links.get(name)
            if link is None:
                raise BackendError(f"no storage link '{name}' in credentials.storage")
            if link.is_local and not link.blob_endpoint:
                raise BackendError(f"storage link '{name}' is this machine's local store: an Azure Batch node "
                                   "cannot reach it", hint="use an Azure storage account for task files")
            self._stores[name] = AzurePageBlobStore(link)
        return self._stores[name]

    def __call__(self, tasks: Sequence[TaskSpec]) -> dict[str, str]:
        from shipyard.storage.blob_open import find_blob_link

        urls: dict[str, str] = {}
        for task in tasks:
            common = task.multi_instance.common_resource_files if task.multi_instance else ()
            for file in (*task.resource_files, *common):
                if file.blob_uri and file.blob_uri not in urls:
                    link, parsed = find_blob_link(file.blob_uri, self.links)
                    urls[file.blob_uri] = self._store(link).read_sas_url(parsed.container, parsed.blob,
                                                                        TASK_SAS_LIFETIME)
            for out in task.output_files:
                key = f"{out.storage_link}/{out.container}"
                if key not in urls:
                    urls[key] = self._store(out.storage_link).write_container_sas_url(out.container, TASK_SAS_LIFETIME)
        return urls
