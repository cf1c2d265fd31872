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


def test_help_lists_the_groups(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for group in ("config", "pool", "account"):
        assert group in result.out


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
    assert f"error: {tmp_path / 'nope.yaml'}: file not found" in result.out


def test_no_config_at_all_is_a_usage_error(cli) -> None:
    result = cli("config", "check")
    assert result.code == 2
    assert result.err == (
        "shipyard: error: no config files: pass --configdir DIR, or --credentials/--config/--pool/--jobs FILE\n"
    )


def test_internal_errors_are_one_line_and_debug_shows_the_traceback(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(settings):
        raise ZeroDivisionError("sig=TopSecret https://a.blob.core.windows.net/v/x.vhd?sv=1&sig=TopSecret")

    monkeypatch.setattr("shipyard.cli.pool_cmd.list_skus", explode)
    result = cli("pool", "listskus")
    assert result.code == 1
    assert result.err.count("\n") == 1
    assert result.err.startswith("shipyard: error: internal error: ZeroDivisionError")
    assert "TopSecret" not in result.err and "Traceback" not in result.err
    debug = cli("pool", "listskus", "--debug")
    assert "Traceback (most recent call last)" in debug.err


def test_verbose_logs_go_to_stderr_redacted(cli, write_config, capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    directory = write_config(pool=POOL)
    result = cli("config", "check", "--configdir", directory, "-v", "--raw")
    assert result.code == 0
    result.json()  # stdout stays pure JSON with -v
    logging.getLogger("shipyard.storage").info("copying %s", "https://a.blob.core.windows.net/v/x.vhd?sv=1&sig=Hidden")
    err = capsys.readouterr().err
    assert "INFO shipyard.storage: copying https://a.blob.core.windows.net/v/x.vhd?<redacted>" in err
    assert "Hidden" not in err


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


def test_main_returns_command_status(monkeypatch: pytest.MonkeyPatch) -> None:
    assert main_module.main(["pool", "listskus", "--raw"]) == 0
