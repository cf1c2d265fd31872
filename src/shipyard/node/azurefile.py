"""Azure File shared data volumes: the one thing node prep sets up on the host (a CIFS mount).

Each ``azurefile`` volume in ``config.yaml`` is mounted where Batch Shipyard mounted it,
``$AZ_BATCH_NODE_SHARED_DIR/azfile-<account>-<share>``. The account key never appears on a
command line: it goes into a credentials file readable by root only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shipyard.config.credentials import Credentials
from shipyard.config.settings import GeneralConfig
from shipyard.errors import ConfigError, ShipyardError
from shipyard.node.probes import Runner
from shipyard.redact import redact

DEFAULT_OPTIONS = ("vers=3.0", "dir_mode=0777", "file_mode=0777", "serverino", "nofail")


@dataclass(frozen=True)
class AzureFileMount:
    volume: str
    account: str
    share: str
    endpoint: str
    mount_point: Path
    options: tuple[str, ...]
    link: str

    @property
    def source(self) -> str:
        return f"//{self.account}.file.{self.endpoint}/{self.share}"


def plan_azurefile_mounts(
    general: GeneralConfig | None, credentials: Credentials | None, shared_dir: Path
) -> list[AzureFileMount]:
    """One mount per ``azurefile`` shared data volume; a volume without its link is a config error."""
    if general is None:
        return []
    mounts = []
    for name, volume in general.global_resources.volumes.shared_data_volumes.items():
        if volume.volume_driver != "azurefile":
            continue
        path = f"global_resources.volumes.shared_data_volumes.{name}"
        if not volume.storage_account_settings or not volume.azure_file_share_name:
            raise ConfigError("an azurefile volume needs storage_account_settings and azure_file_share_name", path=path)
        link = (credentials.storage if credentials else {}).get(volume.storage_account_settings)
        if link is None:
            raise ConfigError(
                f"storage link '{volume.storage_account_settings}' is not in the credentials", path=path
            )
        mounts.append(
            AzureFileMount(
                volume=name,
                account=link.account,
                share=volume.azure_file_share_name,
                endpoint=link.endpoint,
                mount_point=shared_dir / f"azfile-{link.account}-{volume.azure_file_share_name}",
                options=DEFAULT_OPTIONS + tuple(volume.mount_options or ()),
                link=volume.storage_account_settings,
            )
        )
    return mounts


def write_cifs_credentials(directory: Path, mount: AzureFileMount, key: str) -> Path:
    """A root-only credentials file for mount.cifs (``credentials=`` option)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{mount.account}.cred"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"username={mount.account}\npassword={key}\n")
    os.chmod(path, 0o600)
    return path


def mount_azurefile(
    mount: AzureFileMount, key: str, *, mounted: frozenset[str], credentials_dir: Path, runner: Runner
) -> str:
    """Mount one share unless it is mounted already; returns "mounted" or "already mounted"."""
    if str(mount.mount_point) in mounted:
        return "already mounted"
    mount.mount_point.mkdir(parents=True, exist_ok=True)
    credentials = write_cifs_credentials(credentials_dir, mount, key)
    options = ",".join((*mount.options, f"credentials={credentials}"))
    code, output = runner(["mount", "-t", "cifs", mount.source, str(mount.mount_point), "-o", options])
    if code != 0:
        detail = redact(output.strip().splitlines()[-1] if output.strip() else f"exit status {code}", [key])
        raise ShipyardError(f"mounting {mount.source} on {mount.mount_point} failed: {detail}")
    return "mounted"
