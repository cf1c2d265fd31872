"""Logging set-up for the CLI: to stderr, with secrets scrubbed from every record."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from shipyard.redact import redact

LOGGER_NAME = "shipyard"
SDK_LOGGERS = ("azure",)  # azure-core, azure-identity, azure-storage: quiet unless shipyard asks


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with SAS tokens and query strings removed."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (tests swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RedactingFilter())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure_logging(level: int) -> None:
    """Log shipyard's records at ``level`` and above to stderr (``-v``: INFO, ``-vv``: DEBUG)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(level)
    if not any(isinstance(h, StderrHandler) for h in logger.handlers):
        logger.addHandler(StderrHandler())


def quiet_sdk_logging() -> None:
    """Keep the Azure SDKs' own warnings (multi-line, e.g. every credential DefaultAzureCredential
    tried) off stderr: the error they lead to is reported by shipyard as one line."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def reset_logging() -> None:
    """Undo :func:`configure_logging` and :func:`quiet_sdk_logging`: the end of one CLI
    invocation (tests run many in-process)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in [h for h in logger.handlers if isinstance(h, StderrHandler)]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
