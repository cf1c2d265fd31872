#!/usr/bin/env python3
"""The embedded local backend at scale: a 100-node pool to idle, its memory, 10,000 tasks, node runtimes.

A benchmark, not a test: the test suite never runs it, and it asserts nothing (it always exits 0;
read the verdict column). In one run, in a temporary ``SHIPYARD_HOME``, it

1. builds the Ubuntu 22.04 test fixture image with shipyard's builder
   (``tests/fixtures/trees.py:write_ubuntu_2204`` -> ``shipyard.image.build.build_image``),
   uploads it to the embedded local store (``upload_page_blob`` into ``open_store`` of an
   ``endpoint: local`` link) and writes the credentials, config and pool files a user would; then
   runs an untimed 1-node pool with one task (the warm-up: bytecode written, page cache warm);
2. **pool to idle**: ``add_pool`` of ``--nodes`` dedicated nodes (default 100), then
   ``wait_for_nodes``. The figure is the seconds from ``add_pool`` to the last node ``idle`` (the
   largest ``state_changed`` of the nodes, which the supervisor stamps when a node reports its
   start task done: node prep against the image, whose facts the pool's first node reads from the
   store). The peer is the floor of "a process per node": as many bare ``python -c pass``
   processes (the same interpreter), started at once and reaped;
3. **memory of the idle pool**: the proportional set size (``Pss`` of
   ``/proc/<pid>/smaps_rollup``) of the supervisor and of every node process, found by the pids
   the backend recorded (its ``nodes`` table) and checked against the supervisor's children. The
   peer is as many bare ``python -c 'import sys; sys.stdin.read()'`` processes alive at once;
4. **10,000 tasks**: a pool of ``--task-nodes`` nodes (8) with ``--slots`` slots each (2,
   ``max_tasks_per_node``), brought to idle untimed; then ``--rounds`` (3) interleaved rounds of
   (a) ``add_job`` with ``--tasks`` (10,000) ``/bin/true`` tasks, timed from ``add_job`` to the
   last task's ``end_time``, every task checked completed with success (the benchmark polls the
   job's task counts, one ``GROUP BY``, every 0.1 s), (b) a serial ``subprocess.run(["/bin/true"])``
   loop and (c) the same loop on a thread pool as wide as the pool's slots (16); the medians are
   the figures. GNU ``parallel --will-cite -j16`` runs the same 10,000 command lines from a file
   once, after (it runs each through ``$SHELL -c``, as it always does). One more job, awaited with
   ``wait_for_tasks`` (which polls the ids of the tasks not yet settled and lists the tasks once,
   at the end), shows that helper's cost;
5. **node runtimes** (per-task overhead of the ``image`` runtime against ``host``; target <= 1.5x):
   one VHD with a real userland (the same fixture tree plus Debian's static busybox, put in
   ``/usr/bin`` by ``examples/sample-image/install-busybox.sh``, the binary ``get-busybox.sh``'s),
   a pool of ``--task-nodes`` x ``--slots`` with ``node_runtime="host"`` and one with ``"image"``
   (its tasks run inside the image's root: one bubblewrap sandbox and task launcher per node). The
   image pool's ``add_pool`` unpacks the root into ``$SHIPYARD_HOME/cache/roots`` (emptied first),
   timed apart and not in the per-task figure; both pools are brought to idle and run an untimed
   warm-up job (which starts each image node's launcher), then ``--pairs`` (5) pairs of the same
   ``--tasks`` job, one on each pool, the order alternating; the figure is the median of the
   pairs' ratios image / host. What the two tasks' programs cost outside any pool (the host's
   ``/bin/true``, the image's busybox ``true``) is measured by a serial loop, and the root is
   removed from the cache after the pools. How fast the unpack itself is, against ``tar -x``:
   ``bench_unpack.py``.

Where the time goes is printed beside the figures, read from timestamps and ``/proc``: for the
nodes, when each was spawned, reported ``waitingforstarttask`` (interpreter up, node module
imported, init read) and went idle, the CPU seconds of each node process, a probe process that
runs the real start task stage by stage on the recorded facts, and ``python -X importtime`` of
what a node imports; for the tasks, the CPU seconds of the supervisor, of the node processes and
of the tasks themselves (the nodes' reaped children), and what creating a task's directories and
output files costs on the home's filesystem. Every phase also records the whole machine's busy
and stolen CPU seconds (``/proc/stat``) and the load average, since other sessions share the
machine. ``--profile DIR`` runs the supervisors and the nodes under ``cProfile`` (CPU time; a
``sitecustomize`` they inherit) and prints their hottest functions: it slows them, so a profiled
run's figures are not the measurement.

Bytecode: where ``PYTHONDONTWRITEBYTECODE`` is set and the source tree has no ``__pycache__``
(as on the development machine), every node would compile shipyard's modules as it imports them,
which an installed shipyard never does. So the pools' processes get ``PYTHONPYCACHEPREFIX`` in
the work directory, shipyard precompiled into it and writing allowed (the warm-up fills in the
rest); ``--no-bytecode-cache`` leaves the environment as it is.

Each pool is deleted at the end of its phase (``delete_pool`` in a ``finally``, its stages timed),
and the benchmark checks that nothing of it is left: no process with the home's ``SHIPYARD_HOME``
(while no other pool of the home is up), the pool's marker variable or a node directory of the
pool (``AZ_BATCH_NODE_ROOT_DIR``, ``SHIPYARD_NODE_DIR``), no row, no directory.

Run:  .venv/bin/python benchmarks/bench_local_pool.py              # the issue's sizes (about 4 minutes)
      .venv/bin/python benchmarks/bench_local_pool.py --nodes 10 --tasks 500 --rounds 1   # quick
      .venv/bin/python benchmarks/bench_local_pool.py --json > run.json   # the results as JSON
      .venv/bin/python benchmarks/bench_local_pool.py --from-json run.json   # its table again
      .venv/bin/python benchmarks/bench_local_pool.py --runtimes-only --pairs 3   # image vs host only
      [--task-nodes 8] [--slots 2] [--workdir DIR] [--home-dir /dev/shm] [--skip-pool] [--skip-tasks]
      [--skip-runtimes] [--pairs 5] [--profile DIR] [--no-bytecode-cache]

Progress goes to stderr; the table (or the JSON) to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from shipyard.config.credentials import StorageLink  # noqa: E402
from shipyard.image.build import build_image  # noqa: E402
from shipyard.pools.local import backend as backend_module  # noqa: E402
from shipyard.pools.local import procs  # noqa: E402
from shipyard.pools.local.backend import LocalBackend  # noqa: E402
from shipyard.pools.local.layout import POOL_MARKER_ENV  # noqa: E402
from shipyard.pools.models import ImageSource, JobSpec, NodeState, PoolSpec, TaskSpec  # noqa: E402
from shipyard.storage.open import open_store  # noqa: E402
from shipyard.storage.upload import upload_page_blob  # noqa: E402

ACCOUNT = "benchlocal"
CONTAINER = "vhds"
BLOB = "ubuntu.vhd"
NODE_AGENT = "batch.node.ubuntu 22.04"
VM_SIZE = "Standard_D2_v3"
COMMAND = "/bin/true"
TICK = os.sysconf("SC_CLK_TCK")
GIB = 1 << 30

TARGET_IDLE_S = 5.0
TARGET_PSS_BYTES = GIB
TARGET_TASKS_S = 60.0
TARGET_OVERHEAD_X = 2.0
TARGET_RUNTIME_X = 1.5  # the image runtime's per-task time over the host runtime's
RUNTIME_BLOB = "ubuntu-busybox.vhd"
SAMPLE_IMAGE = REPO / "examples" / "sample-image"
ISSUE_SIZES = (100, 10_000, 8, 2)  # nodes to idle, tasks, the tasks' nodes, their slots


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- /proc ---------------------------------------------------------------------------------------

def pss_bytes(pid: int) -> int | None:
    """``Pss`` of ``/proc/<pid>/smaps_rollup`` in bytes (None: the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def rss_bytes(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """(its own user+system CPU, that of its reaped children) in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime) / TICK, (cutime + cstime) / TICK


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from ``/proc/stat``: busy is
    user + nice + system + irq + softirq (idle and iowait are not busy; steal, the time the
    hypervisor gave this VM's CPUs to others, is apart)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


class Window:
    """What the whole machine did between ``Window()`` and ``end()``: wall seconds, busy and
    stolen CPU seconds, and the load average at both ends."""

    def __init__(self) -> None:
        self.began, (self.busy, self.steal), self.load = time.perf_counter(), machine_cpu(), load_average()

    def end(self) -> dict[str, float]:
        busy, steal = machine_cpu()
        return {"wall_s": time.perf_counter() - self.began, "busy_cpu_s": busy - self.busy,
                "steal_cpu_s": steal - self.steal, "load_before": self.load, "load_after": load_average()}


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (and theirs), from ``getrusage``."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for thread in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found.update(int(c) for c in Path(f"/proc/{pid}/task/{thread}/children").read_text().split())
    return found


def home_prefixes(directory: Path) -> tuple[bytes, ...]:
    """The variables that place a task's node under ``directory``: ``AZ_BATCH_NODE_ROOT_DIR`` (the
    host runtime) and ``SHIPYARD_NODE_DIR`` (the image runtime, whose tasks see the in-image path)."""
    return tuple(f"{name}={directory}/".encode() for name in ("AZ_BATCH_NODE_ROOT_DIR", "SHIPYARD_NODE_DIR"))


def process_line(pid: int) -> str:
    """A process's state, parent and command line, from /proc ("gone" once it is)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    fields = stat[stat.rfind(b")") + 2:].split()
    return f"{fields[0].decode()} ppid {fields[1].decode()}: " + " ".join(a.decode(errors="replace") for a in argv)[:300]


def tree_cpu(supervisor: int, node_pids: list[int]) -> dict[str, float]:
    """CPU seconds so far of a pool's live process tree, by role: the supervisor's own, its node
    processes' own, the other processes under them (an ``image`` node's bubblewrap sandbox and task
    launcher) own, and the reaped children of all but the supervisor (the tasks: a ``host`` node
    reaps its tasks, an ``image`` node's launcher its). The difference of two snapshots is what the
    pool used between them, while no process of the tree but the tasks ends."""
    out = {"supervisor_s": 0.0, "nodes_s": 0.0, "sandboxes_s": 0.0, "tasks_s": 0.0}
    nodes, seen, queue = set(node_pids), set(), [supervisor]
    while queue:
        pid = queue.pop()
        if pid in seen:
            continue
        seen.add(pid)
        used = cpu_seconds(pid)
        if used is None:
            continue
        role = "supervisor_s" if pid == supervisor else "nodes_s" if pid in nodes else "sandboxes_s"
        out[role] += used[0]
        if pid != supervisor:
            out["tasks_s"] += used[1]
        queue.extend(children_of(pid))
    return out


def processes_with(needles: list[bytes], prefixes: tuple[bytes, ...] = ()) -> list[int]:
    """Live (not zombie) processes, other than this one, whose environment holds any of ``needles``
    or a variable that starts with one of ``prefixes``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            variables = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X"):
            continue
        if any(v in needles or (prefixes and v.startswith(prefixes)) for v in variables):
            found.append(int(name))
    return found


# --- the image, the store and the config files ----------------------------------------------------

def bytecode_cache(workdir: Path) -> str:
    """Give the pools' processes a bytecode cache, as an installed shipyard has: ``PYTHONPYCACHEPREFIX``
    at ``WORKDIR/pycache`` with writing allowed (``PYTHONDONTWRITEBYTECODE`` dropped from the
    environment they inherit), shipyard's sources compiled into it. The prefix holds every module's
    bytecode, the standard library's too: ``warm_up`` fills it before anything is timed."""
    prefix = workdir / "pycache"
    os.environ["PYTHONPYCACHEPREFIX"] = str(prefix)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src" / "shipyard")], check=True)
    return str(prefix)


def warm_up(backend: LocalBackend, home: Path, uri: str) -> dict[str, Any]:
    """A 1-node pool that runs one task, untimed: every module a supervisor, a node and its start
    task import gets its bytecode written, and the page cache holds the image and the interpreter."""
    spec = pool_spec(home, "bench-warm-up", uri, 1, 1)
    out: dict[str, Any] = {}
    began = time.perf_counter()
    with running_pool(backend, spec, out):
        backend.wait_for_nodes(spec.id, timeout_s=300)
        backend.add_job(JobSpec(id="bench-warm-up", pool_id=spec.id, tasks=(TaskSpec(id="t", command_line=COMMAND),)))
        backend.wait_for_tasks("bench-warm-up", timeout_s=300)
    out["seconds"] = time.perf_counter() - began
    return out


def prepare_home(workdir: Path, home: Path) -> tuple[Path, str]:
    """A shipyard home with the fixture image in its local store; the blob's URI."""
    from fixtures.trees import write_ubuntu_2204

    vhd = workdir / "ubuntu.vhd"
    if not vhd.exists():
        root = write_ubuntu_2204(workdir / "root")
        build_image(root, vhd)
    store = open_store(StorageLink(account=ACCOUNT, endpoint="local"), home)
    store.ensure_container(CONTAINER)
    if store.get_properties(CONTAINER, BLOB) is None:
        upload_page_blob(vhd, store, CONTAINER, BLOB)
    return home, store.blob_uri(CONTAINER, BLOB)


def pool_spec(home: Path, pool_id: str, uri: str, dedicated: int, slots: int, runtime: str = "host") -> PoolSpec:
    """The pool's spec and the credentials, config and pool files its node prep reads; ``runtime``:
    the node runtime (``PoolSpec.node_runtime``, and ``config.yaml``'s ``local.node_runtime`` as a
    user would write it): ``host`` runs the tasks on this machine, ``image`` inside the image's root."""
    directory = home / "config" / pool_id
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "credentials.yaml").write_text(
        f"credentials:\n  storage:\n    localsa:\n      account: {ACCOUNT}\n      endpoint: local\n")
    (directory / "config.yaml").write_text(
        f"batch_shipyard:\n  storage_account_settings: localsa\nlocal:\n  node_runtime: {runtime}\n")
    (directory / "pool.yaml").write_text(textwrap.dedent(f"""\
        pool_specification:
          id: {pool_id}
          vm_configuration:
            custom_image:
              image_uris: [{uri}]
              node_agent: {NODE_AGENT}
          vm_size: {VM_SIZE}
          vm_count:
            dedicated: {dedicated}
            low_priority: 0
          max_tasks_per_node: {slots}
        """))
    return PoolSpec(id=pool_id, vm_size=VM_SIZE, image=ImageSource(NODE_AGENT, (uri,)), dedicated=dedicated,
                    max_tasks_per_node=slots, node_runtime=runtime,
                    config_files=tuple((k, str(directory / f"{k}.yaml")) for k in ("credentials", "config", "pool")))


# --- a pool, deleted for sure ---------------------------------------------------------------------

@contextlib.contextmanager
def timing(owner: Any, name: str, stages: dict[str, float], label: str) -> Iterator[None]:
    """While inside, ``owner.name`` adds its wall seconds to ``stages[label]`` (attribution only)."""
    original = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            stages[label] = stages.get(label, 0.0) + time.perf_counter() - began

    setattr(owner, name, timed)
    try:
        yield
    finally:
        if isinstance(owner, type) or not hasattr(type(owner), name):
            setattr(owner, name, original)
        else:
            delattr(owner, name)  # an instance's method: back to its class's


@contextlib.contextmanager
def running_pool(backend: LocalBackend, spec: PoolSpec, report: dict[str, Any]) -> Iterator[float]:
    """``add_pool``; yields the wall-clock time (``time.time()``) just before it. Always
    ``delete_pool``, then records in ``report["left_running"]`` any process of the pool still alive."""
    uid = None
    began = time.time()
    try:
        backend.add_pool(spec)
        uid = backend.db.query("SELECT uid FROM pools WHERE id = ?", (spec.id,))[0]["uid"]
        yield began
    finally:
        rows = backend.db.query("SELECT supervisor_pid, supervisor_start FROM pools WHERE id = ?", (spec.id,))
        supervisor = (rows[0]["supervisor_pid"], rows[0]["supervisor_start"]) if rows else None
        report["pool_dir_entries"] = sum(len(d) + len(f) for _, d, f in os.walk(backend.layout.pool_dir(spec.id)))
        stages: dict[str, float] = {}
        deleted = time.perf_counter()
        with timing(backend.supervisors, "stop", stages, "supervisor stop"), \
                timing(backend_module, "stop_leftovers", stages, "leftovers"):
            try:
                backend.delete_pool(spec.id)
            except Exception as exc:  # noqa: BLE001 - recorded; what is left is checked below
                report["delete_pool_error"] = f"{type(exc).__name__}: {exc}"
        report["delete_pool_s"] = time.perf_counter() - deleted
        stages["state and files (the rest)"] = report["delete_pool_s"] - sum(stages.values())
        report["delete_pool_stages_s"] = stages
        backend.supervisors.reap()
        # the pool's marker; its nodes' directories (a task inside an image sees them at the in-image
        # path: SHIPYARD_NODE_DIR names the host's); the home, unless another pool of it is still up
        others = backend.db.query("SELECT 1 FROM pools WHERE id != ?", (spec.id,))
        needles = [] if others else [f"SHIPYARD_HOME={backend.layout.home}".encode()]
        if uid:
            needles.append(f"{POOL_MARKER_ENV}={uid}".encode())
        prefixes = home_prefixes(backend.layout.pool_dir(spec.id))
        left: list[Any] = processes_with(needles, prefixes)
        if supervisor and supervisor[0] and procs.alive(supervisor) and supervisor[0] not in left:
            left.append(supervisor[0])
        report["left_running"] = left
        report["left_running_what"] = {str(pid): process_line(pid) for pid in left}
        if left:  # still there a moment later, or only on their way out?
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and processes_with(needles, prefixes):
                time.sleep(0.05)
            report["left_running_after_10s"] = processes_with(needles, prefixes)
        if backend.db.query("SELECT 1 FROM pools WHERE id = ?", (spec.id,)):
            report["left_running"].append("the pool's row")
        if backend.layout.pool_dir(spec.id).exists():
            report["left_running"].append(f"the pool's directory {backend.layout.pool_dir(spec.id)}")


def node_rows(backend: LocalBackend, pool_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in backend.db.query(
        "SELECT id, state, state_changed, pid, start_task FROM nodes WHERE pool_id = ? ORDER BY seq", (pool_id,))]


# --- 1. a pool to idle, and its memory ------------------------------------------------------------

def pool_to_idle(backend: LocalBackend, home: Path, uri: str, nodes: int) -> dict[str, Any]:
    spec = pool_spec(home, "bench-idle", uri, nodes, 1)
    out: dict[str, Any] = {"nodes": nodes, "load_before": load_average()}
    window = Window()
    with running_pool(backend, spec, out) as began:
        t0 = time.perf_counter()
        settled = backend.wait_for_nodes(spec.id, timeout_s=900)
        out["wait_for_nodes_s"] = time.perf_counter() - t0
        out["machine"] = window.end()
        states = [n.state for n in settled]
        out["idle_nodes"] = sum(1 for s in states if s == NodeState.IDLE)
        rows = node_rows(backend, spec.id)
        out["idle_s"] = max(r["state_changed"] for r in rows) - began
        out["load_after_idle"] = load_average()
        out["where"] = node_timeline(backend, spec.id, rows, began)
        out["memory"] = pool_memory(backend, spec.id, rows)
        out["probe"] = start_task_probe(home, spec.id, uri)  # after the measurement: its CPU is its own
        image = backend.db.query("SELECT read_by, bytes_read, requests, read_at FROM images WHERE pool_id = ?",
                                 (spec.id,))
        out["image_read"] = dict(image[0]) if image else None
        if out["image_read"]:
            out["image_read"]["read_at"] -= began
    return out


def node_timeline(backend: LocalBackend, pool_id: str, rows: list[dict[str, Any]], began: float) -> dict[str, Any]:
    """When each node was spawned, reported waitingforstarttask and went idle; its CPU so far."""
    events: dict[str, dict[str, float]] = {}
    for event in backend.db.query("SELECT node_id, state, time FROM node_events WHERE pool_id = ? ORDER BY seq",
                                  (pool_id,)):
        events.setdefault(event["node_id"], {}).setdefault(event["state"], event["time"])
    spawned, imported, idle, booting, prep, cpu = [], [], [], [], [], []
    for row in rows:
        ev = events.get(row["id"], {})
        if "starting" in ev and "waitingforstarttask" in ev:
            spawned.append(ev["starting"] - began)
            imported.append(ev["waitingforstarttask"] - began)
            booting.append(ev["waitingforstarttask"] - ev["starting"])
            idle.append(row["state_changed"] - began)
            prep.append(row["state_changed"] - ev["waitingforstarttask"])
        used = cpu_seconds(int(row["pid"])) if row["pid"] else None
        if used:
            cpu.append(used[0])

    def spread(values: list[float]) -> dict[str, float] | None:
        return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else None

    return {"spawned_at": spread(spawned), "waitingforstarttask_at": spread(imported), "idle_at": spread(idle),
            "spawn_to_waitingforstarttask_s": spread(booting), "start_task_s": spread(prep),
            "node_cpu_s": spread(cpu), "node_cpu_total_s": sum(cpu)}


def pool_memory(backend: LocalBackend, pool_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    supervisor = backend.supervisor_pid(pool_id)
    assert supervisor is not None
    recorded = {int(r["pid"]) for r in rows if r["pid"]}
    tree = children_of(supervisor)
    nodes = {pid: pss_bytes(pid) for pid in sorted(recorded | tree)}
    measured = {pid: v for pid, v in nodes.items() if v is not None}
    supervisor_pss = pss_bytes(supervisor) or 0
    total = supervisor_pss + sum(measured.values())
    per_node = sorted(measured.values())
    sup_cpu = cpu_seconds(supervisor)
    return {
        "supervisor_pid": supervisor, "supervisor_pss": supervisor_pss, "supervisor_rss": rss_bytes(supervisor),
        "supervisor_cpu_s": sup_cpu[0] if sup_cpu else None,
        "node_processes": len(measured), "recorded_pids": len(recorded), "children_of_supervisor": len(tree),
        "recorded_equals_children": recorded == tree,
        "pss_total": total, "pss_per_node_median": statistics.median(per_node) if per_node else None,
        "pss_per_node_max": max(per_node) if per_node else None,
        "rss_per_node_median": statistics.median([rss_bytes(p) or 0 for p in measured]) if measured else None,
    }


def peer_processes(count: int) -> dict[str, Any]:
    """``count`` bare ``python -c pass`` started at once and reaped; then ``count`` bare Pythons
    alive at once, for their PSS."""
    out: dict[str, Any] = {"load_before": load_average()}
    window, cpu0 = Window(), children_cpu()
    procs = [subprocess.Popen([sys.executable, "-c", "pass"]) for _ in range(count)]
    for proc in procs:
        proc.wait()
    out["machine"] = window.end()
    out["spawn_reap_s"] = out["machine"]["wall_s"]
    out["cpu_s"] = children_cpu() - cpu0
    assert all(p.returncode == 0 for p in procs)

    procs = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
             for _ in range(count)]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until every one is waiting on its stdin
            states = []
            for p in procs:
                with contextlib.suppress(OSError):
                    states.append(Path(f"/proc/{p.pid}/wchan").read_text())
            if len(states) == count and all(s in ("pipe_read", "pipe_wait", "anon_pipe_read") for s in states):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        values = [pss_bytes(p.pid) or 0 for p in procs]
        out["pss_total"] = sum(values)
        out["pss_per_process_median"] = statistics.median(values)
    finally:
        for p in procs:
            assert p.stdin is not None
            p.stdin.close()
        for p in procs:
            p.wait()
    return out


START_TASK_PROBE = r"""
import json, sys, tempfile, time
from pathlib import Path
clock = time.process_time
began = clock()
import shipyard.pools.local.node  # what a node process imports before it reads its init
imported_node = clock()
import shipyard.config.loader, shipyard.config.given, shipyard.facts.model, shipyard.node.prep
import shipyard.node.setup, shipyard.pools.local.images, shipyard.rules.context  # the start task's own
imported_all = clock()
from shipyard.pools.local import runner
from shipyard.pools.local.codec import loads
from shipyard.pools.local.layout import Layout, node_environment
from shipyard.pools.local.starttask import NodeContext, run_start_task
from shipyard.pools.local.state import StateDB
from shipyard.pools.models import PoolSpec
from shipyard.rules.context import PoolContext

stages = {}
def timed(owner, name, label, wrap=lambda f: f):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = clock()
        try:
            return original(*args, **kwargs)
        finally:
            stages[label] = stages.get(label, 0.0) + clock() - start
    setattr(owner, name, wrap(wrapper))

timed(shipyard.config.given, "load_given", "config files (load_given)")
timed(shipyard.pools.local.images, "image_evidence", "image facts from the database (decode)")
timed(shipyard.node.setup, "local_store_setup", "local store set-up")
timed(shipyard.node.prep, "run_node_prep", "node prep (rules on the facts, marker)")
from_config = PoolContext.from_config
def context(cls, *args, **kwargs):
    start = clock()
    try:
        return from_config(*args, **kwargs)
    finally:
        stages["pool context"] = stages.get("pool context", 0.0) + clock() - start
PoolContext.from_config = classmethod(context)

home, pool_id, uri = sys.argv[1:4]
layout = Layout(home)
db = StateDB(layout.db)
spec = loads(PoolSpec, db.query("SELECT spec FROM pools WHERE id = ?", (pool_id,))[0]["spec"])
root = Path(tempfile.mkdtemp(prefix="probe-node-"))
for sub in ("shared", "startup", "workitems", "volatile", "certs"):
    (root / sub).mkdir()
env = runner.base_environment(node_environment(root, pool_id, "probe", True))
ctx = NodeContext(layout, pool_id, "probe", True, uri, spec, root, env)
started = clock()
info = run_start_task(ctx, db, lambda proc: None)
ended = clock()
import shutil
shutil.rmtree(root, ignore_errors=True)
# what the pool's first node does besides: read the image's facts from the store (read-only here)
read_began, read_wall = clock(), time.perf_counter()
import shipyard.checks.image, shipyard.storage.blob_device, shipyard.storage.open, shipyard.storage.upload
read_imported = clock()
shipyard.pools.local.images._read_image(uri, ctx.links, layout.home)
read_ended, read_wall = clock(), time.perf_counter() - read_wall
print(json.dumps({"result": str(info.result), "import_node_module_s": imported_node - began,
                  "import_start_task_modules_s": imported_all - imported_node, "start_task_s": ended - started,
                  "stages": stages, "image_read_imports_s": read_imported - read_began,
                  "image_read_s": read_ended - read_imported, "image_read_wall_s": read_wall}))
"""


def start_task_probe(home: Path, pool_id: str, uri: str) -> dict[str, Any]:
    """CPU seconds of one node's imports and start task, stage by stage (``START_TASK_PROBE``: the
    real ``run_start_task`` in a fresh process, on the pool's recorded image facts, in a scratch
    node directory), and of a bare Python, both measured from here (``RUSAGE_CHILDREN``)."""
    import resource

    def child_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    out: dict[str, Any] = {}
    samples = []
    for _ in range(5):
        before = child_cpu()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        samples.append(child_cpu() - before)
    out["bare_python_cpu_s"] = statistics.median(samples)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    before = child_cpu()
    done = subprocess.run([sys.executable, "-c", START_TASK_PROBE, str(home), pool_id, uri], capture_output=True,
                          text=True, env=env, check=False)
    out["probe_process_cpu_s"] = child_cpu() - before
    if done.returncode != 0:
        out["error"] = done.stderr[-2000:]
        return out
    out.update(json.loads(done.stdout.splitlines()[-1]))
    out["import_self_s_by_package"] = import_breakdown(env)
    return out


NODE_MODULES = ("shipyard.pools.local.node", "shipyard.config.loader", "shipyard.config.given", "shipyard.facts.model",
                "shipyard.node.prep", "shipyard.node.setup", "shipyard.pools.local.images", "shipyard.rules.context")


def import_breakdown(env: dict[str, str], top: int = 8) -> dict[str, float]:
    """``python -X importtime`` of what a node imports: self time summed by package (``shipyard.x``
    by its second component), the largest ``top``, in seconds (wall, one run)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import " + ", ".join(NODE_MODULES)],
                          capture_output=True, text=True, env=env, check=False)
    totals: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = (part.strip() for part in line[len("import time:"):].split("|"))
        parts = name.split(".")
        package = ".".join(parts[:2]) if parts[0] == "shipyard" else parts[0]
        totals[package] = totals.get(package, 0.0) + int(self_us) / 1e6
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])[:top])


# --- 2. 10,000 tasks ------------------------------------------------------------------------------

def pool_job(backend: LocalBackend, pool_id: str, job_id: str, count: int, supervisor: int,
             node_pids: list[int], *, with_wait_for_tasks: bool = False) -> dict[str, Any]:
    """One timed job of ``count`` ``/bin/true`` tasks on the running pool, its end awaited by polling
    the job's task counts every 0.1 s (or, ``with_wait_for_tasks``, by ``wait_for_tasks``)."""
    out: dict[str, Any] = {}
    tasks = tuple(TaskSpec(id=f"t{i:05d}", command_line=COMMAND) for i in range(count))
    cpu_before = tree_cpu(supervisor, node_pids)
    me_before = os.times()
    window = Window()
    wall0, t0 = time.time(), time.perf_counter()
    backend.add_job(JobSpec(id=job_id, pool_id=pool_id, tasks=tasks))
    out["add_job_s"] = time.perf_counter() - t0
    if with_wait_for_tasks:
        backend.wait_for_tasks(job_id, timeout_s=3600)
    else:
        while dict(backend.get_job(job_id).task_counts).get("completed", 0) < count:
            time.sleep(0.1)
    out["observed_s"] = time.perf_counter() - t0
    out["machine"] = window.end()
    me_after = os.times()
    cpu_after = tree_cpu(supervisor, node_pids)
    row = backend.db.query(
        "SELECT COUNT(*) AS n, SUM(result = 'success' AND exit_code = 0) AS ok, MIN(start_time) AS first, "
        "MAX(end_time) AS last, SUM(requeue_count) AS requeues, SUM(retry_count) AS retries, "
        "COUNT(DISTINCT node_id) AS nodes_used FROM tasks WHERE job_id = ?", (job_id,))[0]
    out["completed_ok"] = int(row["ok"] or 0)
    out["requeues"], out["retries"], out["nodes_used"] = row["requeues"], row["retries"], row["nodes_used"]
    out["wall_s"] = row["last"] - wall0  # add_job to the last task's end
    out["first_start_s"] = row["first"] - wall0
    out["cpu"] = {key: cpu_after[key] - cpu_before[key] for key in cpu_before}  # the tasks: reaped children
    out["cpu"]["benchmark_poller_s"] = (me_after.user + me_after.system) - (me_before.user + me_before.system)
    out["cpu_s"] = sum(cpu_after.values()) - sum(cpu_before.values())
    return out


def run_parallel(count: int, width: int, workdir: Path) -> dict[str, Any]:
    """GNU parallel running ``count`` ``/bin/true`` lines from a file, ``width`` at a time."""
    commands = workdir / "commands.txt"
    commands.write_text(f"{COMMAND}\n" * count)
    window, cpu0 = Window(), children_cpu()
    with open(commands, "rb") as stdin:
        subprocess.run(["parallel", "--will-cite", f"-j{width}"], stdin=stdin, check=True)
    return {**window.end(), "cpu_s": children_cpu() - cpu0}


def run_loop(count: int, width: int) -> dict[str, Any]:
    """``subprocess.run(["/bin/true"])`` ``count`` times: serially (``width`` 1) or on a thread pool."""
    def one(_: int) -> int:
        return subprocess.run([COMMAND], check=False).returncode

    window, cpu0, mine0 = Window(), children_cpu(), os.times()
    if width == 1:
        codes = [one(i) for i in range(count)]
    else:
        with ThreadPoolExecutor(width) as pool:
            codes = list(pool.map(one, range(count)))
    out = window.end()
    mine = os.times()
    assert not any(codes)
    return {**out, "cpu_s": children_cpu() - cpu0 + (mine.user + mine.system) - (mine0.user + mine0.system)}


def task_layout_cost(directory: Path, count: int = 1000) -> dict[str, float]:
    """Milliseconds per task, on the home's filesystem, of what a node does on disk for each task
    besides starting it: ``workitems/<job>/job-1/<task>/wd/`` made and ``stdout.txt`` and
    ``stderr.txt`` created (CPU and wall), and of removing them again (``delete_pool``'s rmtree)."""
    root = Path(tempfile.mkdtemp(prefix="layout-probe-", dir=directory))
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(count):
        task = root / "workitems" / "job" / "job-1" / f"t{number:05d}"
        (task / "wd").mkdir(parents=True)
        for name in ("stdout.txt", "stderr.txt"):
            os.close(os.open(task / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644))
    out = {"create_cpu_ms": (time.process_time() - cpu) / count * 1000,
           "create_wall_ms": (time.perf_counter() - wall) / count * 1000}
    wall = time.perf_counter()
    shutil.rmtree(root)
    out["remove_wall_ms"] = (time.perf_counter() - wall) / count * 1000
    return out


def tasks_phase(backend: LocalBackend, home: Path, uri: str, nodes: int, slots: int, count: int, rounds: int,
                workdir: Path) -> dict[str, Any]:
    """``rounds`` rounds, each a job on the pool, then the serial loop, then the threaded loop
    (interleaved, so that load from elsewhere hits all three alike); GNU parallel once, after."""
    spec = pool_spec(home, "bench-tasks", uri, nodes, slots)
    width = nodes * slots
    out: dict[str, Any] = {"nodes": nodes, "slots": slots, "tasks": count, "width": width, "rounds": []}
    with running_pool(backend, spec, out):
        settled = backend.wait_for_nodes(spec.id, timeout_s=600)
        assert all(n.state == NodeState.IDLE for n in settled), [(n.id, n.state) for n in settled]
        supervisor = backend.supervisor_pid(spec.id)
        assert supervisor is not None
        node_pids = [int(r["pid"]) for r in node_rows(backend, spec.id)]
        out["task_layout_before"] = task_layout_cost(home)
        for number in range(rounds):
            result = {"pool": pool_job(backend, spec.id, f"bench-job-{number + 1}", count, supervisor, node_pids)}
            say(f"  round {number + 1}: pool {result['pool']['wall_s']:.2f} s")
            result["loop_serial"] = run_loop(count, 1)
            say(f"  round {number + 1}: subprocess.run loop, serial {result['loop_serial']['wall_s']:.2f} s")
            result["loop_threads"] = run_loop(count, width)
            say(f"  round {number + 1}: subprocess.run loop, {width} threads {result['loop_threads']['wall_s']:.2f} s")
            out["rounds"].append(result)
        # attribution, not a figure: the same job awaited with wait_for_tasks (it polls the unsettled ids)
        out["wait_for_tasks_round"] = pool_job(backend, spec.id, "bench-job-wait", count, supervisor, node_pids,
                                               with_wait_for_tasks=True)
        say(f"  wait_for_tasks round: pool {out['wait_for_tasks_round']['wall_s']:.2f} s")
        out["task_layout_after"] = task_layout_cost(home)
        began = time.perf_counter()
        backend.list_tasks("bench-job-wait")
        out["one_list_tasks_s"] = time.perf_counter() - began
    if shutil.which("parallel"):
        out["parallel"] = run_parallel(count, width, workdir)
        say(f"  GNU parallel -j{width}: {out['parallel']['wall_s']:.2f} s")
    for key in ("pool", "loop_serial", "loop_threads"):
        out[f"{key}_s"] = statistics.median(r[key]["wall_s"] for r in out["rounds"])
        out[f"{key}_cpu_s"] = statistics.median(r[key]["cpu_s"] for r in out["rounds"])
    out["completed_ok"] = min(r["pool"]["completed_ok"] for r in out["rounds"])
    return out


# --- 3. the node runtimes: the same tasks on the host and inside the image ------------------------

RUNTIMES = ("host", "image")


def runtime_image(workdir: Path, home: Path) -> dict[str, Any]:
    """The fixture tree with a real userland (Debian's static busybox put in ``/usr/bin`` by
    ``examples/sample-image/install-busybox.sh``; the binary is ``get-busybox.sh``'s), built into a
    VHD and uploaded to the home's store as ``RUNTIME_BLOB``; ``{"skipped": why}`` without a busybox."""
    from fixtures.trees import write_ubuntu_2204

    got = subprocess.run([str(SAMPLE_IMAGE / "get-busybox.sh")], capture_output=True, text=True, check=False)
    if got.returncode != 0:
        return {"skipped": f"no static busybox (get-busybox.sh exited {got.returncode}: {got.stderr.strip()})"}
    busybox = Path(got.stdout.strip())
    vhd = workdir / f"ubuntu-busybox-{busybox.parent.name}.vhd"  # the busybox's version
    began = time.perf_counter()
    if not vhd.exists():
        root = workdir / "root-busybox"
        shutil.rmtree(root, ignore_errors=True)
        write_ubuntu_2204(root)
        subprocess.run([str(SAMPLE_IMAGE / "install-busybox.sh"), str(root), str(busybox)], check=True)
        build_image(root, vhd)
        shutil.rmtree(root)
    store = open_store(StorageLink(account=ACCOUNT, endpoint="local"), home)
    store.ensure_container(CONTAINER)
    if store.get_properties(CONTAINER, RUNTIME_BLOB) is None:
        upload_page_blob(vhd, store, CONTAINER, RUNTIME_BLOB)
    return {"busybox": str(busybox), "vhd": str(vhd), "vhd_bytes": vhd.stat().st_size,
            "build_and_upload_s": time.perf_counter() - began, "uri": store.blob_uri(CONTAINER, RUNTIME_BLOB)}


def program_loops(programs: dict[str, str], count: int, passes: int = 2) -> dict[str, float]:
    """Milliseconds per run of each program by a serial ``subprocess.run`` loop on this machine
    (interleaved passes, the median): what the tasks' own programs cost, outside any pool."""
    times: dict[str, list[float]] = {name: [] for name in programs}
    for _ in range(passes):
        for name, program in programs.items():
            began = time.perf_counter()
            for _ in range(count):
                subprocess.run([program], check=True)
            times[name].append((time.perf_counter() - began) / count * 1000)
    return {name: statistics.median(values) for name, values in times.items()}


def start_runtime_pool(stack: contextlib.ExitStack, backend: LocalBackend, home: Path, uri: str, runtime: str,
                       nodes: int, slots: int, info: dict[str, Any]) -> dict[str, Any]:
    """``add_pool`` (timed; ``prepare_roots``, the image root's unpack, timed apart), to idle, then an
    untimed job of 4 tasks a slot, which starts each ``image`` node's task launcher; deleted when
    ``stack`` closes. The pool's supervisor, node pids and spec id."""
    spec = pool_spec(home, f"bench-rt-{runtime}", uri, nodes, slots, runtime)
    stages: dict[str, float] = {}
    with timing(backend_module, "prepare_roots", stages, "prepare_roots"):
        began = stack.enter_context(running_pool(backend, spec, info))
    info["add_pool_s"] = time.time() - began
    info["unpack_s"] = stages.get("prepare_roots", 0.0)
    settled = backend.wait_for_nodes(spec.id, timeout_s=600)
    assert all(n.state == NodeState.IDLE for n in settled), [(n.id, n.state, n.start_task) for n in settled]
    rows = node_rows(backend, spec.id)
    info["to_idle_s"] = max(r["state_changed"] for r in rows) - began
    supervisor = backend.supervisor_pid(spec.id)
    assert supervisor is not None
    pool = {"id": spec.id, "supervisor": supervisor, "node_pids": [int(r["pid"]) for r in rows]}
    warm = pool_job(backend, spec.id, f"{spec.id}-warm-up", nodes * slots * 4, supervisor, pool["node_pids"])
    info["warm_up_job"] = {k: warm[k] for k in ("wall_s", "completed_ok", "nodes_used")} | {"tasks": nodes * slots * 4}
    return pool


def runtime_pairs(backend: LocalBackend, pools: dict[str, dict[str, Any]], count: int,
                  pairs: int) -> list[dict[str, Any]]:
    """``pairs`` pairs of one ``count``-task job on each pool, the order alternating (host first,
    then image first); each job with the CPU the other, idle, pool used meanwhile."""
    out = []
    for number in range(pairs):
        order = RUNTIMES if number % 2 == 0 else RUNTIMES[::-1]
        pair: dict[str, Any] = {"order": list(order)}
        for runtime in order:
            pool, other = pools[runtime], pools["image" if runtime == "host" else "host"]
            idle_before = sum(tree_cpu(other["supervisor"], other["node_pids"]).values())
            job = pool_job(backend, pool["id"], f"{pool['id']}-{number + 1}", count, pool["supervisor"],
                           pool["node_pids"])
            job["other_pool_cpu_s"] = sum(tree_cpu(other["supervisor"], other["node_pids"]).values()) - idle_before
            pair[runtime] = job
            say(f"  pair {number + 1}: {runtime} {job['wall_s']:.2f} s ({job['completed_ok']:,} succeeded)")
        pair["ratio"] = pair["image"]["wall_s"] / pair["host"]["wall_s"]
        say(f"  pair {number + 1}: image / host {pair['ratio']:.2f}x")
        out.append(pair)
    return out


def runtimes_phase(backend: LocalBackend, home: Path, workdir: Path, nodes: int, slots: int, count: int,
                   pairs: int) -> dict[str, Any]:
    """The same ``count`` tasks on a ``host`` pool and an ``image`` pool of the same VHD (both up at
    once, warm: ``start_runtime_pool``), in ``pairs`` alternating pairs (``runtime_pairs``); the
    figure is the median of the pairs' ratios image / host. The image's root is unpacked by the
    image pool's ``add_pool`` (the home's root cache emptied first), timed apart, and removed after."""
    from shipyard.pools.local.rootcache import RootCache
    from shipyard.pools.local.sandbox import runtime_problem

    out: dict[str, Any] = {"nodes": nodes, "slots": slots, "tasks": count, "pools": {}}
    problem = runtime_problem()
    image = {"skipped": f"the image runtime cannot run here: {problem}"} if problem else runtime_image(workdir, home)
    out["image"] = image
    if "skipped" in image:
        return out
    cache = RootCache(home)
    for entry in cache.entries():  # the benchmark's own home
        cache.remove(entry)
    try:
        with contextlib.ExitStack() as stack:
            pools = {}
            for runtime in RUNTIMES:
                info = out["pools"][runtime] = {}
                pools[runtime] = start_runtime_pool(stack, backend, home, image["uri"], runtime, nodes, slots, info)
                say(f"  {runtime} pool: add_pool {info['add_pool_s']:.2f} s (of which prepare_roots "
                    f"{info['unpack_s']:.2f} s), idle after {info['to_idle_s']:.2f} s, warm-up job of "
                    f"{info['warm_up_job']['tasks']} tasks {info['warm_up_job']['wall_s']:.2f} s")
            entries = [e for e in cache.entries() if e.manifest]
            manifest = entries[0].manifest if entries else {}
            out["root"] = {k: manifest.get(k) for k in ("key", "unpack_s", "files", "directories", "symlinks", "bytes")}
            out["pairs"] = runtime_pairs(backend, pools, count, pairs)
            say("  the tasks' programs, by a serial loop on this machine ...")
            busybox_true = entries[0].root / "usr" / "bin" / "true" if entries else Path(image["busybox"])
            out["programs_ms"] = program_loops({"host": COMMAND, "image": str(busybox_true)}, min(count, 1000))
        out["left_running_in_home"] = processes_with([f"SHIPYARD_HOME={home}".encode()], home_prefixes(home))
    finally:  # after delete_pool of both: the unpacked root too
        out["root_cache_removed"] = [entry.key for entry in cache.entries()]
        for entry in cache.entries():
            cache.remove(entry)
        out["root_cache_left"] = [entry.key for entry in cache.entries()]
    for runtime in RUNTIMES:
        out[f"{runtime}_s"] = statistics.median(p[runtime]["wall_s"] for p in out["pairs"])
    out["ratios"] = [p["ratio"] for p in out["pairs"]]
    out["median_ratio"] = statistics.median(out["ratios"])
    out["completed_ok"] = min(p[r]["completed_ok"] for p in out["pairs"] for r in RUNTIMES)
    return out


# --- --profile: cProfile in the supervisors and the nodes ------------------------------------------

SITECUSTOMIZE = """\
# written by benchmarks/bench_local_pool.py --profile: profile the local backend's processes
import sys

_argv = list(getattr(sys, "orig_argv", ()))
if "-m" in _argv and _argv[_argv.index("-m") + 1] in ("shipyard.pools.local.supervisor", "shipyard.pools.local.node"):
    import atexit, cProfile, os, time

    _at = _argv.index("-m")
    _role = _argv[_at + 1].rsplit(".", 1)[1]
    _names = [a for a in _argv[_at + 2:] if not a.startswith("-") and not a.isdigit()]
    _profile = cProfile.Profile(time.process_time)  # CPU time: waiting in epoll or flock costs nothing

    def _dump():
        _profile.disable()
        _profile.dump_stats(os.path.join(DIRECTORY, ".".join([_role, *_names, str(os.getpid())]) + ".prof"))

    atexit.register(_dump)
    _profile.enable()
"""


def enable_profiling(directory: Path) -> None:
    """A ``sitecustomize`` on ``PYTHONPATH`` that the supervisors and nodes inherit: each profiles
    its own CPU time from start-up and writes ``DIR/<role>.<pool>[.<node>].<pid>.prof`` at exit."""
    site = directory / "site"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(f"DIRECTORY = {str(directory)!r}\n" + SITECUSTOMIZE)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])


def profile_summary(directory: Path, top: int = 12) -> dict[str, list[list[Any]]]:
    """For each pool, the supervisor's and its nodes' (summed) functions with the most own time."""
    import pstats

    groups: dict[str, list[str]] = {}
    for path in sorted(directory.glob("*.prof")):
        role, pool = path.stem.split(".")[:2]
        groups.setdefault(f"{role} of {pool}", []).append(str(path))
    out: dict[str, list[list[Any]]] = {}
    for name, files in groups.items():
        stats = pstats.Stats(*files)
        rows = []
        for (file, line, func), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            where = f"{Path(file).name}:{line}({func})" if line else func
            rows.append([where, calls, round(tottime, 3), round(cumtime, 3)])
        rows.sort(key=lambda r: -r[2])
        out[f"{name} ({len(files)} process{'es' if len(files) > 1 else ''})"] = rows[:top]
    return out


# --- the report -----------------------------------------------------------------------------------

def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "FAIL")


HEADER = ("figure", "shipyard", "peer", "ratio", "target", "verdict")


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """The table's rows: each figure, its peer, the ratio, the target and PASS/FAIL."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    idle, peer = report.get("idle"), report.get("idle_peer") or {}
    if idle and peer:
        n = idle["nodes"]
        ratio = idle["idle_s"] / peer["spawn_reap_s"]
        rows.append((f"{n} nodes: add_pool -> all idle", f"{idle['idle_s']:.2f} s",
                     f"{n} x python -c pass: {peer['spawn_reap_s']:.2f} s", f"{ratio:.1f}x",
                     f"<= {TARGET_IDLE_S:g} s", verdict(idle["idle_s"] <= TARGET_IDLE_S and idle["idle_nodes"] == n)))
        mem = idle["memory"]
        rows.append((f"PSS, supervisor + {mem['node_processes']} nodes", f"{mem['pss_total'] / GIB:.2f} GiB",
                     f"{n} bare Pythons: {peer['pss_total'] / GIB:.2f} GiB",
                     f"{mem['pss_total'] / peer['pss_total']:.1f}x", "<= 1 GiB",
                     verdict(mem["pss_total"] <= TARGET_PSS_BYTES)))
        rows.append(("PSS per node (median)", f"{mem['pss_per_node_median'] / 2**20:.1f} MiB",
                     f"bare Python: {peer['pss_per_process_median'] / 2**20:.1f} MiB",
                     f"{mem['pss_per_node_median'] / peer['pss_per_process_median']:.1f}x",
                     f"<= {TARGET_PSS_BYTES / n / 2**20:.1f} MiB", "-"))
    tasks = report.get("tasks")
    if tasks:
        n, s, width = tasks["tasks"], tasks["pool_s"], tasks["width"]
        ok = tasks["completed_ok"] == n
        rounds = len(tasks["rounds"])
        median = f"median of {rounds}" if rounds > 1 else "one round"
        rows.append((f"{n:,} tasks, {tasks['nodes']} nodes x {tasks['slots']} slots ({median})", f"{s:.2f} s",
                     "", "", f"<= {TARGET_TASKS_S:g} s", verdict(s <= TARGET_TASKS_S and ok)))
        if tasks.get("parallel"):
            theirs = tasks["parallel"]["wall_s"]
            rows.append((f"  vs GNU parallel -j{width}", f"{s:.2f} s", f"{theirs:.2f} s", f"{s / theirs:.2f}x", "<= 1x",
                         verdict(s <= theirs)))
        for label, key in (("serial", "loop_serial"), (f"{width} threads", "loop_threads")):
            mine, theirs = s / n * 1000, tasks[f"{key}_s"] / n * 1000
            rows.append((f"  per-task overhead vs subprocess.run loop, {label}", f"{mine:.2f} ms", f"{theirs:.2f} ms",
                         f"{mine / theirs:.2f}x", f"<= {TARGET_OVERHEAD_X:g}x",
                         verdict(mine <= TARGET_OVERHEAD_X * theirs)))
        mine, theirs = tasks["pool_cpu_s"] / n * 1000, tasks["loop_threads_cpu_s"] / n * 1000
        rows.append(("  CPU per task vs the threaded loop's (tasks' own included)", f"{mine:.2f} ms",
                     f"{theirs:.2f} ms", f"{mine / theirs:.2f}x", "", "-"))
    rows += runtime_rows(report.get("runtimes"))
    return rows


def runtime_rows(rt: dict[str, Any] | None) -> list[tuple[str, str, str, str, str, str]]:
    if not rt:
        return []
    if "skipped" in rt["image"]:
        return [("node runtimes, image vs host", "skipped", "", "", f"<= {TARGET_RUNTIME_X:g}x", "-")]
    n, pairs = rt["tasks"], len(rt["pairs"])
    ok = rt["completed_ok"] == n
    host, image = rt["host_s"], rt["image_s"]
    unpack = rt["pools"]["image"]["unpack_s"]
    return [
        (f"{n:,} tasks, {rt['nodes']} nodes x {rt['slots']} slots, host runtime (median of {pairs})", f"{host:.2f} s",
         "", "", "", "-"),
        (f"  image runtime, the same VHD (median of {pairs})", f"{image:.2f} s", f"host: {host:.2f} s",
         f"{image / host:.2f}x", "", "-"),
        (f"  per-task overhead, image vs host (median of {pairs} pairs' ratios)", f"{image / n * 1000:.2f} ms",
         f"{host / n * 1000:.2f} ms", f"{rt['median_ratio']:.2f}x", f"<= {TARGET_RUNTIME_X:g}x",
         verdict(rt["median_ratio"] <= TARGET_RUNTIME_X and ok)),
        ("  CPU per task, the pool's processes and the tasks (median of the pairs' ratios)",
         f"{statistics.median(p['image']['cpu_s'] for p in rt['pairs']) / n * 1000:.2f} ms",
         f"{statistics.median(p['host']['cpu_s'] for p in rt['pairs']) / n * 1000:.2f} ms",
         f"{statistics.median(p['image']['cpu_s'] / p['host']['cpu_s'] for p in rt['pairs']):.2f}x", "", "-"),
        ("  the image root's unpack (the image pool's add_pool, once; not in the above)", f"{unpack:.2f} s", "", "",
         "", "-"),
    ]


def delete_line(phase: dict[str, Any]) -> str:
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in phase.get("delete_pool_stages_s", {}).items())
    error = f"; FAILED: {phase['delete_pool_error']}" if phase.get("delete_pool_error") else ""
    return (f"  delete_pool: {phase['delete_pool_s']:.2f} s ({stages}); the pool's directory had "
            f"{phase.get('pool_dir_entries', 0):,} entries{error}")


def runtime_lines(rt: dict[str, Any] | None, cpus: int) -> list[str]:
    """The runtime phase's detail: the pools, each pair's jobs, the tasks' own programs."""
    if not rt:
        return []
    if "skipped" in rt["image"]:
        return ["", f"Node runtimes: skipped: {rt['image']['skipped']}"]
    n, image, root = rt["tasks"], rt["image"], rt.get("root") or {}
    lines = ["", f"Node runtimes, host vs image: one VHD ({image['vhd_bytes'] / 2**20:.0f} MiB: the fixture tree with "
             f"{image['busybox']} installed by install-busybox.sh), {n:,} {COMMAND} tasks a job, {rt['nodes']} nodes x "
             f"{rt['slots']} slots a pool, both pools up at once:"]
    for runtime, info in rt["pools"].items():
        warm = info["warm_up_job"]
        unpack = (f", of which prepare_roots {info['unpack_s']:.2f} s (the pool's config files loaded, then the root "
                  f"unpacked: {root.get('unpack_s')} s by its manifest, {root.get('files') or 0:,} files, "
                  f"{(root.get('bytes') or 0) / 2**20:.1f} MiB)" if runtime == "image" else "")
        lines.append(f"  {runtime} pool: add_pool {info['add_pool_s']:.2f} s{unpack}; all idle "
                     f"{info['to_idle_s']:.2f} s after add_pool; an untimed warm-up job of {warm['tasks']} tasks "
                     f"(each image node starts its launcher) {warm['wall_s']:.2f} s, {warm['nodes_used']} nodes used")
    for number, pair in enumerate(rt["pairs"], 1):
        lines.append(f"  pair {number} ({pair['order'][0]} first): host {pair['host']['wall_s']:.2f} s, image "
                     f"{pair['image']['wall_s']:.2f} s: image / host {pair['ratio']:.2f}x")
        for runtime in pair["order"]:
            job, c, m = pair[runtime], pair[runtime]["cpu"], pair[runtime]["machine"]
            lines.append(f"    {runtime:5s} {job['completed_ok']:,} of {n:,} succeeded (requeues {job['requeues']}, "
                         f"retries {job['retries']}); CPU ms/task: supervisor {c['supervisor_s'] / n * 1000:.2f}, "
                         f"nodes {c['nodes_s'] / n * 1000:.2f}, sandboxes and launchers "
                         f"{c['sandboxes_s'] / n * 1000:.2f}, tasks {c['tasks_s'] / n * 1000:.2f}; the idle other "
                         f"pool {job['other_pool_cpu_s']:.2f} CPU-s; the machine busy {m['busy_cpu_s']:.1f} of "
                         f"{m['wall_s'] * cpus:.1f} CPU-s (the pool's processes {job['cpu_s']:.1f}, the rest "
                         f"{m['busy_cpu_s'] - job['cpu_s']:.1f}), stolen {m['steal_cpu_s']:.1f}; load "
                         f"{m['load_before']} -> {m['load_after']}")
    ratios = rt["ratios"]
    lines.append(f"  image / host: median {rt['median_ratio']:.2f}x of {len(ratios)} pairs ({min(ratios):.2f}x to "
                 f"{max(ratios):.2f}x); the medians' times: host {rt['host_s']:.2f} s ({rt['host_s'] / n * 1000:.2f} "
                 f"ms/task), image {rt['image_s']:.2f} s ({rt['image_s'] / n * 1000:.2f} ms/task)")
    programs = rt.get("programs_ms") or {}
    if programs:
        lines.append(f"  the tasks' own programs, a serial subprocess.run loop on this machine: host {COMMAND} "
                     f"{programs['host']:.2f} ms, the image's busybox true {programs['image']:.2f} ms a run")
    lines.append(f"  the root cache: removed after the pools {rt['root_cache_removed'] or 'nothing'}; left "
                 f"{rt['root_cache_left'] or 'nothing'}; the unpack's own speed against tar -x: bench_unpack.py")
    for runtime, info in rt["pools"].items():
        if "delete_pool_s" in info:
            lines.append(delete_line(info).replace("  delete_pool", f"  {runtime} pool's delete_pool", 1))
    return lines


def table(report: dict[str, Any]) -> str:
    settings = report["settings"]
    cache = f"cached in {report['bytecode_cache']}" if report.get("bytecode_cache") else "as the environment has it"
    lines = [f"=== local backend: pool to idle, memory, {settings['tasks']:,} tasks, node runtimes (one run) ===",
             f"{report['cpus']} CPUs, Python {report['python']}; load average {report['load_start']} at the start, "
             f"{report['load_end']} at the end; shipyard's bytecode {cache}"
             + (" (the environment has PYTHONDONTWRITEBYTECODE=1)" if settings.get("PYTHONDONTWRITEBYTECODE") else "")
             + ("; PROFILED under cProfile: these figures are not the measurement" if settings.get("profiled") else "")
             + ("" if (settings["nodes"], settings["tasks"], settings["task_nodes"], settings["slots"]) == ISSUE_SIZES
                else "; SHRUNK: the targets are the issue's, for its sizes"),
             ""]
    rows = summary_rows(report)
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    for row in [HEADER, tuple("-" * w for w in widths), *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    idle, tasks = report.get("idle"), report.get("tasks")

    if idle:
        w, m = idle["where"], idle["memory"]
        lines += ["", "Where the pool's time goes (seconds after add_pool: min / median / max):"]
        for label, key in (("node process spawned", "spawned_at"),
                           ("reported waitingforstarttask", "waitingforstarttask_at"), ("idle", "idle_at"),
                           ("spawn -> waitingforstarttask", "spawn_to_waitingforstarttask_s"),
                           ("start task (node prep)", "start_task_s"), ("CPU per node process", "node_cpu_s")):
            v = w[key]
            if v:
                lines.append(f"  {label:32s} {v['min']:6.2f} / {v['median']:6.2f} / {v['max']:6.2f}")
        probe = idle.get("probe", {})
        lines.append(f"  node processes' CPU in all: {w['node_cpu_total_s']:.1f} s (over {report['cpus']} CPUs: at "
                     f"least {w['node_cpu_total_s'] / report['cpus']:.1f} s of wall); supervisor CPU "
                     f"{m['supervisor_cpu_s']:.2f} s")
        if probe.get("stages"):
            lines.append(f"  one node's CPU, stage by stage (a probe process running the real start task on the "
                         f"recorded facts): {probe['probe_process_cpu_s']:.3f} s in all, of which")
            lines.append(f"    interpreter start-up (a bare `python -c pass`)  {probe['bare_python_cpu_s']:.3f} s")
            lines.append(f"    import shipyard.pools.local.node               {probe['import_node_module_s']:.3f} s")
            lines.append(f"    import the start task's modules (config loader, facts model, node prep, rules) "
                         f"{probe['import_start_task_modules_s']:.3f} s")
            for label, seconds in probe["stages"].items():
                lines.append(f"    {label:46s} {seconds:.3f} s")
            lines.append(f"    (the start task in all: {probe['start_task_s']:.3f} s; result {probe['result']})")
            lines.append(f"    the first node's read of the image, besides: imports "
                         f"{probe['image_read_imports_s']:.3f} s, inspect through the blob device "
                         f"{probe['image_read_s']:.3f} s CPU "
                         f"(import + read: {probe['image_read_wall_s']:.3f} s wall)")
            by_package = probe.get("import_self_s_by_package", {})
            lines.append("    imports by package (python -X importtime, self time, one run): " + ", ".join(
                f"{name} {seconds * 1000:.0f} ms" for name, seconds in by_package.items()))
        elif probe.get("error"):
            lines.append(f"  the start-task probe failed: {probe['error'][-300:]}")
        if idle.get("image_read"):
            r = idle["image_read"]
            lines.append(f"  the image's facts: read once by {r['read_by']} ({r['bytes_read']:,} bytes, "
                         f"{r['requests']} requests), recorded {r['read_at']:.2f} s after add_pool")
        lines.append(f"  wait_for_nodes returned after {idle['wait_for_nodes_s']:.2f} s; node pids recorded = "
                     f"supervisor's children: {m['recorded_equals_children']}; supervisor PSS "
                     f"{m['supervisor_pss'] / 2**20:.1f} MiB; "
                     f"RSS per node (median) {m['rss_per_node_median'] / 2**20:.1f} MiB")
        mach = idle["machine"]
        pool_cpu = w["node_cpu_total_s"] + (m["supervisor_cpu_s"] or 0.0)
        lines.append(f"  the machine while the pool came up ({mach['wall_s']:.1f} s x {report['cpus']} CPUs = "
                     f"{mach['wall_s'] * report['cpus']:.0f} CPU-s): busy {mach['busy_cpu_s']:.1f} CPU-s, of which "
                     f"the pool's processes {pool_cpu:.1f}, the rest (this benchmark, other sessions) "
                     f"{mach['busy_cpu_s'] - pool_cpu:.1f}; stolen by the hypervisor {mach['steal_cpu_s']:.1f}")
        pm = report["idle_peer"]["machine"]
        lines.append(f"  peer: {report['idle_peer']['cpu_s']:.2f} CPU-s for {idle['nodes']} bare Pythons; the machine "
                     f"busy {pm['busy_cpu_s']:.1f} of {pm['wall_s'] * report['cpus']:.1f} CPU-s, stolen "
                     f"{pm['steal_cpu_s']:.1f}")
        lines.append(f"  load average: {idle['load_before']} before add_pool, {idle['load_after_idle']} at idle; "
                     f"peer {report['idle_peer']['load_before']} before")
        lines.append(delete_line(idle))
    if tasks:
        n = tasks["tasks"]
        lines += ["", "Where the tasks' time goes (each round: the pool's job, then the serial loop, then the threaded "
                  "loop):"]
        for number, result in enumerate(tasks["rounds"], 1):
            job, c = result["pool"], result["pool"]["cpu"]
            lines.append(f"  round {number}: pool {job['wall_s']:.2f} s (add_job {job['add_job_s']:.2f} s, first task "
                         f"started after {job['first_start_s']:.2f} s; {job['completed_ok']:,} of {n:,} succeeded, "
                         f"requeues {job['requeues']}, retries {job['retries']}, {job['nodes_used']} nodes used)")
            lines.append(f"    pool CPU: supervisor {c['supervisor_s']:.1f} s "
                         f"({c['supervisor_s'] / n * 1000:.2f} ms/task), node processes {c['nodes_s']:.1f} s "
                         f"({c['nodes_s'] / n * 1000:.2f} ms/task), the tasks {c['tasks_s']:.1f} s "
                         f"({c['tasks_s'] / n * 1000:.2f} ms/task); this benchmark's poller "
                         f"{c['benchmark_poller_s']:.1f} s")
            for label, key in (("pool", "pool"), ("serial loop", "loop_serial"), ("threaded loop", "loop_threads")):
                m = result[key] if key != "pool" else job["machine"]
                cpu = result[key]["cpu_s"]
                lines.append(f"    {label:13s} {m['wall_s']:6.2f} s, its CPU {cpu:5.1f} s "
                             f"({cpu / n * 1000:.2f} ms/task); the machine busy {m['busy_cpu_s']:5.1f} of "
                             f"{m['wall_s'] * report['cpus']:5.1f} CPU-s, stolen {m['steal_cpu_s']:.1f}; "
                             f"load {m['load_before']} -> {m['load_after']}")
        if tasks.get("parallel"):
            m = tasks["parallel"]
            lines.append(f"  GNU parallel -j{tasks['width']}: {m['wall_s']:.2f} s, its CPU {m['cpu_s']:.1f} s "
                         f"({m['cpu_s'] / n * 1000:.2f} ms/task); the machine busy {m['busy_cpu_s']:.1f} of "
                         f"{m['wall_s'] * report['cpus']:.1f} CPU-s; load {m['load_before']} -> {m['load_after']}")
        before, after = tasks["task_layout_before"], tasks["task_layout_after"]
        lines.append(f"  the filesystem of the home ({report.get('home', '?')}): a task's directories and output files "
                     f"(2 mkdir, 2 creat) cost {before['create_cpu_ms']:.2f} ms CPU before the rounds, "
                     f"{after['create_cpu_ms']:.2f} ms after (removing them {before['remove_wall_ms']:.2f} / "
                     f"{after['remove_wall_ms']:.2f} ms); the loops create none")
        wr = tasks.get("wait_for_tasks_round")
        if wr:
            counts_poller = tasks["rounds"][-1]["pool"]["cpu"]["benchmark_poller_s"]
            lines.append(f"  one more job, awaited with wait_for_tasks instead (up to 5 polls a second of the "
                         f"ids still unsettled, then one list of all {n:,} tasks): {wr['wall_s']:.2f} s, this benchmark's process "
                         f"{wr['cpu']['benchmark_poller_s']:.1f} CPU-s (polling the task counts: {counts_poller:.1f})")
        lines.append(f"  one list_tasks of a {n:,}-task job: {tasks['one_list_tasks_s']:.2f} s")
        lines.append(delete_line(tasks))
    lines += runtime_lines(report.get("runtimes"), report["cpus"])
    for name, rows in report.get("profile", {}).items():
        lines += ["", f"cProfile (CPU time), {name}: own s, cumulative s, calls"]
        lines += [f"  {tottime:8.3f} {cumtime:8.3f} {calls:9,}  {where}" for where, calls, tottime, cumtime in rows]
    phases = [(name, report[name]) for name in ("idle", "tasks") if report.get(name)]
    phases += [(f"{runtime} runtime", info) for runtime, info in (report.get("runtimes") or {}).get("pools", {}).items()
               if "left_running" in info]
    left = [f"{name}: {phase['left_running'] or 'nothing'}" + (
        f" ({phase['left_running_what']}; 10 s later: {phase['left_running_after_10s'] or 'nothing'})"
        if phase["left_running"] else "") for name, phase in phases]
    if "left_running_in_home" in (report.get("runtimes") or {}):
        left.append(f"the home, after both runtime pools: {report['runtimes']['left_running_in_home'] or 'nothing'}")
    lines += ["", "Left running after delete_pool: " + "; ".join(left)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100, help="nodes of the pool taken to idle [100]")
    parser.add_argument("--tasks", type=int, default=10_000, help="trivial tasks [10000]")
    parser.add_argument("--task-nodes", type=int, default=8, help="nodes of the tasks' pool [8]")
    parser.add_argument("--slots", type=int, default=2, help="max_tasks_per_node of the tasks' pool [2]")
    parser.add_argument("--workdir", type=Path, help="keep the image and the home here (default: a temp dir)")
    parser.add_argument("--home-dir", type=Path, metavar="DIR",
                        help="make the temporary SHIPYARD_HOME in DIR (e.g. /dev/shm) instead of WORKDIR/home")
    parser.add_argument("--skip-pool", action="store_true", help="skip the pool-to-idle and memory phase")
    parser.add_argument("--skip-tasks", action="store_true", help="skip the tasks phase")
    parser.add_argument("--skip-runtimes", action="store_true", help="skip the node runtimes phase (image vs host)")
    parser.add_argument("--runtimes-only", action="store_true",
                        help="only the node runtimes phase (after the warm-up): --skip-pool --skip-tasks")
    parser.add_argument("--pairs", type=int, default=5,
                        help="pairs of jobs, host and image, of the node runtimes phase [5]")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of the tasks phase: pool job, serial loop, threaded loop [3]")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="run the supervisors and nodes under cProfile, DIR/*.prof (slows them: attribution only)")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="leave the bytecode settings as they are (where PYTHONDONTWRITEBYTECODE is set and the "
                             "tree has no __pycache__, every process then compiles shipyard's sources)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--from-json", type=Path, metavar="FILE", help="print the table of a run saved with --json")
    args = parser.parse_args()
    if args.from_json:
        print(table(json.loads(args.from_json.read_text())))
        return 0
    if args.runtimes_only:
        args.skip_pool = args.skip_tasks = True
        args.skip_runtimes = False

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shipyard-bench-pool-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "load_start": load_average(),
        "settings": {"nodes": args.nodes, "tasks": args.tasks, "task_nodes": args.task_nodes, "slots": args.slots,
                     "rounds": args.rounds, "pairs": args.pairs, "profiled": bool(args.profile)},
    }
    home = Path(tempfile.mkdtemp(prefix="shipyard-bench-home-", dir=args.home_dir)) if args.home_dir else \
        workdir / "home"
    shutil.rmtree(home / "local", ignore_errors=True)
    report["home"] = str(home)
    os.environ["SHIPYARD_HOME"] = str(home)
    os.environ.pop("SHIPYARD_CONFIGDIR", None)
    if args.profile:
        enable_profiling(args.profile.absolute())
    report["settings"]["PYTHONDONTWRITEBYTECODE"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
    report["bytecode_cache"] = None if args.no_bytecode_cache else bytecode_cache(workdir)
    say(f"building and uploading the fixture image in {workdir} ...")
    home, uri = prepare_home(workdir, home)
    backend = LocalBackend(str(home))
    try:
        say("warm-up: a 1-node pool running one task ...")
        report["warm_up"] = warm_up(backend, home, uri)
        if not args.skip_pool:
            say(f"pool of {args.nodes} nodes to idle ...")
            report["idle"] = pool_to_idle(backend, home, uri, args.nodes)
            say(f"  {report['idle']['idle_s']:.2f} s, PSS {report['idle']['memory']['pss_total'] / GIB:.2f} GiB")
            say(f"peer: {args.nodes} bare Python processes ...")
            report["idle_peer"] = peer_processes(args.nodes)
        if not args.skip_tasks:
            say(f"{args.tasks:,} tasks on {args.task_nodes} nodes x {args.slots} slots ...")
            report["tasks"] = tasks_phase(backend, home, uri, args.task_nodes, args.slots, args.tasks, args.rounds,
                                          workdir)
        if not args.skip_runtimes:
            say(f"node runtimes: {args.tasks:,} tasks on {args.task_nodes} nodes x {args.slots} slots, host and image, "
                f"{args.pairs} pairs ...")
            report["runtimes"] = runtimes_phase(backend, home, workdir, args.task_nodes, args.slots, args.tasks,
                                                args.pairs)
    finally:
        backend.close()
        if args.home_dir:
            shutil.rmtree(home, ignore_errors=True)
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.profile:
        report["profile"] = profile_summary(args.profile.absolute())
    report["load_end"] = load_average()
    if args.json:
        report["summary"] = [dict(zip(HEADER, row, strict=True)) for row in summary_rows(report)]
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
