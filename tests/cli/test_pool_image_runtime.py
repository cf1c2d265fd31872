"""`pool add` on the image node runtime (the default), `pool ssh`, and `image cache list|prune`,
end to end through the CLI, on the Ubuntu fixture tree with Debian's static busybox in it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.busybox import INSTALL_BUSYBOX
from fixtures.pool_cli import POOL_ID, CliPool, run_shipyard
from fixtures.pools import build_ubuntu_vhd, wait_until
from fixtures.trees import write_files
from fixtures.images import pseudo_random_bytes

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap (bubblewrap) is not installed")
UBUNTU = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"'


@pytest.fixture(scope="module")
def busybox_vhd(tmp_path_factory: pytest.TempPathFactory, busybox_binary: Path) -> Path:
    def mutate(root: Path) -> None:
        subprocess.run([str(INSTALL_BUSYBOX), str(root), str(busybox_binary)], check=True, capture_output=True)

    return build_ubuntu_vhd(tmp_path_factory.mktemp("busybox-vhd"), mutate)


@pytest.fixture
def image_pool(shipyard_home: Path, busybox_vhd: Path, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[CliPool]:
    """A config dir whose config.yaml names no node runtime (so: image); every pool deleted at the end."""
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    pool = CliPool(shipyard_home, tmp_path / "config", busybox_vhd)
    pool.write_pool(runtime=None)
    try:
        yield pool
    finally:
        pool.teardown()


def add(pool: CliPool) -> None:
    ran = run_shipyard("pool", "add", *pool.options)
    assert ran.code == 0, ran.out + ran.err
    assert "node runtime: image" in ran.out


def test_the_image_runtime_is_the_default_and_list_and_nodes_list_show_it(image_pool: CliPool) -> None:
    add(image_pool)
    listed = run_shipyard("pool", "list", "--raw", *image_pool.options).json()
    assert [(p["id"], p["node_runtime"]) for p in listed] == [(POOL_ID, "image")]
    table = run_shipyard("pool", "list", *image_pool.options).out
    assert "runtime" in table.splitlines()[0]
    row = next(line for line in table.splitlines() if line.startswith(POOL_ID))
    assert re.search(r"\bimage\s+1 VHD: local://", row), row
    nodes = run_shipyard("pool", "nodes", "list", "--raw", *image_pool.options).json()
    assert nodes["node_runtime"] == "image" and len(nodes["nodes"]) == 1
    assert "node runtime image" in run_shipyard("pool", "nodes", "list", *image_pool.options).out


def test_host_is_chosen_in_config_yaml(image_pool: CliPool) -> None:
    image_pool.write_pool(runtime="host")
    ran = run_shipyard("pool", "add", *image_pool.options)
    assert ran.code == 0, ran.err
    assert "node runtime: host" in ran.out
    listed = run_shipyard("pool", "list", "--raw", *image_pool.options).json()
    assert listed[0]["node_runtime"] == "host"
    shown = run_shipyard("pool", "ssh", "--raw", *image_pool.options, "--", "cat", "/etc/os-release").json()
    assert shown["node_runtime"] == "host" and UBUNTU not in shown["stdout"]
    assert run_shipyard("image", "cache", "list", "--raw").json() == []  # nothing unpacked


def test_a_bad_node_runtime_is_a_config_error_at_its_line(image_pool: CliPool) -> None:
    image_pool.write_pool(runtime="vm")
    ran = run_shipyard("pool", "add", *image_pool.options)
    assert ran.code == 2
    assert "config.yaml:4: local.node_runtime: must be one of" in ran.err and "local.node_runtime" in ran.err
    assert "Traceback" not in ran.err


def test_pool_ssh_runs_a_command_inside_the_node_as_a_task_sees_it(image_pool: CliPool) -> None:
    add(image_pool)
    shown = run_shipyard("pool", "ssh", "--raw", *image_pool.options, "--",
                         "grep PRETTY_NAME /etc/os-release; echo $AZ_BATCH_NODE_ROOT_DIR; pwd").json()
    assert shown["exit_code"] == 0, shown
    assert shown["stdout"].splitlines() == [UBUNTU, "/mnt/batch/tasks", "/mnt/batch/tasks"]
    assert shown["node_runtime"] == "image"
    failed = run_shipyard("pool", "ssh", *image_pool.options, "--nodeid", "node-1", "--", "exit 7")
    assert failed.code == 7  # the command's exit status, as with ssh
    missing = run_shipyard("pool", "ssh", *image_pool.options, "--nodeid", "node-9", "--", "true")
    assert missing.code != 0 and "has no node node-9" in missing.err and "Traceback" not in missing.err


def test_image_cache_list_and_prune_keep_what_a_pool_uses(image_pool: CliPool) -> None:
    add(image_pool)
    entries = run_shipyard("image", "cache", "list", "--raw").json()
    assert len(entries) == 1 and entries[0]["complete"] and entries[0]["pools"] == [POOL_ID]
    assert entries[0]["key"].startswith("sparse-") and entries[0]["files"] > 10
    assert POOL_ID in run_shipyard("image", "cache", "list").out
    kept = run_shipyard("image", "cache", "prune", "-y", "--raw").json()
    assert kept == {"removed": [], "kept": [entries[0]["key"]]}
    refused = run_shipyard("image", "cache", "prune", entries[0]["key"], "-y")
    assert refused.code == 2 and f"used by pool {POOL_ID}" in refused.err
    assert run_shipyard("pool", "del", "-y", *image_pool.options).code == 0
    asked = run_shipyard("image", "cache", "prune")  # no terminal, no -y: nothing removed
    assert asked.code == 2 and "-y" in asked.err and Path(entries[0]["path"]).is_dir()
    removed = run_shipyard("image", "cache", "prune", "-y", "--raw").json()
    assert removed == {"removed": [entries[0]["key"]], "kept": []}
    assert not Path(entries[0]["path"]).exists()
    assert run_shipyard("image", "cache", "list", "--raw").json() == []
    unknown = run_shipyard("image", "cache", "prune", "md5-0000", "-y")
    assert unknown.code == 2 and "no cached image root md5-0000" in unknown.err


def test_pool_add_killed_during_the_unpack_leaves_no_root_that_looks_complete(
        shipyard_home: Path, tmp_path: Path, busybox_binary: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 in the middle of the unpack, then `pool add` again: it unpacks afresh, and the
    interrupted unpack is never used (a big file makes the unpack last long enough to be caught)."""
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)

    def mutate(root: Path) -> None:
        subprocess.run([str(INSTALL_BUSYBOX), str(root), str(busybox_binary)], check=True, capture_output=True)
        write_files(root, {f"/opt/data/blob-{i}": pseudo_random_bytes(16 << 20, seed=i) for i in range(6)})

    vhd = build_ubuntu_vhd(tmp_path / "big", mutate)
    pool = CliPool(shipyard_home, tmp_path / "config", vhd)
    pool.write_pool(runtime=None)
    roots = shipyard_home / "cache" / "roots"
    env = {**os.environ, "SHIPYARD_HOME": str(shipyard_home)}
    try:
        first = subprocess.Popen([sys.executable, "-m", "shipyard", "pool", "add", *pool.options], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = wait_until(lambda: next((p for p in roots.glob(".partial-*") if (p / "root" / "opt").exists()),
                                          None), "the unpack to be under way", interval_s=0.005)
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert partial.exists() and not (partial / "manifest.json").exists()
        assert not [p for p in roots.iterdir() if p.name.startswith("sparse-") and p.is_dir()]  # nothing looks complete
        listed = run_shipyard("image", "cache", "list", "--raw").json()
        assert [e["complete"] for e in listed] == [False]
        assert "interrupted" in run_shipyard("image", "cache", "list").out
        again = run_shipyard("pool", "add", *pool.options)
        assert again.code == 0, again.out + again.err
        assert not partial.exists()  # removed, not reused
        (entry,) = run_shipyard("image", "cache", "list", "--raw").json()
        assert entry["complete"] and entry["pools"] == [POOL_ID]
        for i in (0, 5):
            data = (Path(entry["path"]) / "root" / "opt" / "data" / f"blob-{i}").read_bytes()
            assert data == pseudo_random_bytes(16 << 20, seed=i)
    finally:
        pool.teardown()


def test_a_dry_run_says_when_this_machine_cannot_run_the_image_runtime(image_pool: CliPool,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.pools.local import sandbox

    sandbox.runtime_problem.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        ran = run_shipyard("pool", "add", "--dry-run", *image_pool.options)
        raw = run_shipyard("pool", "add", "--dry-run", "--raw", *image_pool.options)
    finally:
        sandbox.runtime_problem.cache_clear()
    assert ran.code == 1 and "node runtime image:" in ran.out and "apt-get install bubblewrap" in ran.out
    assert raw.code == 1 and "apt-get install bubblewrap" in raw.json()["node_runtime_problem"]


def test_a_mistyped_pool_ssh_option_is_a_usage_error(image_pool: CliPool) -> None:
    ran = run_shipyard("pool", "ssh", "--nodid", "node-1", *image_pool.options)
    assert ran.code == 2 and "--nodid" in ran.err and "Traceback" not in ran.err
