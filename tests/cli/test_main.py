"""CLI conventions: exit codes, one-line errors, global options anywhere, --raw, --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.cli import main as main_module
from shipyard.errors import ExitStatus

POOL = """
pool_specification:
  id: p
  vm_configuration:
    custom_image:
      image_uris:
      - https://acct1.blob.core.windows.net/vhds/img.vhd
      node_agent: batch.node.ubuntu 22.04
  vm_size: STANDARD_D2_V2
  vm_count: {dedicated: 2}
"""


GROUP_COMMANDS = {
    "image": {"build", "check", "convert", "inspect", "replicate", "upload"},
    "config": {"check"},
    "pool": {"add", "del", "list", "listskus", "nodes", "resize"},
    "jobs": {"add", "del", "list", "tasks", "term"},
    "data": {"files"},
    "account": {"images"},
    "node": {"bundle", "check", "prep"},
    "cert": {"create", "add", "list", "del"},
    "keyvault": {"add", "get", "del", "list"},
}
COMMANDS = {"encrypt"}  # top-level commands that are no group


def _commands_section(text: str) -> dict[str, str]:
    """The rows of a help page's Commands section: name -> the start of its one-line help."""
    rows: dict[str, str] = {}
    section = text.split("\nCommands:\n", 1)[1]
    for line in section.splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            name, _, help_text = line.strip().partition(" ")
            rows[name] = help_text.strip()
    return rows


def test_help_lists_every_group_with_its_help(cli) -> None:
    result = cli("--help")
    assert (result.code, result.err) == (0, "")
    assert result.out.startswith("Usage: shipyard [OPTIONS] COMMAND [ARGS]...")
    rows = _commands_section(result.out)
    assert sorted(rows) == sorted({*GROUP_COMMANDS, *COMMANDS})
    for name, (_, _, help_text) in main_module.GROUPS.items():
        assert help_text.startswith(rows[name])  # the group's own line, not another's


@pytest.mark.parametrize("group", sorted(GROUP_COMMANDS))
def test_each_group_help_lists_its_commands(cli, group: str) -> None:
    result = cli(group, "--help")
    assert (result.code, result.err) == (0, "")
    assert result.out.startswith(f"Usage: shipyard {group} [OPTIONS] COMMAND [ARGS]...")
    assert set(_commands_section(result.out)) >= GROUP_COMMANDS[group]


@pytest.mark.parametrize("group", sorted(GROUP_COMMANDS))
def test_a_bare_group_shows_its_help_and_exits_2(cli, group: str) -> None:
    result = cli(group)
    assert result.code == 2
    assert result.out.startswith(f"Usage: shipyard {group} [OPTIONS] COMMAND [ARGS]...")
    assert set(_commands_section(result.out)) >= GROUP_COMMANDS[group]


def test_version(cli) -> None:
    result = cli("--version")
    assert (result.code, result.out.strip()) == (0, "shipyard, version 0.1.0")


def test_unknown_command_is_a_usage_error(cli) -> None:
    result = cli("frobnicate")
    assert result.code == ExitStatus.INVALID == 2
    assert result.err.startswith("shipyard: error: No such command 'frobnicate'")
    assert len(result.err.strip().splitlines()) == 1


def test_unknown_option_is_a_usage_error(cli) -> None:
    result = cli("config", "check", "--nope")
    assert result.code == 2
    assert "No such option '--nope'" in result.err


def test_global_options_work_before_and_after_the_subcommand(cli, write_config) -> None:
    directory = write_config(pool=POOL)
    after = cli("config", "check", "--configdir", directory, "--raw")
    before = cli("--configdir", directory, "--raw", "config", "check")
    between = cli("config", "--raw", "check", "--configdir", directory)
    assert after.code == before.code == between.code == 0
    assert after.json() == before.json() == between.json()
    assert after.json()["summary"]["pool_id"] == "p"


def test_configdir_from_environment(cli, write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = write_config(pool=POOL)
    monkeypatch.setenv("SHIPYARD_CONFIGDIR", str(directory))
    result = cli("config", "check", "--raw")
    assert result.code == 0 and result.json()["files"] == [{"kind": "pool", "file": str(directory / "pool.yaml")}]


def test_missing_explicit_file_is_exit_2_with_one_line(cli, tmp_path: Path) -> None:
    result = cli("config", "check", "--pool", tmp_path / "nope.yaml")
    assert result.code == 2
    row = [line.split(None, 4) for line in result.out.splitlines() if line.startswith("error ")]
    assert row == [["error", str(tmp_path / "nope.yaml"), "-", "-", "pool file did not load: file not found"]]
    assert result.err == "shipyard: error: config is invalid: 1 error, 0 warnings\n"


def test_no_config_at_all_is_a_usage_error(cli) -> None:
    result = cli("config", "check")
    assert result.code == 2
    assert result.err == (
        "shipyard: error: no config files: pass --configdir DIR, or --credentials/--config/--pool/--jobs FILE\n"
    )


def test_internal_errors_are_one_line_and_debug_shows_the_traceback(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(settings):
        raise ZeroDivisionError("sig=TopSecret https://a.blob.core.windows.net/v/x.vhd?sv=1&sig=TopSecret")

    monkeypatch.setattr("shipyard.cli.skus.list_skus", explode)
    result = cli("pool", "listskus")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("shipyard: error: internal error: ZeroDivisionError")
    assert "TopSecret" not in result.err and "Traceback" not in result.err
    debug = cli("pool", "listskus", "--debug")
    assert debug.code == 1
    assert "Traceback (most recent call last)" in debug.err and "ZeroDivisionError" in debug.err
    assert debug.err.splitlines()[-1].startswith("shipyard: error: internal error: ZeroDivisionError")
    assert "TopSecret" not in debug.err.splitlines()[-1]


def test_debug_is_read_from_the_parsed_option_not_from_argv(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(settings):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr("shipyard.cli.skus.list_skus", explode)
    # "--debug" here is the value of --configdir, not the flag: no traceback
    as_value = cli("pool", "listskus", "--configdir", "--debug")
    assert as_value.code == 1
    assert as_value.err == "shipyard: error: internal error: ZeroDivisionError: boom (run with --debug for the traceback)\n"
    # the flag before the group, between group and command, and after the command
    for args in (["--debug", "pool", "listskus"], ["pool", "--debug", "listskus"], ["pool", "listskus", "--debug"]):
        shown = cli(*args)
        assert shown.code == 1 and "Traceback (most recent call last)" in shown.err, args


def test_debug_shows_the_traceback_of_a_shipyard_error_too(cli, tmp_path: Path) -> None:
    image = tmp_path / "nope.vhd"
    plain = cli("image", "inspect", image)
    debug = cli("image", "inspect", image, "--debug")
    assert plain.code == debug.code != 0
    assert "Traceback" not in plain.err and plain.err.count("\n") == 1
    assert "Traceback (most recent call last)" in debug.err
    assert debug.err.splitlines()[-1] == plain.err.strip()


def test_verbose_logs_go_to_stderr_redacted(cli, write_config, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    directory = write_config(pool=POOL)
    result = cli("config", "check", "--configdir", directory, "-v", "--raw")
    assert result.code == 0
    result.json()  # stdout stays pure JSON with -v

    def logs_and_lists(settings):
        logging.getLogger("shipyard.storage").info("copying %s", "https://a.blob.core.windows.net/v/x.vhd?sv=1&sig=Hidden")
        logging.getLogger("shipyard.storage").debug("a debug line")
        return 0

    monkeypatch.setattr("shipyard.cli.skus.list_skus", logs_and_lists)
    verbose = cli("pool", "listskus", "-v")
    assert verbose.code == 0
    assert verbose.err.endswith("INFO shipyard.storage: copying https://a.blob.core.windows.net/v/x.vhd?<redacted>\n")
    assert verbose.err.count("\n") == 1 and "Hidden" not in verbose.err
    very = cli("pool", "-vv", "listskus")
    assert very.err.count("\n") == 2 and very.err.endswith("DEBUG shipyard.storage: a debug line\n")
    # the level belongs to one invocation: the next run without -v logs nothing
    quiet = cli("pool", "listskus")
    assert (quiet.code, quiet.err) == (0, "")


def test_console_script_runs_and_help_is_fast() -> None:
    exe = Path(sys.executable).parent / "shipyard"
    done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Usage: shipyard" in done.stdout
    # start-up stays lean: the help must not import pydantic, rich or ruamel
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from shipyard.cli.main import main; main(['--help']);"
         "print(sorted(m for m in ('pydantic','rich','ruamel.yaml') if m in sys.modules))"],
        capture_output=True, text=True, check=False,
    )
    assert probe.stdout.strip().splitlines()[-1] == "[]"


def test_main_returns_command_status(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main_module.main(["pool", "listskus", "--raw"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"batch.node.ubuntu 22.04", "batch.node.el 9"} <= {row["node_agent"] for row in listed}
    assert main_module.main(["pool", "listskus", "--nope"]) == 2
    assert main_module.main(["image", "inspect", "/nonexistent/x.vhd"]) != 0
