"""The Azure store against Azurite, plus the SDK boundary (retries) against a scripted HTTP server."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError
from shipyard.storage.azure import AzurePageBlobStore
from shipyard.storage.open import open_store
from shipyard.storage.replicate import plan_replication, replicate_image
from shipyard.storage.upload import upload_page_blob

MIB = 1024 * 1024
WRONG_KEY = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktISE="


def test_open_store_picks_azure_for_a_blob_endpoint(azurite) -> None:
    store = open_store(azurite.link("acct1"))
    assert isinstance(store, AzurePageBlobStore)
    assert (
        store.blob_uri("vhds", "a.vhd")
        == f"http://127.0.0.1:{azurite.port}/acct1/vhds/a.vhd"
    )
    prod = AzurePageBlobStore(
        StorageLink(
            account="prod", account_key=WRONG_KEY, endpoint="core.usgovcloudapi.net"
        )
    )
    assert (
        prod.blob_uri("vhds", "a.vhd")
        == "https://prod.blob.core.usgovcloudapi.net/vhds/a.vhd"
    )


def test_wrong_key_is_one_line_without_the_key(
    azurite, container, sparse_image
) -> None:
    store = open_store(azurite.link("acct1", key=WRONG_KEY), initial_backoff_s=0)
    with pytest.raises(StorageError) as caught:
        upload_page_blob(sparse_image, store, container, "disk.vhd")
    message = str(caught.value)
    assert "wrong account key?" in message and "acct1" in message
    assert (
        "\n" not in message
        and WRONG_KEY not in message
        and WRONG_KEY not in (caught.value.hint or "")
    )


def test_missing_container_and_blob(azurite, container) -> None:
    store = open_store(azurite.link("acct2"))
    with pytest.raises(
        StorageError,
        match=f"container '{container}' does not exist in storage account 'acct2'",
    ):
        store.get_properties(container, "x.vhd")
    store.ensure_container(container)
    store.ensure_container(container)  # idempotent
    assert store.get_properties(container, "x.vhd") is None
    with pytest.raises(StorageError, match="blob not found"):
        store.get_page_ranges(container, "x.vhd")
    store.delete_blob(container, "x.vhd")  # missing is fine


def test_page_blob_basics(azurite, container) -> None:
    store = open_store(azurite.link("acct1"))
    store.ensure_container(container)
    store.create_page_blob(
        container, "b.vhd", 8 * MIB, metadata={"shipyard_upload": "in_progress"}
    )
    with pytest.raises(StorageError, match="already exists"):
        store.create_page_blob(container, "b.vhd", 8 * MIB)
    data = bytes(range(256)) * 8
    store.put_pages(container, "b.vhd", MIB, data, hashlib.md5(data).digest())
    store.put_pages(container, "b.vhd", MIB + 2048, data)
    assert store.get_page_ranges(container, "b.vhd") == [
        (MIB, MIB + 4096)
    ]  # inclusive ends converted
    assert store.read_range(container, "b.vhd", MIB, 2048) == data
    store.set_content_md5(container, "b.vhd", b"0123456789abcdef")
    store.set_metadata(container, "b.vhd", {"shipyard_upload": "complete"})
    props = store.get_properties(container, "b.vhd")
    assert props.size_bytes == 8 * MIB and props.content_md5 == b"0123456789abcdef"
    assert props.metadata == {"shipyard_upload": "complete"}
    with pytest.raises(
        StorageError, match="not 512-aligned or over 4 MiB"
    ):  # Azurite would accept it
        store.put_pages(container, "b.vhd", 0, bytes(4 * MIB + 512))


def test_read_range_is_one_ranged_get(azurite, container, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read in place costs one request: not the SDK downloader's ranged GET plus a Get Page
    Ranges of the whole blob that it sends for every page blob."""
    import urllib3.connectionpool

    store = open_store(azurite.link("acct1"))
    store.ensure_container(container)
    store.create_page_blob(container, "r.vhd", 4 * MIB)
    data = bytes(range(256)) * 4
    store.put_pages(container, "r.vhd", MIB, data)
    sent: list[str] = []
    urlopen = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def counting(pool, method, url, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(f"{method} {url}")
        return urlopen(pool, method, url, *args, **kwargs)

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "urlopen", counting)
    assert store.read_range(container, "r.vhd", MIB, 1024) == data
    assert store.read_range(container, "r.vhd", MIB - 512, 512) == bytes(512)
    assert len(sent) == 2 and all(line.startswith("GET ") and "comp=" not in line for line in sent), sent
    assert store.read_range(container, "r.vhd", 0, 0) == b""
    with pytest.raises(StorageError, match=r"nope\.vhd: blob not found in storage account 'acct1'$"):
        store.read_range(container, "nope.vhd", 0, 512)


def test_unreachable_endpoint_is_one_line() -> None:
    link = StorageLink(
        account="gone", account_key=WRONG_KEY, blob_endpoint="http://127.0.0.1:9/gone"
    )
    store = open_store(link, retry_total=0)
    with pytest.raises(
        StorageError, match="cannot reach storage account 'gone'"
    ) as caught:
        store.get_properties("vhds", "x.vhd")
    assert "\n" not in str(caught.value)


# -- retries at the SDK boundary -------------------------------------------------------------------
class _Scripted(BaseHTTPRequestHandler):
    # per-test lists, set by the ``scripted`` fixture on a fresh subclass
    statuses: ClassVar[list[int]]
    seen: ClassVar[list[str]]
    headers_seen: ClassVar[list[dict[str, str]]]

    def _answer(self) -> None:
        type(self).seen.append(self.command)
        type(self).headers_seen.append({k.lower(): v for k, v in self.headers.items()})
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status = type(self).statuses.pop(0) if type(self).statuses else 201
        self.send_response(status)
        if status >= 400:
            self.send_header(
                "x-ms-error-code",
                {403: "AuthenticationFailed", 400: "InvalidHeaderValue"}.get(
                    status, "ServerBusy"
                ),
            )
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_GET = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator[tuple[type[_Scripted], int]]:
    handler = type(
        "Handler", (_Scripted,), {"statuses": [], "seen": [], "headers_seen": []}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, server.server_address[1]
    server.shutdown()
    server.server_close()


def _scripted_store(port: int) -> AzurePageBlobStore:
    link = StorageLink(
        account="acct",
        account_key=WRONG_KEY,
        blob_endpoint=f"http://127.0.0.1:{port}/acct",
    )
    return AzurePageBlobStore(link, retry_total=4, initial_backoff_s=0)


@pytest.mark.parametrize("status", [503, 500])
def test_transient_errors_are_retried(scripted, status: int) -> None:
    handler, port = scripted
    handler.statuses = [status, status]
    _scripted_store(port).create_page_blob("vhds", "a.vhd", 4096)
    assert len(handler.seen) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 408, 409, 412])
def test_4xx_is_never_retried(scripted, status: int) -> None:
    handler, port = scripted
    handler.statuses = [status] * 5
    with pytest.raises(StorageError):
        _scripted_store(port).create_page_blob("vhds", "a.vhd", 4096, overwrite=True)
    assert len(handler.seen) == 1


def test_retries_give_up_after_the_cap(scripted) -> None:
    handler, port = scripted
    handler.statuses = [503] * 10
    with pytest.raises(StorageError, match="503"):
        _scripted_store(port).create_page_blob("vhds", "a.vhd", 4096)
    assert len(handler.seen) == 5  # the first try and retry_total=4


def test_put_pages_sends_the_transactional_md5(scripted) -> None:
    # Azurite ignores a Put Page's Content-MD5 (Azure rejects a mismatch with 400 Md5Mismatch),
    # so this is checked at the SDK boundary: the header goes out with the page's digest.
    handler, port = scripted
    data = b"\x01" * 512
    _scripted_store(port).put_pages(
        "vhds", "a.vhd", 0, data, hashlib.md5(data).digest()
    )
    sent = handler.headers_seen[0]
    assert sent["content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert sent["x-ms-range"] == "bytes=0-511" and sent["x-ms-page-write"] == "update"


# -- secrets ---------------------------------------------------------------------------------------
def test_secrets_never_reach_logs(
    azurite, container, sparse_image, home, caplog
) -> None:
    links = {
        name: azurite.link(account)
        for name, account in (("sa1", "acct1"), ("sa2", "acct2"))
    }
    caplog.set_level(logging.DEBUG)
    store = open_store(links["sa1"], logging_enable=True)
    upload_page_blob(sparse_image, store, container, "disk.vhd")
    plan = plan_replication(
        "sa1",
        container,
        "disk.vhd",
        links,
        nodes=80,
        node_agent="batch.node.ubuntu 22.04",
    )
    result = replicate_image(
        plan,
        links,
        poll_interval_s=0,
        store_factory=lambda link: open_store(link, logging_enable=True),
    )
    assert [r.mode for r in result.replicas] == ["server_copy"]
    text = caplog.text
    assert "copy" in text.lower()  # the SDK did log the copy request
    for key in azurite.keys.values():
        assert key not in text
    assert not re.search(r"sig=(?!\*|%2A|REDACTED|<redacted>)[A-Za-z0-9%]", text)


# -- stalls, retries and what -v shows ----------------------------------------------------------------
def _link_at(port: int, account: str = "acct") -> StorageLink:
    return StorageLink(account=account, account_key=WRONG_KEY, blob_endpoint=f"http://127.0.0.1:{port}/{account}")


def test_a_connection_that_never_completes_is_capped_with_one_line(stalled_port: int, caplog) -> None:
    # the default retry budget (5), but a stalled connection gets only 2 retries
    store = AzurePageBlobStore(_link_at(stalled_port), initial_backoff_s=0, connection_timeout_s=0.3)
    caplog.set_level(logging.INFO, logger="shipyard")
    with pytest.raises(StorageError) as caught:
        store.get_properties("vhds", "x.vhd")
    assert str(caught.value) == (
        f"reading the properties of http://127.0.0.1:{stalled_port}/acct/vhds/x.vhd: cannot reach storage account "
        f"'acct' at http://127.0.0.1:{stalled_port}/acct: no connection within 0.3 s (3 attempts)"
    )
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries == [
        f"retrying HEAD http://127.0.0.1:{stalled_port}/acct/vhds/x.vhd after no connection within 0.3 s "
        f"(retry {n} of 2, waiting 0.0 s)"
        for n in (1, 2)
    ]
    assert WRONG_KEY not in caplog.text


def test_a_server_that_never_answers_is_capped_with_one_line(silent_port: int) -> None:
    store = AzurePageBlobStore(_link_at(silent_port), initial_backoff_s=0, read_timeout_s=0.3)
    with pytest.raises(StorageError) as caught:
        store.create_page_blob("vhds", "a.vhd", 4096)
    assert str(caught.value) == (
        f"creating http://127.0.0.1:{silent_port}/acct/vhds/a.vhd: cannot reach storage account 'acct' at "
        f"http://127.0.0.1:{silent_port}/acct: no answer within 0.3 s (3 attempts)"
    )


def test_a_refused_connection_names_the_endpoint_and_the_attempts() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    store = AzurePageBlobStore(_link_at(free), initial_backoff_s=0, retry_total=1)
    with pytest.raises(StorageError) as caught:
        store.ensure_container("vhds")
    assert str(caught.value) == (
        f"creating container 'vhds': cannot reach storage account 'acct' at http://127.0.0.1:{free}/acct: "
        "connection refused (2 attempts)"
    )


def test_retries_are_logged_with_the_reason_and_the_backoff(scripted, caplog) -> None:
    handler, port = scripted
    handler.statuses = [503, 500]
    caplog.set_level(logging.INFO, logger="shipyard")
    AzurePageBlobStore(_link_at(port), retry_total=4, initial_backoff_s=0).create_page_blob("vhds", "a.vhd", 4096)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("shipyard.storage")]
    uri = f"http://127.0.0.1:{port}/acct/vhds/a.vhd"
    assert messages == [
        f"storage account 'acct' at http://127.0.0.1:{port}/acct (shared key; connect timeout 10 s, "
        "read timeout 60 s; retries: up to 4 after a 5xx, 2 after a connection that fails or stalls)",
        f"creating page blob {uri} (4,096 bytes)",
        f"retrying PUT {uri} after 503 ServerBusy (retry 1 of 4, waiting 0.0 s)",
        f"retrying PUT {uri} after 500 ServerBusy (retry 2 of 4, waiting 0.0 s)",
    ]


def test_each_request_is_logged_at_debug_without_its_query_or_headers(scripted, caplog) -> None:
    _, port = scripted
    caplog.set_level(logging.DEBUG, logger="shipyard")
    store = AzurePageBlobStore(_link_at(port), initial_backoff_s=0)
    store.put_pages("vhds", "a.vhd", 512, b"\x01" * 512)
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("shipyard.storage")]
    uri = f"http://127.0.0.1:{port}/acct/vhds/a.vhd"
    assert records[1:] == [
        ("DEBUG", f"writing 512 bytes at 512 of {uri}"),
        ("DEBUG", f"PUT {uri} (comp=page): 201"),
    ]
    assert "Authorization" not in caplog.text and "SharedKey" not in caplog.text


def test_a_host_name_that_does_not_exist_fails_at_once(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "acct.blob.shipyard-test.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    caplog.set_level(logging.INFO, logger="shipyard")
    link = StorageLink(account="acct", account_key=WRONG_KEY, endpoint="shipyard-test.invalid")
    store = AzurePageBlobStore(link)  # the default budget and backoff: a retry would wait a second
    with pytest.raises(StorageError) as caught:
        store.ensure_container("vhds")
    assert str(caught.value) == (
        "creating container 'vhds': cannot reach storage account 'acct' at https://acct.blob.shipyard-test.invalid: "
        "the host name does not exist (1 attempt)"
    )
    assert not [r for r in caplog.records if r.getMessage().startswith("retrying")]


def test_a_resolver_that_does_not_answer_is_retried(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    calls: list[str] = []

    def resolver(host, *args, **kwargs):
        calls.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    caplog.set_level(logging.INFO, logger="shipyard")
    link = StorageLink(account="acct", account_key=WRONG_KEY, endpoint="core.windows.net")
    with pytest.raises(StorageError) as caught:
        AzurePageBlobStore(link, initial_backoff_s=0).ensure_container("vhds")
    assert str(caught.value).endswith(": the host name does not resolve (DNS unavailable) (3 attempts)")
    assert calls == ["acct.blob.core.windows.net"] * 3
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries == [
        "retrying PUT https://acct.blob.core.windows.net/vhds after the host name does not resolve (DNS unavailable) "
        f"(retry {n} of 2, waiting 0.0 s)"
        for n in (1, 2)
    ]


class _NotStorage(BaseHTTPRequestHandler):
    """A web server that is not a blob service: 404 to everything, no x-ms-error-code."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_GET = do_HEAD = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_404_from_something_that_is_not_a_blob_service_says_so() -> None:
    # a blob_endpoint with the wrong port or path: "blob not found" for a container would mislead
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotStorage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = _scripted_store(server.server_address[1])
        with pytest.raises(StorageError) as caught:
            store.ensure_container("vhds")
    finally:
        server.shutdown()
        server.server_close()
    url = f"http://127.0.0.1:{server.server_address[1]}/acct"
    assert str(caught.value) == (
        f"creating container 'vhds': {url} answered 404 Not Found without a storage error code: "
        "not a blob service endpoint?"
    )
    assert caught.value.hint == "check blob_endpoint (or endpoint) of storage account 'acct' in credentials.yaml"
