"""The three page-blob URI forms, matched to storage links."""

from __future__ import annotations

import pytest

from shipyard.config.blob_uri import BlobUri, BlobUriError, parse_blob_uri
from shipyard.config.credentials import StorageLink

LINKS = {
    "sa1": StorageLink(account="acct1"),
    "gov": StorageLink(account="acct1", endpoint="core.usgovcloudapi.net"),
    "emu": StorageLink(account="devacct", blob_endpoint="http://127.0.0.1:10000/devacct/"),
    "here": StorageLink(account="localacct", endpoint="local"),
}


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://acct1.blob.core.windows.net/vhds/a/b.vhd", BlobUri("acct1", "vhds", "a/b.vhd", "sa1")),
        ("https://ACCT1.blob.core.windows.net/vhds/b.vhd", BlobUri("acct1", "vhds", "b.vhd", "sa1")),
        ("https://acct1.blob.core.usgovcloudapi.net/vhds/b.vhd", BlobUri("acct1", "vhds", "b.vhd", "gov")),
        ("http://127.0.0.1:10000/devacct/vhds/b%20c.vhd", BlobUri("devacct", "vhds", "b c.vhd", "emu")),
        ("local://localacct/vhds/b.vhd", BlobUri("localacct", "vhds", "b.vhd", "here")),
        ("https://other.blob.core.windows.net/vhds/b.vhd", BlobUri("other", "vhds", "b.vhd", None)),
        ("http://127.0.0.1:9999/someacct/vhds/b.vhd", BlobUri("someacct", "vhds", "b.vhd", None)),
        # an Azure URI never resolves to the emulator's or the local store's link for that account name
        ("https://devacct.blob.core.windows.net/vhds/b.vhd", BlobUri("devacct", "vhds", "b.vhd", None)),
        ("https://localacct.blob.core.windows.net/vhds/b.vhd", BlobUri("localacct", "vhds", "b.vhd", None)),
    ],
)
def test_parse(uri: str, expected: BlobUri) -> None:
    assert parse_blob_uri(uri, LINKS) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://acct1.blob.core.windows.net/vhds/b.vhd?sig=x", "URI has a query string"),
        ("ftp://acct1/vhds/b.vhd", "unsupported scheme 'ftp'"),
        ("https://acct1.blob.core.windows.net/vhds", "must name a container and a blob"),
        ("https://acct1.blob.core.windows.net/ab/b.vhd", "'ab' is not a valid container name"),
        ("https://example.com/b.vhd", "blob URI must be"),
    ],
)
def test_bad_uris(uri: str, message: str) -> None:
    with pytest.raises(BlobUriError, match=message):
        parse_blob_uri(uri, LINKS)


@pytest.mark.parametrize(
    "uri",
    [
        "https://acct1.blob.core.windows.net/vhds/b.vhd?sv=1&sig=SECRET",
        "https://acct1.blob.core.windows.net/vhds/b.vhd#sig=SECRET",
        "https://user:SECRET@acct1.blob.core.windows.net/vhds/b.vhd",
        "local://user:SECRET@localacct/vhds/b.vhd",
    ],
)
def test_a_query_fragment_or_password_is_refused_and_never_echoed(uri: str) -> None:
    from shipyard.config.blob_uri import has_query

    assert has_query(uri)
    with pytest.raises(BlobUriError) as raised:
        parse_blob_uri(uri, LINKS)
    assert "SECRET" not in str(raised.value)


def test_an_at_sign_in_the_blob_name_is_not_a_password() -> None:
    from shipyard.config.blob_uri import has_query

    assert not has_query("https://acct1.blob.core.windows.net/vhds/me@home.vhd")
    assert parse_blob_uri("https://acct1.blob.core.windows.net/vhds/me@home.vhd", LINKS).blob == "me@home.vhd"
