"""The signed URLs of a task's files on Azure (Azurite): a resource blob's read URL fetches its
bytes; an output container's URL lets the node write blobs into it, and nothing else."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from shipyard.errors import BackendError
from shipyard.pools.azure_batch.sas import TaskUrls
from shipyard.pools.models import OutputFile, ResourceFile, TaskSpec
from shipyard.storage.azure import AzurePageBlobStore


def put(url: str, data: bytes) -> int:
    request = urllib.request.Request(url, data=data, method="PUT", headers={"x-ms-blob-type": "BlockBlob"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_read_and_write_urls(azurite) -> None:
    link = azurite.link("acct1")
    store = AzurePageBlobStore(link)
    store.ensure_container("inputs")
    store.ensure_container("outputs")
    store.put_blob("inputs", "data/in.txt", b"input bytes")
    blob_uri = store.blob_uri("inputs", "data/in.txt")
    task = TaskSpec("t", "/bin/true", resource_files=(ResourceFile("in.txt", blob_uri=blob_uri),),
                    output_files=(OutputFile("*.log", "outputs", "mystorage", "run1/"),))
    urls = TaskUrls({"mystorage": link})([task])
    with urllib.request.urlopen(urls[blob_uri], timeout=10) as response:
        assert response.read() == b"input bytes"
    container_url = urls["mystorage/outputs"]
    base, _, sas = container_url.partition("?")
    assert put(f"{base}/run1/t.log?{sas}", b"log") == 201
    assert [b.name for b in store.list_blobs("outputs")] == ["run1/t.log"]
    with pytest.raises(urllib.error.HTTPError):  # the write URL is for its container only
        put(f"{base.rsplit('/', 1)[0]}/inputs/x?{sas}", b"no")


def test_a_local_store_link_cannot_serve_a_node(tmp_path) -> None:
    from shipyard.config.credentials import StorageLink

    task = TaskSpec("t", "/bin/true", output_files=(OutputFile("*.log", "outputs", "here", ""),))
    with pytest.raises(BackendError, match="local store"):
        TaskUrls({"here": StorageLink(account="localacct", endpoint="local")})([task])
