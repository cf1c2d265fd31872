"""The ``shipyard`` entry point, and the one place that maps errors to exit codes.

Subcommand groups are imported only when invoked, so ``shipyard --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from shipyard import __version__
from shipyard.cli.options import Settings, global_options
from shipyard.errors import ExitStatus, ShipyardError
from shipyard.redact import redact

# name -> (module, attribute, one-line help). Add a group here when it has working commands.
GROUPS: dict[str, tuple[str, str, str]] = {
    "image": ("shipyard.cli.image_cmd", "image_group", "Custom VM images: build, convert, inspect, check, upload, replicate."),
    "config": ("shipyard.cli.config_cmd", "config_group", "Load and validate Batch Shipyard config files."),
    "pool": ("shipyard.cli.pool_cmd", "pool_group", "Pools: add (checked first), list, resize, delete; nodes; SKUs."),
    "jobs": ("shipyard.cli.jobs_cmd", "jobs_group", "Jobs and tasks: add from jobs.yaml, list, terminate, delete."),
    "data": ("shipyard.cli.data_cmd", "data_group", "Task and node files: list, stream, download."),
    "account": ("shipyard.cli.account_cmd", "account_group", "The Batch account: supported images."),
    "node": ("shipyard.cli.node_cmd", "node_group", "Compute nodes: check, prep (the start task), bundle."),
    "cert": ("shipyard.cli.secrets_cmd", "cert_group",
             "Certificates: create the credential-encryption one; add, list, delete in the vault."),
    "keyvault": ("shipyard.cli.keyvault_cmd", "keyvault_group", "Secrets in Key Vault or the local vault: add, get, "
                 "delete, list."),
    "encrypt": ("shipyard.cli.secrets_cmd", "encrypt_command", "Encrypt a credential, or a credentials file in place."),
}


class LazyGroup(click.Group):
    """A group whose subcommand groups are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *GROUPS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in GROUPS:
            module, attr, _ = GROUPS[cmd_name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, GROUPS[name][2]) for name in sorted(GROUPS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shipyard")
@global_options
def cli() -> None:
    """shipyard: check a custom VM image, upload and replicate it, and run pools and jobs from it.

    Reads Batch Shipyard config files (credentials, config, pool, jobs) from --configdir. Pools run
    on the local backend (this machine), or on Azure Batch when credentials.yaml names an account.
    """


def _error_line(message: str) -> None:
    sys.stderr.write(f"shipyard: error: {redact(message)}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit status. Every error ends here, as one line.

    The ``Settings`` object made here is the click context object of the whole invocation: the
    global options' callbacks fill it wherever the options appear, and ``--debug`` is read from
    it (never from argv, where ``--debug`` may be the value of another option).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    try:
        return _run(args, settings)
    finally:
        from shipyard.logs import reset_logging
        from shipyard.vault.resolve import uninstall

        reset_logging()  # -v belongs to this invocation only
        uninstall()  # and so does its vault access


def _run(args: list[str], settings: Settings) -> int:
    from shipyard.logs import quiet_sdk_logging
    from shipyard.vault.resolve import install

    quiet_sdk_logging()  # the SDKs' multi-line warnings never reach stderr; our one line says it
    install()  # the credentials' Key Vault references are fetched when a command uses one
    try:
        result: Any = cli.main(args=args, prog_name="shipyard", standalone_mode=False, obj=settings)
    except ShipyardError as exc:
        if settings.debug:
            traceback.print_exc()
        message = str(exc) + (f"; {exc.hint}" if exc.hint else "")
        _error_line(message)
        return int(exc.exit_status)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError" and exc.ctx is not None:
            sys.stdout.write(exc.ctx.get_help() + "\n")  # a bare group: show its help
            return int(ExitStatus.INVALID)
        hint = ""
        if exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        _error_line(exc.format_message() + hint)
        return int(ExitStatus.INVALID)
    except click.ClickException as exc:
        _error_line(exc.format_message())
        return exc.exit_code if exc.exit_code != 1 else int(ExitStatus.FAILED)
    except click.Abort:
        _error_line("aborted")
        return int(ExitStatus.FAILED)
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except BrokenPipeError:
        return int(ExitStatus.FAILED)
    except Exception as exc:  # noqa: BLE001 - a bug: still one line, the traceback only on --debug
        if settings.debug:
            traceback.print_exc()
        _error_line(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return int(ExitStatus.FAILED)
    if isinstance(result, int):
        return result
    return int(ExitStatus.OK)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
