"""Unknown keys are kept but each one is a warning; misspellings, empty pools and 2.x keys are reported."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from ruamel.yaml import YAML

from conftest import CORPUS
from shipyard.config.diagnostics import describe
from shipyard.config.document import load_document
from shipyard.config.keypath import KeyPath, format_path
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.config.validate import MODELS, detect_kind, validate_document
from shipyard.config.unknown_keys import field_key, field_path
from shipyard.results import Severity

# The one model no corpus file uses, planted where the schema puts it.
PLANTED = {
    "DiskPerformance": (
        "config_templates/fs.yaml",
        ("remote_fs", "managed_disks", "disk_provisioned_performance"),
        {"iops_read_write": 100, "mbps_read_write": 1},
    ),
    # shipyard's own section (the local backend's node runtime): in no Batch Shipyard file
    "LocalSettings": ("config_templates/config.yaml", ("local",), {"node_runtime": "host"}),
    # shipyard's own key (the pool's user-assigned identity, for Key Vault on Azure)
    "ManagedIdentity": ("config_templates/pool.yaml", ("pool_specification", "managed_identity"),
                        {"resource_id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/"
                                        "userAssignedIdentities/pool", "client_id": "00000000-0000-0000-0000-000000000001"}),
}


def _classes_in(annotation: Any) -> typing.Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _classes_in(arg)


def all_models() -> list[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = list(MODELS.values())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.add(cls)
            for info in cls.model_fields.values():
                todo.extend(_classes_in(info.annotation))
    return sorted(seen, key=lambda c: (c.__module__, c.__name__))


def _walk(model: BaseModel, path: KeyPath, out: dict[type[BaseModel], KeyPath]) -> None:
    out.setdefault(type(model), path)
    for name in type(model).model_fields:
        _walk_value(getattr(model, name), (*path, *field_path(type(model), name)), out)


def _walk_value(value: Any, path: KeyPath, out: dict[type[BaseModel], KeyPath]) -> None:
    if isinstance(value, BaseModel):
        _walk(value, path, out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_value(item, (*path, index), out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_value(item, (*path, key), out)


def where_each_model_is() -> dict[str, tuple[Path, KeyPath]]:
    """Model name -> the first YAML corpus file (templates first) and key path where it occurs."""
    found: dict[str, tuple[Path, KeyPath]] = {}
    for path in sorted(CORPUS.glob("config_templates/*.yaml")) + sorted(CORPUS.glob("recipes/**/*.yaml")):
        document = load_document(path)
        kind = detect_kind(document)
        assert kind is not None
        model, _ = validate_document(kind, document)
        paths: dict[type[BaseModel], KeyPath] = {}
        _walk(model, (), paths)
        for cls, at in paths.items():
            found.setdefault(cls.__name__, (path, at))
    for name, (relative, at, _value) in PLANTED.items():
        found.setdefault(name, (CORPUS / relative, at))
    return found


MODEL_CLASSES = all_models()
WHERE = where_each_model_is()


def test_every_model_is_reached() -> None:
    assert len(MODEL_CLASSES) > 150
    assert sorted(c.__name__ for c in MODEL_CLASSES if c.__name__ not in WHERE) == []


def typo_of(key: str) -> str:
    """Swap two different letters near the middle (``dedicated`` -> ``dedciated``), or double the last."""
    for i in range(len(key) // 2, len(key)):
        if len(key) > 3 and key[i - 1] != key[i]:
            return key[: i - 1] + key[i] + key[i - 1] + key[i + 1 :]
    return key + key[-1]


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_a_misspelled_key_warns_in_every_model(cls: type[BaseModel], tmp_path: Path) -> None:
    source, at = WHERE[cls.__name__]
    yaml = YAML(typ="rt", pure=True)
    tree = yaml.load(source.read_text())
    for name, (_relative, planted_at, value) in PLANTED.items():
        if name == cls.__name__:
            node = tree
            for part in planted_at[:-1]:
                node = node[part]
            node[planted_at[-1]] = value
    node = tree
    for part in at:
        node = node[part]
    assert isinstance(node, dict), (source, at)
    field = max((field_key(cls, n) for n in cls.model_fields if n not in getattr(cls, "key_paths", {})), key=len)
    typo = typo_of(field)
    assert typo not in node
    node[typo] = "x"
    target = tmp_path / source.name
    with target.open("w") as handle:
        yaml.dump(tree, handle)
    lines = [n for n, text in enumerate(target.read_text().splitlines(), 1) if re.search(rf"\b{re.escape(typo)}:", text)]
    assert len(lines) == 1

    kind = detect_kind(load_document(target))
    assert kind is not None
    model, findings = validate_document(kind, load_document(target))
    assert model is not None, [describe(f) for f in findings if f.severity is Severity.ERROR]
    mine = [(f.severity, f.location.line, f.location.path, f.message) for f in findings if typo in f.message]
    if getattr(cls, "open_keys", False):  # GlusterFS volume options: any key is a volume option
        assert mine == []
    else:
        assert mine == [
            ("warning", lines[0], format_path((*at, typo)), f"unknown key {typo}; did you mean {field}?")
        ]


POOL = """
pool_specification:
  id: p
  vm_configuration:
    custom_image:
      image_uri:
        - https://sa.blob.core.windows.net/vhds/img.vhd
      node_agent: batch.node.ubuntu 20.04
  vm_size: STANDARD_D2_V2
  vm_count:
    dedicated: 2
"""


def _load(write_config: Any, **files: str) -> Any:
    return load_config_set(ConfigPaths.resolve(write_config(**files)))


def _findings(config: Any, severity: Severity) -> list[tuple[int | None, str | None, str]]:
    return [(f.location.line, f.location.path, f.message) for f in config.findings if f.severity is severity]


def test_image_uri_for_image_uris_is_named(write_config: Any) -> None:
    config = _load(write_config, pool=POOL)
    assert _findings(config, Severity.WARNING) == [
        (
            5,
            "pool_specification.vm_configuration.custom_image.image_uri",
            "unknown key image_uri; did you mean image_uris?",
        )
    ]
    assert config.pool.vm_configuration.custom_image.model_extra == {
        "image_uri": ["https://sa.blob.core.windows.net/vhds/img.vhd"]
    }


def test_a_misspelled_required_key_is_an_error_at_its_line(write_config: Any) -> None:
    config = _load(write_config, pool=POOL.replace("vm_size:", "vm_sise:").replace("image_uri:", "image_uris:"))
    assert _findings(config, Severity.ERROR) == [
        (8, "pool_specification.vm_size", "required key vm_size is missing; found vm_sise at line 8 — a misspelling?")
    ]
    assert config.pool is None


def test_dedicted_is_a_0_node_pool_and_says_so(write_config: Any) -> None:
    config = _load(write_config, pool=POOL.replace("dedicated:", "dedicted:").replace("image_uri:", "image_uris:"))
    assert config.errors == []
    assert _findings(config, Severity.WARNING) == [
        (10, "pool_specification.vm_count.dedicted", "unknown key dedicted; did you mean dedicated?"),
        (
            9,
            "pool_specification.vm_count",
            "the pool has 0 nodes: vm_count.dedicated and vm_count.low_priority are 0 and there is no autoscale",
        ),
    ]


def test_an_autoscale_pool_of_0_nodes_is_fine(write_config: Any) -> None:
    pool = POOL.replace("dedicated: 2", "dedicated: 0").replace("image_uri:", "image_uris:")
    config = _load(write_config, pool=pool + "  autoscale:\n    scenario:\n      name: active_tasks\n")
    assert (config.errors, _findings(config, Severity.WARNING)) == ([], [])


JOBS = """
job_specifications:
- id: myjob
  tasks:
  - docker_image: busybox
    command: /bin/true
"""


def test_comand_and_task_are_named_and_a_job_without_tasks_warns(write_config: Any) -> None:
    config = _load(write_config, jobs=JOBS.replace("command:", "comand:"))
    assert _findings(config, Severity.WARNING) == [
        (5, "job_specifications[0].tasks[0].comand", "unknown key comand; did you mean command?")
    ]
    config = _load(write_config, jobs=JOBS.replace("tasks:", "task:"))
    assert _findings(config, Severity.WARNING) == [
        (3, "job_specifications[0].task", "unknown key task; did you mean tasks?"),
        (2, "job_specifications[0]", "job myjob has no task: tasks is missing or empty"),
    ]


def test_batch_shipyard_2x_keys_warn_and_still_work(write_config: Any) -> None:
    pool = POOL.replace("  vm_count:\n    dedicated: 2\n", "  vm_count: 4\n").replace("image_uri:", "image_uris:")
    pool += "  additional_node_prep_commands:\n  - apt-get install -y foo\n"
    jobs = JOBS.replace("  tasks:", "  auto_scratch: true\n  tasks:")
    config = _load(write_config, pool=pool, jobs=jobs)
    assert config.errors == []
    assert sorted(_findings(config, Severity.WARNING)) == [
        (
            3,
            "job_specifications[0].auto_scratch",
            "auto_scratch: true is the Batch Shipyard 2.x form; 3.x writes auto_scratch.setup and"
            " auto_scratch.num_instances (read as setup: dependency, num_instances: pool_current_dedicated)",
        ),
        (
            9,
            "pool_specification.vm_count",
            "vm_count: 4 is the Batch Shipyard 2.x form; 3.x writes vm_count.dedicated: 4 (read as that)",
        ),
        (
            10,
            "pool_specification.additional_node_prep_commands",
            "additional_node_prep_commands is the Batch Shipyard 2.x form; 3.x writes"
            " additional_node_prep.commands.post (read as that)",
        ),
    ]
    assert config.pool.vm_count.dedicated == 4
    assert config.pool.additional_node_prep.commands.post == ["apt-get install -y foo"]
    assert config.pool.model_extra == {}
    scratch = config.jobs[0].auto_scratch
    assert (scratch.setup, scratch.num_instances) == ("dependency", "pool_current_dedicated")


def test_unknown_keys_are_reported_even_when_the_file_has_errors(write_config: Any) -> None:
    """An error elsewhere in the file does not hide a typo'd key; list items set aside keep the others' indices."""
    pool = POOL.replace("dedicated:", "dedicted:").replace("  vm_count:", "  inter_node_communication_enabled: 'yes'\n  vm_count:")
    config = _load(write_config, pool=pool)
    assert config.pool is None
    assert [(path, message) for _, path, message in _findings(config, Severity.ERROR)] == [
        ("pool_specification.inter_node_communication_enabled", "must be true or false, found a string")
    ]
    assert [(path, message) for _, path, message in _findings(config, Severity.WARNING)] == [
        ("pool_specification.vm_configuration.custom_image.image_uri", "unknown key image_uri; did you mean image_uris?"),
        ("pool_specification.vm_count.dedicted", "unknown key dedicted; did you mean dedicated?"),
    ]
    jobs = (
        "job_specifications:\n"
        "- tasks: [{command: a}]\n"  # no id: this job is set aside
        "- id: second\n  user_identity: {default_pool_admin: 'yes'}\n  tasks:\n  - command: b\n  - comand: c\n"
    )
    config = load_config_set(ConfigPaths.resolve(jobs=write_config(**{"jobs.yaml": jobs}) / "jobs.yaml"))
    assert [path for _, path, _ in _findings(config, Severity.ERROR)] == [
        "job_specifications[0].id", "job_specifications[1].user_identity.default_pool_admin"
    ]
    assert _findings(config, Severity.WARNING) == [
        (7, "job_specifications[1].tasks[1].comand", "unknown key comand; did you mean command?")
    ]
