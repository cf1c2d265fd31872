"""``shipyard image replicate``, in-process, on the local store and Azurite.

The command lives in ``shipyard.cli.storage_cmd``; the tests upload an image with ``image
upload`` first and run both through ``shipyard.cli.main`` as a user would. The image (``image``)
and the credentials (``credentials``, on both stores) come from ``tests/cli/conftest.py``.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from fixtures.uploads import local_credentials, upload_raw

LINUX = "batch.node.ubuntu 22.04"
WINDOWS = "batch.node.windows amd64"

pytestmark = pytest.mark.usefixtures("shipyard_home")  # the local store under the test's own home


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
