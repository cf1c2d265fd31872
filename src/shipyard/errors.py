"""The error hierarchy. The library raises these; only the CLI maps them to exit codes.

Every message is one line and never carries a secret: code that builds a message from user
input passes it through :func:`shipyard.redact.redact` first.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FAILED = 1  # a check or the operation failed
    INVALID = 2  # invalid input or usage


class ShipyardError(Exception):
    """Root of every error shipyard raises on purpose."""

    exit_status = ExitStatus.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ShipyardError):
    """The command line itself is wrong (a missing file, a conflicting option)."""

    exit_status = ExitStatus.INVALID


class ConfigError(ShipyardError):
    """A config file is unreadable or invalid. Carries where: file, line and dotted key path."""

    exit_status = ExitStatus.INVALID

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        path: str | None = None,
        hint: str | None = None,
        more: int = 0,
    ) -> None:
        super().__init__(message, hint=hint)
        self.file = file
        self.line = line
        self.path = path
        self.more = more

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        if self.path:
            where += f"{self.path}: "
        tail = f" (and {self.more} more error{'s' if self.more > 1 else ''})" if self.more else ""
        return f"{where}{self.message}{tail}"


class ImageFormatError(ShipyardError):
    """A disk image is not what it claims to be, or not what Azure accepts. Exit 2."""

    exit_status = ExitStatus.INVALID

    def __init__(
        self, message: str, *, field: str | None = None, offset: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.field = field
        self.offset = offset


class StorageError(ShipyardError):
    """A storage operation failed."""


class GalleryError(ShipyardError):
    """A Compute Gallery operation failed (publishing an image version)."""


class VaultError(ShipyardError):
    """A Key Vault (or local vault) operation failed: a secret or certificate read, written or deleted."""


class VaultObjectNotFound(VaultError):
    """A secret or certificate that is not in the vault. Exit 2: the name given is wrong."""

    exit_status = ExitStatus.INVALID


class BackendError(ShipyardError):
    """A pool backend operation failed."""


class NotFoundError(BackendError):
    """A pool, node, job, task or file that does not exist. Exit 2: the name given is wrong."""

    exit_status = ExitStatus.INVALID


class ConflictError(BackendError):
    """A pool, job or task id that already exists, or an operation its state forbids. Exit 2."""

    exit_status = ExitStatus.INVALID
