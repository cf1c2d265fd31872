"""A task's Key Vault environment on an Azure node: the command line Batch gets, the launcher node
prep writes, and the two run together as Batch runs a command line (split, no shell of its own),
reading the secret from the HTTPS test server as the pool's identity."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path


from fixtures.keyvault_service import KeyVaultService
from shipyard.node.task_environment import LAUNCHER, wrapped_command, write_launcher
from shipyard.pools.azure_batch.to_sdk import task_options
from shipyard.pools.models import TaskSpec

SRC = Path(__file__).resolve().parents[2] / "src"
CLIENT_ID = "0b1c2d3e-0000-4000-8000-00000000c11d"




def test_only_a_task_with_secrets_is_wrapped() -> None:
    plain = task_options(TaskSpec("t", "/bin/echo hi"))
    assert plain.command_line == "/bin/echo hi"
    wrapped = task_options(TaskSpec("t", "/bin/echo 'a b'", environment_secret_ids=(
        "https://kv1.vault.azure.net/secrets/jobenv", "https://kv1.vault.azure.net/secrets/taskenv")))
    assert wrapped.command_line == wrapped_command(("https://kv1.vault.azure.net/secrets/jobenv",
                                                    "https://kv1.vault.azure.net/secrets/taskenv"), "/bin/echo 'a b'")
    assert wrapped.command_line.startswith("/bin/sh -c ") and "kv1.vault.azure.net/secrets/taskenv" in wrapped.command_line


def _run(command_line: str, shared: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shlex.split(command_line), capture_output=True, text=True, timeout=60,
                          env={**env, "AZ_BATCH_NODE_SHARED_DIR": str(shared)}, check=False)


def test_the_launcher_reads_the_secrets_and_runs_the_command(keyvault: KeyVaultService, tmp_path: Path) -> None:
    keyvault.put_secret("jobenv", '{"MODE": "job", "SHARED": "from-the-job"}')
    keyvault.put_secret("taskenv", '{"MODE": "task", "TOKEN": "task-secret-value-1"}')
    shared = tmp_path / "shared"
    launcher = write_launcher(shared / "shipyard", CLIENT_ID)
    assert launcher == shared / "shipyard" / LAUNCHER and stat.S_IMODE(launcher.stat().st_mode) == 0o755
    launcher.write_text(launcher.read_text().replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
    ids = (f"{keyvault.url}/secrets/jobenv", f"{keyvault.url}/secrets/taskenv")
    command = wrapped_command(ids, "/bin/sh -c 'echo \"$MODE|$SHARED|$TOKEN|$PLAIN\"'")
    done = _run(command, shared, {**os.environ, "PLAIN": "kept"})
    assert (done.returncode, done.stdout, done.stderr) == (0, "task|from-the-job|task-secret-value-1|kept\n", "")
    gets = keyvault.server.sent("GET", r"^/secrets/(jobenv|taskenv)$")
    assert [g.path for g in gets] == ["/secrets/jobenv", "/secrets/taskenv"]
    assert all(g.authorization.removeprefix("Bearer ") in keyvault.server.tokens_issued for g in gets)

    missing = _run(wrapped_command((f"{keyvault.url}/secrets/gone",), "/bin/echo never"), shared, dict(os.environ))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.startswith("shipyard: task environment: reading Key Vault secret ")
    assert "HTTP 404 SecretNotFound" in missing.stderr and len(missing.stderr.splitlines()) == 1
    absent = _run(wrapped_command(ids, "/no/such/program"), shared, dict(os.environ))
    assert absent.returncode == 127 and "cannot run '/no/such/program'" in absent.stderr
    assert "task-secret-value-1" not in missing.stderr + absent.stderr


def test_a_node_without_the_launcher_fails_the_task_saying_why(tmp_path: Path) -> None:
    """A pool without a managed identity gets no launcher: the task says so, in one line."""
    done = _run(wrapped_command(("https://kv1.vault.azure.net/secrets/env",), "/bin/echo never"), tmp_path,
                dict(os.environ))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("shipyard: task environment: this node has no launcher for Key Vault environments: the "
                           "pool needs pool_specification.managed_identity\n")
