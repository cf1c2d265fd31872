"""The static busybox that image roots run (get-busybox.sh, install-busybox.sh, fixtures.busybox).

The download is real (``apt-get download busybox-static``); the tests without apt's lists point
apt at an empty lists directory (``APT_CONFIG``), so they run the offline paths for real too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fixtures.busybox import (GET_BUSYBOX, INSTALL_BUSYBOX, UNAVAILABLE, get_busybox, is_static_elf, make_userland,
                              no_apt_lists_env)

OS_RELEASE = 'PRETTY_NAME="Shipyard Userland 1.0"\nNAME="Shipyard Userland"\nID=shipyard-userland\nVERSION_ID="1.0"\n'
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bwrap is not installed (CI installs bubblewrap)")


def bwrap(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bwrap", "--ro-bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
                           "/bin/sh", "-c", script], capture_output=True, text=True, check=False)


@pytest.fixture
def no_apt_lists(tmp_path: Path) -> dict[str, str]:
    return no_apt_lists_env(tmp_path)


def test_the_binary_is_a_static_busybox_that_runs(busybox_binary: Path) -> None:
    assert is_static_elf(busybox_binary)
    assert subprocess.run([str(busybox_binary), "echo", "hello", "from", "busybox"], capture_output=True,
                          text=True, check=True).stdout == "hello from busybox\n"
    if busybox_binary.is_relative_to(GET_BUSYBOX.parents[2] / ".cache"):
        top, arch, version, name = busybox_binary.parts[-4:]  # .cache/busybox/ARCH/VERSION/busybox
        assert (top, name) == ("busybox", "busybox") and ":" not in version and arch


def test_is_static_elf_tells_a_dynamic_binary_and_a_script() -> None:
    assert not is_static_elf(Path(shutil.which("ls") or "/bin/ls"))
    assert not is_static_elf(GET_BUSYBOX)


def test_concurrent_downloads_into_a_fresh_cache_agree(busybox_binary: Path, tmp_path: Path) -> None:
    env = {**os.environ, "BUSYBOX_CACHE": str(tmp_path / "cache")}
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: get_busybox(env), range(2)))
    if results[0].returncode == UNAVAILABLE:
        pytest.skip(f"no download here: {results[0].stderr.strip()}")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    (path,) = {r.stdout for r in results}
    cached = Path(path.strip())
    assert cached.parent.parent.parent == tmp_path / "cache"
    assert is_static_elf(cached)
    assert subprocess.run([str(cached), "true"], check=False).returncode == 0
    # only the binary is left: no download directory, no half-renamed file
    assert sorted(p.relative_to(tmp_path / "cache") for p in (tmp_path / "cache").rglob("*") if p.is_file()) == [
        cached.relative_to(tmp_path / "cache")]
    assert get_busybox(env).stdout == path  # a hit: the same path, nothing fetched


def test_without_apt_lists_nothing_cached_and_no_busybox_it_says_apt_get_update(
        no_apt_lists: dict[str, str]) -> None:
    fake = Path(no_apt_lists["BUSYBOX_FALLBACK"])  # a script that says it is BusyBox: not a static binary
    fake.write_text('#!/bin/sh\necho "BusyBox v1.35.0 (fake)"\n')
    fake.chmod(0o755)
    result = get_busybox(no_apt_lists)
    assert result.returncode == UNAVAILABLE and result.stdout == ""
    assert "apt-get update" in result.stderr and "no package lists" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_apt_lists_a_static_busybox_fallback_is_used(no_apt_lists: dict[str, str],
                                                             busybox_binary: Path) -> None:
    no_apt_lists["BUSYBOX_FALLBACK"] = str(busybox_binary)
    result = get_busybox(no_apt_lists)
    assert (result.returncode, result.stdout) == (0, f"{busybox_binary}\n"), result.stderr


def test_without_apt_lists_the_newest_cached_version_is_used(no_apt_lists: dict[str, str], busybox_binary: Path,
                                                              tmp_path: Path) -> None:
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()
    cache = Path(no_apt_lists["BUSYBOX_CACHE"])
    for version in ("1_1.9.0-1", "1_1.36.1-9"):
        (cache / arch / version).mkdir(parents=True)
        shutil.copy2(busybox_binary, cache / arch / version / "busybox")
    result = get_busybox(no_apt_lists)
    assert (result.returncode, result.stdout) == (0, f"{cache}/{arch}/1_1.36.1-9/busybox\n"), result.stderr


def test_make_userland_lays_out_a_usrmerged_root(busybox_binary: Path, tmp_path: Path) -> None:
    root = make_userland(tmp_path / "root", busybox_binary, OS_RELEASE)
    assert {name: os.readlink(root / name) for name in ("bin", "sbin", "lib")} == {
        "bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib"}
    assert (root / "usr/bin/busybox").read_bytes() == busybox_binary.read_bytes()
    for applet in ("sh", "cat", "echo", "ls", "true", "false", "sleep", "env", "id", "ps", "touch", "mkdir",
                   "rm", "wc", "head", "grep", "readlink", "uname", "stat", "hostname", "kill", "mount"):
        assert os.readlink(root / "usr/bin" / applet) == "busybox", applet
    assert (root / "etc/os-release").read_text() == OS_RELEASE
    assert {p.name: p.stat().st_mode & 0o7777 for p in root.iterdir() if p.is_dir() and not p.is_symlink()
            and p.name not in ("usr", "etc")} == {"proc": 0o755, "dev": 0o755, "sys": 0o755, "run": 0o755,
                                                  "tmp": 0o1777, "mnt": 0o755}


@needs_bwrap
def test_bwrap_runs_the_userland_as_its_root(busybox_binary: Path, tmp_path: Path) -> None:
    root = make_userland(tmp_path / "root", busybox_binary, OS_RELEASE)
    result = bwrap(root, "cat /etc/os-release")
    assert (result.returncode, result.stdout) == (0, OS_RELEASE), result.stderr
    # the root is the userland's, not the host's: its busybox is the only program there
    listing = bwrap(root, "readlink /bin/sh; ls /usr/bin | wc -l; test -e /etc/passwd || echo no-passwd")
    count = len(list((root / "usr/bin").iterdir()))
    assert listing.stdout.split() == ["busybox", str(count), "no-passwd"], listing.stderr


def test_install_busybox_keeps_the_programs_a_root_already_has(busybox_binary: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/sbin").mkdir()
    (root / "usr/bin/ls").write_text("#!/bin/sh\nexit 0\n")
    (root / "usr/sbin/mount").write_text("#!/bin/sh\nexit 0\n")
    (root / "usr/bin/sh").symlink_to("dash")  # a dangling link is a program there too
    subprocess.run([str(INSTALL_BUSYBOX), str(root), str(busybox_binary)], check=True)
    assert (root / "usr/bin/ls").read_text() == "#!/bin/sh\nexit 0\n"
    assert os.readlink(root / "usr/bin/sh") == "dash"
    assert not (root / "usr/bin/mount").exists()
    assert os.readlink(root / "usr/bin/cat") == "busybox"
    again = subprocess.run([str(INSTALL_BUSYBOX), str(root), str(busybox_binary)], capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr
