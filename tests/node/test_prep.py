"""`node prep`: checks only, one stderr line per failure, a marker that makes re-runs cheap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures.trees import remove, write_files, write_ubuntu_2204


@pytest.fixture(scope="module")
def good_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_ubuntu_2204(tmp_path_factory.mktemp("node") / "root")
    write_files(root, {"/etc/docker/daemon.json": '{"data-root": "/mnt/docker"}'})
    return root


def test_a_good_node_passes_and_a_reboot_rerun_is_skipped(cli, good_tree: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = cli("node", "prep", "--root", good_tree, "--state-dir", state)
    assert first.code == 0, first.err
    assert first.err == "" and "node is ready" in first.out
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is True and len(marker["checks"]) > 20
    again = cli("node", "prep", "--root", good_tree, "--state-dir", state, "--raw")
    assert again.code == 0 and again.json()["status"] == "skipped"
    forced = cli("node", "prep", "--root", good_tree, "--state-dir", state, "--force", "--raw")
    assert forced.json()["status"] == "ok"


def test_a_changed_pool_checks_again(cli, good_tree: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    assert cli("node", "prep", "--root", good_tree, "--state-dir", state).code == 0
    gpu = cli("node", "prep", "--root", good_tree, "--state-dir", state, "--vm-size", "Standard_NC6s_v3", "--raw")
    assert gpu.json()["status"] in ("ok", "failed")  # checked again, not skipped


def test_failures_are_one_line_each_on_stderr_and_exit_1(cli, good_tree: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(good_tree, root, symlinks=True)
    remove(root, "/usr/bin/dockerd", "/usr/sbin/sshd")
    state = tmp_path / "state"
    result = cli("node", "prep", "--root", root, "--state-dir", state)
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines == [line for line in lines if line.startswith("shipyard: node prep: ")]
    failed = {line.split(": ")[2] for line in lines}
    assert failed == {"docker.installed", "docker.socket", "ssh.installed"}
    assert all("; fix: " in line for line in lines)
    assert json.loads((state / "nodeprep.json").read_text())["ok"] is False
    # a failed node is checked again on the next run, never skipped
    assert cli("node", "prep", "--root", root, "--state-dir", state).code == 1


def test_default_state_dir_follows_batch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shipyard.node.prep import default_state_dir

    monkeypatch.setenv("AZ_BATCH_NODE_ROOT_DIR", str(tmp_path))
    assert default_state_dir() == tmp_path / "volatile" / "shipyard"
