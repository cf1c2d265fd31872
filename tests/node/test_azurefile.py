"""Azure File volumes: node prep's one set-up step, a CIFS mount with the key kept off argv."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from fixtures.azurefile import CONFIG as AZUREFILE_CONFIG
from fixtures.azurefile import CREDENTIALS, KEY
from fixtures.trees import write_files, write_ubuntu_2204
from shipyard.config.loader import load_config_set
from shipyard.config.paths import ConfigPaths
from shipyard.errors import ConfigError, ShipyardError
from shipyard.node.azurefile import mount_azurefile, plan_azurefile_mounts

# the shared volume, with mount options of its own, beside a volume that is not an Azure File share
CONFIG = AZUREFILE_CONFIG + """\
        mount_options: [uid=1000]
      scratch:
        volume_driver: storage_cluster
        container_path: /scratch
"""


@pytest.fixture
def config(write_config):
    return load_config_set(ConfigPaths.resolve(write_config(config=CONFIG, credentials=CREDENTIALS)))


def test_plan(config, tmp_path: Path) -> None:
    (mount,) = plan_azurefile_mounts(config.general, config.credentials, tmp_path / "shared")
    assert mount.source == "//acct1.file.core.windows.net/models"
    assert mount.mount_point == tmp_path / "shared" / "azfile-acct1-models"
    assert mount.options[-1] == "uid=1000" and "vers=3.0" in mount.options


def test_missing_link_is_a_config_error(write_config, tmp_path: Path) -> None:
    config = load_config_set(ConfigPaths.resolve(write_config(config=CONFIG)))
    with pytest.raises(ConfigError, match="storage link 'sa1' is not in the credentials"):
        plan_azurefile_mounts(config.general, config.credentials, tmp_path)


def test_mount_keeps_the_key_off_the_command_line(config, tmp_path: Path) -> None:
    (mount,) = plan_azurefile_mounts(config.general, config.credentials, tmp_path / "shared")
    calls = []
    state = mount_azurefile(mount, KEY, mounted=frozenset(), credentials_dir=tmp_path / "cifs",
                            runner=lambda argv: (calls.append(argv), (0, ""))[1])
    assert state == "mounted"
    (argv,) = calls
    assert argv[:5] == ["mount", "-t", "cifs", "//acct1.file.core.windows.net/models", str(mount.mount_point)]
    assert KEY not in " ".join(argv)
    credentials = tmp_path / "cifs" / "acct1.cred"
    assert f"credentials={credentials}" in argv[-1]
    assert credentials.read_text() == f"username=acct1\npassword={KEY}\n"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert mount.mount_point.is_dir()
    again = mount_azurefile(mount, KEY, mounted=frozenset({str(mount.mount_point)}),
                            credentials_dir=tmp_path / "cifs", runner=lambda argv: pytest.fail("mounted twice"))
    assert again == "already mounted"


def test_mount_failure_is_one_line_without_the_key(config, tmp_path: Path) -> None:
    (mount,) = plan_azurefile_mounts(config.general, config.credentials, tmp_path / "shared")
    with pytest.raises(ShipyardError) as info:
        mount_azurefile(mount, KEY, mounted=frozenset(), credentials_dir=tmp_path / "cifs",
                        runner=lambda argv: (32, f"mount error(13): Permission denied password={KEY}"))
    assert "Permission denied" in str(info.value) and KEY not in str(info.value)


def test_node_prep_plans_the_mounts_on_a_tree(cli, write_config, tmp_path: Path) -> None:
    root = write_ubuntu_2204(tmp_path / "root")
    write_files(root, {"/etc/docker/daemon.json": '{"data-root": "/mnt/docker"}', "/usr/sbin/mount.cifs": "#!/bin/sh\n"})
    (root / "usr/sbin/mount.cifs").chmod(0o755)
    directory = write_config(config=CONFIG, credentials=CREDENTIALS)
    result = cli("node", "prep", "--root", root, "--state-dir", tmp_path / "state", "--shared-dir", tmp_path / "shared",
                 "--configdir", directory, "--raw")
    report = result.json()
    assert result.code == 0, report
    assert report["setup"] == [{"volume": "models", "source": "//acct1.file.core.windows.net/models",
                                "mount_point": str(tmp_path / "shared" / "azfile-acct1-models"),
                                "state": "planned (not the real root)"}]
    assert KEY not in result.out + result.err
    assert KEY not in json.dumps(json.loads((tmp_path / "state" / "nodeprep.json").read_text()))
