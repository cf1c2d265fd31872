"""A node's start task: shipyard's node prep against the image the node boots from, as it will boot.

1. The image's facts: read once per VHD of the pool (``images.image_evidence``), offline.
2. The verdict for this node's pool: every rule on that evidence, in the pool's context
   (``PoolContext.from_config`` of the pool's config files), through ``node.prep.run_node_prep``,
   which keeps its marker in ``volatile/shipyard/``.
3. ``additional_node_prep``'s ``pre`` commands, then the minimal set-up (Azure File volumes,
   linked from the local store), then its ``post`` commands.

Everything is written to ``startup/stdout.txt`` and ``startup/stderr.txt``; the commands run in
``startup/wd`` with the node's environment, each split and executed (no shell unless it says
``/bin/sh -c``), each in its own process group. A rejected image is a failed start task whose
``failed_rules`` name each rule, what it found and how to fix it.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from shipyard.errors import ConfigError, ShipyardError
from shipyard.pools.local.codec import from_epoch
from shipyard.pools.local.layout import Layout
from shipyard.pools.local.runtime import NodeRuntime, ProgramMissing, open_runtime, save_volumes
from shipyard.pools.local.state import StateDB
from shipyard.pools.models import ErrorCategory, FailedRule, FailureInfo, PoolSpec, StartTaskInfo, TaskResult
from shipyard.redact import redact


@dataclass
class NodeContext:
    layout: Layout
    pool_id: str
    node_id: str
    is_dedicated: bool
    image_uri: str | None
    spec: PoolSpec
    root: Path
    env: dict[str, str]
    links: dict[str, Any] = field(default_factory=dict)  # the credentials' storage links, once loaded
    marker: tuple[str, str] = ("", "")  # the variable every process of the pool carries, and its value
    runtime: NodeRuntime = field(init=False)

    def use_runtime(self, runtime: NodeRuntime) -> None:
        """Run the node's processes with ``runtime``: its paths in Batch's variables, its environment."""
        self.runtime = runtime
        self.env = runtime.environment(self.pool_id, self.node_id, self.is_dedicated)
        if self.marker[0]:
            self.env[self.marker[0]] = self.marker[1]


Register = Callable[["subprocess.Popen[bytes] | None"], None]


def run_start_task(ctx: NodeContext, db: StateDB, register: Register) -> StartTaskInfo:
    """Run the start task; ``register`` is told of each command's process (and None when it ends)."""
    startup = ctx.root / "startup"
    (startup / "wd").mkdir(parents=True, exist_ok=True)
    began = time.time()
    with open(startup / "stdout.txt", "w") as out, open(startup / "stderr.txt", "w") as err:
        code, failure, rules = _run(ctx, db, register, out, err)
        if failure is not None:
            err.write(failure + "\n")
    ended = time.time()
    if code == 0:
        return StartTaskInfo("completed", 0, TaskResult.SUCCESS, None, (), from_epoch(began), from_epoch(ended))
    info = FailureInfo(ErrorCategory.USER_ERROR, "FailureExitCode", failure or f"the start task exited with code {code}")
    return StartTaskInfo("completed", code, TaskResult.FAILURE, info, rules, from_epoch(began), from_epoch(ended))


def _run(
    ctx: NodeContext, db: StateDB, register: Register, out: IO[str], err: IO[str]
) -> tuple[int, str | None, tuple[FailedRule, ...]]:
    from shipyard.node.environment import node_prep_environment
    from shipyard.node.prep import run_node_prep
    from shipyard.pools.local.vault_env import local_secret
    from shipyard.config.given import load_given
    from shipyard.node.setup import local_store_setup
    from shipyard.pools.local.certs import install_certificate, install_pool_certificates
    from shipyard.pools.local.images import image_evidence
    from shipyard.rules.context import PoolContext

    def say(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    try:
        config = load_given(files=dict(ctx.spec.config_files)) if ctx.spec.config_files else None
        ctx.links = dict(config.credentials.storage) if config and config.credentials else {}
        install_certificate(config, ctx.root / "certs")  # the pool certificate, where Azure puts it
        install_pool_certificates(ctx.spec.certificates, ctx.root / "certs")
        if not ctx.image_uri:
            return 1, "the node has no image URI to boot from (the local backend runs image_uris VHDs)", ()
        evidence, source = image_evidence(db, ctx.layout, ctx.pool_id, ctx.node_id, ctx.image_uri, ctx.links)
        say(f"image {ctx.image_uri}: {source}")
        ctx.use_runtime(open_runtime(ctx.layout, ctx.spec, ctx.node_id, ctx.image_uri, lambda: ctx.links, say))
        say(ctx.runtime.describe())
        pool = PoolContext.from_config(config, vm_size=ctx.spec.vm_size, node_agent=ctx.spec.image.node_agent)
        link_volumes = local_store_setup(config, ctx.root / "shared", ctx.layout.home,
                                         bind=ctx.runtime.sandbox is not None, certs=ctx.root / "certs")
        # additional_node_prep's environment, its vault secret fetched here, on the node
        extra = node_prep_environment(config.pool if config else None, fetch=local_secret) \
            if ctx.spec.start_commands.environment else {}
    except ConfigError as exc:
        return 2, f"node prep: {redact(str(exc))}", ()
    except ShipyardError as exc:
        return 1, f"node prep: {redact(str(exc))}", ()
    except Exception as exc:  # noqa: BLE001 - a reader's bug fails this start task, not the node
        return 1, f"node prep failed: {type(exc).__name__}: {redact(str(exc))}"[:2000].replace("\n", " "), ()

    def setup() -> list[dict[str, str]]:
        run_commands(ctx, "pre", ctx.spec.start_commands.pre, out, err, register, extra)
        return link_volumes() if link_volumes else []

    try:
        result = run_node_prep(None, pool, ctx.root / "volatile" / "shipyard", setup=setup, evidence=evidence)
    except ShipyardError as exc:
        return 1, f"node prep: {redact(str(exc))}", ()
    except Exception as exc:  # noqa: BLE001 - as above
        return 1, f"node prep failed: {type(exc).__name__}: {redact(str(exc))}"[:2000].replace("\n", " "), ()
    for line in result.failure_lines():
        err.write(line + "\n")
    if result.status == "failed":
        rules = tuple(FailedRule(r.id, r.message, r.fix) for r in result.failures)
        ids = ", ".join(r.id for r in rules)
        what = f"the image was rejected by {len(rules)} rule{'s' if len(rules) != 1 else ''}: {ids}" if rules else (
            result.setup_error or "node prep failed")
        return 1, f"node prep: {what}", rules
    passed = sum(1 for r in result.results if r.status.value == "pass")
    say(f"node prep: {result.status}" + (f" ({passed} rules passed)" if result.results else " (the marker says this "
                                         "node was prepared for these pool settings)"))
    volumes = list(result.setup)
    if result.status == "skipped" and ctx.runtime.sandbox is not None and link_volumes:
        try:  # a node that restarts binds its volumes again (the marker skipped the set-up)
            volumes = link_volumes()
        except ShipyardError as exc:
            return 1, f"node prep: {redact(str(exc))}", ()
    ctx.runtime = ctx.runtime.with_volumes(volumes)
    save_volumes(ctx.root, volumes)
    for done in result.setup:
        say(f"volume {done['volume']}: {done['state']} at {ctx.runtime.inside(Path(done['mount_point']))}")
    try:
        if result.status == "skipped":
            run_commands(ctx, "pre", ctx.spec.start_commands.pre, out, err, register, extra)
        run_commands(ctx, "post", ctx.spec.start_commands.post, out, err, register, extra)
    except ShipyardError as exc:
        return 1, str(exc), ()
    return 0, None, ()


def run_commands(
    ctx: NodeContext, which: str, commands: tuple[str, ...], out: IO[str], err: IO[str], register: Register,
    extra: dict[str, str] | None = None,
) -> None:
    """Run ``additional_node_prep``'s ``which`` commands in order (``extra``: their own environment
    variables); the first that fails stops them."""
    env = {**ctx.env, **(extra or {})}
    for number, command in enumerate(commands, 1):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ShipyardError(f"additional_node_prep {which} command {number} cannot be split: {exc}") from None
        if not argv:
            continue
        out.flush()
        err.flush()
        wd = ctx.root / "startup" / "wd"
        try:
            argv = ctx.runtime.command(argv, wd, env)
        except ProgramMissing as exc:
            raise ShipyardError(f"additional_node_prep {which} command {number}: {exc}") from None
        try:
            proc = subprocess.Popen(argv, cwd=wd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out.fileno(), stderr=err.fileno(), process_group=0)
        except OSError as exc:
            raise ShipyardError(f"additional_node_prep {which} command {number}: cannot run '{argv[0]}': "
                                f"{exc.strerror or exc}") from None
        register(proc)
        try:
            code = proc.wait()
        finally:
            register(None)
        if code != 0:
            raise ShipyardError(f"additional_node_prep {which} command {number} ('{argv[0]}') exited with code "
                                f"{code if code >= 0 else 128 - code}")
