"""`node bundle`: everything node prep needs, for a node that has only python3.

The bundle is a folder (upload it to storage as the start task's resource files):
``nodeprep.py`` (the stdlib-only bootstrap) and ``wheels/``: shipyard itself as a pure wheel,
and in ``wheels/cpXY/`` its node-side dependencies as binary wheels for each target CPython
version, fetched with ``pip download``. The start task's command line is ``python3 nodeprep.py``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from shipyard import __version__
from shipyard.errors import ShipyardError, UsageError

# What node prep imports; the storage SDKs and image readers stay out of the bundle.
NODE_REQUIREMENTS = (
    "click>=8.1,<9",
    "pydantic>=2.6,<3",
    "ruamel.yaml>=0.18,<0.20",
    "rich>=13,<16",
    "eval_type_backport>=0.2",  # pydantic on python 3.9 reads `X | None` annotations with it
    "cryptography>=41",  # decrypts credentials encrypted for the pool certificate
    "zstandard>=0.22,<1",  # the boot facts read the initramfs
    "lz4>=4.3,<5",
)
DEFAULT_PYTHONS = ("3.9", "3.10", "3.11", "3.12")
START_TASK_COMMAND = "python3 nodeprep.py"


@dataclass(frozen=True)
class Bundle:
    path: Path
    wheels: tuple[str, ...]
    pythons: tuple[str, ...]
    command: str = START_TASK_COMMAND


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_shipyard_wheel(directory: Path) -> Path:
    """shipyard's own code as a pure ``py3-none-any`` wheel, built from the installed package."""
    package = Path(resources.files("shipyard"))  # type: ignore[arg-type]
    dist_info = f"shipyard-{__version__}.dist-info"
    path = directory / f"shipyard-{__version__}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in sorted(package.rglob("*")):
            if file.is_dir() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            name = f"shipyard/{file.relative_to(package).as_posix()}"
            data = file.read_bytes()
            wheel.writestr(name, data)
            records.append(_record_line(name, data))
        metadata = {
            f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: shipyard\nVersion: {__version__}\n",
            f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: shipyard\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        }
        for name, text in metadata.items():
            wheel.writestr(name, text)
            records.append(_record_line(name, text.encode()))
        records.append(f"{dist_info}/RECORD,,")
        wheel.writestr(f"{dist_info}/RECORD", "\n".join(records) + "\n")
    return path


def check_python_version(python: str) -> None:
    if not python.replace(".", "").isdigit() or python.count(".") != 1:
        raise UsageError(f"--python {python}: expected a version such as 3.10")


def download_wheels(directory: Path, python: str, machine: str) -> None:
    """Binary wheels of the node requirements for one CPython version, with ``pip download``."""
    check_python_version(python)
    digits = python.replace(".", "")
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
        "--only-binary=:all:", "--implementation", "cp", "--python-version", python,
        "--abi", f"cp{digits}", "--abi", "abi3", "--abi", "none",
        "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}",
        "--platform", f"manylinux_2_28_{machine}", "--platform", "any",
        "--dest", str(directory), *NODE_REQUIREMENTS,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["pip download failed"])[-1]
        raise ShipyardError(f"pip download for python {python} failed: {last}")


def build_bundle(
    out_dir: str | Path, *, pythons: tuple[str, ...] = DEFAULT_PYTHONS, machine: str = "x86_64",
    overwrite: bool = False,
) -> Bundle:
    out = Path(out_dir)
    for python in pythons:
        check_python_version(python)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UsageError(f"{out} exists and is not empty", hint="pass --overwrite to replace it")
    # build beside the destination and move it in whole: a failed build leaves nothing behind
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    wheels = partial / "wheels"
    try:
        wheels.mkdir(parents=True)
        write_shipyard_wheel(wheels)
        for python in pythons:
            target = wheels / f"cp{python.replace('.', '')}"
            target.mkdir()
            download_wheels(target, python, machine)
        bootstrap = resources.files("shipyard.node").joinpath("bootstrap.py").read_text("utf-8")
        (partial / "nodeprep.py").write_text(bootstrap)
        (partial / "nodeprep.py").chmod(0o755)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    os.replace(partial, out)
    names = sorted(p.relative_to(out / "wheels").as_posix() for p in (out / "wheels").rglob("*.whl"))
    return Bundle(out, tuple(names), tuple(pythons))
