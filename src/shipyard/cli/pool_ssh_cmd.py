"""``shipyard pool ssh [--nodeid ID] [COMMAND...]``: a command, or a shell, in a pool's node.

On the local backend the node is entered as its tasks see it (``pools.local.shell``): inside the
image for the ``image`` runtime. The exit status is the command's (as with ``ssh``); otherwise the
usual one-line error and exit status (a pool or node that does not exist, a node that cannot be
entered). Everything after COMMAND's first word is the command's: put options first, and ``--``
before a command that starts with a dash.
"""

from __future__ import annotations

import subprocess

import click

from shipyard.cli import render
from shipyard.cli.options import Settings, global_options, pass_settings
from shipyard.cli.pool_session import POOL_FILES, backend_for, load_files, pool_id_of
from shipyard.errors import UsageError


@click.command("ssh", context_settings={"allow_interspersed_args": False})
@click.option("--poolid", metavar="ID", help="The pool (default: pool.yaml's).")
@click.option("--nodeid", metavar="ID", help="The node (default: the pool's first).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@global_options
@pass_settings
def ssh(settings: Settings, poolid: str | None, nodeid: str | None, command: tuple[str, ...]) -> int:
    """Run COMMAND in a node as its tasks see it (inside the image, for the image runtime), or,
    without one, an interactive login shell there. COMMAND is run by the node's /bin/sh -c, as
    ssh runs it; its exit status is this command's."""
    if settings.raw and not command:
        raise UsageError("--raw needs a COMMAND: an interactive shell has no JSON to give")
    config = load_files(settings, POOL_FILES)
    pool_id = pool_id_of(config, poolid)
    with backend_for(config) as backend:
        enter = getattr(backend, "node_shell", None)
        if enter is None:
            raise UsageError(f"pool ssh is not supported on the {backend.kind} backend yet")
        shell = enter(pool_id, nodeid, list(command) or None)
    if settings.raw:
        done = subprocess.run(shell.argv, env=shell.env, cwd=shell.cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
        render.emit_json({"pool": pool_id, "node_runtime": shell.runtime, "exit_code": done.returncode,
                          "stdout": done.stdout.decode(errors="replace"),
                          "stderr": done.stderr.decode(errors="replace")})
        return done.returncode
    return subprocess.run(shell.argv, env=shell.env, cwd=shell.cwd, check=False).returncode
