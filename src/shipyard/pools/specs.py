"""Batch Shipyard's config files as what the backends take: ``pool_spec`` and ``job_specs``.

``pool_spec`` reads ``pool.yaml``'s custom-image pool: ``vm_size``, ``vm_count``,
``max_tasks_per_node``, ``node_fill_type``, the custom image, ``additional_node_prep.commands``
(``pre`` and ``post``), and the paths of the files node prep reads on every node.

``job_specs`` reads ``jobs.yaml``: each job, its tasks with their ids generated as Batch Shipyard
generates them (``pools.task_ids``), the task factories expanded (``pools.factories``), a
``merge_task`` depending on every task of its job, and each task's parts (``pools.task_specs``).
It is all or nothing: every problem is found before anything is returned, and the first is raised
as a one-line ``ConfigError`` with its file, line and key path (and how many more there are):
duplicate job or task ids (after generation), a dependency on a task the job does not have, a
dependency cycle (named), and whatever the specs cannot carry.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace

from shipyard.config.backend import BackendKind, batch_backend
from shipyard.config.jobs import JobSpecification
from shipyard.config.keypath import KeyPath, format_path
from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import ConfigSet
from shipyard.config.tasks import MergeTask, Task
from shipyard.errors import ConfigError
from shipyard.pools import task_specs as parts
from shipyard.pools.factories import FactoryError, expand_factory
from shipyard.pools.models import ImageSource, JobSpec, NodeFillType, PoolIdentity, PoolSpec, StartCommands, TaskSpec
from shipyard.pools.task_ids import IdFormat, TaskIdAllocator, find_cycle, ids_in_range

VM_CONFIG = ("pool_specification", "vm_configuration")
NODE_PREP = ("pool_specification", "additional_node_prep")
NODE_CONFIG_FILES = (ConfigKind.CREDENTIALS, ConfigKind.CONFIG, ConfigKind.POOL)
MERGE_FORBIDDEN = ("depends_on", "depends_on_range", "multi_instance", "task_factory")  # as Batch Shipyard


def pool_spec(config: ConfigSet) -> PoolSpec:
    """The pool ``pool.yaml`` describes. ``ConfigError`` at its key path when it is no custom-image pool."""
    config.require(ConfigKind.POOL)
    pool = config.pool
    assert pool is not None
    problems = parts.Problems(config.files[ConfigKind.POOL])
    image = pool.vm_configuration.custom_image
    if image is None:
        problems.add(VM_CONFIG, "shipyard pools boot from a custom image: set custom_image "
                                "(image_uris or arm_image_id)")
    parts.check_id(problems, pool.id, ("pool_specification", "id"), "pool")
    prep = pool.additional_node_prep
    problems.raise_first()
    assert image is not None
    uris = tuple(image.image_uris or ())
    if image.arm_image_id and not uris and batch_backend(config).kind == "local":
        uris = _local_gallery_vhds(config, image.arm_image_id)
    commands = prep.commands if prep else None
    return PoolSpec(
        id=pool.id,
        vm_size=pool.vm_size,
        image=ImageSource(image.node_agent, uris, image.arm_image_id),
        dedicated=pool.vm_count.dedicated,
        low_priority=pool.vm_count.low_priority,
        max_tasks_per_node=pool.max_tasks_per_node or 1,
        node_fill_type=NodeFillType(pool.node_fill_type or NodeFillType.SPREAD),
        start_commands=StartCommands(tuple(commands.pre) if commands else (), tuple(commands.post) if commands else (),
                                     environment=bool(prep and (prep.environment_variables
                                                                or prep.environment_variables_keyvault_secret_id))),
        config_files=tuple(
            (kind.value, str(config.files[kind].document.path.resolve()))
            for kind in NODE_CONFIG_FILES if kind in config.files
        ),
        node_runtime=node_runtime(config),
        identity=PoolIdentity(pool.managed_identity.resource_id, pool.managed_identity.client_id)
        if pool.managed_identity else None,
    )


def _local_gallery_vhds(config: ConfigSet, arm_image_id: str) -> tuple[str, ...]:
    """On the local backend a gallery image is one that ``image publish`` recorded here: its VHDs."""
    from shipyard.storage.local_gallery import resolve

    entry = resolve(arm_image_id)
    if entry is None:
        where = config.files[ConfigKind.POOL].location((*VM_CONFIG, "custom_image", "arm_image_id"))
        raise ConfigError(f"names no image published to this machine's local gallery: {arm_image_id}",
                          file=where.file, line=where.line, path=where.path,
                          hint="run `shipyard image publish --configdir DIR` on the local backend, or set image_uris")
    return entry.image_uris


def node_runtime(config: ConfigSet) -> str:
    """``config.yaml``'s ``local.node_runtime``: ``image`` unless it says ``host``."""
    general = config.general
    chosen = general.local.node_runtime if general is not None and general.local is not None else None
    return chosen or "image"


@dataclass
class _Draft:
    """A task on its way to a ``TaskSpec``: where it was written, and its id and command."""

    task: Task | MergeTask
    path: KeyPath
    task_id: str
    command: str | None
    generated: int | None = None  # its index among the tasks its factory generated

    @property
    def where(self) -> str:
        return "" if self.generated is None else f" (task {self.generated} of its task_factory)"


def job_specs(
    config: ConfigSet, *, backend_kind: BackendKind, existing_task_ids: Mapping[str, Collection[str]] | None = None
) -> list[JobSpec]:
    """Every job of ``jobs.yaml``, on the pool of ``pool.yaml``, for a backend of ``backend_kind``.

    ``existing_task_ids``: per job id, the tasks the job already holds (adding to an existing job):
    generated ids continue after them and dependencies may name them.
    """
    config.require(ConfigKind.JOBS, ConfigKind.POOL)
    jobs, pool = config.jobs, config.pool
    assert jobs is not None and pool is not None
    builder = _JobsBuilder(config, backend_kind, existing_task_ids or {})
    specs = [builder.job(index, job, pool.id) for index, job in enumerate(jobs)]
    seen: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if job.id in seen:
            builder.problems.add(("job_specifications", index, "id"),
                                 f"duplicate job id '{job.id}' (also job_specifications[{seen[job.id]}])")
        seen.setdefault(job.id, index)
    builder.problems.raise_first()
    return specs


class _JobsBuilder:
    def __init__(self, config: ConfigSet, backend: str, existing: Mapping[str, Collection[str]]) -> None:
        self.problems = parts.Problems(config.files[ConfigKind.JOBS])
        self.backend = backend
        self.existing = existing
        credentials = config.credentials
        self.links = dict(credentials.storage) if credentials is not None else None
        general = config.general
        self.global_ids = IdFormat.of(general.batch_shipyard.autogenerated_task_id if general else None)
        pool = config.pool
        self.vm_count = (pool.vm_count.dedicated, pool.vm_count.low_priority) if pool is not None else None

    def job(self, index: int, job: JobSpecification, pool_id: str) -> JobSpec:
        path: KeyPath = ("job_specifications", index)
        add = self.problems.add
        parts.check_id(self.problems, job.id, (*path, "id"), "job")
        parts.refuse(self.problems, job, path, parts.JOB_REFUSED, self.backend)
        if job.priority is not None and not -1000 <= job.priority <= 1000:
            add((*path, "priority"), f"must be between -1000 and 1000, found {job.priority}")
        job_ids = IdFormat.of(job.autogenerated_task_id) if job.autogenerated_task_id is not None else self.global_ids
        existing = tuple(self.existing.get(job.id, ()))
        allocator = TaskIdAllocator(existing)
        drafts: list[_Draft] = []
        for number, task in enumerate(job.tasks):
            drafts.extend(self._drafts(task, (*path, "tasks", number), allocator, job_ids))
        if job.merge_task is not None:
            merge_path = (*path, "merge_task")
            for key in MERGE_FORBIDDEN:
                if key in (job.merge_task.model_extra or {}):
                    add((*merge_path, key), f"a merge_task cannot have {key} (it depends on every task of its job)")
            parts.refuse(self.problems, job.merge_task, merge_path, parts.TASK_REFUSED, self.backend)
            merge_id = job.merge_task.id or allocator.generate(job_ids, merge=True)
            drafts.append(_Draft(job.merge_task, merge_path, allocator.take(merge_id), job.merge_task.command))
        job_secret = self._secret_id(job, path)
        tasks = [self._task_spec(draft, job, path, job_secret) for draft in drafts]
        tasks = self._resolve_dependencies(drafts, tasks, job, existing)
        return JobSpec(
            id=job.id,
            pool_id=pool_id,
            priority=job.priority or 0,
            environment=tuple((job.environment_variables or {}).items()),
            tasks=tuple(tasks),
            max_wall_time_s=parts.duration(self.problems, job.max_wall_time, (*path, "max_wall_time")),
        )

    def _drafts(self, task: Task, path: KeyPath, allocator: TaskIdAllocator, job_ids: IdFormat) -> list[_Draft]:
        parts.refuse(self.problems, task, path, parts.TASK_REFUSED, self.backend)
        factory = task.task_factory
        if factory is None:
            if not task.id and (task.depends_on or task.depends_on_range):
                # as Batch Shipyard: "task id is not specified, but depends_on or depends_on_range is set"
                self.problems.add((*path, "depends_on" if task.depends_on else "depends_on_range"),
                                  "a task with depends_on or depends_on_range needs an id")
            task_id = allocator.take(task.id) if task.id else allocator.generate(job_ids)
            return [_Draft(task, path, task_id, task.command)]
        try:
            generated = expand_factory(factory, task.command)
        except FactoryError as exc:
            self.problems.add((*path, *exc.path), exc.message)
            return []
        ids = IdFormat.of(factory.autogenerated_task_id) if factory.autogenerated_task_id is not None else job_ids
        return [
            _Draft(task, path, allocator.take(task.id) if task.id else allocator.generate(ids), item.command,
                   item.index)
            for item in generated
        ]

    def _secret_id(self, owner: JobSpecification | Task | MergeTask, at: KeyPath) -> tuple[str, ...]:
        """``owner``'s ``environment_variables_keyvault_secret_id`` (checked to be a Key Vault id), or ()."""
        from shipyard.config.vault_ids import parse_vault_id

        key = "environment_variables_keyvault_secret_id"
        value = getattr(owner, key, None)
        if not value:
            return ()
        try:
            parse_vault_id(value, path=format_path((*at, key)))
        except ConfigError as exc:
            self.problems.add((*at, key), exc.message)
            return ()
        return (value,)

    def _task_spec(self, draft: _Draft, job: JobSpecification, job_path: KeyPath,
                   job_secret: tuple[str, ...] = ()) -> TaskSpec:
        task, path, problems = draft.task, draft.path, self.problems
        parts.check_id(problems, draft.task_id, (*path, "id"), "task")
        container = parts.container_of(problems, task, path)
        if draft.command is None and container is None:
            problems.add(path, "a task needs a command (or a docker_image or singularity_image to run)")
        retries = task.max_task_retries if task.max_task_retries is not None else job.max_task_retries
        if retries is not None and retries < -1:
            problems.add((*path, "max_task_retries"), f"must be -1 (no limit) or more, found {retries}")
        retention = task.retention_time or job.retention_time
        retention_path = (*path, "retention_time") if task.retention_time else (*job_path, "retention_time")
        return TaskSpec(
            id=draft.task_id,
            command_line=draft.command or "",
            environment=tuple((task.environment_variables or {}).items()),
            environment_secret_ids=(*job_secret, *self._secret_id(task, path)),
            max_task_retries=retries or 0,
            max_wall_time_s=parts.duration(problems, task.max_wall_time, (*path, "max_wall_time")),
            retention_time_s=parts.duration(problems, retention, retention_path),
            resource_files=parts.resource_files(problems, task.resource_files, path, self.links or {}),
            output_files=parts.output_files(problems, task.output_data, path, self.links, self.backend),
            container=container,
            exit_job_on_failure=parts.exit_job_on_failure(problems, task, job, path, job_path, self.backend),
            multi_instance=parts.multi_instance(problems, task, path, self.links or {}, self.vm_count),
        )

    def _resolve_dependencies(self, drafts: list[_Draft], tasks: list[TaskSpec], job: JobSpecification,
                              existing: tuple[str, ...]) -> list[TaskSpec]:
        add = self.problems.add
        first: dict[str, _Draft] = {}
        for draft in drafts:
            if draft.task_id in first:
                other = first[draft.task_id]
                add((*draft.path, "id") if draft.task.id else draft.path,
                    f"duplicate task id '{draft.task_id}' in job '{job.id}'{draft.where} (also "
                    f"{format_path(other.path)}{other.where})")
            first.setdefault(draft.task_id, draft)
        known = [*existing, *first]
        submitted = [draft.task_id for draft in drafts if not isinstance(draft.task, MergeTask)]
        resolved: list[TaskSpec] = []
        graph: dict[str, list[str]] = {}
        for draft, spec in zip(drafts, tasks, strict=True):
            depends = submitted if isinstance(draft.task, MergeTask) else self._depends(draft, known, job)
            graph.setdefault(spec.id, list(depends))
            resolved.append(replace(spec, depends_on=tuple(depends)))
        cycle = find_cycle(graph)
        if cycle:
            add((*first[cycle[0]].path, "depends_on"), f"the task dependencies of job '{job.id}' form a cycle: "
                                                       + " -> ".join(cycle))
        return resolved

    def _depends(self, draft: _Draft, known: list[str], job: JobSpecification) -> list[str]:
        assert isinstance(draft.task, Task)
        task, names = draft.task, set(known)
        depends: list[str] = []
        for index, other in enumerate(task.depends_on or ()):
            if other not in names:
                self.problems.add((*draft.path, "depends_on", index),
                                  f"task '{draft.task_id}' depends on task '{other}', which job '{job.id}' does not have")
            depends.append(other)
        if task.depends_on_range:
            span = task.depends_on_range
            if len(span) != 2:
                self.problems.add((*draft.path, "depends_on_range"), "needs exactly 2 integers: [start, end]")
            else:
                matched = ids_in_range(known, span[0], span[1])
                if not matched:
                    self.problems.add((*draft.path, "depends_on_range"),
                                      f"[{span[0]}, {span[1]}] selects no task of job '{job.id}' (a range selects "
                                      "tasks whose ids are integers: set autogenerated_task_id prefix '' for such ids)")
                depends.extend(matched)
        return list(dict.fromkeys(depends))

