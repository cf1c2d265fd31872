"""`shipyard.node.setup`: the whole of node prep as a library call, with no `shipyard.cli` in it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.azurefile import CONFIG, CREDENTIALS, KEY
from fixtures.trees import write_executables, write_files, write_ubuntu_2204
from shipyard.errors import ConfigError, UsageError
from shipyard.config.given import load_given
from shipyard.node.setup import azurefile_setup, prepare_node, storage_key

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def no_configdir_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHIPYARD_CONFIGDIR", raising=False)
    monkeypatch.delenv("AZ_BATCH_NODE_SHARED_DIR", raising=False)


@pytest.fixture(scope="module")
def node_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node that passes every error-level check, mount.cifs included (it has an azurefile volume)."""
    root = write_ubuntu_2204(tmp_path_factory.mktemp("node") / "root")
    write_files(root, {"/etc/docker/daemon.json": '{"data-root": "/mnt/docker"}'})
    write_executables(root, "/usr/sbin/mount.cifs")
    return root


def planned(shared: Path) -> list[dict[str, str]]:
    return [{"volume": "models", "source": "//acct1.file.core.windows.net/models",
             "mount_point": str(shared / "azfile-acct1-models"), "state": "planned (not the real root)"}]


def test_prepare_node_checks_sets_up_and_leaves_the_marker(node_root: Path, write_config, tmp_path: Path) -> None:
    configdir = write_config(config=CONFIG, credentials=CREDENTIALS)
    state = tmp_path / "state"
    result = prepare_node(node_root, configdir=configdir, state_dir=state)
    assert result.status == "ok", result.failure_lines()
    assert result.marker == state / "nodeprep.json"
    assert list(result.setup) == planned(state / "shared")  # the shared dir defaults to beside the marker
    marker = json.loads(result.marker.read_text())
    assert marker["ok"] is True and marker["setup"] == planned(state / "shared") and len(marker["checks"]) > 20
    assert KEY not in result.marker.read_text()
    assert prepare_node(node_root, configdir=configdir, state_dir=state).status == "skipped"
    again = prepare_node(node_root, configdir=configdir, state_dir=state, shared_dir=tmp_path / "shared", force=True)
    assert again.status == "ok" and list(again.setup) == planned(tmp_path / "shared")


def test_single_files_and_overrides_count_as_the_cli_options_do(node_root: Path, write_config, tmp_path: Path) -> None:
    configdir = write_config(config=CONFIG, credentials=CREDENTIALS)
    result = prepare_node(node_root, files={"config": configdir / "config.yaml", "credentials": configdir / "credentials.yaml"},
                          vm_size="Standard_NC6s_v3", state_dir=tmp_path / "state")
    assert result.status == "failed" and [r.id for r in result.failures] == ["gpu.container_runtime"]
    assert result.setup == ()  # a failed check: nothing set up


def test_a_bad_config_leaves_a_failure_marker_and_raises(node_root: Path, write_config, tmp_path: Path) -> None:
    configdir = write_config(config=CONFIG)  # the volume's storage link is in no credentials
    state = tmp_path / "state"
    with pytest.raises(ConfigError, match="storage link 'sa1' is not in the credentials"):
        prepare_node(node_root, configdir=configdir, state_dir=state)
    marker = json.loads((state / "nodeprep.json").read_text())
    assert marker["ok"] is False and "storage link 'sa1' is not in the credentials" in marker["error"]
    with pytest.raises(UsageError, match="not a directory"):
        prepare_node(node_root, configdir=tmp_path / "nope", state_dir=state)


def test_node_prep_runs_in_a_fresh_interpreter_without_the_cli(node_root: Path, write_config, tmp_path: Path) -> None:
    configdir = write_config(config=CONFIG, credentials=CREDENTIALS)
    code = textwrap.dedent(f"""
        import json, sys
        from shipyard.node.setup import prepare_node
        result = prepare_node({str(node_root)!r}, configdir={str(configdir)!r}, state_dir={str(tmp_path / "state")!r})
        cli = sorted(m for m in sys.modules if m == "shipyard.cli" or m.startswith("shipyard.cli."))
        print(json.dumps({{"status": result.status, "setup": list(result.setup), "cli": cli}}))
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    report = json.loads(done.stdout)
    assert report == {"status": "ok", "setup": planned(tmp_path / "state" / "shared"), "cli": []}


def test_storage_key(write_config) -> None:
    plain = load_given(write_config(config=CONFIG, credentials=CREDENTIALS))
    assert plain is not None and storage_key(plain, "sa1") == KEY
    with pytest.raises(ConfigError, match="storage link 'nosuch' is not in the credentials"):
        storage_key(plain, "nosuch")
    encrypted = CONFIG.replace("storage_account_settings: sa1\nglobal",
                               "storage_account_settings: sa1\n  encryption:\n    enabled: true\nglobal")
    config = load_given(write_config(config=encrypted, credentials=CREDENTIALS))
    assert config is not None
    with pytest.raises(ConfigError) as info:
        storage_key(config, "sa1")
    assert str(info.value) == "encryption is enabled but batch_shipyard.encryption.pfx.sha1_thumbprint is not set"


def test_azurefile_setup_is_none_without_azurefile_volumes(node_root: Path, write_config, tmp_path: Path) -> None:
    assert azurefile_setup(None, node_root, tmp_path, tmp_path) is None
    config = load_given(write_config(credentials=CREDENTIALS))
    assert azurefile_setup(config, node_root, tmp_path, tmp_path) is None


LOCAL_CREDENTIALS = "credentials:\n  storage:\n    sa1:\n      account: localacct\n      endpoint: local\n"


def test_local_store_setup_links_each_share_of_the_local_store(write_config, tmp_path: Path) -> None:
    import os

    from shipyard.node.setup import local_share_dir, local_store_setup

    config = load_given(write_config(config=CONFIG, credentials=LOCAL_CREDENTIALS))
    shared, home = tmp_path / "shared", tmp_path / "home"
    setup = local_store_setup(config, shared, home)
    assert setup is not None
    share = local_share_dir(home, "localacct", "models")
    link = shared / "azfile-localacct-models"
    assert setup() == [{"volume": "models", "source": str(share), "mount_point": str(link), "state": "linked"}]
    assert link.is_symlink() and os.readlink(link) == str(share) and share.is_dir()
    assert setup()[0]["state"] == "already linked"
    only_credentials = load_given(files={"credentials": write_config() / "credentials.yaml"})
    assert local_store_setup(only_credentials, shared, home) is None  # no volume: nothing to link


def test_local_store_setup_refuses_a_share_that_is_not_in_the_local_store(write_config, tmp_path: Path) -> None:
    from shipyard.errors import ShipyardError
    from shipyard.node.setup import local_store_setup

    config = load_given(write_config(config=CONFIG, credentials=CREDENTIALS))  # an Azure link
    setup = local_store_setup(config, tmp_path / "shared", tmp_path / "home")
    assert setup is not None
    with pytest.raises(ShipyardError, match="not the local store") as caught:
        setup()
    assert KEY not in str(caught.value) and "\n" not in str(caught.value)
