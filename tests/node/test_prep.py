"""`node prep`: checks only, one stderr line per failure, a marker that makes re-runs cheap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures.azurefile import CONFIG
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
    # checked again, not skipped: and on a GPU size the tree's docker lacks the nvidia runtime
    assert gpu.code == 1
    report = gpu.json()
    assert report["status"] == "failed" and report["failed"] == ["gpu.container_runtime"]
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is False
    assert [c["id"] for c in marker["checks"] if c["status"] == "fail"] == ["gpu.container_runtime"]


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
    assert default_state_dir("/") == default_state_dir("/.") == tmp_path / "volatile" / "shipyard"
    monkeypatch.delenv("AZ_BATCH_NODE_ROOT_DIR")
    assert default_state_dir("/") == Path("/var/lib/shipyard")


def test_another_root_keeps_its_state_under_that_root(
    cli, good_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shipyard.node.prep import default_state_dir

    root = tmp_path / "root"
    shutil.copytree(good_tree, root, symlinks=True)
    monkeypatch.setenv("AZ_BATCH_NODE_ROOT_DIR", str(tmp_path / "batch"))  # even inside a start task
    assert default_state_dir(root) == root / "var" / "lib" / "shipyard"
    host_marker = Path("/var/lib/shipyard/nodeprep.json")
    host_before = host_marker.read_bytes() if host_marker.exists() else None
    result = cli("node", "prep", "--root", root, "--raw")
    assert result.code == 0, result.err
    marker = root / "var" / "lib" / "shipyard" / "nodeprep.json"
    assert result.json()["marker"] == str(marker)
    assert json.loads(marker.read_text())["ok"] is True
    assert not (tmp_path / "batch").exists()
    assert (host_marker.read_bytes() if host_marker.exists() else None) == host_before  # the host's untouched
    again = cli("node", "prep", "--root", root, "--raw")
    assert again.json()["status"] == "skipped"  # the marker under the root is the one read back


def _setup_failing_with(error: BaseException):
    def make(config, root, shared_dir, state_dir):
        def setup() -> list[dict[str, str]]:
            raise error

        return setup

    return make


def test_an_os_error_in_setup_is_recorded_one_line_exit_1(
    cli, good_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what mkdir of a mount point under a read-only shared directory raises
    denied = PermissionError(13, "Permission denied", "/mnt/batch/tasks/shared/azfile-acct1-models")
    monkeypatch.setattr("shipyard.node.setup.azurefile_setup", _setup_failing_with(denied))
    state = tmp_path / "state"
    result = cli("node", "prep", "--root", good_tree, "--state-dir", state)
    assert result.code == 1
    assert result.err == (
        "shipyard: node prep: setup: Permission denied: /mnt/batch/tasks/shared/azfile-acct1-models\n"
    )
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is False
    assert marker["setup_error"] == "Permission denied: /mnt/batch/tasks/shared/azfile-acct1-models"
    raw = cli("node", "prep", "--root", good_tree, "--state-dir", state, "--raw")
    assert raw.code == 1 and raw.json()["status"] == "failed"  # a failure is never skipped


def test_a_crash_in_setup_still_leaves_a_failure_marker(
    cli, good_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shipyard.node.setup.azurefile_setup", _setup_failing_with(KeyError("volume")))
    state = tmp_path / "state"
    result = cli("node", "prep", "--root", good_tree, "--state-dir", state)
    assert result.code == 1
    assert result.err == (
        "shipyard: error: internal error: KeyError: 'volume' (run with --debug for the traceback)\n"
    )
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is False and marker["error"] == "setup failed: KeyError: 'volume'"
    assert len(marker["checks"]) > 20  # the checks that did run are kept


def test_a_config_error_is_recorded_and_exit_2(cli, good_tree: Path, tmp_path: Path, write_config) -> None:
    # an azurefile volume whose storage link is not in the credentials
    configdir = write_config(config=CONFIG)
    state = tmp_path / "state"
    result = cli("node", "prep", "--root", good_tree, "--state-dir", state, "--configdir", configdir)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "storage link 'sa1' is not in the credentials" in result.err
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is False and "storage link 'sa1' is not in the credentials" in marker["error"]


@pytest.mark.parametrize("where", ["a-file", "a-file/sub"])
def test_a_state_dir_that_cannot_hold_the_marker_is_one_line_exit_1(
    cli, good_tree: Path, tmp_path: Path, where: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    state = tmp_path / where
    result = cli("node", "prep", "--root", good_tree, "--state-dir", state)
    assert result.code == 1
    assert result.err.count("\n") == 1 and "internal error" not in result.err
    assert result.err.startswith(f"shipyard: error: node prep cannot write its marker {state / 'nodeprep.json'}: ")
    assert result.err.rstrip().endswith("; give --state-dir a writable directory")


def test_node_prep_runs_on_evidence_gathered_beforehand(good_tree: Path, tmp_path: Path) -> None:
    """The local backend's nodes: the image's facts read once, node prep run on them, no root read."""
    from shipyard.node.check import check_node, gather_node_evidence
    from shipyard.node.prep import run_node_prep
    from shipyard.rules.context import PoolContext

    pool = PoolContext.from_models(vm_size="Standard_NC6s_v3")
    evidence = gather_node_evidence(good_tree)
    result = run_node_prep(None, pool, tmp_path / "state", evidence=evidence)
    assert result.results == tuple(check_node(good_tree, pool))  # the same verdict as on the root itself
    assert result.status == "failed" and [r.id for r in result.failures] == ["gpu.container_runtime"]
    assert json.loads(result.marker.read_text())["ok"] is False
    with pytest.raises(ValueError, match="needs a root or the evidence"):
        run_node_prep(None, pool, tmp_path / "other")


def test_node_prep_writes_the_commands_environment_and_the_task_launcher(cli, good_tree: Path, tmp_path: Path) -> None:
    """What the Azure start task asks of node prep for a pool with an identity and an environment
    (its Key Vault secret's read: ``tests/node/test_keyvault.py``)."""
    import stat

    configdir = tmp_path / "cfg"
    configdir.mkdir()
    (configdir / "pool.yaml").write_text(
        "pool_specification:\n  id: p\n  vm_size: STANDARD_D2S_V3\n  vm_count: {dedicated: 1}\n"
        "  vm_configuration:\n    custom_image:\n      arm_image_id: /subscriptions/s/resourceGroups/g/providers/"
        "Microsoft.Compute/galleries/x/images/y\n      node_agent: batch.node.ubuntu 22.04\n"
        "  managed_identity:\n    resource_id: /subscriptions/s/x\n    client_id: client-id-1\n"
        "  additional_node_prep:\n    environment_variables:\n      PLAIN: one\n")
    envfile, launcher_dir = tmp_path / "wd" / ".shipyard-environment", tmp_path / "shared" / "shipyard"
    envfile.parent.mkdir()
    done = cli("node", "prep", "--root", good_tree, "--state-dir", tmp_path / "state", "--configdir", configdir,
               "--environment-file", envfile, "--task-launcher", launcher_dir)
    assert done.code == 0, done.err
    assert envfile.read_text() == "export PLAIN=one\n" and stat.S_IMODE(envfile.stat().st_mode) == 0o600
    launcher = (launcher_dir / "task-environment").read_text()
    assert "client_id='client-id-1'" in launcher and "from shipyard.node.task_environment import main" in launcher
