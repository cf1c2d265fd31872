"""The Azure AD path of the Azure store, at the SDK's HTTP boundary.

A link without ``account_key`` makes the store use ``DefaultAzureCredential``. Here that finds a
managed identity through the App Service protocol (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``,
a plain-http token endpoint on this machine, as App Service has), and the blob service is a
local HTTPS server (a self-signed certificate: the SDK sends bearer tokens over https only)
that answers in the documented shapes and records every request:

- Get User Delegation Key: ``POST /?restype=service&comp=userdelegationkey`` with a ``KeyInfo``
  body, answered with a ``UserDelegationKey`` document;
- Copy Blob: ``PUT`` with ``x-ms-copy-source``, answered 202 with ``x-ms-copy-status``; the
  request's ``x-ms-meta-*`` headers, when it has any, are the copy's metadata;
- Get Blob Properties, Create Container, Set Blob Metadata, and what verifying a replica reads:
  Get Page Ranges (a ``PageList`` document) and ranged Get Blob (206).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shipyard.config.credentials import StorageLink
from shipyard.errors import StorageError
from shipyard.storage.azure import AzurePageBlobStore
from shipyard.storage.digest import digest_metadata, sparse_digest
from shipyard.storage.store import CopyRefusedError

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.fake-managed-identity-token.c2lnbmF0dXJl"
IDENTITY_HEADER = "identity-header-secret-0123456789"
OID = "6f1d3c1e-2b4a-4d6f-9a8b-0c1d2e3f4a5b"
TID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DELEGATION_KEY = base64.b64encode(b"user-delegation-key-32-bytes-ok!").decode()
KEY_START = "2026-12-01T00:00:00Z"
KEY_EXPIRY = "2026-12-31T00:00:00Z"
KEY_VERSION = "2025-01-05"
MD5 = base64.b64encode(bytes(range(16))).decode()
SIZE = 8 * 1024 * 1024
PAGES = {0: b"\x01" * 1024, 5 * 1024 * 1024: os.urandom(4096)}  # the source's written pages
DIGEST = sparse_digest(SIZE, [(s, s + len(d), hashlib.md5(d).digest()) for s, d in PAGES.items()])
AZURE_ENV = (
    "AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
    "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS", "AZURE_REGIONAL_AUTHORITY_NAME",
)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeAzure:
    """The recorded requests and the blobs the fake blob service holds."""

    blob_port: int = 0
    token_port: int = 0
    requests: list[Seen] = field(default_factory=list)
    token_requests: list[Seen] = field(default_factory=list)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # "/acct/container/blob" -> props
    refuse_copy: bool = False
    token_status: int = 200  # 400: this machine has no identity assigned

    def endpoint(self, account: str) -> str:
        return f"https://127.0.0.1:{self.blob_port}/{account}"

    def link(self, account: str) -> StorageLink:
        return StorageLink(account=account, blob_endpoint=self.endpoint(account))  # no key: Azure AD


def _record(handler: BaseHTTPRequestHandler) -> Seen:
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else b""
    parts = urlsplit(handler.path)
    return Seen(handler.command, parts.path, parse_qs(parts.query),
                {k.lower(): v for k, v in handler.headers.items()}, body)


def _metadata_headers(seen: Seen) -> dict[str, str]:
    return {k.removeprefix("x-ms-meta-"): v for k, v in seen.headers.items() if k.startswith("x-ms-meta-")}


def _blob_handler(fake: FakeAzure) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str) -> None:
            body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'
            self._send(status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, body.encode())

        def _handle(self) -> None:
            seen = _record(self)
            fake.requests.append(seen)
            kind = (seen.query.get("restype", [""])[0], seen.query.get("comp", [""])[0])
            if seen.method == "POST" and kind == ("service", "userdelegationkey"):
                xml = (
                    '<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>'
                    f"<SignedOid>{OID}</SignedOid><SignedTid>{TID}</SignedTid>"
                    f"<SignedStart>{KEY_START}</SignedStart><SignedExpiry>{KEY_EXPIRY}</SignedExpiry>"
                    f"<SignedService>b</SignedService><SignedVersion>{KEY_VERSION}</SignedVersion>"
                    f"<Value>{DELEGATION_KEY}</Value></UserDelegationKey>"
                )
                self._send(200, {"Content-Type": "application/xml"}, xml.encode())
            elif kind[0] == "container" and seen.method == "PUT":
                self._send(201)
            elif kind[0] == "container":
                self._send(200)
            elif seen.method == "HEAD":
                props = fake.blobs.get(seen.path)
                if props is None:
                    self._error(404, "BlobNotFound")
                    return
                headers = {"x-ms-blob-type": "PageBlob", "Content-MD5": props["md5"],
                           "Content-Type": "application/octet-stream"}
                headers.update({f"x-ms-meta-{k}": v for k, v in props["metadata"].items()})
                if "copy_status" in props:
                    headers.update({"x-ms-copy-status": props["copy_status"], "x-ms-copy-id": "copy-1",
                                    "x-ms-copy-progress": f"{props['size']}/{props['size']}"})
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(props["size"]))
                self.end_headers()
            elif seen.method == "PUT" and "x-ms-copy-source" in seen.headers:
                if fake.refuse_copy:
                    self._error(403, "CannotVerifyCopySource")
                    return
                source = urlsplit(seen.headers["x-ms-copy-source"]).path
                copy = {**fake.blobs[source], "copy_status": "success"}
                metadata = _metadata_headers(seen)
                if metadata:
                    copy["metadata"] = metadata
                fake.blobs[seen.path] = copy
                self._send(202, {"x-ms-copy-id": "copy-1", "x-ms-copy-status": "success"})
            elif seen.method == "PUT" and kind[1] == "metadata" and seen.path in fake.blobs:
                fake.blobs[seen.path]["metadata"] = _metadata_headers(seen)
                self._send(200)
            elif seen.method == "GET" and kind[1] == "pagelist" and seen.path in fake.blobs:
                ranges = "".join(
                    f"<PageRange><Start>{start}</Start><End>{start + len(data) - 1}</End></PageRange>"
                    for start, data in sorted(fake.blobs[seen.path].get("pages", {}).items())
                )
                body = f'<?xml version="1.0" encoding="utf-8"?><PageList>{ranges}</PageList>'.encode()
                self._send(200, {"Content-Type": "application/xml",
                                 "x-ms-blob-content-length": str(fake.blobs[seen.path]["size"])}, body)
            elif seen.method == "GET" and not kind[1] and seen.path in fake.blobs:
                props = fake.blobs[seen.path]
                first, last = (int(x) for x in (seen.headers.get("x-ms-range") or seen.headers["range"])
                               .removeprefix("bytes=").split("-"))
                content = bytearray(props["size"])
                for start, data in props.get("pages", {}).items():
                    content[start : start + len(data)] = data
                self._send(206, {"Content-Range": f"bytes {first}-{last}/{props['size']}",
                                 "x-ms-blob-type": "PageBlob"}, bytes(content[first : last + 1]))
            else:
                self._error(400, "UnsupportedHttpVerb")

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _token_handler(fake: FakeAzure) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen = _record(self)
            fake.token_requests.append(seen)
            if seen.headers.get("x-identity-header") != IDENTITY_HEADER or fake.token_status != 200:
                self.send_response(401 if fake.token_status == 200 else fake.token_status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            expires = int(datetime.now().timestamp()) + 3600
            body = json.dumps({"access_token": TOKEN, "expires_on": str(expires),
                               "resource": seen.query["resource"][0], "token_type": "Bearer"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def fake(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    cert, key = certificate
    state = FakeAzure()
    blob_server = ThreadingHTTPServer(("127.0.0.1", 0), _blob_handler(state))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    blob_server.socket = context.wrap_socket(blob_server.socket, server_side=True)
    token_server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(state))
    state.blob_port, state.token_port = blob_server.server_address[1], token_server.server_address[1]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (blob_server, token_server)]
    for thread in threads:
        thread.start()
    for name in AZURE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{state.token_port}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the CLI's stores trust the test certificate
    state.blobs["/acct1/vhds/disk.vhd"] = {
        "size": SIZE, "md5": MD5, "pages": PAGES,
        "metadata": {"shipyard_upload": "complete", "shipyard_source_size": str(SIZE), **digest_metadata(DIGEST)},
    }
    yield state
    for server in (blob_server, token_server):
        server.shutdown()
        server.server_close()


def _store(fake: FakeAzure, account: str, certificate: tuple[Path, Path]) -> AzurePageBlobStore:
    return AzurePageBlobStore(fake.link(account), initial_backoff_s=0, connection_verify=str(certificate[0]))


def _secrets_in(text: str, sas_values: list[str]) -> list[str]:
    return [s for s in (TOKEN, IDENTITY_HEADER, DELEGATION_KEY, *sas_values) if s and s in text]


def test_a_link_without_a_key_signs_with_a_managed_identity_token(fake: FakeAzure, certificate) -> None:
    store = _store(fake, "acct1", certificate)
    props = store.get_properties("vhds", "disk.vhd")
    assert props is not None and props.size_bytes == SIZE and props.content_md5 == bytes(range(16))
    (token_request,) = fake.token_requests
    assert token_request.path == "/msi/token"
    assert token_request.query["resource"] == ["https://storage.azure.com"]
    assert token_request.query["api-version"] == ["2019-08-01"]
    (head,) = fake.requests
    assert (head.method, head.path) == ("HEAD", "/acct1/vhds/disk.vhd")
    assert head.headers["authorization"] == f"Bearer {TOKEN}"
    assert head.headers["x-ms-version"] == store._service.api_version >= "2018-11-09"  # user delegation needs it


def test_server_side_copy_uses_a_user_delegation_sas(fake: FakeAzure, certificate, caplog) -> None:
    from azure.storage.blob import UserDelegationKey, generate_blob_sas

    caplog.set_level(logging.DEBUG, logger="shipyard")
    source, target = _store(fake, "acct1", certificate), _store(fake, "acct2", certificate)
    state = target.start_copy_from("vhds", "disk.vhd", source, "vhds", "disk.vhd")
    assert state.status == "success"

    key_request, copy_request = fake.requests
    # Get User Delegation Key: on the source account, with the bearer token and the KeyInfo body
    assert (key_request.method, key_request.path) == ("POST", "/acct1/")
    assert key_request.query == {"restype": ["service"], "comp": ["userdelegationkey"]}
    assert key_request.headers["authorization"] == f"Bearer {TOKEN}"
    assert key_request.headers["x-ms-version"] == source._service.api_version
    info = ET.fromstring(key_request.body)
    assert info.tag == "KeyInfo" and [child.tag for child in info] == ["Start", "Expiry"]
    start, expiry = (datetime.strptime(info.find(t).text, "%Y-%m-%dT%H:%M:%SZ") for t in ("Start", "Expiry"))
    assert expiry - start == timedelta(hours=2)  # the SAS lifetime; the start is 5 minutes back (clock skew)

    # Copy Blob: on the target, the source named by a read-only SAS signed with that key
    assert (copy_request.method, copy_request.path) == ("PUT", "/acct2/vhds/disk.vhd")
    assert copy_request.headers["authorization"] == f"Bearer {TOKEN}"
    copy_source = urlsplit(copy_request.headers["x-ms-copy-source"])
    assert f"{copy_source.scheme}://{copy_source.netloc}{copy_source.path}" == f"{fake.endpoint('acct1')}/vhds/disk.vhd"
    sas = {k: v[0] for k, v in parse_qs(copy_source.query).items()}
    assert (sas["skoid"], sas["sktid"], sas["sks"], sas["skv"]) == (OID, TID, "b", KEY_VERSION)
    assert (sas["skt"], sas["ske"]) == (KEY_START, KEY_EXPIRY)
    assert (sas["sp"], sas["sr"]) == ("r", "b")  # read, one blob
    assert (sas["st"], sas["se"]) == (info.find("Start").text, info.find("Expiry").text)
    served = UserDelegationKey()
    served.signed_oid, served.signed_tid, served.signed_start, served.signed_expiry = OID, TID, KEY_START, KEY_EXPIRY
    served.signed_service, served.signed_version, served.value = "b", KEY_VERSION, DELEGATION_KEY
    expected = generate_blob_sas("acct1", "vhds", "disk.vhd", user_delegation_key=served, permission="r",
                                 start=sas["st"], expiry=sas["se"])
    assert sas["sig"] == parse_qs(expected)["sig"][0]  # signed with the key the service handed out
    assert len(base64.b64decode(sas["sig"])) == 32  # HMAC-SHA256

    assert _secrets_in(caplog.text, [sas["sig"], copy_source.query]) == []
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert (f"starting a server-side copy of {fake.endpoint('acct1')}/vhds/disk.vhd into "
            f"{fake.endpoint('acct2')}/vhds/disk.vhd (a read-only SAS, not shown)") in logged


def test_a_refused_copy_never_shows_the_sas(fake: FakeAzure, certificate, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="shipyard")
    fake.refuse_copy = True
    source, target = _store(fake, "acct1", certificate), _store(fake, "acct2", certificate)
    with pytest.raises(CopyRefusedError) as caught:
        target.start_copy_from("vhds", "disk.vhd", source, "vhds", "disk.vhd")
    copy_source = fake.requests[-1].headers["x-ms-copy-source"]
    sig = parse_qs(urlsplit(copy_source).query)["sig"][0]
    assert str(caught.value) == (
        f"copying into {fake.endpoint('acct2')}/vhds/disk.vhd: storage account 'acct2' refused the credentials "
        "(missing permission?)"
    )
    text = f"{caught.value} {caught.value.hint} {caplog.text}"
    assert _secrets_in(text, [sig, urlsplit(copy_source).query]) == []


def test_azure_ad_over_plain_http_is_refused_in_one_line(fake: FakeAzure) -> None:
    link = StorageLink(account="acct1", blob_endpoint=f"http://127.0.0.1:{fake.blob_port}/acct1")
    with pytest.raises(StorageError) as caught:
        AzurePageBlobStore(link, initial_backoff_s=0).get_properties("vhds", "disk.vhd")
    assert str(caught.value) == (
        f"storage account 'acct1' at http://127.0.0.1:{fake.blob_port}/acct1: Azure AD credentials are only sent "
        "over https"
    )
    assert caught.value.hint == "use an https blob_endpoint, or give the link an account_key"
    assert fake.requests == [] and fake.token_requests == []  # nothing was sent anywhere


def test_replicate_with_azure_ad_links_prints_no_secret(fake: FakeAzure, cli, write_config) -> None:
    credentials = "credentials:\n  storage:\n" + "".join(
        f"    sa{i}:\n      account: acct{i}\n      blob_endpoint: {fake.endpoint(f'acct{i}')}\n" for i in (1, 2)
    )
    pool = (
        "pool_specification:\n  id: aad\n  vm_configuration:\n    custom_image:\n"
        f"      node_agent: batch.node.ubuntu 22.04\n      image_uris:\n      - {fake.endpoint('acct1')}/vhds/disk.vhd\n"
        "  vm_size: STANDARD_D2S_V3\n  vm_count:\n    dedicated: 80\n"
    )
    configdir = write_config(credentials=credentials, pool=pool)
    result = cli("image", "replicate", "--configdir", configdir, "--raw", "-vv", "--debug")
    assert result.code == 0, result.err
    data = result.json()
    assert data["uris"] == [f"{fake.endpoint('acct1')}/vhds/disk.vhd", f"{fake.endpoint('acct2')}/vhds/disk.vhd"]
    assert [r["mode"] for r in data["replicas"]] == ["server_copy"]
    assert fake.blobs["/acct2/vhds/disk.vhd"]["md5"] == MD5
    copy = next(r for r in fake.requests if "x-ms-copy-source" in r.headers)
    # copied unfinished, read back (only its written pages), and only then marked complete
    assert copy.headers["x-ms-meta-shipyard_upload"] == "in_progress"
    assert data["replicas"][0]["bytes_verified"] == 1024 + 4096
    assert fake.blobs["/acct2/vhds/disk.vhd"]["metadata"]["shipyard_upload"] == "complete"
    assert fake.blobs["/acct2/vhds/disk.vhd"]["metadata"]["shipyard_sparse_sha256"] == DIGEST
    query = urlsplit(copy.headers["x-ms-copy-source"]).query
    sig = parse_qs(query)["sig"][0]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests)
    assert "DEBUG shipyard.storage.azure: POST " in result.err  # -vv did log the requests
    assert _secrets_in(result.out + result.err, [sig, query]) == []
    assert os.environ["IDENTITY_HEADER"] not in result.out + result.err


def test_no_token_is_one_line_that_says_so(fake: FakeAzure, cli, write_config) -> None:
    fake.token_status = 400  # App Service's answer when no identity is assigned
    credentials = f"credentials:\n  storage:\n    sa1:\n      account: acct1\n      blob_endpoint: {fake.endpoint('acct1')}\n"
    pool = (
        "pool_specification:\n  id: aad\n  vm_configuration:\n    custom_image:\n"
        f"      node_agent: batch.node.ubuntu 22.04\n      image_uris:\n      - {fake.endpoint('acct1')}/vhds/disk.vhd\n"
        "  vm_size: STANDARD_D2S_V3\n  vm_count:\n    dedicated: 10\n"
    )
    configdir = write_config(credentials=credentials, pool=pool)
    result = cli("image", "replicate", "--configdir", configdir)
    assert result.code == 1
    assert result.err == (
        f"shipyard: error: reading the properties of {fake.endpoint('acct1')}/vhds/disk.vhd: no Azure AD token for "
        "storage account 'acct1' (DefaultAzureCredential failed to retrieve a token from the included credentials.); "
        "sign in (az login), give this machine a managed identity, or give the link an account_key\n"
    )
    assert fake.requests == []  # nothing unsigned was sent
    assert len(fake.token_requests) == 1  # asked once: no token is not a transient failure, never retried
    # a real process, where no test harness catches log records: the SDK's own multi-line warning
    # (every credential DefaultAzureCredential tried) stays off stderr
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from shipyard.cli.main import main; sys.exit(main(sys.argv[1:]))",
         "image", "replicate", "--configdir", str(configdir)],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, result.out, result.err)
