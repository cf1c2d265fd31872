"""A task's Key Vault environment on an Azure node, read as the task starts, never by the CLI.

A task (or its job) with ``environment_variables_keyvault_secret_id`` runs as
``task-environment SECRET_ID... -- COMMAND``: the launcher node prep writes into
``$AZ_BATCH_NODE_SHARED_DIR/shipyard/`` (:func:`write_launcher`) reads each secret as the pool's
user-assigned identity (:mod:`shipyard.node.keyvault`), adds its variables to the environment (the
later secret winning) and executes ``COMMAND`` in its place, split as Batch splits a command line:
not under a shell. A secret that cannot be read fails the task in one line on its stderr, the
value never shown. The standard library only.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Optional

LAUNCHER = "task-environment"  # in $AZ_BATCH_NODE_SHARED_DIR/shipyard/
MISSING = ("shipyard: task environment: this node has no launcher for Key Vault environments: the pool needs "
           "pool_specification.managed_identity")


def main(argv: list, client_id: Optional[str] = None) -> int:
    from shipyard.errors import ShipyardError
    from shipyard.node.environment import secrets_environment
    from shipyard.node.keyvault import fetch_secret
    from shipyard.redact import redact

    if "--" not in argv or argv.index("--") == 0 or argv.index("--") != len(argv) - 2:
        sys.stderr.write("shipyard: task environment: usage: task-environment SECRET_ID... -- COMMAND\n")
        return 2
    secret_ids, command = argv[: argv.index("--")], argv[-1]
    try:
        env = {**os.environ, **secrets_environment(secret_ids, fetch_secret, client_id)}
        args = shlex.split(command)
    except (ShipyardError, ValueError) as exc:
        sys.stderr.write(f"shipyard: task environment: {redact(str(exc))}\n")
        return 1
    if not args:
        sys.stderr.write("shipyard: task environment: the command line is empty\n")
        return 1
    try:
        os.execvpe(args[0], args, env)
    except OSError as exc:
        sys.stderr.write(f"shipyard: task environment: cannot run '{args[0]}': {exc.strerror or exc}\n")
        return 127
    return 0  # not reached


def write_launcher(directory: Path, client_id: Optional[str]) -> Path:
    """The launcher script (mode 0755) in ``directory``: this node prep's shipyard, the identity's client id."""
    import shipyard

    site = str(Path(shipyard.__file__).resolve().parent.parent)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LAUNCHER
    text = ("#!/usr/bin/env python3\n# written by shipyard node prep: a task's Key Vault environment\nimport sys\n"
            f"sys.path.insert(0, {site!r})\nfrom shipyard.node.task_environment import main\n"
            f"sys.exit(main(sys.argv[1:], client_id={client_id!r}))\n")
    tmp = path.with_name(f".{LAUNCHER}.partial")
    tmp.write_text(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return path


def wrapped_command(secret_ids: tuple, command_line: str) -> str:
    """``command_line`` run through the launcher (Batch runs a command line without a shell: the
    ``/bin/sh -c`` only finds the launcher in the node's shared directory)."""
    ids = " ".join(shlex.quote(s) for s in secret_ids)
    inner = (f'l="$AZ_BATCH_NODE_SHARED_DIR/shipyard/{LAUNCHER}"; [ -x "$l" ] || {{ echo "{MISSING}" >&2; exit 1; }}; '
             f'exec "$l" {ids} -- {shlex.quote(command_line)}')
    return "/bin/sh -c " + shlex.quote(inner)
