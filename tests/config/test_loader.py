"""Finding config files and validating them into typed, frozen models."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from shipyard.config.kinds import ConfigKind
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths, find_config_files
from shipyard.errors import ConfigError, UsageError

POOL = """
pool_specification:
  id: mypool
  vm_configuration:
    platform_image:
      publisher: Canonical
      offer: UbuntuServer
      sku: 18.04-LTS
  vm_size: STANDARD_D2_V2
  vm_count: 3
  my_future_key: kept
"""


def test_configdir_finds_each_kind_with_any_suffix(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text("credentials: {}\n")
    (tmp_path / "config.yml").write_text("batch_shipyard: {storage_account_settings: s}\n")
    (tmp_path / "pool.json").write_text("{}")
    (tmp_path / "unrelated.yaml").write_text("x: 1\n")
    found = find_config_files(tmp_path)
    assert found == {
        ConfigKind.CREDENTIALS: tmp_path / "credentials.yaml",
        ConfigKind.CONFIG: tmp_path / "config.yml",
        ConfigKind.POOL: tmp_path / "pool.json",
    }


def test_two_files_of_one_kind_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text("{}")
    (tmp_path / "pool.json").write_text("{}")
    with pytest.raises(UsageError, match="more than one pool file"):
        find_config_files(tmp_path)


def test_missing_configdir_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a directory"):
        ConfigPaths.resolve(tmp_path / "nope")


def test_explicit_file_wins_and_env_var_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pool.yaml").write_text(POOL)
    other = tmp_path / "other-pool.yaml"
    other.write_text(POOL)
    monkeypatch.setenv("SHIPYARD_CONFIGDIR", str(tmp_path))
    assert ConfigPaths.resolve().files == {ConfigKind.POOL: tmp_path / "pool.yaml"}
    assert ConfigPaths.resolve(pool=other).files == {ConfigKind.POOL: other}


def test_models_are_typed_frozen_and_keep_unknown_keys(tmp_path: Path) -> None:
    (tmp_path / "pool.yaml").write_text(POOL)
    config = load_config_set(ConfigPaths.resolve(tmp_path))
    assert config.errors == []
    pool = config.pool
    assert pool.vm_count.dedicated == 3 and pool.vm_count.low_priority == 0  # int form of vm_count
    assert pool.vm_configuration.platform_image.sku == "18.04-LTS"
    assert pool.model_extra == {"my_future_key": "kept"}
    assert pool.node_communication_mode == "classic"
    with pytest.raises(pydantic.ValidationError):
        pool.id = "other"


def test_schema_errors_carry_file_line_and_key_path(write_config) -> None:
    directory = write_config(
        pool="""
        pool_specification:
          id: p
          vm_configuration:
            platform_image:
              publisher: Canonical
              offer: UbuntuServer
              sku: 18.04-LTS
          vm_size: STANDARD_D2_V2
          vm_count:
            dedicated: -1
            low_priority: lots
          node_fill_type: packed
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    rendered = sorted(str(f) for f in config.errors)
    pool = str(directory / "pool.yaml")
    assert rendered == [
        f"{pool}:10: pool_specification.vm_count.dedicated: must be >= 0, found -1",
        f"{pool}:11: pool_specification.vm_count.low_priority: must be an integer, found a string",
        f"{pool}:12: pool_specification.node_fill_type: must be one of 'spread' or 'pack', found 'packed'",
    ]
    with pytest.raises(ConfigError) as info:
        config.require(ConfigKind.POOL)
    assert "(and 2 more errors)" in str(info.value)


def test_missing_required_key_points_at_its_parent(write_config) -> None:
    directory = write_config(pool="pool_specification:\n  id: p\n  vm_size: x\n  vm_count: 1\n")
    config = load_config_set(ConfigPaths.resolve(directory))
    assert [str(f) for f in config.errors] == [
        f"{directory / 'pool.yaml'}:1: pool_specification.vm_configuration: required key is missing"
    ]


def test_wrong_file_kind_is_named(write_config) -> None:
    directory = write_config(pool="job_specifications: []\n")
    config = load_config_set(ConfigPaths.resolve(directory))
    assert "missing top-level key 'pool_specification' (it looks like a jobs file)" in str(config.errors[0])


def test_secrets_never_appear_in_schema_errors(write_config) -> None:
    directory = write_config(
        credentials="""
        credentials:
          batch:
            account_key: [SuperSecretKeyValue==]
          storage:
            mystorage:
              account: acct
              account_key: {nested: SecretStorageKey==}
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    text = " ".join(str(f) for f in config.errors)
    assert "credentials.batch.account_key: must be a string, found a list" in text
    assert "credentials.storage.mystorage.account_key: must be a string, found a mapping" in text
    assert "SuperSecret" not in text and "SecretStorage" not in text


def test_a_tagged_value_is_named_by_its_tag_not_a_parser_class(write_config) -> None:
    directory = write_config(
        pool="pool_specification:\n  id: !custom p\n  vm_configuration: {}\n  vm_size: x\n",
        credentials="credentials:\n  batch:\n    account_key: !vault TaggedSecretValue==\n",
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    text = " ".join(str(f) for f in config.errors)
    assert "pool_specification.id: must be a string, found a value tagged !custom" in text
    assert "credentials.batch.account_key: must be a string, found a value tagged !vault" in text
    assert "TaggedScalar" not in text and "TaggedSecretValue" not in text


def test_credentials_split_storage_aad_from_links_and_hide_keys(write_config) -> None:
    directory = write_config(
        credentials="""
        credentials:
          batch:
            account_service_url: https://mybatch.westeurope.batch.azure.com/
            aad: {directory_id: d, application_id: a, auth_key: AadSecret==}
            pool_allocation_mode: UserSubscription
          storage:
            aad: {directory_id: d}
            sa1: {account: acct1, account_key: Key1==}
            emu: {account: devacct, account_key: Key2==, blob_endpoint: "http://127.0.0.1:10000/devacct"}
            here: {account: localacct, endpoint: local}
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    creds = config.credentials
    assert sorted(creds.storage) == ["emu", "here", "sa1"]
    assert creds.storage_aad.directory_id == "d"
    assert creds.batch.account_name == "mybatch"
    assert creds.batch.pool_allocation_mode == "user_subscription"
    assert creds.storage["sa1"].blob_base_url == "https://acct1.blob.core.windows.net"
    assert creds.storage["emu"].blob_base_url == "http://127.0.0.1:10000/devacct"
    assert creds.storage["here"].blob_base_url == "local://localacct"
    assert "Key1==" not in repr(creds) and "AadSecret" not in repr(creds)
    assert creds.storage["sa1"].account_key.get_secret_value() == "Key1=="


def test_null_values_mean_unset(write_config) -> None:
    directory = write_config(
        config="""
        batch_shipyard:
          storage_account_settings: sa
        global_resources:
          docker_images:
          volumes:
            shared_data_volumes:
              nfs:
                volume_driver: storage_cluster
                container_path: /data
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    assert config.errors == []
    assert config.general.global_resources.docker_images == []
    assert config.general.global_resources.volumes.shared_data_volumes["nfs"].volume_driver == "storage_cluster"


STRICT_POOL = """
pool_specification:
  id: p
  vm_configuration:
    platform_image: {publisher: Canonical, offer: UbuntuServer, sku: 18.04-LTS}
  vm_size: STANDARD_D2_V2
  vm_count:
    dedicated: 2
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("dedicated: 2", 'dedicated: "2"', "7: pool_specification.vm_count.dedicated: must be an integer, found a string"),
        ("dedicated: 2", "dedicated: true", "7: pool_specification.vm_count.dedicated: must be an integer, found a boolean"),
        (
            "  vm_count:",
            "  inter_node_communication_enabled: 'yes'\n  vm_count:",
            "6: pool_specification.inter_node_communication_enabled: must be true or false, found a string",
        ),
        (
            "  vm_count:",
            "  max_tasks_per_node: 1\n  reboot_on_start_task_failed: 1\n  vm_count:",
            "7: pool_specification.reboot_on_start_task_failed: must be true or false, found an integer",
        ),
        (
            "  vm_count:",
            "  autoscale:\n    scenario:\n      name: workday\n      time_ranges:\n        weekdays: {start: 0, end: 7}\n  vm_count:",
            "10: pool_specification.autoscale.scenario.time_ranges.weekdays.end: must be <= 6, found 7",
        ),
        (
            "  vm_count:",
            "  autoscale:\n    scenario:\n      name: workday\n      time_ranges:\n        work_hours:\n          start: 8\n          end: 24\n  vm_count:",
            "12: pool_specification.autoscale.scenario.time_ranges.work_hours.end: must be <= 23, found 24",
        ),
        (
            "  vm_count:",
            "  resource_files:\n  - blob_source: https://x/y\n  vm_count:",
            "7: pool_specification.resource_files[0].file_path: required key is missing",
        ),
        (
            "  vm_count:",
            "  autoscale:\n    scenario:\n      name: active_tasks\n      required_sample_percentage: true\n  vm_count:",
            "9: pool_specification.autoscale.scenario.required_sample_percentage: must be a number, found a boolean",
        ),
    ],
)
def test_pool_types_ranges_and_subtrees_are_strict(write_config, old: str, new: str, expected: str) -> None:
    directory = write_config(pool=STRICT_POOL.replace(old, new))
    config = load_config_set(ConfigPaths.resolve(directory))
    assert [str(f) for f in config.errors] == [f"{directory / 'pool.yaml'}:{expected}"]


STRICT_JOBS = """
job_specifications:
- id: j
  tasks:
  - docker_image: busybox
    command: /bin/true
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    multi_instance:\n      num_instances: pool_current_dedicated\n      mpi:\n        runtime: lam",
            "9: job_specifications[0].tasks[0].multi_instance.mpi.runtime: must be one of 'intelmpi', 'intelmpi-ofa',"
            " 'mpich', 'mvapich' or 'openmpi', found 'lam'",
        ),
        (
            "    resource_files:\n    - blob_source: https://x/y",
            "7: job_specifications[0].tasks[0].resource_files[0].file_path: required key is missing",
        ),
        (
            "    exit_conditions:\n      default:\n        exit_options:\n          job_action: explode",
            "9: job_specifications[0].tasks[0].exit_conditions.default.exit_options.job_action: must be one of"
            " 'none', 'disable' or 'terminate', found 'explode'",
        ),
        (
            "    task_factory:\n      random:\n        seed: 1",
            "7: job_specifications[0].tasks[0].task_factory.random.generate: required key is missing",
        ),
        (
            "    output_data:\n      azure_storage:\n      - storage_account_settings: sa\n        remote_path: c\n        condition: sometimes",
            "10: job_specifications[0].tasks[0].output_data.azure_storage[0].condition: must be one of"
            " 'taskcompletion', 'taskfailure' or 'tasksuccess', found 'sometimes'",
        ),
        (
            "  - docker_image: busybox\n    input_data:\n      azure_batch:\n      - job_id: other",
            "9: job_specifications[0].tasks[1].input_data.azure_batch[0].task_id: required key is missing",
        ),
    ],
)
def test_task_subtrees_are_typed(write_config, extra: str, expected: str) -> None:
    directory = write_config(jobs=STRICT_JOBS + extra + "\n")
    config = load_config_set(ConfigPaths.resolve(directory))
    assert [str(f) for f in config.errors] == [f"{directory / 'jobs.yaml'}:{expected}"]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("  job_preparation: {}", "3: job_specifications[0].job_preparation.command: required key is missing"),
        ("  auto_pool: {keep_alive: 'no'}", "3: job_specifications[0].auto_pool.keep_alive: must be true or false, found a string"),
        (
            "  recurrence:\n    job_manager:\n      run_exclusive: 0",
            "5: job_specifications[0].recurrence.job_manager.run_exclusive: must be true or false, found an integer",
        ),
        (
            "  user_identity:\n    specific_user: {uid: '1000'}",
            "4: job_specifications[0].user_identity.specific_user.uid: must be an integer, found a string",
        ),
    ],
)
def test_job_subtrees_are_typed(write_config, extra: str, expected: str) -> None:
    jobs = STRICT_JOBS.replace("  tasks:", extra + "\n  tasks:")
    directory = write_config(jobs=jobs)
    config = load_config_set(ConfigPaths.resolve(directory))
    assert [str(f) for f in config.errors] == [f"{directory / 'jobs.yaml'}:{expected}"]


def test_global_resources_and_data_replication_are_typed(write_config) -> None:
    directory = write_config(
        config="""
        batch_shipyard:
          storage_account_settings: sa
        data_replication:
          concurrent_source_downloads: "10"
        global_resources:
          files:
          - source: {include: ["*.dat"]}
          singularity_images:
            unsigned:
            - image: library://x
              encryption: {certificate: {}}
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    path = directory / "config.yaml"
    assert sorted(str(f) for f in config.errors) == [
        f"{path}:11: global_resources.singularity_images.unsigned[0].encryption.certificate.sha1_thumbprint:"
        " required key is missing",
        f"{path}:4: data_replication.concurrent_source_downloads: must be an integer, found a string",
        f"{path}:7: global_resources.files[0].source.path: required key is missing",
    ]


def test_slurm_and_monitoring_credentials_are_typed_and_secret(write_config) -> None:
    directory = write_config(
        credentials="""
        credentials:
          slurm:
            db_password: [SlurmDbSecret==]
          monitoring:
            grafana:
              admin: {password: GrafanaSecret==}
        """
    )
    config = load_config_set(ConfigPaths.resolve(directory))
    path = directory / "credentials.yaml"
    rendered = sorted(str(f) for f in config.errors)
    assert rendered == [
        f"{path}:3: credentials.slurm.db_password: must be a string, found a list",
        f"{path}:6: credentials.monitoring.grafana.admin.username: required key is missing",
    ]
    assert "Secret" not in " ".join(rendered)
    directory = write_config(credentials="credentials:\n  slurm:\n    db_password: 12345\n")
    creds = load_config_set(ConfigPaths.resolve(directory)).credentials
    assert creds.slurm.db_password.get_secret_value() == "12345" and "12345" not in repr(creds)


@pytest.mark.parametrize("size", ['""', '"  "'])
def test_an_empty_vm_size_is_an_error_at_its_line(write_config, size: str) -> None:
    directory = write_config(pool=f"pool_specification:\n  id: p\n  vm_configuration: {{}}\n  vm_size: {size}\n")
    config = load_config_set(ConfigPaths.resolve(directory))
    assert f"{directory / 'pool.yaml'}:4: pool_specification.vm_size: must not be empty" in [str(f) for f in config.errors]
