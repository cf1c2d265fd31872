"""Questions at prompts: only ``-y`` answers them; piped input never does."""

from __future__ import annotations

import sys

import click

from shipyard.cli.options import Settings
from shipyard.errors import UsageError


def can_prompt() -> bool:
    """A person can answer: stdin is a terminal (piped input is never taken as an answer)."""
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced by something without a terminal
        return False


def confirm(settings: Settings, question: str) -> bool:
    """True with ``-y``; else ask on the terminal. Without one, a ``UsageError`` (exit 2) naming ``-y``."""
    if settings.yes:
        return True
    if not can_prompt():
        raise UsageError(f"{question.rstrip('?')}: pass -y to confirm (there is no terminal to ask on)")
    return click.confirm(question, default=False, err=True)
