"""Every Batch Shipyard config file in ../shared/corpus loads through `shipyard config check`.

Each folder that holds config files is checked as a ``--configdir``; files that a config dir
would not find by name (``jobs-tb.yaml``, the 2.9.6 ``pool.json``) are checked with their own
option. All recipes are valid. The two templates document every key, so they list both a
``platform_image`` and a ``custom_image`` (and a placeholder node agent): they load without a
single schema error, and ``config check`` reports exactly those rule errors, as Batch Shipyard's
own ``pool add`` did.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CORPUS
from shipyard.config.document import load_document
from shipyard.config.kinds import ConfigKind
from shipyard.config.paths import SUFFIXES
from shipyard.config.validate import detect_kind, validate_document
from shipyard.results import Severity

INVALID_JSON = CORPUS / "recipes/HPMLA-CPU-OpenMPI/Data-Shredding/configuration-template.json"
HISTORY_POOL = CORPUS / "_history/2.9.6/config_templates/pool.json"
TEMPLATES = CORPUS / "config_templates"


def corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.rglob("*") if p.suffix in SUFFIXES and p.is_file() and "schemas" not in p.parts
    )


def config_dirs() -> list[Path]:
    names = {f"{kind.value}{suffix}" for kind in ConfigKind for suffix in SUFFIXES}
    return sorted({p.parent for p in corpus_files() if p.name in names and p != HISTORY_POOL})


def stray_files() -> list[Path]:
    """Config files that --configdir does not pick up by name."""
    names = {f"{kind.value}{suffix}" for kind in ConfigKind for suffix in SUFFIXES}
    return [p for p in corpus_files() if p.name not in names and p != INVALID_JSON] + [HISTORY_POOL]


def test_corpus_is_present() -> None:
    assert len(corpus_files()) >= 240, "the shared corpus is missing: ../shared/corpus/batch-shipyard"
    assert len(config_dirs()) >= 50
    # every file is checked: found in a config dir, checked on its own, or the invalid template
    names = {f"{kind.value}{suffix}" for kind in ConfigKind for suffix in SUFFIXES}
    by_dir = {p for d in config_dirs() for p in d.iterdir() if p.name in names}
    assert by_dir | set(stray_files()) | {INVALID_JSON} == set(corpus_files())


@pytest.mark.parametrize("directory", config_dirs(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_config_dir_checks(cli, directory: Path) -> None:
    result = cli("config", "check", "--configdir", directory, "--raw")
    report = result.json()
    loaded = {Path(f["file"]) for f in report["files"]}
    assert loaded == {p for p in directory.iterdir() if p.suffix in SUFFIXES and p.stem in {k.value for k in ConfigKind}}
    if directory == TEMPLATES:
        assert result.code == 2
        assert sorted((e.get("check", ""), e["path"]) for e in report["errors"]) == [
            # its credentials are in a vault, by a placeholder id: the loader says it cannot fetch them
            ("", "credentials.keyvault.credentials_secret_id"),
            ("custom_image.node_agent", "pool_specification.vm_configuration.custom_image.node_agent"),
            ("pool.image_source", "pool_specification.vm_configuration"),
        ]
    else:
        assert (result.code, report["errors"]) == (0, [])
        assert report["ok"] is True
    assert result.err == ""


@pytest.mark.parametrize("path", stray_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_stray_files_check_with_their_own_option(cli, path: Path) -> None:
    kind = detect_kind(load_document(path))
    assert kind is not None
    result = cli("config", "check", f"--{kind.value}", path, "--raw")
    report = result.json()
    if path == HISTORY_POOL:
        # the seed-era pool: image_uris, int-free vm_count, 2.x keys; only the both-images rule fires
        assert [(e["check"], e["line"]) for e in report["errors"]] == [("pool.image_source", 4)]
        assert report["summary"]["image_source"] == {"kind": "custom_image.image_uris"}
        assert report["summary"]["vhds"] == {"given": 1, "required": 1, "nodes_per_vhd": 40}
    else:
        assert (result.code, report["errors"]) == (0, [])


def test_the_invalid_json_template_gets_one_clean_line(cli) -> None:
    result = cli("config", "check", "--config", INVALID_JSON)
    assert result.code == 2
    lines = [line.split() for line in result.out.splitlines() if line.startswith("error ")]
    assert lines == [["error", f"{INVALID_JSON}:2", "-", "-", *["config", "file", "did", "not", "load:", "invalid", "JSON:", "Expecting", "value", "at", "line", "2,", "column", "17"]]]
    assert result.err == "shipyard: error: config is invalid: 1 error, 0 warnings\n"
    assert "Traceback" not in result.out + result.err


# Every key of the corpus is modelled: the only warnings validation gives are these.
CORPUS_WARNINGS = {
    ("_history/2.9.6/config_templates/pool.json", "pool_specification.input_data.azure_storage[0].container"),
    ("_history/2.9.6/config_templates/pool.json", "pool_specification.input_data.azure_storage[0].destination"),
    ("_history/2.9.6/config_templates/pool.json", "pool_specification.additional_node_prep_commands"),
    ("config_templates/slurm.yaml", "slurm.shared_data_volumes.nfs_server.mount_path"),  # for host_mount_path
    ("recipes/OpenFOAM-Infiniband-IntelMPI/config/jobs.yaml", "job_specifications[0].auto_scratch"),
    ("recipes/OpenFOAM-Infiniband-OpenMPI/config/jobs.yaml", "job_specifications[0].auto_scratch"),
    ("recipes/OpenFOAM-TCP-OpenMPI/config/jobs.yaml", "job_specifications[0].auto_scratch"),
    ("recipes/Slurm+NFS/config/pool.yaml", "pool_specification.vm_count"),  # 0 nodes: Slurm grows it
}


def test_the_corpus_is_fully_modelled() -> None:
    warnings = set()
    for path in corpus_files():
        if path == INVALID_JSON:
            continue
        document = load_document(path)
        kind = detect_kind(document)
        assert kind is not None
        model, findings = validate_document(kind, document)
        assert model is not None, path
        warnings |= {(str(path.relative_to(CORPUS)), f.location.path) for f in findings if f.severity is Severity.WARNING}
    assert warnings == CORPUS_WARNINGS
