"""The local round trip of credential encryption: the certificate made, the storage key encrypted in
credentials.yaml, and on every node the PFX where Azure puts a pool certificate, so that node prep
decrypts the key and links the Azure-File share a task then writes to; the key shown nowhere."""

from __future__ import annotations

import stat
from pathlib import Path

from fixtures.pools import finished_tasks, idle_nodes
from shipyard.config.certificate import create_certificate, load_public_key, record_encryption
from shipyard.config.encryption import encrypt
from shipyard.pools.models import JobSpec, TaskResult, TaskSpec

PLAIN_KEY = "bG9jYWwtc3RvcmFnZS1rZXktdGhhdC1tdXN0LW5ldmVyLXNob3c="
VOLUME = """
global_resources:
  volumes:
    shared_data_volumes:
      secure:
        volume_driver: azurefile
        storage_account_settings: encsa
        azure_file_share_name: secure
        container_path: /secure
"""


def test_node_prep_decrypts_the_key_with_the_certificate_on_the_node(backend, pool_files, ubuntu_vhd,
                                                                      tmp_path: Path) -> None:
    made = create_certificate(tmp_path / "enc", "pfx-passphrase-for-the-test")
    ciphertext = encrypt(PLAIN_KEY, load_public_key(made.public_pem))
    from fixtures.pools import build_ubuntu_vhd
    from fixtures.trees import write_executables

    with_cifs = build_ubuntu_vhd(tmp_path / "cifs", lambda root: write_executables(root, "/usr/sbin/mount.cifs"))
    spec = pool_files.spec("enc", [pool_files.upload(with_cifs, "cifs.vhd")], dedicated=1, config=VOLUME,
                           links=f"encsa:\n  account: localacct\n  endpoint: local\n  account_key: {ciphertext}\n")
    config_yaml = Path(dict(spec.config_files)["config"])
    record_encryption(config_yaml, made.pfx, made.passphrase, made.sha1_thumbprint, made.public_pem)
    backend.add_pool(spec)
    node = idle_nodes(backend, "enc", 1)[0]
    certs = pool_files.home / "local" / "pools" / "enc" / node.id / "certs"
    installed = certs / f"sha1-{made.sha1_thumbprint}.pfx"
    assert installed.read_bytes() == made.pfx.read_bytes()
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert stat.S_IMODE((certs / f"{installed.name}.pw").stat().st_mode) == 0o600
    backend.add_job(JobSpec("job", "enc", tasks=(TaskSpec(
        "t1", "/bin/sh -c 'echo inside > $AZ_BATCH_NODE_SHARED_DIR/azfile-localacct-secure/seen.txt; env'"),)))
    assert finished_tasks(backend, "job")["t1"].result == TaskResult.SUCCESS
    share = pool_files.home / "storage" / "localacct" / ".shipyard-files" / "secure" / "seen.txt"
    assert share.read_text() == "inside\n"  # the task saw the share node prep linked with the decrypted key
    shown = b"".join(backend.read_node_file("enc", node.id, f"startup/{name}") for name in ("stdout.txt", "stderr.txt"))
    shown += backend.read_task_file("job", "t1", "stdout.txt") + backend.read_task_file("job", "t1", "stderr.txt")
    assert PLAIN_KEY.encode() not in shown and b"pfx-passphrase-for-the-test" not in shown


def test_a_pool_whose_certificate_is_missing_fails_its_start_task_in_one_line(backend, pool_files, ubuntu_vhd,
                                                                               tmp_path: Path) -> None:
    made = create_certificate(tmp_path / "enc", "pw")
    spec = pool_files.spec("gone", [pool_files.upload(ubuntu_vhd)], dedicated=1)
    record_encryption(Path(dict(spec.config_files)["config"]), made.pfx, made.passphrase, made.sha1_thumbprint,
                      made.public_pem)
    made.pfx.unlink()
    backend.add_pool(spec)
    from fixtures.pools import settled_nodes

    node = settled_nodes(backend, "gone", 1)[0]
    assert node.start_task.exit_code == 1 and "the pool certificate" in node.start_task.failure.message
    assert "cannot be read" in node.start_task.failure.message


def test_vault_certificates_and_node_prep_secrets_reach_local_nodes(backend, pool_files, ubuntu_vhd,
                                                                    tmp_path: Path) -> None:
    """The local vault as the pool's Key Vault: admission finds pool.yaml's certificate there and the
    node gets it in certs/; node prep reads additional_node_prep's environment secret there, and the
    node prep commands see it, while no output shows it."""
    from shipyard.config.kinds import ConfigKind
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths
    from shipyard.pools.admission import admit_pool
    from shipyard.vault.local import LocalVault

    made = create_certificate(tmp_path / "app", "app-pfx-passphrase", key_bits=3072)
    vault = LocalVault("poolvault")
    vault.import_certificate("app", made.pfx.read_bytes(), "app-pfx-passphrase")
    vault.set_secret("prepenv", '{"PREP_TOKEN": "prep-secret-from-the-vault-1"}')
    spec = pool_files.spec("vaulted", [pool_files.upload(ubuntu_vhd)], dedicated=1)
    files = dict(spec.config_files)
    credentials, pool = Path(files["credentials"]), Path(files["pool"])
    credentials.write_text(credentials.read_text() + "  keyvault:\n    uri: local://poolvault\n")
    pool.write_text(pool.read_text() + f"  certificates:\n    sha1${made.sha1_thumbprint}:\n      visibility: [task]\n"
                    "  additional_node_prep:\n    commands:\n      pre:\n      - /bin/sh -c 'echo \"$PREP_TOKEN|$MODE\" "
                    "> seen.txt'\n    environment_variables:\n      MODE: plain\n"
                    "    environment_variables_keyvault_secret_id: local://poolvault/secrets/prepenv\n")
    report = admit_pool(load_config_set(ConfigPaths({ConfigKind(k): Path(v) for k, v in files.items()})))
    found = [r for r in report.config_results if r.id == "pool.certificates"]
    assert [(r.status.value, r.message) for r in found] == [
        ("pass", f"certificate sha1${made.sha1_thumbprint} is in local://poolvault as 'app'")]
    admitted = report.pool
    assert [c.thumbprint for c in admitted.certificates] == [made.sha1_thumbprint]
    assert admitted.start_commands.environment
    backend.add_pool(admitted)
    node = idle_nodes(backend, "vaulted", 1)[0]
    root = pool_files.home / "local" / "pools" / "vaulted" / node.id
    installed = root / "certs" / f"sha1-{made.sha1_thumbprint}.pfx"
    assert installed.read_bytes() == made.pfx.read_bytes() and stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert (root / "certs" / f"{installed.name}.pw").read_text() == "app-pfx-passphrase"
    assert (root / "startup" / "wd" / "seen.txt").read_text() == "prep-secret-from-the-vault-1|plain\n"
    shown = b"".join(backend.read_node_file("vaulted", node.id, f"startup/{name}") for name in ("stdout.txt",
                                                                                               "stderr.txt"))
    assert b"prep-secret-from-the-vault-1" not in shown and b"app-pfx-passphrase" not in shown


def test_a_certificate_missing_from_the_vault_refuses_the_pool(pool_files, ubuntu_vhd) -> None:
    from shipyard.config.kinds import ConfigKind
    from shipyard.config.loader import load_config_set
    from shipyard.config.paths import ConfigPaths
    from shipyard.pools.admission import admit_pool

    spec = pool_files.spec("nocert", [pool_files.upload(ubuntu_vhd)], dedicated=1)
    files = dict(spec.config_files)
    Path(files["pool"]).write_text(Path(files["pool"]).read_text() + "  certificates:\n    app-cert:\n"
                                   "      visibility: [task]\n")
    report = admit_pool(load_config_set(ConfigPaths({ConfigKind(k): Path(v) for k, v in files.items()})))
    failing = [(r.message, r.fix) for r in report.config_results if r.id == "pool.certificates"]
    assert failing == [("1 certificate(s) to find, and no vault to find them in",
                        "set credentials.keyvault.uri (https://<vault>.vault.azure.net, or local://<name>)")]
    assert report.failed()


def test_a_tasks_vault_environment_is_read_on_the_node(backend, pool_files, ubuntu_vhd) -> None:
    from shipyard.vault.local import LocalVault

    vault = LocalVault("taskvault")
    vault.set_secret("jobenv", '{"MODE": "job", "FROM_JOB": "yes"}')
    vault.set_secret("taskenv", '{"MODE": "task", "TOKEN": "task-secret-from-the-vault-7"}')
    backend.add_pool(pool_files.spec("envpool", [pool_files.upload(ubuntu_vhd)], dedicated=1))
    idle_nodes(backend, "envpool", 1)
    backend.add_job(JobSpec("envjob", "envpool", tasks=(
        TaskSpec("t1", "/bin/sh -c 'echo \"$MODE|$FROM_JOB|$TOKEN\"'",
                 environment_secret_ids=("local://taskvault/secrets/jobenv", "local://taskvault/secrets/taskenv")),
        TaskSpec("t2", "/bin/echo never", environment_secret_ids=("local://taskvault/secrets/gone",)),
    )))
    tasks = finished_tasks(backend, "envjob")
    assert tasks["t1"].result == TaskResult.SUCCESS
    assert backend.read_task_file("envjob", "t1", "stdout.txt") == b"task|yes|task-secret-from-the-vault-7\n"
    failed = tasks["t2"]
    assert failed.result == TaskResult.FAILURE and failed.failure is not None
    assert failed.failure.message == ("environment_variables_keyvault_secret_id: local://taskvault has no secret "
                                      "'gone'")
