"""`pool_spec` and `job_specs`: Batch Shipyard's files as the backends' specs, as Batch Shipyard reads them.

The factories' expected output is Batch Shipyard's own documentation of them
(docs/35-batch-shipyard-task-factory-merge-task.md); ids, ranges and refusals follow its code
(convoy/task_factory.py, convoy/batch.py `_generate_next_generic_task_id`, convoy/settings.py).
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import CORPUS
from shipyard.config.loader import ConfigPaths, ConfigSet, load_config_set
from shipyard.errors import ConfigError
from shipyard.pools.durations import parse_duration
from shipyard.pools.models import Container, MultiInstance, NodeFillType, OutputFile, ResourceFile, UploadCondition
from shipyard.pools.specs import job_specs, pool_spec

POOL = """
pool_specification:
  id: mypool
  vm_configuration:
    custom_image:
      image_uris:
      - local://acct1/vhds/u.vhd
      - local://acct2/vhds/u.vhd
      node_agent: batch.node.ubuntu 22.04
  vm_size: Standard_D2s_v3
  vm_count:
    dedicated: 3
    low_priority: 2
  max_tasks_per_node: 2
  node_fill_type: pack
  additional_node_prep:
    commands:
      pre:
      - echo pre
      post:
      - echo post1
      - echo post2
"""
CREDENTIALS = """
credentials:
  storage:
    sa1:
      account: acct1
      endpoint: local
"""
Load = Callable[..., ConfigSet]


@pytest.fixture
def load(write_config) -> Load:
    """Write config files (``jobs=`` is the jobs.yaml's text) and load them; the pool and credentials by default."""

    def run(**files: str) -> ConfigSet:
        files.setdefault("pool", POOL)
        files.setdefault("credentials", CREDENTIALS)
        directory = write_config(**{k: v for k, v in files.items() if v is not None})
        return load_config_set(ConfigPaths.resolve(directory))

    return run


def jobs_yaml(tasks: str, job: str = "") -> str:
    """A jobs file of one job ``myjob`` with ``tasks`` (YAML, a list) and extra job keys."""
    head = "job_specifications:\n- id: myjob\n" + textwrap.indent(textwrap.dedent(job).strip("\n"), "  ")
    return head.rstrip() + "\n  tasks:\n" + textwrap.indent(textwrap.dedent(tasks).strip("\n"), "  ") + "\n"


def one_job(load: Load, tasks: str, job: str = "", **files: str):
    specs = job_specs(load(jobs=jobs_yaml(tasks, job), **files), backend_kind="local")
    assert len(specs) == 1
    return specs[0]


def refused(load: Load, tasks: str, job: str = "", **files: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        job_specs(load(jobs=jobs_yaml(tasks, job), **files), backend_kind="local")
    text = str(caught.value)
    assert "\n" not in text and "jobs.yaml:" in text, text
    return caught.value


# --- pool_spec ----------------------------------------------------------------------------------


def test_pool_spec_reads_the_custom_image_pool(load: Load) -> None:
    config = load(config="batch_shipyard:\n  storage_account_settings: sa1\n")
    spec = pool_spec(config)
    assert (spec.id, spec.vm_size, spec.dedicated, spec.low_priority, spec.target_nodes) == (
        "mypool", "Standard_D2s_v3", 3, 2, 5)
    assert spec.image.image_uris == ("local://acct1/vhds/u.vhd", "local://acct2/vhds/u.vhd")
    assert spec.image.node_agent == "batch.node.ubuntu 22.04" and spec.image.arm_image_id is None
    assert (spec.max_tasks_per_node, spec.node_fill_type) == (2, NodeFillType.PACK)
    assert spec.start_commands.pre == ("echo pre",) and spec.start_commands.post == ("echo post1", "echo post2")
    files = dict(spec.config_files)
    assert list(files) == ["credentials", "config", "pool"]
    assert all(Path(path).is_absolute() and Path(path).is_file() for path in files.values())


def test_pool_spec_defaults_and_the_2x_node_prep_key(load: Load) -> None:
    pool = """
    pool_specification:
      id: p
      vm_configuration:
        custom_image:
          arm_image_id: /subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/galleries/gl/images/i/versions/1.0.0
          node_agent: batch.node.ubuntu 22.04
      vm_size: Standard_D2s_v3
      vm_count: 4
      additional_node_prep_commands:
      - echo after
    """
    azure = "credentials:\n  batch:\n    account_service_url: https://mybatch.westeurope.batch.azure.com\n"
    spec = pool_spec(load(pool=pool, credentials=azure))
    assert (spec.dedicated, spec.low_priority, spec.max_tasks_per_node) == (4, 0, 1)
    assert spec.node_fill_type is NodeFillType.SPREAD and spec.image.image_uris == ()
    assert spec.image.arm_image_id.endswith("/versions/1.0.0")
    assert spec.start_commands.pre == () and spec.start_commands.post == ("echo after",)
    assert [kind for kind, _ in spec.config_files] == ["credentials", "pool"]


LOCAL_POOL = """
pool_specification:
  id: p
  vm_configuration:
    custom_image:
      arm_image_id: {image}
      node_agent: batch.node.ubuntu 22.04
  vm_size: Standard_D2s_v3
  vm_count: 2
"""


def test_a_local_gallery_image_boots_its_vhds(load: Load, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.storage.local_gallery import publish

    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    uris = ("local://acct1/vhds/a.vhd", "local://acct2/vhds/a.vhd")
    entry, _ = publish("gal", "ubuntu", "1.0.0", image_uris=uris, source_uri=uris[0], definition_fields={})
    for image in (entry.id, entry.id.rsplit("/versions/", 1)[0]):  # a version, and its definition: the latest
        spec = pool_spec(load(pool=LOCAL_POOL.format(image=image), credentials=None))
        assert spec.image.image_uris == uris and spec.image.arm_image_id == image


def test_a_local_gallery_image_that_is_not_there_is_refused_at_its_line(load: Load, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    image = "/subscriptions/local/resourceGroups/local/providers/Microsoft.Compute/galleries/g/images/i/versions/9.0.0"
    with pytest.raises(ConfigError) as caught:
        pool_spec(load(pool=LOCAL_POOL.format(image=image), credentials=None))
    assert (caught.value.line, caught.value.path) == (5, "pool_specification.vm_configuration.custom_image.arm_image_id")
    assert "image publish" in (caught.value.hint or "")


def test_pool_spec_refuses_a_platform_image_pool_at_its_line() -> None:
    config = load_config_set(ConfigPaths.resolve(CORPUS / "recipes/BLAST-CPU/config"))
    with pytest.raises(ConfigError) as caught:
        pool_spec(config)
    assert str(caught.value) == (
        f"{CORPUS / 'recipes/BLAST-CPU/config/pool.yaml'}:3: pool_specification.vm_configuration: shipyard pools "
        "boot from a custom image: set custom_image (image_uris or arm_image_id)")


def test_pool_spec_takes_node_prep_environment_and_identity(load: Load) -> None:
    """The node prep commands' environment is node prep's to build on the node (``node.environment``):
    the spec passes it on untouched; the identity is the pool's."""
    pool = POOL + ("    environment_variables:\n      A: b\n"
                   "    environment_variables_keyvault_secret_id: https://kv1.vault.azure.net/secrets/env\n"
                   "  managed_identity:\n    resource_id: /subscriptions/s/resourceGroups/g/providers/"
                   "Microsoft.ManagedIdentity/userAssignedIdentities/pool\n    client_id: cid-1\n")
    spec = pool_spec(load(pool=pool))
    assert spec.identity is not None and spec.identity.client_id == "cid-1"
    assert spec.identity.resource_id.endswith("/userAssignedIdentities/pool")


def test_job_and_task_key_vault_environments_go_to_the_node(load: Load) -> None:
    jobs = ("job_specifications:\n- id: j\n  environment_variables_keyvault_secret_id: local://v/secrets/jobenv\n"
            "  tasks:\n  - command: /bin/true\n    environment_variables_keyvault_secret_id: "
            "https://kv1.vault.azure.net/secrets/taskenv\n  - command: /bin/false\n")
    [job] = job_specs(load(pool=POOL, jobs=jobs), backend_kind="local")
    assert [t.environment_secret_ids for t in job.tasks] == [
        ("local://v/secrets/jobenv", "https://kv1.vault.azure.net/secrets/taskenv"), ("local://v/secrets/jobenv",)]


def test_a_key_vault_environment_that_is_no_id_is_refused_at_its_key(load: Load) -> None:
    jobs = ("job_specifications:\n- id: j\n  tasks:\n  - command: /bin/true\n"
            "    environment_variables_keyvault_secret_id: myvault/taskenv\n")
    with pytest.raises(ConfigError, match=r"jobs\.yaml:5: job_specifications\[0\]\.tasks\[0\]\."
                                          r"environment_variables_keyvault_secret_id: 'myvault/taskenv' is not a Key"):
        job_specs(load(pool=POOL, jobs=jobs), backend_kind="local")


# --- the corpus ---------------------------------------------------------------------------------

# Every recipe jobs file the local backend cannot run, and the first thing in it that it cannot.
UNRUNNABLE = {
    "BLAST-CPU/config/jobs-blast.yaml": "tasks[0].task_factory.file: the file task factory",
    "FFmpeg-GPU/config/jobs.yaml": "tasks[0].resource_files[0].blob_source: must be an http(s) URL",
    "HPMLA-CPU-OpenMPI/config/jobs.yaml": "job_specifications[0].id: job id '<job id>' is not a valid id",
    "MXNet-CPU/config/multinode/jobs.yaml": "tasks[0].shared_data_volumes: container shared_data_volumes is not",
    "MXNet-GPU/config/multinode/jobs.yaml": "tasks[0].shared_data_volumes: container shared_data_volumes is not",
    "OpenFOAM-Infiniband-IntelMPI/config/jobs.yaml": "job_specifications[0].auto_scratch: auto_scratch",
    "OpenFOAM-Infiniband-OpenMPI/config/jobs.yaml": "job_specifications[0].auto_scratch: auto_scratch",
    "OpenFOAM-TCP-OpenMPI/config/jobs.yaml": "job_specifications[0].auto_scratch: auto_scratch",
    "RNASeq-CPU/config/jobs.yaml": "tasks[1].input_data: input_data (data ingress) is not supported",
}
MULTI_INSTANCE = "tasks[0].multi_instance: multi_instance (an MPI task over several nodes) is not supported on the local backend"


def corpus_jobs() -> list[Path]:
    return sorted(CORPUS.glob("recipes/**/jobs*.yaml"))


def corpus_config(jobs: Path) -> ConfigSet:
    directory = jobs.parent
    files = {"jobs": jobs, **{kind: directory / f"{kind}.yaml" for kind in ("credentials", "config", "pool")
                              if (directory / f"{kind}.yaml").is_file()}}
    return load_config_set(ConfigPaths.resolve(None, **files))


@pytest.mark.parametrize("jobs", corpus_jobs(), ids=lambda p: str(p.relative_to(CORPUS / "recipes")))
def test_every_corpus_jobs_file_expands_or_gives_one_line(jobs: Path) -> None:
    name = str(jobs.relative_to(CORPUS / "recipes"))
    config = corpus_config(jobs)
    multi_instance = any(task.multi_instance for job in config.jobs or () for task in job.tasks)
    if name not in UNRUNNABLE and not multi_instance:
        specs = job_specs(config, backend_kind="local")
        assert [spec.id for spec in specs] == [job.id for job in config.jobs or ()]
        assert all(spec.tasks and spec.pool_id == config.pool.id for spec in specs)
        assert all(task.id.startswith("task-") and task.command_line for spec in specs for task in spec.tasks)
        return
    with pytest.raises(ConfigError) as caught:
        job_specs(config, backend_kind="local")
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{jobs}:")
    assert (MULTI_INSTANCE if multi_instance and name not in UNRUNNABLE else UNRUNNABLE[name]) in text


def test_the_corpus_has_both_kinds() -> None:
    runnable = [p for p in corpus_jobs() if str(p.relative_to(CORPUS / "recipes")) not in UNRUNNABLE]
    assert len(corpus_jobs()) == 56 and len(runnable) == 47


def test_the_jobs_template_names_its_first_refusal_and_counts_the_rest() -> None:
    config = load_config_set(ConfigPaths.resolve(CORPUS / "config_templates"))
    with pytest.raises(ConfigError) as caught:
        job_specs(config, backend_kind="local")
    error = caught.value
    assert (error.line, error.path) == (16, "job_specifications[0].auto_pool")  # its Key Vault environment is fine
    assert error.more > 10 and "\n" not in str(error)


def test_a_recipe_task_in_full() -> None:
    spec = job_specs(corpus_config(CORPUS / "recipes/BLAST-CPU/config/jobs-split.yaml"), backend_kind="local")[0]
    task = spec.tasks[0]
    assert (spec.id, spec.pool_id, task.id, task.command_line) == ("blast", "blast", "task-00000", "python3 split.py")
    assert task.container == Container("docker", "python:3-alpine")
    assert task.resource_files == (
        ResourceFile("sample.fa", http_url="https://github.com/nextflow-io/blast-example/raw/master/data/sample.fa"),
        ResourceFile("split.py", http_url="https://github.com/Azure/batch-shipyard/raw/master/recipes/BLAST-CPU/split.py"),
    )
    assert task.output_files == (
        OutputFile("wd/query-*.fa", "blast", "mystorageaccount", "output/fasta-chunks/", UploadCondition.TASK_SUCCESS),
    )


# --- task factories: Batch Shipyard's documented output -----------------------------------------

SWEEPS = [
    ("product:\n- {start: 0, step: 1, stop: 10}", '/bin/bash -c "sleep {0}"',
     [f'/bin/bash -c "sleep {n}"' for n in range(10)]),
    ("product:\n- {start: 0, step: 1, stop: 3}\n- {start: 100, step: -1, stop: 97}", '/bin/bash -c "sleep {0}; sleep {1}"',
     [f'/bin/bash -c "sleep {a}; sleep {b}"' for a in range(3) for b in (100, 99, 98)]),
    ("product_iterables:\n- [abc, def, ghi]\n- ['1', '2', '3']", '/bin/bash -c "echo {0}; sleep {1}"',
     [f'/bin/bash -c "echo {a}; sleep {b}"' for a in ("abc", "def", "ghi") for b in "123"]),
    ("combinations:\n  iterable: [abc, '012', def]\n  length: 2\n  replacement: false", '/bin/bash -c "echo {0}; echo {1}"',
     ['/bin/bash -c "echo abc; echo 012"', '/bin/bash -c "echo abc; echo def"', '/bin/bash -c "echo 012; echo def"']),
    ("permutations:\n  iterable: [abc, '012', def]\n  length: 2", '/bin/bash -c "echo {0}; echo {1}"',
     [f'/bin/bash -c "echo {a}; echo {b}"'
      for a, b in (("abc", "012"), ("abc", "def"), ("012", "abc"), ("012", "def"), ("def", "abc"), ("def", "012"))]),
    ("zip:\n- abc\n- '012'\n- def", '/bin/bash -c "echo {0}; echo {1}; echo {2}"',
     ['/bin/bash -c "echo a; echo 0; echo d"', '/bin/bash -c "echo b; echo 1; echo e"',
      '/bin/bash -c "echo c; echo 2; echo f"']),
    # strings are iterables of their characters, and combinations may repeat elements
    ("product_iterables:\n- ab\n- [x]", "run {}{}", ["run ax", "run bx"]),
    ("combinations:\n  iterable: [A, B]\n  length: 2\n  replacement: true", "run {}{}", ["run AA", "run AB", "run BB"]),
]


def factory_task(factory: str, command: str) -> str:
    return (f"- docker_image: busybox\n  command: '{command.replace(chr(39), chr(39) * 2)}'\n  task_factory:\n"
            + textwrap.indent(factory, "    ") + "\n")


@pytest.mark.parametrize(("sweep", "command", "expected"), SWEEPS, ids=[s[0].split(":")[0] + str(i) for i, s in enumerate(SWEEPS)])
def test_parametric_sweeps_generate_the_documented_tasks(load: Load, sweep: str, command: str, expected: list[str]) -> None:
    job = one_job(load, factory_task("parametric_sweep:\n" + textwrap.indent(sweep, "  "), command))
    assert [task.command_line for task in job.tasks] == expected
    assert [task.id for task in job.tasks] == [f"task-{n:05d}" for n in range(len(expected))]
    assert {task.container for task in job.tasks} == {Container("docker", "busybox")}


def test_repeat_copies_the_command(load: Load) -> None:
    job = one_job(load, factory_task("repeat: 3", '/bin/bash -c "sleep 1"'))
    assert [(t.id, t.command_line) for t in job.tasks] == [(f"task-0000{n}", '/bin/bash -c "sleep 1"') for n in range(3)]


def test_random_with_a_seed_gives_batch_shipyards_values(load: Load) -> None:
    integers = one_job(load, factory_task("random:\n  generate: 5\n  seed: 7\n  integer: {start: 0, step: 1, stop: 10}",
                                          "sleep {}"))
    random.seed(7)  # Batch Shipyard seeds the random module, then draws
    assert [t.command_line for t in integers.tasks] == [f"sleep {random.randrange(0, 10, 1)}" for _ in range(5)]
    floats = one_job(load, factory_task("random:\n  generate: 3\n  seed: 3\n  distribution:\n    uniform: {a: 0.0, b: 1.0}",
                                        "sleep {}"))
    random.seed(3)
    assert [t.command_line for t in floats.tasks] == [f"sleep {random.uniform(0.0, 1.0)}" for _ in range(3)]
    gauss = one_job(load, factory_task("random:\n  generate: 2\n  seed: 1\n  distribution:\n    gauss: {mu: 1, sigma: 0.1}\n"
                                       "    uniform: {a: 5, b: 6}", "x {}"))
    random.seed(1)  # uniform comes first in Batch Shipyard's order, whatever the file's order
    assert [t.command_line for t in gauss.tasks] == [f"x {random.uniform(5, 6)}" for _ in range(2)]


def test_random_without_a_seed_draws_in_range(load: Load) -> None:
    job = one_job(load, factory_task("random:\n  generate: 20\n  integer: {start: 5, step: 5, stop: 30}", "sleep {}"))
    values = {int(t.command_line.split()[1]) for t in job.tasks}
    assert len(job.tasks) == 20 and values <= {5, 10, 15, 20, 25}


def test_a_factory_task_keeps_its_other_keys_and_depends_on(load: Load) -> None:
    tasks = """
    - id: prep
      command: echo prep
    - command: run {}
      depends_on: [prep]
      environment_variables: {A: b}
      max_task_retries: 2
      task_factory:
        parametric_sweep:
          product_iterables: [[x, y]]
    """
    job = one_job(load, tasks)
    assert [(t.id, t.command_line, t.depends_on) for t in job.tasks] == [
        ("prep", "echo prep", ()), ("task-00000", "run x", ("prep",)), ("task-00001", "run y", ("prep",))]
    assert {(t.environment, t.max_task_retries) for t in job.tasks[1:]} == {((("A", "b"),), 2)}


@pytest.mark.parametrize(("factory", "command", "path", "message"), [
    ("file:\n  azure_storage: {storage_account_settings: sa1, remote_path: c/d}\n  task_filepath: file_name", "x",
     "task_factory.file", "the file task factory (lists a storage container) is not supported"),
    ("custom:\n  module: mypkg.mymodule", "x", "task_factory.custom",
     "the custom task factory (imports a Python module) is not supported"),
    ("autogenerated_task_id: {prefix: t}", "x", "task_factory", "names no generator"),
    ("parametric_sweep:\n  product: [{start: 0, stop: 3, step: 1}]", "run {0} {1}", "command",
     "has more positional placeholders than the 1 value the parametric_sweep task factory gives each task"),
    ("parametric_sweep:\n  product: [{start: 0, stop: 3, step: 1}]", "run ${HOME}", "command",
     "has the named placeholder {HOME}"),
    ("parametric_sweep:\n  product: [{start: 0, stop: 3, step: 0}]", "run {}", "task_factory.parametric_sweep.product[0].step",
     "must not be 0"),
    ("parametric_sweep:\n  permutations: {iterable: [a, b]}", "run {}", "task_factory.parametric_sweep.permutations.length",
     "required key is missing"),
    ("random:\n  generate: 2", "run {}", "task_factory.random", "needs integer or a distribution"),
    ("random:\n  generate: 2\n  distribution:\n    triangular: {low: 0}", "run {}", "task_factory.random.distribution.triangular",
     "needs high"),
])
def test_a_factory_that_cannot_expand_is_one_line_at_its_key(load: Load, factory: str, command: str, path: str,
                                                            message: str) -> None:
    error = refused(load, factory_task(factory, command))
    assert error.path == f"job_specifications[0].tasks[0].{path}" and message in error.message, str(error)


# --- generated ids ------------------------------------------------------------------------------


def test_ids_follow_the_task_factory_then_job_then_global_setting(load: Load) -> None:
    config = "batch_shipyard:\n  storage_account_settings: sa1\n  autogenerated_task_id: {prefix: g-, zfill_width: 2}\n"
    tasks = """
    - command: plain
    - command: sweep {}
      task_factory:
        parametric_sweep: {zip: [ab]}
        autogenerated_task_id: {zfill_width: 1}
    """
    job = one_job(load, tasks, config=config)
    assert [t.id for t in job.tasks] == ["g-00", "task-0", "task-1"]  # a level's missing prefix is `task-`
    job = one_job(load, tasks, job="autogenerated_task_id: {prefix: j_}", config=config)
    assert [t.id for t in job.tasks] == ["j_00000", "task-0", "task-1"]


def test_generated_ids_skip_taken_ones_as_batch_shipyard_does(load: Load) -> None:
    tasks = """
    - {command: a}
    - {id: task-00001, command: b}
    - {command: c}
    - {id: task-00007, command: d}
    - {command: e}
    - {command: f}
    """
    job = one_job(load, tasks)
    assert [t.id for t in job.tasks] == ["task-00000", "task-00001", "task-00002", "task-00007", "task-00008",
                                         "task-00009"]


def test_generated_ids_continue_after_an_existing_jobs_tasks(load: Load) -> None:
    config = load(jobs=jobs_yaml("- {command: a}\n- {command: b}"))
    specs = job_specs(config, backend_kind="local", existing_task_ids={"myjob": ["task-00004", "other", "task-00002"]})
    assert [t.id for t in specs[0].tasks] == ["task-00005", "task-00006"]


def test_a_merge_task_depends_on_every_task_and_gets_a_merge_id(load: Load) -> None:
    job = "merge_task:\n  command: cat results\n  docker_image: busybox"
    spec = one_job(load, "- {command: a}\n- {id: named, command: b}\n- {command: c}", job=job)
    merge = spec.tasks[-1]
    assert (merge.id, merge.command_line, merge.depends_on) == ("merge-task-00000", "cat results",
                                                              ("task-00000", "named", "task-00001"))
    error = refused(load, "- {command: a}", job="merge_task:\n  command: m\n  depends_on: [x]")
    assert error.path == "job_specifications[0].merge_task.depends_on" and "cannot have depends_on" in error.message


# --- depends_on_range ---------------------------------------------------------------------------


def test_a_range_selects_integer_ids_leading_zeros_aside(load: Load) -> None:
    tasks = """
    - command: run {}
      task_factory:
        parametric_sweep: {product: [{start: 0, stop: 6, step: 1}]}
    - {id: '0004', command: also four}
    - {id: after, command: done, depends_on_range: [1, 4]}
    """
    job = one_job(load, tasks, job="autogenerated_task_id: {prefix: '', zfill_width: 0}")
    assert [t.id for t in job.tasks][:6] == ["0", "1", "2", "3", "4", "5"]
    assert job.tasks[-1].depends_on == ("1", "2", "3", "4", "0004")


def test_a_range_that_selects_nothing_is_an_error_at_its_key(load: Load) -> None:
    error = refused(load, "- {command: a}\n- {id: b, command: b, depends_on_range: [1, 10]}")
    assert error.path == "job_specifications[0].tasks[1].depends_on_range"
    assert "[1, 10] selects no task of job 'myjob'" in error.message and "prefix ''" in error.message


# --- validation: every problem at its place, all or nothing --------------------------------------


def test_duplicate_job_ids(load: Load) -> None:
    jobs = "job_specifications:\n- id: j\n  tasks:\n  - {command: a}\n- id: j\n  tasks:\n  - {command: b}\n"
    with pytest.raises(ConfigError) as caught:
        job_specs(load(jobs=jobs), backend_kind="local")
    assert (caught.value.line, caught.value.path) == (5, "job_specifications[1].id")
    assert caught.value.message == "duplicate job id 'j' (also job_specifications[0])"


def test_duplicate_task_ids_after_generation(load: Load) -> None:
    error = refused(load, "- {command: a}\n- {id: task-00000, command: b}")
    assert (error.line, error.path) == (5, "job_specifications[0].tasks[1].id")
    assert error.message == "duplicate task id 'task-00000' in job 'myjob' (also job_specifications[0].tasks[0])"
    error = refused(load, factory_task("repeat: 2", "x").replace("- docker_image", "- id: same\n  docker_image"))
    assert "duplicate task id 'same' in job 'myjob' (task 1 of its task_factory) (also " in error.message


def test_a_dependency_on_a_missing_task(load: Load) -> None:
    error = refused(load, "- {id: a, command: a}\n- id: b\n  command: b\n  depends_on: [a, nope]")
    assert (error.line, error.path) == (7, "job_specifications[0].tasks[1].depends_on[1]")
    assert error.message == "task 'b' depends on task 'nope', which job 'myjob' does not have"


def test_a_cycle_is_named(load: Load) -> None:
    tasks = """
    - {id: a, command: a, depends_on: [c]}
    - {id: b, command: b, depends_on: [a]}
    - {id: c, command: c, depends_on: [b]}
    """
    error = refused(load, tasks)
    assert error.path == "job_specifications[0].tasks[0].depends_on" and error.more == 0
    assert error.message == "the task dependencies of job 'myjob' form a cycle: a -> c -> b -> a"
    error = refused(load, "- {id: d, command: d, depends_on: [d]}")
    assert error.message == "the task dependencies of job 'myjob' form a cycle: d -> d"


def test_depends_on_needs_an_id_as_in_batch_shipyard(load: Load) -> None:
    error = refused(load, "- {id: a, command: a}\n- {command: b, depends_on: [a]}")
    assert error.path == "job_specifications[0].tasks[1].depends_on" and "needs an id" in error.message


def test_all_problems_are_found_and_counted(load: Load) -> None:
    tasks = """
    - {id: 'bad id', command: a}
    - {command: b, max_wall_time: soon}
    - {command: c, multi_instance: {num_instances: 2}}
    """
    error = refused(load, tasks, job="priority: 5000")
    assert error.path == "job_specifications[0].priority" and error.more == 3
    assert str(error).endswith("must be between -1000 and 1000, found 5000 (and 3 more errors)")


@pytest.mark.parametrize(("task", "job", "path", "message"), [
    ("- {command: a, multi_instance: {num_instances: 2}}", "", "tasks[0].multi_instance",
     "multi_instance (an MPI task over several nodes) is not supported on the local backend"),
    ("- {command: a}", "recurrence: {schedule: {recurrence_interval: '00:05:00'}}", "recurrence",
     "recurrence (a job schedule) is not supported on the local backend"),
    ("- {command: a, input_data: {azure_storage: [{storage_account_settings: sa1, remote_path: c/d}]}}", "",
     "tasks[0].input_data", "input_data (data ingress) is not supported"),
    ("- {command: a}", "exit_conditions: {default: {exit_options: {job_action: disable}}}",
     "exit_conditions.default.exit_options.job_action", "job_action: disable is not supported"),
    ("- {command: a, docker_image: x, singularity_image: 'docker://x'}", "", "tasks[0].singularity_image",
     "a task has a docker_image or a singularity_image, not both"),
    ("- {id: x}", "", "tasks[0]", "a task needs a command"),
    ("- {command: a, max_wall_time: '1:2'}", "", "tasks[0].max_wall_time",
     "must be a duration, HH:MM:SS, D.HH:MM:SS or ISO 8601 (PT2H), found '1:2'"),
    ("- {command: a, resource_files: [{blob_source: 'https://h/f', file_path: ../up}]}", "",
     "tasks[0].resource_files[0].file_path", "must be a path inside the task's working directory"),
    ("- {command: a, output_data: {azure_storage: [{storage_account_settings: nope, remote_path: c}]}}", "",
     "tasks[0].output_data.azure_storage[0].storage_account_settings", "'nope' is not one of the credentials' storage links (sa1)"),
    ("- {command: a, output_data: {azure_storage: [{storage_account_settings: sa1, remote_path: c, local_path: /tmp}]}}", "",
     "tasks[0].output_data.azure_storage[0].local_path", "must be under $AZ_BATCH_TASK_DIR"),
])
def test_what_the_specs_cannot_carry_is_refused_at_its_key(load: Load, task: str, job: str, path: str,
                                                         message: str) -> None:
    error = refused(load, task, job=job)
    assert error.path == f"job_specifications[0].{path}" and message in error.message, str(error)


def test_multi_instance_runs_on_azure(load: Load) -> None:
    config = load(jobs=jobs_yaml("- {command: mpirun app, multi_instance: {num_instances: 3, coordination_command: "
                                 "'/bin/sh -c ready', resource_files: [{blob_source: 'https://a.blob.core.windows.net/c/h', "
                                 "file_path: hosts}]}}\n"
                                 "- {command: b, multi_instance: {num_instances: pool_specification_vm_count_dedicated}}"))
    first, second = job_specs(config, backend_kind="azure")[0].tasks
    assert first.multi_instance == MultiInstance(3, "/bin/sh -c ready", (
        ResourceFile("hosts", http_url="https://a.blob.core.windows.net/c/h"),))
    assert second.multi_instance is not None and second.multi_instance.instances == config.pool.vm_count.dedicated


@pytest.mark.parametrize(("count", "message"), [("0", "must be at least 1"), ("lots", "must be a number of nodes")])
def test_a_bad_instance_count_is_refused_at_its_key(load: Load, count: str, message: str) -> None:
    config = load(jobs=jobs_yaml(f"- {{command: a, multi_instance: {{num_instances: {count}}}}}"))
    with pytest.raises(ConfigError, match=message) as caught:
        job_specs(config, backend_kind="azure")
    assert caught.value.path == "job_specifications[0].tasks[0].multi_instance.num_instances"


def test_secrets_in_urls_never_reach_a_message(load: Load) -> None:
    sas = "sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D"
    error = refused(load, f"- {{command: a, resource_files: [{{blob_source: 'local://acct9/c/b?{sas}', file_path: f}}]}}")
    assert "sig=" not in str(error) and "c2VjcmV0" not in str(error) and "local://acct9/c/b" in str(error)
    job = one_job(load, f"- {{command: a, resource_files: [{{blob_source: 'https://acct1.blob.core.windows.net/c/b?{sas}', "
                        "file_path: f, file_mode: '0750'}]}")
    assert job.tasks[0].resource_files == (
        ResourceFile("f", http_url=f"https://acct1.blob.core.windows.net/c/b?{sas}", file_mode="0750"),)


# --- task fields --------------------------------------------------------------------------------


def test_task_fields_and_what_they_take_from_the_job(load: Load) -> None:
    job = """
    priority: 10
    environment_variables: {JOB: one}
    max_task_retries: 3
    max_wall_time: 1.00:00:00
    retention_time: 02:00:00
    exit_conditions: {default: {exit_options: {job_action: terminate}}}
    """
    tasks = """
    - id: inherits
      command: a
      docker_image: busybox
    - id: overrides
      command: b
      singularity_image: docker://alpine
      environment_variables: {TASK: two, N: 3}
      max_task_retries: 0
      max_wall_time: PT1H30M
      retention_time: P1DT0.5S
      exit_conditions: {default: {exit_options: {job_action: none}}}
      resource_files:
      - {blob_source: 'local://acct1/inputs/data.bin', file_path: in/data.bin}
      output_data:
        azure_storage:
        - storage_account_settings: sa1
          remote_path: out
          local_path: ${AZ_BATCH_TASK_WORKING_DIR}/results
          include: ['*.txt', 'logs/*']
          condition: taskcompletion
    """
    spec = one_job(load, tasks, job=job)
    assert (spec.priority, spec.environment, spec.max_wall_time_s) == (10, (("JOB", "one"),), 86400.0)
    first, second = spec.tasks
    assert (first.max_task_retries, first.max_wall_time_s, first.retention_time_s, first.exit_job_on_failure) == (
        3, None, 7200.0, True)
    assert first.container == Container("docker", "busybox") and first.environment == ()
    assert (second.max_task_retries, second.max_wall_time_s, second.retention_time_s, second.exit_job_on_failure) == (
        0, 5400.0, 86400.5, False)
    assert second.container == Container("singularity", "docker://alpine")
    assert second.environment == (("TASK", "two"), ("N", "3"))
    assert second.resource_files == (ResourceFile("in/data.bin", blob_uri="local://acct1/inputs/data.bin"),)
    assert second.output_files == (
        OutputFile("wd/results/*.txt", "out", "sa1", "", UploadCondition.TASK_COMPLETION),
        OutputFile("wd/results/logs/*", "out", "sa1", "", UploadCondition.TASK_COMPLETION),
    )


def test_a_task_without_a_container_runs_its_command(load: Load) -> None:
    task = one_job(load, "- {command: /bin/true}").tasks[0]
    assert (task.command_line, task.container, task.max_task_retries, task.retention_time_s) == (
        "/bin/true", None, 0, None)


@pytest.mark.parametrize(("text", "seconds"), [
    ("02:00:00", 7200), ("1.12:00:00", 129600), ("00:90:00", 5400), ("0:0:5", 5),
    ("PT2H", 7200), ("P1DT12H", 129600), ("PT0.5S", 0.5), ("P1W", 604800), ("pt1m", 60),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:00", "P", "PT", "1.2.03:00:00", "-01:00:00", "P1DT"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration(text)


def test_a_factory_entry_s_problem_is_reported_once(load: Load) -> None:
    tasks = factory_task("repeat: 50", "x").replace("  command:", "  max_wall_time: soon\n  command:")
    error = refused(load, tasks)
    assert error.path == "job_specifications[0].tasks[0].max_wall_time" and error.more == 0
