"""`node bundle`: the bootstrap runs node prep on a python3 with nothing but the standard library.

Builds a real bundle (pip download from the package index), then runs ``nodeprep.py`` with
``python -I -S`` so not even this virtual environment's packages are visible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fixtures.trees import write_files, write_ubuntu_2204

HERE_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
OLDER_VERSIONS = ("3.9", "3.10")  # the oldest node pythons the README promises


def interpreter(version: str) -> str | None:
    """A working python<version> on this machine: on PATH, else under pyenv's versions.

    A pyenv shim is on PATH even where that version is not selected (it then exits non-zero),
    so each candidate is run and must report the version asked for.
    """
    candidates = [
        shutil.which(f"python{version}"),
        *sorted(PYENV_VERSIONS.glob(f"{version}.*/bin/python{version}")),
        *sorted(PYENV_VERSIONS.glob(f"{version}.*/bin/python3")),
    ]
    for candidate in filter(None, candidates):
        done = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, check=False,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return str(candidate)
    return None


OLDER = {v: path for v in OLDER_VERSIONS if (path := interpreter(v))}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shipyard.node.bundle import build_bundle

    out = tmp_path_factory.mktemp("bundle") / "nodeprep"
    build_bundle(out, pythons=(HERE_PYTHON, *OLDER))  # older node pythons where this machine has them
    return out


@pytest.fixture(scope="module")
def node_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_ubuntu_2204(tmp_path_factory.mktemp("node") / "root")
    write_files(root, {"/etc/docker/daemon.json": '{"data-root": "/mnt/docker"}'})
    return root


def test_bundle_layout(bundle: Path) -> None:
    wheels = bundle / "wheels"
    own = wheels / "shipyard-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(own) as wheel:
        names = wheel.namelist()
    assert "shipyard/node/prep.py" in names and "shipyard/catalog/node_agents.json" in names
    assert "shipyard-0.1.0.dist-info/RECORD" in names
    per_version = {p.name for p in wheels.iterdir() if p.is_dir()}
    assert f"cp{HERE_PYTHON.replace('.', '')}" in per_version
    for directory in per_version:
        assert any(n.name.startswith("pydantic_core-") for n in (wheels / directory).iterdir())
    assert not any("azure" in p.name for p in wheels.rglob("*.whl"))  # node prep needs no storage SDK


@pytest.mark.parametrize("version", [HERE_PYTHON, *OLDER_VERSIONS])
def test_bootstrap_runs_node_prep_with_only_the_stdlib(bundle: Path, node_root: Path, tmp_path: Path, version: str) -> None:
    python = sys.executable if version == HERE_PYTHON else OLDER.get(version)
    if python is None:
        pytest.skip(f"python{version} is not installed (not on PATH, not under {PYENV_VERSIONS}): "
                    f"the README's node-side python {version} support goes unchecked here")
    state = tmp_path / "state"
    command = [python, "-I", "-S", str(bundle / "nodeprep.py"), "--root", str(node_root), "--state-dir", str(state), "--raw"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "ok" and report["failed"] == []
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert json.loads(again.stdout)["status"] == "skipped"


def test_a_python_older_than_3_9_is_one_clear_line(bundle: Path) -> None:
    python = interpreter("3.8")
    if python is None:
        pytest.skip(f"python3.8 is not installed (not on PATH, not under {PYENV_VERSIONS}): the refusal of an "
                    "older node python goes unchecked here")
    done = subprocess.run([python, "-I", "-S", str(bundle / "nodeprep.py")], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "shipyard: error: node prep needs python3 3.9 or newer, found 3.8\n"


def test_missing_python_version_is_one_clear_line(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("site-py*"))
    for directory in (copy / "wheels").iterdir():
        if directory.is_dir():
            shutil.rmtree(directory)
    done = subprocess.run([sys.executable, "-I", "-S", str(copy / "nodeprep.py")], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("shipyard: error: this node prep bundle has no wheels for python")
    assert done.stderr.count("\n") == 1


def test_a_failed_build_leaves_nothing_behind(cli, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = cli("node", "bundle", out, "--python", "3.11", "--python", "2.0")
    assert result.code == 1 and "pip download for python 2.0 failed" in result.err
    assert not out.exists() and not (tmp_path / "bundle.partial").exists()
    bad = cli("node", "bundle", out, "--python", "abc")
    assert bad.code == 2 and not out.exists()


def test_refuses_a_non_empty_out_dir(cli, tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep me")
    result = cli("node", "bundle", tmp_path)
    assert result.code == 2 and "not empty" in result.err
    assert (tmp_path / "x").read_text() == "keep me"
