"""Faults over real HTTP: a corrupted Put Page on the wire, and kill -9 at random points of an upload.

The SDK talks to Azurite through the page proxy (``fixtures.page_proxy``), which logs every Put
Page (range, Azurite's status, whether the client heard it) and can flip one byte of one Put
Page body, leaving its Content-MD5 as it was: real Azure would answer 400, Azurite stores it. The
blob is always judged straight from Azurite, never through the proxy.

- Corruption: ``--verify`` catches it and names exactly the corrupted run; the blob stays
  unfinished (no reader opens it); a rerun sends exactly one Put Page, that run, and the digest
  is the image's. The same through ``shipyard image upload --verify``.
- kill -9: 20 uploads by a child process, each killed at a random moment, each followed by a
  resume, then one that finishes. The final digest is the image's; no range Azurite confirmed is
  ever sent again; after each kill the blob is no usable image.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.azurite import MIB, Azurite
from fixtures.page_proxy import PageProxy, PageWrite
from fixtures.uploads import write_fixed_vhd
from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError
from shipyard.storage import ranges as rng
from shipyard.storage.blob_open import open_blob_in
from shipyard.storage.digest import SparseScan, describe_ranges, recorded_digest, scan_blob, scan_file
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore
from shipyard.storage.upload import upload_page_blob
from shipyard.storage.upload_state import is_upload_complete, upload_state
from shipyard.storage.verify import VerifyFailed

# A few runs: a boot sector, a run across a 4 MiB boundary (two Put Pages), a lone page, 1 MiB.
WRITES = [
    (0, b"\xeb\x63\x90" + os.urandom(509)),
    (4 * MIB - 1024, os.urandom(2048)),
    (9 * MIB + 4096, b"\x01" * 512),
    (16 * MIB, os.urandom(MIB)),
]
FLIPPED = 16 * MIB + 300_001  # a byte of the 1 MiB run
BAD_RUN = (16 * MIB, 17 * MIB)


def _direct(azurite: Azurite) -> tuple[PageBlobStore, dict[str, StorageLink]]:
    """Azurite's acct1 straight (no proxy), and the links a reader of its blobs has."""
    return open_store(azurite.link("acct1")), {"sa1": azurite.link("acct1")}


def _refused_as_unfinished(uri: str, links: dict[str, StorageLink]) -> str:
    with pytest.raises(StorageError) as caught:
        open_blob_in(uri, links).close()
    return str(caught.value)


def _run_ranges(scan: SparseScan) -> list[tuple[int, int]]:
    return [(start, end) for start, end, _ in scan.runs]


def test_a_corrupted_put_page_is_caught_named_kept_unfinished_and_repaired_by_resending_only_it(
    azurite, page_proxy: PageProxy, container: str, tmp_path: Path
) -> None:
    image = write_fixed_vhd(tmp_path / "disk.vhd", 24, WRITES)
    source = scan_file(image)
    assert BAD_RUN in _run_ranges(source)
    wire = open_store(page_proxy.link("acct1"), initial_backoff_s=0.01)
    direct, links = _direct(azurite)
    uri = direct.blob_uri(container, "disk.vhd")

    page_proxy.corrupt_at(FLIPPED)
    with pytest.raises(VerifyFailed) as caught:
        upload_page_blob(image, wire, container, "disk.vhd", verify=True)
    assert page_proxy.corrupted is not None and page_proxy.corrupted.range == BAD_RUN
    assert page_proxy.corrupted.status == 201  # Azurite took the body its Content-MD5 does not match
    assert caught.value.ranges == [BAD_RUN]
    assert f"{describe_ranges([BAD_RUN])} differ from disk.vhd" in str(caught.value)
    first = page_proxy.page_puts()
    assert sorted(p.range for p in first) == _run_ranges(source)  # each run sent once
    assert [c.range for c in page_proxy.page_clears()] == [BAD_RUN]  # cleared for the rerun

    props = direct.get_properties(container, "disk.vhd")
    assert upload_state(props) == "in_progress" and not is_upload_complete(props)
    assert "unfinished upload" in _refused_as_unfinished(uri, links)
    assert scan_blob(direct, container, "disk.vhd").digest != source.digest

    repaired = upload_page_blob(image, wire, container, "disk.vhd", verify=True)
    again = page_proxy.page_puts()[len(first) :]
    assert [(p.range, p.status, p.corrupted_at) for p in again] == [(BAD_RUN, 201, None)]
    assert repaired.resumed and repaired.ranges_sent == 1 and repaired.bytes_sent == BAD_RUN[1] - BAD_RUN[0]
    assert repaired.verified is not None and repaired.verified.ok
    assert repaired.sparse_sha256 == source.digest
    props = direct.get_properties(container, "disk.vhd")
    assert is_upload_complete(props) and recorded_digest(props) == source.digest
    assert scan_blob(direct, container, "disk.vhd").digest == source.digest
    with open_blob_in(uri, links) as device:
        assert device.size_bytes == source.size_bytes


def test_upload_verify_from_the_cli_names_the_corrupted_range_in_one_line(
    cli, write_config, shipyard_home, azurite, page_proxy: PageProxy, container: str, tmp_path: Path
) -> None:
    image = write_fixed_vhd(tmp_path / "disk.vhd", 24, WRITES)
    key = azurite.keys["acct1"]
    configdir = write_config(credentials=(
        "credentials:\n  storage:\n    sa1:\n      account: acct1\n"
        f"      account_key: {key}\n      blob_endpoint: {page_proxy.endpoint('acct1')}\n"
    ))
    args = ("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
            "--container", container, "--verify")
    uri = f"{page_proxy.endpoint('acct1')}/{container}/disk.vhd"
    page_proxy.corrupt_at(FLIPPED)
    bad = cli(*args)
    assert bad.code == 1 and bad.out == "" and page_proxy.corrupted is not None
    assert bad.err == (
        f"shipyard: error: verify failed for {uri}: {describe_ranges([BAD_RUN])} differ from disk.vhd; "
        "the blob stays marked unfinished; rerun the upload: it resends only those ranges\n"
    )
    assert "Traceback" not in bad.out + bad.err and key not in bad.out + bad.err
    direct, _ = _direct(azurite)
    assert not is_upload_complete(direct.get_properties(container, "disk.vhd"))

    sent = len(page_proxy.page_puts())
    good = cli(*args, "--raw")
    assert good.code == 0, good.err
    assert [p.range for p in page_proxy.page_puts()[sent:]] == [BAD_RUN]
    assert good.json()["sparse_sha256"] == scan_file(image).digest and good.json()["verify"]["ok"] is True
    assert is_upload_complete(direct.get_properties(container, "disk.vhd"))


# -- kill -9 ---------------------------------------------------------------------------------------

SEED = 20_250_612
KILLS = 20
PUT_DELAY_S = 0.01  # each Put Page waits this long in the proxy: an upload outlasts a kill's wait

CHILD = """
import os, sys
from shipyard.config.credentials import StorageLink
from shipyard.storage.open import open_store
from shipyard.storage.upload import upload_page_blob

endpoint, container, blob, image = sys.argv[1:5]
hold = sys.argv[5:] == ["hold-at-verify"]
link = StorageLink(account="acct1", account_key=os.environ["CHILD_ACCOUNT_KEY"], blob_endpoint=endpoint)
store = open_store(link, initial_backoff_s=0.01)

def event(p):
    print("put" if p.sent_range else "skip", p.bytes_sent, p.bytes_skipped, flush=True)

def stage(name, done, total):
    print("stage", name, done, total, flush=True)
    if hold:
        import time
        time.sleep(120)  # every page sent, not yet verified: the parent kills it here

print("ready", flush=True)
result = upload_page_blob(image, store, container, blob, progress=event, parallelism=4, verify=hold,
                          stage_progress=stage)
print("done", result.sparse_sha256, flush=True)
"""


def _scattered_image(path: Path, rand: random.Random) -> Path:
    """64 MiB with 300 runs of 1-16 random pages, each in its own 64 KiB slot (so none coalesce)."""
    slot = 64 * 1024
    writes = []
    for index in sorted(rand.sample(range(64 * MIB // slot), 300)):
        pages = rand.randint(1, 16)
        offset = index * slot + rand.randrange(0, (slot // 512) - pages) * 512
        writes.append((offset, rand.randbytes(pages * 512)))
    return write_fixed_vhd(path, 64, writes)


class Child:
    """One upload in a child process; its stdout is one line per progress event."""

    def __init__(self, proxy: PageProxy, azurite: Azurite, container: str, image: Path, *extra: str) -> None:
        env = {**os.environ, "CHILD_ACCOUNT_KEY": azurite.keys["acct1"], "PYTHONPATH": os.pathsep.join(sys.path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, proxy.endpoint("acct1"), container, "disk.vhd", str(image), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
        )
        self.lines: list[str] = []

    def read_until(self, puts: int) -> None:
        """Read its events until it is uploading and ``puts`` Put Pages finished (or it ended)."""
        assert self.proc.stdout is not None
        seen = 0
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            seen += line.startswith("put ")
            if self.lines[0] == "ready" and seen >= puts:
                return

    def read_until_stage(self) -> None:
        """Read its events until it reports a stage after the transfer (or it ended)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("stage "):
                return

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self) -> int:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.lines += self.proc.stdout.read().splitlines()
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.wait()


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_kill_9_at_random_points_then_resume_never_resends_a_confirmed_range_and_never_shows_a_partial_image(
    azurite, page_proxy: PageProxy, container: str, tmp_path: Path
) -> None:
    rand = random.Random(SEED)
    image = _scattered_image(tmp_path / "disk.vhd", rand)
    source = scan_file(image)
    runs = _run_ranges(source)
    assert len(runs) >= 300
    direct, links = _direct(azurite)
    direct.ensure_container(container)
    uri = direct.blob_uri(container, "disk.vhd")
    page_proxy.put_delay_s = PUT_DELAY_S

    run_starts: list[int] = []  # index into the proxy's Put Page log where each child began
    present_at_start: list[list[tuple[int, int]]] = []
    unfinished_kills = partial_kills = 0
    for kill in range(KILLS):
        present_at_start.append(_page_ranges(direct, container))
        run_starts.append(len(page_proxy.page_puts()))
        child = Child(page_proxy, azurite, container, image)
        try:
            waits, pause_s = rand.randint(0, 5), rand.uniform(0, 0.03)
            child.read_until(waits)
            time.sleep(pause_s)  # a random moment, not a measurement
        finally:
            child.kill()
        page_proxy.quiesce()  # what the dead child had sent has reached Azurite (or never will)
        props = direct.get_properties(container, "disk.vhd")
        confirmed = rng.coalesce_ranges(p.range for p in page_proxy.page_puts() if p.confirmed)
        assert _page_ranges(direct, container) == confirmed, f"kill {kill}: the log and the blob disagree"
        if is_upload_complete(props):  # it finished before the kill: then it is the image, whole
            assert scan_blob(direct, container, "disk.vhd").digest == source.digest == recorded_digest(props)
            continue
        unfinished_kills += 1
        partial_kills += 0 < rng.total_bytes(confirmed) < source.data_bytes
        refusal = _refused_as_unfinished(uri, links)
        assert ("unfinished upload" if props is not None else "does not exist") in refusal, refusal
    assert unfinished_kills >= 15, f"only {unfinished_kills} of {KILLS} kills landed before the upload finished"
    assert partial_kills >= 10, f"only {partial_kills} kills left a part of the image"

    present_at_start.append(_page_ranges(direct, container))
    run_starts.append(len(page_proxy.page_puts()))
    final = Child(page_proxy, azurite, container, image)
    code = final.finish()
    assert code == 0, final.stderr
    assert final.lines[-1] == f"done {source.digest}"
    page_proxy.quiesce()

    props = direct.get_properties(container, "disk.vhd")
    assert is_upload_complete(props)
    assert scan_blob(direct, container, "disk.vhd").digest == source.digest == recorded_digest(props)
    with open_blob_in(uri, links) as device:
        assert device.size_bytes == source.size_bytes

    puts = page_proxy.page_puts()
    _assert_no_confirmed_range_sent_again(puts)
    assert sorted(p.range for p in puts if p.confirmed) == runs  # every run confirmed exactly once
    for index, (begin, present) in enumerate(zip(run_starts, present_at_start, strict=True)):
        end = run_starts[index + 1] if index + 1 < len(run_starts) else len(puts)
        missing = rng.subtract_coalesced(runs, present)
        sent = sorted(p.range for p in puts[begin:end])
        assert set(sent) <= set(missing), f"run {index} sent what the blob had"
        if index == len(run_starts) - 1:
            assert sent == missing  # the final run sends exactly what the blob lacks
    unheard = [p for p in puts if p.confirmed and not p.relayed]
    assert unheard, "no kill left a Put Page that Azurite confirmed and its client never heard"


def _page_ranges(store: PageBlobStore, container: str) -> list[tuple[int, int]]:
    return store.get_page_ranges(container, "disk.vhd") if store.get_properties(container, "disk.vhd") else []


def _assert_no_confirmed_range_sent_again(puts: list[PageWrite]) -> None:
    """No Put Page overlaps one that Azurite confirmed before it arrived (in the proxy's order)."""
    confirmed: list[tuple[int, int]] = []
    for put in sorted(puts, key=lambda p: p.seq):
        again = [c for c in confirmed if _overlap(c, put.range)]
        assert not again, f"Put Page {put.seq} {put.range} resends confirmed {again}"
        if put.confirmed:
            confirmed.append(put.range)


def test_a_kill_after_the_last_put_page_before_it_is_verified_leaves_no_usable_image(
    azurite, page_proxy: PageProxy, container: str, tmp_path: Path
) -> None:
    """The window the random kills rarely reach: every page sent, the digest recorded, not verified."""
    image = write_fixed_vhd(tmp_path / "disk.vhd", 24, WRITES)
    source = scan_file(image)
    direct, links = _direct(azurite)
    direct.ensure_container(container)
    uri = direct.blob_uri(container, "disk.vhd")
    child = Child(page_proxy, azurite, container, image, "hold-at-verify")
    try:
        child.read_until_stage()
        assert child.lines[-1].startswith("stage verifying "), child.lines
    finally:
        child.kill()
    page_proxy.quiesce()
    assert sorted(p.range for p in page_proxy.page_puts()) == _run_ranges(source)  # all of it was sent
    props = direct.get_properties(container, "disk.vhd")
    assert upload_state(props) == "in_progress" and recorded_digest(props) == source.digest
    assert not is_upload_complete(props)
    assert "unfinished upload" in _refused_as_unfinished(uri, links)

    sent = len(page_proxy.page_puts())
    final = Child(page_proxy, azurite, container, image)
    assert final.finish() == 0, final.stderr
    assert page_proxy.page_puts()[sent:] == []  # nothing was missing
    assert final.lines[-1] == f"done {source.digest}"
    assert is_upload_complete(direct.get_properties(container, "disk.vhd"))
