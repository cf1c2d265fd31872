"""One ``jobs.yaml`` task (or merge task) as a ``TaskSpec``'s parts, each problem at its key path.

What Batch Shipyard reads and how (``convoy/settings.py``, ``task_settings``; ``convoy/data.py``):

- ``max_task_retries``: the task's, else the job's, else 0; ``retention_time``: the task's, else
  the job's; ``max_wall_time``: the task's own (the job's limits the job, ``JobSpec``).
- ``exit_conditions.default.exit_options``: the task's, else the job's; ``job_action: terminate``
  ends the job when the task fails.
- ``docker_image`` or ``singularity_image`` (not both) is the task's container.
- ``resource_files[].blob_source``: a bare blob URI of one of the credentials' storage links is
  read with that link; any other http(s) URL is fetched as it is (it may carry a SAS: never shown).
- ``output_data.azure_storage[]``: ``remote_path`` is ``<container>/<virtual directory>``;
  ``local_path`` (default ``$AZ_BATCH_TASK_DIR``) joined with each ``include`` (default ``**/*``)
  is a file pattern, as Batch Shipyard writes a native pool's ``OutputFile``s; ``condition``
  defaults to ``tasksuccess``.

What a ``TaskSpec`` cannot carry is refused, one line at its key path, rather than dropped:
multi-instance (MPI) tasks, data ingress, KeyVault secrets, container volumes, file shares.
Container run options (``shm_size``, ``additional_docker_run_options``, ...) are left to the
backend's container runtime.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from shipyard.config.blob_uri import BlobUriError, has_query, parse_blob_uri
from shipyard.config.credentials import StorageLink
from shipyard.config.data import AzureStorageOutput, OutputData, ResourceFile as ResourceFileConfig
from shipyard.config.jobs import JobSpecification
from shipyard.config.keypath import KeyPath
from shipyard.config.loader import LoadedFile
from shipyard.config.tasks import ExitConditions, MergeOutputData, MergeOutputStorage, TaskBase
from shipyard.errors import ConfigError
from shipyard.pools.durations import parse_duration
from shipyard.pools.models import Container, MultiInstance, OutputFile, ResourceFile, UploadCondition
from shipyard.redact import redact, strip_query

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # Azure Batch's job and task ids
ID_RULE = "1 to 64 letters, digits, hyphens and underscores"
DEFAULT_INCLUDE = "**/*"
DEFAULT_CONDITION = "tasksuccess"  # convoy.settings.data_condition

# keys the specs cannot carry, at the job level and the task level, in words
JOB_REFUSED = {
    "auto_pool": "auto_pool (a pool made for the job)",
    "recurrence": "recurrence (a job schedule)",
    "auto_scratch": "auto_scratch (a scratch volume over the job's nodes)",
    "job_preparation": "job_preparation",
    "job_release": "job_release",
    "input_data": "input_data (data ingress)",
    "data_volumes": "container data_volumes",
    "shared_data_volumes": "container shared_data_volumes",
}
TASK_REFUSED = {
    "input_data": "input_data (data ingress)",
    "data_volumes": "container data_volumes",
    "shared_data_volumes": "container shared_data_volumes",
    "entrypoint": "a container entrypoint",
}
# and on the local backend only (one machine: a task over several nodes is Azure Batch's)
TASK_REFUSED_LOCAL = {"multi_instance": "multi_instance (an MPI task over several nodes)"}
MULTI_INSTANCE_COUNTS = ("pool_specification_vm_count_dedicated", "pool_specification_vm_count_low_priority")
_TASK_DIR = "$AZ_BATCH_TASK_DIR"
_WORKING_DIR = "$AZ_BATCH_TASK_WORKING_DIR"


@dataclass
class Problems:
    """The problems found in one file, each a one-line ``ConfigError`` at its key path."""

    file: LoadedFile
    errors: list[ConfigError] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)

    def add(self, path: KeyPath, message: str) -> None:
        """One problem; the same one again (each task a factory generates has its entry's) counts once."""
        where = self.file.location(path)
        error = ConfigError(redact(message), file=where.file, line=where.line, path=where.path)
        if str(error) not in self._seen:
            self._seen.add(str(error))
            self.errors.append(error)

    def raise_first(self) -> None:
        """All or nothing: the first problem in the file's order, counting the others."""
        if self.errors:
            first = min(self.errors, key=lambda error: error.line or 0)
            raise ConfigError(first.message, file=first.file, line=first.line, path=first.path,
                              more=len(self.errors) - 1)


def multi_instance(problems: Problems, task: Any, path: KeyPath, links: Mapping[str, StorageLink],
                   vm_count: tuple[int, int] | None) -> MultiInstance | None:
    """``multi_instance``: the instance count (a number, or the pool's dedicated or low-priority
    vm_count by Batch Shipyard's names), the coordination command and the common resource files."""
    settings = getattr(task, "multi_instance", None)
    if settings is None:
        return None
    where = (*path, "multi_instance", "num_instances")
    text = str(settings.num_instances).strip()
    count: int | None = None
    if text.isdigit():
        count = int(text)
    elif text in MULTI_INSTANCE_COUNTS and vm_count is not None:
        count = vm_count[MULTI_INSTANCE_COUNTS.index(text)]
    elif text in MULTI_INSTANCE_COUNTS:
        problems.add(where, f"{text} needs the pool file (pool.yaml) to count the nodes")
    else:
        problems.add(where, f"must be a number of nodes or one of {', '.join(MULTI_INSTANCE_COUNTS)}, found {text!r}")
    if count is not None and count < 1:
        problems.add(where, f"must be at least 1, found {count}")
    common = resource_files(problems, settings.resource_files, (*path, "multi_instance"), links)
    return MultiInstance(count or 1, settings.coordination_command, common)


def is_set(value: Any) -> bool:
    return value is not None and value != [] and value != {}


def refuse(problems: Problems, model: Any, path: KeyPath, refused: Mapping[str, str], backend: str) -> None:
    if backend == "local" and refused is TASK_REFUSED:
        refused = {**refused, **TASK_REFUSED_LOCAL}
    for key, what in refused.items():
        if is_set(getattr(model, key, None)):
            problems.add((*path, key), f"{what} is not supported on the {backend} backend")


def check_id(problems: Problems, value: str, path: KeyPath, what: str) -> None:
    if not ID_RE.match(value):
        shown = f"'{value}'" if len(value) <= 80 else f"of {len(value)} characters"
        problems.add(path, f"{what} id {shown} is not a valid id ({ID_RULE})")


def duration(problems: Problems, text: str | None, path: KeyPath) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None


def container_of(problems: Problems, task: TaskBase, path: KeyPath) -> Container | None:
    if task.docker_image and task.singularity_image:
        problems.add((*path, "singularity_image"), "a task has a docker_image or a singularity_image, not both")
        return None
    if task.docker_image:
        return Container("docker", task.docker_image)
    if task.singularity_image:
        return Container("singularity", task.singularity_image)
    return None


def exit_job_on_failure(problems: Problems, task: TaskBase, job: JobSpecification, path: KeyPath,
                        job_path: KeyPath, backend: str) -> bool:
    """``job_action`` and ``dependency_action``: the task's, else the job's (Batch Shipyard's defaults
    ``none`` and ``block``); ``terminate`` is the one job action a failure can take here."""
    found: dict[str, tuple[str, KeyPath]] = {}
    for conditions, where in ((job.exit_conditions, job_path), (getattr(task, "exit_conditions", None), path)):
        options = _exit_options(conditions)
        for key in ("job_action", "dependency_action"):
            value = getattr(options, key, None) if options else None
            if value is not None:
                found[key] = (value, (*where, "exit_conditions", "default", "exit_options", key))
    job_action = found.get("job_action", ("none", ()))
    if job_action[0] == "disable":
        problems.add(job_action[1], f"job_action: disable is not supported on the {backend} backend (none or terminate)")
    dependency_action = found.get("dependency_action", ("block", ()))
    if dependency_action[0] == "satisfy":
        problems.add(dependency_action[1], f"dependency_action: satisfy is not supported on the {backend} backend "
                                           "(a failed task blocks the tasks that depend on it)")
    return job_action[0] == "terminate"


def _exit_options(conditions: ExitConditions | None) -> Any:
    default = conditions.default if conditions else None
    return default.exit_options if default else None


def resource_files(problems: Problems, files: Sequence[ResourceFileConfig] | None, path: KeyPath,
                   links: Mapping[str, StorageLink]) -> tuple[ResourceFile, ...]:
    out = []
    for index, entry in enumerate(files or ()):
        where = (*path, "resource_files", index)
        target = entry.file_path
        if target.startswith("/") or ".." in target.split("/") or not target.strip():
            problems.add((*where, "file_path"), "must be a path inside the task's working directory "
                                                "(relative, without ..)")
            continue
        source = entry.blob_source.strip()
        scheme = urlsplit(source).scheme.lower() if "://" in source else ""
        link = None
        if not has_query(source):
            try:
                link = parse_blob_uri(source, links).link
            except BlobUriError:
                link = None
        if link is not None:
            out.append(ResourceFile(target, blob_uri=source, file_mode=entry.file_mode))
        elif scheme in ("http", "https") and urlsplit(source).netloc:
            out.append(ResourceFile(target, http_url=source, file_mode=entry.file_mode))
        elif scheme == "local":
            problems.add((*where, "blob_source"), f"{strip_query(source)} is in none of the credentials' storage links")
        else:
            problems.add((*where, "blob_source"), "must be an http(s) URL or a blob URI of one of the credentials' "
                                                  "storage links")
    return tuple(out)


def output_files(problems: Problems, output: OutputData | MergeOutputData | None, path: KeyPath,
                 links: Mapping[str, StorageLink] | None, backend: str) -> tuple[OutputFile, ...]:
    """A task's ``output_data``, or a merge task's (a storage input's shape, without ``condition``)."""
    out = []
    entries: Sequence[AzureStorageOutput | MergeOutputStorage] = (output.azure_storage or ()) if output else ()
    for index, entry in enumerate(entries):
        where = (*path, "output_data", "azure_storage", index)
        link = entry.storage_account_settings
        if links is None:
            problems.add((*where, "storage_account_settings"),
                         f"names storage link '{link}': pass the credentials file that has it")
            continue
        if link not in links:
            known = ", ".join(sorted(links)) or "none"
            problems.add((*where, "storage_account_settings"),
                         f"'{link}' is not one of the credentials' storage links ({known})")
            continue
        for key, what in (("is_file_share", "a file share"), ("exclude", "exclude filters"),
                          ("blobxfer_extra_options", "blobxfer_extra_options")):
            if getattr(entry, key):
                problems.add((*where, key), f"{what} in output_data are not supported on the {backend} backend "
                                            "(as on a native container pool)")
        container, _, directory = entry.remote_path.strip("/").partition("/")
        base = task_relative(entry.local_path or _TASK_DIR)
        if base is None:
            problems.add((*where, "local_path"), f"must be under {_TASK_DIR} or {_WORKING_DIR} (or relative to "
                                                 "the working directory)")
            continue
        condition = UploadCondition(getattr(entry, "condition", None) or DEFAULT_CONDITION)
        prefix = directory.strip("/") + "/" if directory.strip("/") else ""
        for pattern in entry.include or [DEFAULT_INCLUDE]:
            joined = posixpath.join(base, pattern) if base else pattern
            out.append(OutputFile(joined, container, link, prefix, condition))
    return tuple(out)


def task_relative(local_path: str) -> str | None:
    """``local_path`` relative to the task directory (``wd/`` is the working directory); None when it
    is elsewhere (an absolute path, another node directory) or climbs out with ``..``."""
    text = re.sub(r"\$\{(\w+)\}", r"$\1", local_path.strip()).rstrip("/")
    if text == _TASK_DIR:
        return ""
    if text == _WORKING_DIR:
        return "wd"
    if text.startswith(_WORKING_DIR + "/"):
        relative = "wd/" + text[len(_WORKING_DIR) + 1 :]
    elif text.startswith(_TASK_DIR + "/"):
        relative = text[len(_TASK_DIR) + 1 :]
    elif text and not text.startswith(("/", "$", "~")):
        relative = "wd/" + text  # Batch reads a relative pattern from the working directory
    else:
        return None
    return None if ".." in relative.split("/") else relative
