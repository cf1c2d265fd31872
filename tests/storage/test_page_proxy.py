"""The page proxy (``fixtures.page_proxy``) that the fault tests put between the SDK and Azurite.

What those tests rely on, shown here on the real SDK and Azurite: calls through the proxy work,
Put Pages and Clear Pages are logged with their ranges and statuses, the corruption changes
exactly one byte of the stored blob (read back from Azurite directly) while Azurite still accepts
the Put Page's now wrong Content-MD5, a client killed mid-request leaves a Put Page that Azurite
confirmed but nobody heard, and stop() leaves no thread or socket behind.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from fixtures.azurite import MIB, Azurite
from fixtures.page_proxy import PageProxy
from shipyard.storage.open import open_store
from shipyard.storage.store import PageBlobStore

SIZE = 16 * MIB


def _stores(azurite: Azurite, proxy: PageProxy) -> tuple[PageBlobStore, PageBlobStore]:
    """(through the proxy, straight to Azurite) for account acct1."""
    return open_store(proxy.link("acct1"), initial_backoff_s=0.01), open_store(azurite.link("acct1"))


def test_sdk_calls_through_the_proxy_see_what_azurite_holds(azurite, page_proxy: PageProxy, container: str) -> None:
    wire, direct = _stores(azurite, page_proxy)
    assert wire.blob_uri(container, "a.vhd") == f"http://127.0.0.1:{page_proxy.port}/acct1/{container}/a.vhd"
    wire.ensure_container(container)
    wire.create_page_blob(container, "a.vhd", SIZE, metadata={"shipyard_upload": "in_progress"})
    first, second = os.urandom(4 * MIB), os.urandom(1024)
    wire.put_pages(container, "a.vhd", 0, first, hashlib.md5(first).digest())
    wire.put_pages(container, "a.vhd", 8 * MIB, second, hashlib.md5(second).digest())
    wire.set_metadata(container, "a.vhd", {"shipyard_upload": "complete", "k": "v"})

    assert wire.get_page_ranges(container, "a.vhd") == [(0, 4 * MIB), (8 * MIB, 8 * MIB + 1024)]
    props = wire.get_properties(container, "a.vhd")
    assert props is not None and props.size_bytes == SIZE and props.metadata == {"shipyard_upload": "complete", "k": "v"}
    assert wire.read_range(container, "a.vhd", 8 * MIB, 1024) == second
    assert wire.read_range(container, "a.vhd", 0, 4 * MIB) == first  # a 4 MiB answer relayed whole
    assert [b.name for b in wire.list_blobs(container)] == ["a.vhd"]
    assert wire.get_properties(container, "missing.vhd") is None  # a 404 relayed as one
    # the same, straight from Azurite
    assert direct.get_page_ranges(container, "a.vhd") == wire.get_page_ranges(container, "a.vhd")
    assert direct.read_range(container, "a.vhd", 0, 4 * MIB) == first
    assert page_proxy.requests >= 10
    assert page_proxy.connections < page_proxy.requests  # the SDK's connections were kept alive


def test_put_pages_and_clears_are_logged_with_their_ranges(azurite, page_proxy: PageProxy, container: str) -> None:
    wire, _ = _stores(azurite, page_proxy)
    wire.ensure_container(container)
    wire.create_page_blob(container, "b.vhd", SIZE)
    for offset, length in [(0, 512), (4 * MIB, 4 * MIB), (12 * MIB + 4096, 8192)]:
        wire.put_pages(container, "b.vhd", offset, os.urandom(length))
    wire.clear_pages(container, "b.vhd", 4 * MIB, MIB)
    wire.get_page_ranges(container, "b.vhd")  # not a page write: not logged

    puts = page_proxy.page_puts()
    assert [(p.seq, p.blob, p.range) for p in puts] == [
        (0, f"/acct1/{container}/b.vhd", (0, 512)),
        (1, f"/acct1/{container}/b.vhd", (4 * MIB, 8 * MIB)),
        (2, f"/acct1/{container}/b.vhd", (12 * MIB + 4096, 12 * MIB + 12288)),
    ]
    assert all(p.status == 201 and p.confirmed and p.relayed and p.corrupted_at is None for p in puts)
    clears = page_proxy.page_clears()
    assert [(c.blob, c.range, c.status, c.relayed) for c in clears] == [
        (f"/acct1/{container}/b.vhd", (4 * MIB, 5 * MIB), 201, True)
    ]


@pytest.mark.parametrize("how", ["offset", "nth"])
def test_the_corruption_flips_exactly_one_byte_and_azurite_takes_the_wrong_md5(
    azurite, page_proxy: PageProxy, container: str, how: str
) -> None:
    wire, direct = _stores(azurite, page_proxy)
    wire.ensure_container(container)
    wire.create_page_blob(container, "c.vhd", SIZE)
    pieces = {0: os.urandom(MIB), 4 * MIB: os.urandom(4 * MIB), 9 * MIB: os.urandom(MIB)}
    target = 4 * MIB + 123_457
    if how == "offset":
        page_proxy.corrupt_at(target)
    else:
        page_proxy.corrupt_nth(1)  # the second Put Page; its first byte
        target = 4 * MIB
    for offset, data in pieces.items():
        wire.put_pages(container, "c.vhd", offset, data, hashlib.md5(data).digest())  # Content-MD5 of the good bytes

    assert page_proxy.corrupted is not None and page_proxy.corrupted.range == (4 * MIB, 8 * MIB)
    assert page_proxy.corrupted.corrupted_at == target
    assert [p.status for p in page_proxy.page_puts()] == [201, 201, 201]  # Azurite checks no MD5
    stored = direct.read_range(container, "c.vhd", 0, SIZE)
    expected = bytearray(SIZE)
    for offset, data in pieces.items():
        expected[offset : offset + len(data)] = data
    differ = [i for i in range(0, SIZE, MIB) if stored[i : i + MIB] != expected[i : i + MIB]]
    assert differ == [target // MIB * MIB]
    assert [i for i in range(target // MIB * MIB, target // MIB * MIB + MIB) if stored[i] != expected[i]] == [target]
    assert stored[target] == expected[target] ^ 0xFF
    # once: a second Put Page over the same range goes through unchanged
    wire.put_pages(container, "c.vhd", 4 * MIB, pieces[4 * MIB])
    assert direct.read_range(container, "c.vhd", 4 * MIB, 4 * MIB) == pieces[4 * MIB]
    assert page_proxy.page_puts()[-1].corrupted_at is None


CHILD = """
import os, sys
from shipyard.config.credentials import StorageLink
from shipyard.storage.open import open_store
link = StorageLink(account="acct1", account_key=os.environ["CHILD_KEY"], blob_endpoint=sys.argv[1])
store = open_store(link)
print("ready", flush=True)
store.put_pages(sys.argv[2], "d.vhd", 0, b"\\x07" * 4096)
print("answered", flush=True)
"""


def test_a_client_killed_mid_put_leaves_a_put_azurite_confirmed_and_nobody_heard(
    azurite, page_proxy: PageProxy, container: str
) -> None:
    _, direct = _stores(azurite, page_proxy)
    direct.ensure_container(container)
    direct.create_page_blob(container, "d.vhd", SIZE)
    page_proxy.put_delay_s = 1.0  # the Put Page waits in the proxy while its client is killed
    env = {**os.environ, "CHILD_KEY": azurite.keys["acct1"], "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, page_proxy.endpoint("acct1"), container],
                             stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        while not page_proxy.page_puts():  # its Put Page reached the proxy
            assert child.poll() is None
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        rest = child.stdout.read()
        child.stdout.close()
    assert rest == ""  # it never heard the answer
    page_proxy.quiesce()
    [put] = page_proxy.page_puts()
    assert put.range == (0, 4096) and put.status == 201 and put.confirmed and not put.relayed
    assert direct.get_page_ranges(container, "d.vhd") == [(0, 4096)]
    assert direct.read_range(container, "d.vhd", 0, 4096) == b"\x07" * 4096


def test_stop_closes_every_socket_and_thread(azurite, container: str) -> None:
    proxy = PageProxy(azurite)
    wire = open_store(proxy.link("acct1"), initial_backoff_s=0.01, retry_total=0, retry_connect=0)
    wire.ensure_container(container)  # a kept-alive connection is open now
    assert proxy.connections >= 1
    proxy.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("page-proxy")]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5).close()
