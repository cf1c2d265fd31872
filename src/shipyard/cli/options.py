"""Global options, accepted before or after any subcommand (``shipyard pool add --configdir .``).

Each option is attached to the root group and to every command; its callback stores the value
in the one ``Settings`` object shared by the whole invocation (``cli.main`` creates it and passes
it to click as the context object), so the position does not matter. ``--debug`` and ``-v`` are
read from there and nowhere else.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from shipyard.config.kinds import ConfigKind

if TYPE_CHECKING:
    from shipyard.config.paths import ConfigPaths


@dataclass
class Settings:
    configdir: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    raw: bool = False
    yes: bool = False
    verbose: int = 0
    debug: bool = False

    def config_paths(self) -> ConfigPaths:
        from shipyard.config.paths import ConfigPaths

        return ConfigPaths.resolve(self.configdir, **self.files)


def _store(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        settings = ctx.ensure_object(Settings)
        if param.name in {k.value for k in ConfigKind}:
            if value is not None:
                settings.files[param.name] = value
            return
        # a flag given at any level stays set; a value given later wins
        if value is None or value is False or value == 0:
            return
        if attr == "verbose":
            settings.verbose = max(settings.verbose, value)
            _configure_logging(settings.verbose)
        else:
            setattr(settings, attr, value)

    return callback


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _configure_logging(verbosity: int) -> None:
    from shipyard.logs import configure_logging

    configure_logging(logging.DEBUG if verbosity > 1 else logging.INFO)


def _file_option(kind: ConfigKind) -> Decorator:
    return click.option(
        f"--{kind.value}",
        kind.value,
        metavar="FILE",
        type=click.Path(dir_okay=False),
        expose_value=False,
        is_eager=True,
        callback=_store(kind.value),
        help=f"The {kind.value} file ({kind.value}.yaml).",
    )


def global_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Attach the global options to a command or group."""
    options: list[Decorator] = [
        click.option(
            "--configdir",
            metavar="DIR",
            envvar="SHIPYARD_CONFIGDIR",
            type=click.Path(file_okay=False),
            expose_value=False,
            is_eager=True,
            callback=_store("configdir"),
            help="Directory holding credentials.yaml, config.yaml, pool.yaml, jobs.yaml [$SHIPYARD_CONFIGDIR].",
        ),
        *(_file_option(kind) for kind in ConfigKind),
        click.option("--raw", is_flag=True, expose_value=False, callback=_store("raw"), help="Print JSON only."),
        click.option(
            "-y", "--yes", is_flag=True, expose_value=False, callback=_store("yes"), help="Assume yes at prompts."
        ),
        click.option(
            "-v", "--verbose", count=True, expose_value=False, callback=_store("verbose"), help="Log progress (-vv: debug)."
        ),
        click.option(
            "--debug", is_flag=True, expose_value=False, callback=_store("debug"), help="Show tracebacks on errors."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pass_settings(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(click.get_current_context().ensure_object(Settings), *args, **kwargs)

    return wrapper
