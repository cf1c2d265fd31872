"""The provisioning scripts: shellcheck clean, strict, and what each one's header promises is wired
(the proof that they make a passing image is ``test_proof.py``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "src" / "shipyard" / "packer" / "scripts"
RUN = ("base.sh", "gpu.sh", "rdma.sh", "deprovision.sh")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)")
def test_every_script_passes_shellcheck() -> None:
    done = subprocess.run(["shellcheck", "-x", *sorted(map(str, SCRIPTS.glob("*.sh")))], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout


def test_each_script_is_strict_and_says_what_it_does() -> None:
    for name in RUN:
        text = (SCRIPTS / name).read_text()
        assert text.startswith("#!/usr/bin/env bash\n"), name
        assert "\nset -euo pipefail\n" in text, name
        assert "Running it twice changes nothing more." in text, name


def test_every_pin_is_read_and_every_read_pin_exists() -> None:
    versions = (SCRIPTS / "versions.sh").read_text()
    defined = set(re.findall(r"^(PIN_\w+|NVIDIA_\w+|DOCA_\w+)=", versions, re.MULTILINE))
    scripts = "\n".join((SCRIPTS / n).read_text() for n in (*RUN, "lib.sh"))
    read = {f"PIN_{d}_{n}" for n in re.findall(r"pinned (\w+)", scripts)
            for d in ("debian12", "ubuntu2204", "ubuntu2404", "alma9")}
    used = {name for name in defined if name in scripts or name in read}
    assert used == defined, sorted(defined - used)
    for name in re.findall(r"\$\{((?:NVIDIA|DOCA)_\w+)\}", scripts):
        assert name in defined, name


def test_the_resource_disk_mount_point_is_read_never_written() -> None:
    for name in RUN:
        for line in (SCRIPTS / name).read_text().splitlines():
            if "ResourceDisk.MountPoint" in line and not line.lstrip().startswith("#"):
                assert "sed -n" in line, (name, line)  # read only
