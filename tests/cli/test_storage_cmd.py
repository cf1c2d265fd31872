"""``shipyard image upload`` and ``shipyard image replicate``, in-process, on the local store and Azurite.

The commands live in ``shipyard.cli.storage_cmd``; ``shipyard.cli.image_cmd`` adds them to the
``image`` group, and the tests run them through ``shipyard.cli.main`` as a user would.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import textwrap
from pathlib import Path

import pytest

from fixtures.images import write_dynamic_vhd
from shipyard.image.vhd import convert_command, make_fixed_footer
from shipyard.storage.ranges import find_data_extents, total_bytes

MIB = 1024 * 1024
LINUX = "batch.node.ubuntu 22.04"
WINDOWS = "batch.node.windows amd64"
UPLOAD_KEYS = ["uri", "size", "bytes_sent", "bytes_skipped", "md5", "seconds", "resumed"]
# Non-zero data: a boot sector, a run across a 4 MiB boundary, a lone page, 1 MiB of random data.
WRITES = [
    (0, b"\xeb\x63\x90" + os.urandom(509)),
    (4 * MIB - 1024, os.urandom(2048)),
    (9 * MIB + 4096, b"\x01" * 512),
    (16 * MIB, os.urandom(MIB)),
]
DATA_BYTES = 512 + 2048 + 512 + MIB + 512  # the writes, plus the footer

pytestmark = pytest.mark.usefixtures("shipyard_home")  # the local store under the test's own home


def write_fixed_vhd(path: Path, size_mib: int = 24, writes=WRITES) -> Path:
    """A sparse, valid fixed VHD: ``size_mib`` MiB of disk holding ``writes``, then a real footer."""
    with open(path, "wb") as handle:
        os.truncate(handle.fileno(), size_mib * MIB)
        for offset, data in writes:
            os.pwrite(handle.fileno(), data, offset)
        os.pwrite(handle.fileno(), make_fixed_footer(size_mib * MIB), size_mib * MIB)
    return path


def test_image_group_has_the_storage_commands(cli) -> None:
    from shipyard.cli import image_cmd, storage_cmd

    assert image_cmd.image_group.commands["upload"] is storage_cmd.upload
    assert image_cmd.image_group.commands["replicate"] is storage_cmd.replicate
    shown = cli("image", "upload", "--help")
    assert shown.code == 0 and shown.out.startswith("Usage: shipyard image upload [OPTIONS] IMAGE")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return write_fixed_vhd(tmp_path / "disk.vhd")


def local_credentials() -> str:
    return "credentials:\n  storage:\n" + "".join(
        f"    sa{i}:\n      account: acct{i}\n      endpoint: local\n" for i in (1, 2, 3)
    )


def azurite_credentials(azurite) -> str:
    return "credentials:\n  storage:\n" + "".join(
        f"    sa{i}:\n      account: acct{i}\n      account_key: {azurite.keys[f'acct{i}']}\n"
        f"      blob_endpoint: {azurite.endpoint(f'acct{i}')}\n"
        for i in (1, 2, 3)
    )


@pytest.fixture(params=["local", "azurite"])
def credentials(request: pytest.FixtureRequest) -> str:
    if request.param == "local":
        return local_credentials()
    return azurite_credentials(request.getfixturevalue("azurite"))


def pool_yaml(nodes: int, agent: str = LINUX, uris: list[str] | None = None, autoscale_max: int | None = None) -> str:
    uri_lines = "".join(f"        - {u}  # the uploaded image\n" for u in uris or [])
    autoscale = ""
    if autoscale_max is not None:
        autoscale = (
            "  autoscale:\n    evaluation_interval: 00:05:00\n    scenario:\n      name: active_tasks\n"
            f"      maximum_vm_count:\n        dedicated: {autoscale_max}\n"
        )
    return (
        "# pool for the image tests\n"
        "pool_specification:\n"
        "  id: mypool  # keep this id\n"
        "  vm_configuration:\n"
        "    custom_image:\n"
        f"      node_agent: {agent}\n"
        "      image_uris:\n"
        f"{uri_lines}"
        "  vm_size: STANDARD_D2S_V3\n"
        f"  vm_count:\n    dedicated: {nodes}\n    low_priority: 0\n"
        f"{autoscale}"
        "  # ssh settings follow\n"
        "  ssh:\n    username: shipyard\n"
    )


def upload_raw(cli, configdir: Path, image: Path, *extra: str):
    return cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "--raw", *extra)


# -- upload ---------------------------------------------------------------------------------------

def test_upload_then_rerun_sends_nothing_again(
    cli, write_config, credentials: str, image: Path, container: str
) -> None:
    configdir = write_config(credentials=credentials)
    first = upload_raw(cli, configdir, image, "--verify", "--container", container)
    assert first.code == 0, first.err
    data = first.json()
    assert list(data) == UPLOAD_KEYS
    assert data["size"] == image.stat().st_size
    assert data["bytes_sent"] == DATA_BYTES
    assert data["bytes_sent"] + data["bytes_skipped"] == data["size"]
    assert data["md5"] == hashlib.md5(image.read_bytes()).hexdigest()
    assert data["resumed"] is False
    assert data["uri"].endswith(f"/{container}/disk.vhd") and "?" not in data["uri"]
    assert first.err == ""

    again = upload_raw(cli, configdir, image, "--container", container)
    assert again.code == 0, again.err
    second = again.json()
    assert second["resumed"] is True and second["bytes_sent"] == 0
    assert second["bytes_skipped"] == data["size"] and second["md5"] == data["md5"]
    assert second["uri"] == data["uri"]


def test_upload_prints_a_summary_for_people(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    result = cli("image", "upload", image, "--storage-account", "sa2", "--configdir", configdir,
                 "--container", "images", "--name", "ubuntu.vhd", "--parallelism", "2")
    assert result.code == 0, result.err
    assert "local://acct2/images/ubuntu.vhd" in result.out and f"{DATA_BYTES:,} bytes sent" in result.out


def test_upload_refuses_a_dynamic_vhd_and_names_convert(cli, write_config, image: Path, tmp_path) -> None:
    dynamic = write_dynamic_vhd(image, tmp_path / "dynamic.vhd")
    result = cli("image", "upload", dynamic, "--storage-account", "sa1",
                 "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("shipyard: error: ")
    assert "vhd.format" in result.err
    assert f"`{convert_command(dynamic)}`" in result.err  # the command for this file, not SRC DST placeholders
    assert not (tmp_path / "home" / "storage").exists() or not any((tmp_path / "home" / "storage").rglob("*.vhd"))


def test_upload_refuses_a_misaligned_vhd(cli, write_config, tmp_path: Path) -> None:
    odd = tmp_path / "odd.vhd"
    size = 24 * MIB + 4096
    with open(odd, "wb") as handle:
        os.truncate(handle.fileno(), size)
        os.pwrite(handle.fileno(), make_fixed_footer(size), size)
    result = cli("image", "upload", odd, "--storage-account", "sa1",
                 "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and "vhd.alignment" in result.err and f"`{convert_command(odd)}`" in result.err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--storage-account", "nosuch"], "unknown storage link 'nosuch'"),
        (["--storage-account", "sa1", "--container", "Bad_Name"], "not a valid container name"),
        (["--storage-account", "sa1", "--parallelism", "0"], "--parallelism"),
    ],
)
def test_upload_bad_input_is_one_line_exit_2(cli, write_config, image: Path, args, needle) -> None:
    result = cli("image", "upload", image, *args, "--configdir", write_config(credentials=local_credentials()))
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and needle in result.err


def test_upload_without_credentials_is_exit_2(cli, image: Path) -> None:
    result = cli("image", "upload", image, "--storage-account", "sa1")
    assert result.code == 2 and "credentials" in result.err


def test_upload_of_a_changed_source_refuses_to_resume(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    assert upload_raw(cli, configdir, image).code == 0
    os.pwrite(os.open(image, os.O_WRONLY), b"\x02" * 512, 0)
    refused = upload_raw(cli, configdir, image)
    assert refused.code == 1 and "different source" in refused.err and "--overwrite" in refused.err
    redone = upload_raw(cli, configdir, image, "--overwrite")
    assert redone.code == 0 and redone.json()["resumed"] is False


def test_upload_never_shows_the_account_key(
    cli, write_config, azurite, image: Path, caplog, container: str
) -> None:
    configdir = write_config(credentials=azurite_credentials(azurite))
    caplog.set_level(logging.DEBUG)
    ok = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "-vv", "--debug",
             "--container", container)
    assert ok.code == 0, ok.err
    wrong = base64.b64encode(b"not-the-key-of-acct1-0123456789x").decode()
    bad_config = write_config(credentials=azurite_credentials(azurite).replace(azurite.keys["acct1"], wrong))
    failed = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", bad_config,
                 "--name", "other.vhd", "-vv", "--container", container)
    assert failed.code == 1 and failed.err.strip().splitlines()[-1].startswith("shipyard: error: ")
    for key in (*azurite.keys.values(), wrong):
        for text in (ok.out, ok.err, failed.out, failed.err, caplog.text):
            assert key not in text


def _log_lines(err: str) -> list[str]:
    """stderr's log records without their timestamps: 'LEVEL logger: message'."""
    return [line.split(" ", 2)[2] for line in err.splitlines() if line[:4].isdigit()]


def test_upload_logs_each_network_operation_at_v(cli, write_config, azurite, image: Path, container: str) -> None:
    configdir = write_config(credentials=azurite_credentials(azurite))
    quiet = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                "--container", container, "--raw")
    assert quiet.code == 0 and quiet.err == ""  # no -v: nothing logged
    endpoint = azurite.endpoint("acct1")
    uri = f"{endpoint}/{container}/disk.vhd"
    verbose = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                  "--container", container, "--name", "v.vhd", "--raw", "-v")
    assert verbose.code == 0, verbose.err
    verbose.json()  # stdout stays JSON
    uri = f"{endpoint}/{container}/v.vhd"
    size = image.stat().st_size
    with open(image, "rb") as handle:
        extents = find_data_extents(handle.fileno(), size)  # what the filesystem holds: whole blocks
    storage_lines = [line for line in _log_lines(verbose.err) if line.split(" ")[1].startswith("shipyard.storage")]
    assert storage_lines == [
        f"INFO shipyard.storage.azure: storage account 'acct1' at {endpoint} (shared key; connect timeout 10 s, "
        "read timeout 60 s; retries: up to 5 after a 5xx, 2 after a connection that fails or stalls)",
        f"INFO shipyard.storage.azure: creating container '{container}' in {endpoint}",
        f"INFO shipyard.storage.azure: reading the properties of {uri}",
        f"INFO shipyard.storage.azure: checking that container '{container}' exists in {endpoint}",
        f"INFO shipyard.storage.azure: {uri}: no such blob",
        f"INFO shipyard.storage.azure: creating page blob {uri} ({size:,} bytes)",
        f"INFO shipyard.storage.upload: uploading disk.vhd to {uri}: {len(extents)} data extents "
        f"({total_bytes(extents):,} of {size:,} bytes), 4 at a time; holes are never read",
        # the boot sector, the run across 4 MiB (two Put Pages), the lone page, the MiB, the footer
        f"INFO shipyard.storage.upload: sent 6 ranges ({DATA_BYTES:,} bytes) to {uri}; "
        f"{size - DATA_BYTES:,} bytes skipped (zeros, or already there)",
        f"INFO shipyard.storage.azure: setting the Content-MD5 of {uri}",
        f"INFO shipyard.storage.azure: setting the metadata of {uri}",
    ]
    debug = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                "--container", container, "--name", "vv.vhd", "--raw", "-vv")
    puts = [line for line in _log_lines(debug.err) if line.startswith("DEBUG shipyard.storage.azure: PUT ")]
    assert puts.count(f"DEBUG shipyard.storage.azure: PUT {endpoint}/{container}/vv.vhd (comp=page): 201") == 6
    for key in azurite.keys.values():
        assert key not in quiet.err + verbose.err + debug.err


def test_upload_to_a_stalled_endpoint_gives_up_with_one_line(
    cli, write_config, image: Path, stalled_port: int
) -> None:
    key = base64.b64encode(b"stalled-endpoint-key-0123456789!").decode()
    endpoint = f"http://127.0.0.1:{stalled_port}/acct1"
    configdir = write_config(credentials=(
        "credentials:\n  storage:\n    sa1:\n      account: acct1\n"
        f"      account_key: {key}\n      blob_endpoint: {endpoint}\n"
    ))
    result = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir,
                 "--timeout", "0.2", "-v")
    assert result.code == 1 and result.out == ""
    last = result.err.splitlines()[-1]
    assert last == (
        f"shipyard: error: creating container 'vhds': cannot reach storage account 'acct1' at {endpoint}: "
        "no connection within 0.2 s (3 attempts)"
    )
    retries = [line for line in _log_lines(result.err) if "retrying" in line]
    assert [line.split(" (retry ")[1].split(",")[0] for line in retries] == ["1 of 2", "2 of 2"]
    assert all("after no connection within 0.2 s" in line for line in retries)
    assert key not in result.err


def test_timeout_must_be_positive(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    result = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir, "--timeout", "0")
    assert result.code == 2 and result.err.count("\n") == 1 and "--timeout" in result.err


# -- replicate ------------------------------------------------------------------------------------

def _uploaded(cli, configdir: Path, image: Path, *extra: str) -> str:
    result = upload_raw(cli, configdir, image, *extra)
    assert result.code == 0, result.err
    return result.json()["uri"]


def test_replicate_100_linux_nodes_to_3_accounts_and_update_the_pool(
    cli, write_config, credentials: str, image: Path, container: str
) -> None:
    configdir = write_config(credentials=credentials)
    uri = _uploaded(cli, configdir, image, "--container", container)
    pool_file = configdir / "pool.yaml"
    pool_file.write_text(pool_yaml(100, uris=[uri]))

    result = cli("image", "replicate", "--configdir", configdir, "--update-pool", "--raw", "-y")
    assert result.code == 0, result.err
    data = result.json()
    assert data["plan"]["required"] == 3 and data["plan"]["nodes_per_vhd"] == 40
    assert [t["link"] for t in data["plan"]["targets"]] == ["sa2", "sa3"]
    assert data["uris"][0] == uri and len(set(data["uris"])) == 3
    assert {r["mode"] for r in data["replicas"]} <= {"server_copy", "streamed"}
    assert len(data["replicas"]) == 2 and data["pool_updated"] == str(pool_file)

    text = pool_file.read_text()
    for comment in ("# pool for the image tests", "# keep this id", "# the uploaded image", "# ssh settings follow"):
        assert comment in text
    before = pool_yaml(100, uris=[uri]).splitlines()
    after = text.splitlines()
    added = [f"        - {u}" for u in data["uris"][1:]]
    assert after == [*before[:8], *added, *before[8:]]  # every other line untouched
    from ruamel.yaml import YAML

    listed = YAML(typ="safe").load(text)["pool_specification"]["vm_configuration"]["custom_image"]["image_uris"]
    assert listed == data["uris"]
    check = cli("config", "check", "--configdir", configdir, "--raw")
    assert not [e for e in check.json()["errors"] if e.get("check") == "custom_image.vhd_count"]

    again = cli("image", "replicate", "--configdir", configdir, "--update-pool", "--raw", "-y")
    assert again.code == 0, again.err
    assert [r["mode"] for r in again.json()["replicas"]] == ["skipped", "skipped"]
    assert again.json()["pool_updated"] is None and pool_file.read_text() == text


def test_replicate_dry_run_prints_the_plan_and_stops(cli, write_config, image: Path, tmp_path) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(80, uris=[uri]))
    before = (configdir / "pool.yaml").read_text()

    shown = cli("image", "replicate", "--configdir", configdir, "--dry-run", "--update-pool")
    assert shown.code == 0, shown.err
    assert "2 VHDs" in shown.out and "local://acct2/vhds/disk.vhd" in shown.out and "dry run" in shown.out
    raw = cli("image", "replicate", "--configdir", configdir, "--dry-run", "--raw")
    assert raw.json()["dry_run"] is True and raw.json()["plan"]["required"] == 2
    assert (configdir / "pool.yaml").read_text() == before
    assert not (tmp_path / "home" / "storage" / "acct2").exists() or not any(
        (tmp_path / "home" / "storage" / "acct2").rglob("disk.vhd*")
    )


@pytest.mark.parametrize(
    ("nodes", "agent", "autoscale_max", "required"),
    [
        (41, WINDOWS, None, 3),  # /20 for Windows
        (41, LINUX, None, 2),  # /40 for Linux
        (10, WINDOWS, 60, 3),  # autoscale's maximum counts
        (20, WINDOWS, None, 1),
    ],
)
def test_replicate_plans_from_the_largest_node_count(
    cli, write_config, image: Path, nodes, agent, autoscale_max, required
) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(nodes, agent, [uri], autoscale_max))
    result = cli("image", "replicate", "--configdir", configdir, "--dry-run", "--raw")
    assert result.code == 0, result.err
    plan = result.json()["plan"]
    assert plan["required"] == required and len(plan["targets"]) == required - 1
    assert plan["nodes_per_vhd"] == (20 if agent == WINDOWS else 40)


def test_replicate_windows_pool_streams_when_asked_accounts_and_source(
    cli, write_config, image: Path
) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(40, WINDOWS, []))
    result = cli("image", "replicate", "--configdir", configdir, "--source", uri, "--accounts", "sa3", "--raw")
    assert result.code == 0, result.err
    data = result.json()
    assert data["uris"] == [uri, "local://acct3/vhds/disk.vhd"]
    assert data["replicas"][0]["link"] == "sa3" and data["pool_updated"] is None


def test_replicate_into_a_json_pool_file(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    pool = {"pool_specification": {"id": "p", "vm_configuration": {"custom_image": {
        "image_uris": [uri], "node_agent": LINUX}}, "vm_size": "STANDARD_D2S_V3", "vm_count": {"dedicated": 50}}}
    (configdir / "pool.json").write_text(json.dumps(pool, indent=4) + "\n")
    result = cli("image", "replicate", "--configdir", configdir, "--update-pool", "-y")
    assert result.code == 0, result.err
    written = json.loads((configdir / "pool.json").read_text())
    assert written["pool_specification"]["vm_configuration"]["custom_image"]["image_uris"] == [
        uri, "local://acct2/vhds/disk.vhd"]
    assert list(written["pool_specification"]) == ["id", "vm_configuration", "vm_size", "vm_count"]
    assert (configdir / "pool.json").read_text().startswith('{\n    "pool_specification"')


class _Terminal(io.StringIO):
    """Typed answers on a stdin that is a terminal."""

    def isatty(self) -> bool:
        return True


def test_replicate_asks_before_rewriting_the_pool(cli, write_config, image: Path, monkeypatch) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(80, uris=[uri]))
    before = (configdir / "pool.yaml").read_text()
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    declined = cli("image", "replicate", "--configdir", configdir, "--update-pool")
    assert declined.code == 1 and "rewrite image_uris" in declined.err
    assert (configdir / "pool.yaml").read_text() == before
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    accepted = cli("image", "replicate", "--configdir", configdir, "--update-pool")
    assert accepted.code == 0, accepted.err
    assert "local://acct2/vhds/disk.vhd" in (configdir / "pool.yaml").read_text()


@pytest.mark.parametrize("extra", [[], ["--raw"]])
def test_replicate_update_pool_without_y_or_a_terminal_refuses(
    cli, write_config, image: Path, shipyard_home: Path, monkeypatch, extra: list[str]
) -> None:
    """--raw picks an output format; only -y answers the prompt. No terminal, no -y: exit 2."""
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(80, uris=[uri]))
    before = (configdir / "pool.yaml").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not an answer
    refused = cli("image", "replicate", "--configdir", configdir, "--update-pool", *extra)
    assert refused.code == 2
    assert refused.err.count("\n") == 1 and refused.err.startswith("shipyard: error: ")
    assert "-y" in refused.err and "pool.yaml" in refused.err
    assert (configdir / "pool.yaml").read_text() == before
    assert not (shipyard_home / "storage" / "acct2").exists() or not any(
        (shipyard_home / "storage" / "acct2").rglob("disk.vhd*")
    )  # nothing copied either


def test_replicate_raw_on_a_terminal_still_asks_and_keeps_stdout_json(
    cli, write_config, image: Path, monkeypatch
) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    (configdir / "pool.yaml").write_text(pool_yaml(80, uris=[uri]))
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    result = cli("image", "replicate", "--configdir", configdir, "--update-pool", "--raw")
    assert result.code == 0, result.err
    assert "rewrite image_uris" in result.err  # the question, on stderr
    assert result.json()["pool_updated"] == str(configdir / "pool.yaml")
    assert "local://acct2/vhds/disk.vhd" in (configdir / "pool.yaml").read_text()


def test_replicate_flow_style_uris_keep_their_style(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials())
    uri = _uploaded(cli, configdir, image)
    text = textwrap.dedent(f"""\
        pool_specification:
          id: p   # comment
          vm_configuration:
            custom_image:
              image_uris: [{uri}]  # one so far
              node_agent: {LINUX}
          vm_size: STANDARD_D2S_V3
          vm_count: 60
        """)
    (configdir / "pool.yaml").write_text(text)
    assert cli("image", "replicate", "--configdir", configdir, "--update-pool", "--raw", "-y").code == 0
    assert (configdir / "pool.yaml").read_text() == text.replace(
        f"[{uri}]  #", f"[{uri}, local://acct2/vhds/disk.vhd] #")


@pytest.mark.parametrize(
    ("pool", "args", "needle"),
    [
        (pool_yaml(100, uris=[]), [], "no image_uris"),
        (pool_yaml(100, uris=["local://acct9/vhds/disk.vhd"]), [], "none of the credentials' storage links"),
        (pool_yaml(100, uris=[]), ["--source", "https://a.blob.core.windows.net/vhds/d.vhd?sig=SECRETSIG"],
         "no query string"),
        (pool_yaml(100, uris=["local://acct1/vhds/disk.vhd"]), ["--accounts", "nosuch"], "unknown storage link"),
    ],
)
def test_replicate_bad_input_is_one_line_exit_2(cli, write_config, pool, args, needle) -> None:
    configdir = write_config(credentials=local_credentials(), pool=pool)
    result = cli("image", "replicate", "--configdir", configdir, *args)
    assert result.code == 2, result.err
    assert result.err.count("\n") == 1 and needle in result.err and "SECRETSIG" not in result.err


def test_replicate_failures_are_exit_1(cli, write_config, image: Path) -> None:
    configdir = write_config(credentials=local_credentials(), pool=pool_yaml(200, uris=["local://acct1/vhds/disk.vhd"]))
    too_few = cli("image", "replicate", "--configdir", configdir, "--raw")
    assert too_few.code == 1 and "need 5 VHDs" in too_few.err and too_few.out == ""
    (configdir / "pool.yaml").write_text(pool_yaml(60, uris=["local://acct1/vhds/missing.vhd"]))
    missing = cli("image", "replicate", "--configdir", configdir, "--raw")
    assert missing.code == 1 and "does not exist" in missing.err


def test_progress_displays_on_a_terminal_and_never_on_stdout(
    cli, write_config, image: Path, monkeypatch, capsys
) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    configdir = write_config(credentials=local_credentials())
    result = cli("image", "upload", image, "--storage-account", "sa1", "--configdir", configdir)
    assert result.code == 0, result.err
    assert "uploaded disk.vhd" in result.out and "\x1b" not in result.out
    assert "MiB sent, " in result.err and "skipped" in result.err  # the bar, on stderr
    (configdir / "pool.yaml").write_text(pool_yaml(60, uris=["local://acct1/vhds/disk.vhd"]))
    replicated = cli("image", "replicate", "--configdir", configdir)
    assert replicated.code == 0, replicated.err
    assert "local://acct2/vhds/disk.vhd" in replicated.out and "\x1b" not in replicated.out
