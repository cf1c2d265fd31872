"""The Azure pool's start task: the node bundle and the pool's config files staged once to a
storage link (Azurite), each a resource file with a read SAS that fetches exactly its bytes."""

from __future__ import annotations

import shlex
import shutil
import urllib.request
from pathlib import Path

import pytest

from shipyard.errors import BackendError
from shipyard.pools.azure_batch.nodeprep import CONTAINER, NodePrepStager, start_command
from shipyard.pools.models import ImageSource, PoolSpec, StartCommands
from shipyard.storage.azure import AzurePageBlobStore

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A bundle's layout: the real bootstrap as nodeprep.py, and a wheels folder."""
    out = tmp_path / "bundle"
    (out / "wheels" / "cp311").mkdir(parents=True)
    shutil.copy(REPO / "src" / "shipyard" / "node" / "bootstrap.py", out / "nodeprep.py")
    (out / "wheels" / "cp311" / "dep-1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + bytes(18))
    return out


def spec_with_files(tmp_path: Path, **extra: object) -> PoolSpec:
    files = {}
    for kind in ("credentials", "config", "pool"):
        path = tmp_path / f"{kind}.yaml"
        path.write_text(f"# {kind}\n" + ("credentials:\n  batch:\n    account_key: SECRETKEY\n" if kind == "credentials" else ""))
        files[kind] = str(path)
    return PoolSpec("p", "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04", arm_image_id="/x"),
                    config_files=tuple(files.items()), **extra)  # type: ignore[arg-type]


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_the_bundle_and_config_are_staged_with_read_urls(azurite, tmp_path: Path, bundle: Path) -> None:
    store = AzurePageBlobStore(azurite.link("acct1"))
    spec = spec_with_files(tmp_path, start_commands=StartCommands(pre=("echo pre",), post=("echo 'post step'",)))
    plan = NodePrepStager(store, bundle)(spec)
    files = {f.file_path: f.http_url for f in plan.resource_files}
    assert set(files) == {"nodeprep/nodeprep.py", "nodeprep/wheels/cp311/dep-1.0-py3-none-any.whl",
                          "config/config.yaml", "config/pool.yaml"}  # never credentials.yaml: it holds keys
    assert fetch(files["nodeprep/nodeprep.py"]) == (bundle / "nodeprep.py").read_bytes()
    assert fetch(files["config/pool.yaml"]) == b"# pool\n"
    assert all("sig=" in url and "sp=r" in url for url in files.values())
    names = [b.name for b in store.list_blobs(CONTAINER, "nodeprep/")]
    # a second pool uploads nothing new: the blobs are named by their contents
    NodePrepStager(store, bundle)(spec)
    assert [b.name for b in store.list_blobs(CONTAINER, "nodeprep/")] == names
    argv = shlex.split(plan.command_line)
    assert argv[:2] == ["/bin/sh", "-c"]
    assert argv[2] == "set -e; python3 nodeprep/nodeprep.py --configdir config; echo pre; echo 'post step'"
    assert plan.retries == 3


def test_the_command_runs_node_prep_first(tmp_path: Path) -> None:
    spec = spec_with_files(tmp_path)
    assert start_command(spec) == "/bin/sh -c 'set -e; python3 nodeprep/nodeprep.py --configdir config'"


def test_a_folder_that_is_no_bundle_is_refused(azurite, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no node prep bundle"):
        NodePrepStager(AzurePageBlobStore(azurite.link("acct1")), tmp_path)
