#!/usr/bin/env python3
"""Benchmark: adding 10,000 tasks to a job on the Azure Batch backend, against the bare SDK.

A benchmark, not a test. Azure cannot be reached from here, so the service is the Batch emulator of
the tests (``tests/fixtures/batch_service.py``) on the local HTTPS server, with a pool of no nodes
(the tasks are added, never run). Every variant goes through the real ``azure-batch`` 15.1 client
and the same TLS, token and emulator, so what differs is only how the tasks are sent:

- **shipyard**: ``AzureBatchBackend.add_tasks`` (the checks first: the job's state, the task ids
  already there, duplicates; then the SDK's ``create_tasks`` with 8 parallel requests of 100);
- **limit**: a bare SDK loop: the same tasks built as ``BatchTaskCreateOptions`` by hand and sent
  with ``create_tasks(max_concurrency=8)``, nothing checked;
- **peer**: one ``create_task`` request per task, the loop a client without bulk add writes
  (measured on the first 1,000 tasks and scaled, so the run stays short);
- **sequential collections**: ``create_task_collection`` of 100 at a time, one after another.

Prints each median (of ``--repeat`` runs) and the ratios. Run: .venv/bin/python benchmarks/bench_azure_tasks.py
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from azure.batch import BatchClient  # noqa: E402
from azure.batch import models as m  # noqa: E402
from azure.identity import DefaultAzureCredential  # noqa: E402

from fixtures.azure_server import AzureTestServer  # noqa: E402
from fixtures.batch_service import BatchService  # noqa: E402
from shipyard.config.credentials import Credentials  # noqa: E402
from shipyard.pools.azure_batch.backend import AzureBatchBackend  # noqa: E402
from shipyard.pools.azure_batch.client import open_session  # noqa: E402
from shipyard.pools.azure_batch.to_sdk import StartTaskPlan, task_options  # noqa: E402
from shipyard.pools.models import ImageSource, JobSpec, PoolSpec, TaskSpec  # noqa: E402

IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ubuntu/versions/1.0.0"
PEER_SAMPLE = 1000


def specs(count: int) -> list[TaskSpec]:
    return [TaskSpec(f"task-{i:05d}", f"/bin/echo {i}", environment=(("INDEX", str(i)),)) for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-tasks-"))
    server = AzureTestServer(work)
    os.environ.update(server.env())
    service = BatchService(server, work / "nodes")
    session = open_session(Credentials.model_validate({"batch": {"account_service_url": server.url}}))
    backend = AzureBatchBackend(session, lambda spec: StartTaskPlan("/bin/true"))
    client = BatchClient(server.url, DefaultAzureCredential())
    backend.add_pool(PoolSpec("bench", "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04", arm_image_id=IMAGE)))
    tasks = specs(args.tasks)
    options = [task_options(t) for t in tasks]
    runs: dict[str, list[float]] = {"shipyard": [], "limit": [], "peer": [], "sequential": []}
    try:
        for round_no in range(args.repeat):
            for name in runs:
                job = f"{name}-{round_no}"
                backend.add_job(JobSpec(job, "bench"))
                started = time.perf_counter()
                if name == "shipyard":
                    backend.add_tasks(job, tasks)
                elif name == "limit":
                    built = [m.BatchTaskCreateOptions(id=t.id, command_line=t.command_line, environment_settings=[
                        m.EnvironmentSetting(name=k, value=v) for k, v in t.environment]) for t in tasks]
                    client.create_tasks(job, built, max_concurrency=8)
                elif name == "peer":
                    for option in options[:PEER_SAMPLE]:
                        client.create_task(job, option)
                else:
                    for start in range(0, len(options), 100):
                        client.create_task_collection(job, m.BatchTaskGroup(task_values=options[start:start + 100]))
                elapsed = time.perf_counter() - started
                if name == "peer":
                    elapsed *= len(options) / PEER_SAMPLE
                runs[name].append(elapsed)
                backend.delete_job(job)
    finally:
        client.close()
        backend.delete_pool("bench")
        backend.close()
        service.close()
        server.close()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    report = {"tasks": args.tasks, "repeat": args.repeat, "median_s": {k: round(v, 3) for k, v in medians.items()},
              "shipyard_over_limit": round(medians["shipyard"] / medians["limit"], 3),
              "peer_over_shipyard": round(medians["peer"] / medians["shipyard"], 2),
              "sequential_over_shipyard": round(medians["sequential"] / medians["shipyard"], 2),
              "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"adding {args.tasks:,} tasks to a job (median of {args.repeat}; the Batch emulator, real SDK, TLS, tokens)")
    for name, label in (("shipyard", "shipyard add_tasks (checks + create_tasks x8)"),
                        ("limit", "bare SDK: build the options, create_tasks(x8)"),
                        ("sequential", "create_task_collection of 100, one after another"),
                        ("peer", f"one create_task per task (first {PEER_SAMPLE:,}, scaled)")):
        print(f"  {label:<52} {medians[name]:8.2f} s  {args.tasks / medians[name]:8.0f} tasks/s")
    print(f"shipyard / limit: {report['shipyard_over_limit']:.2f}x; per-task peer / shipyard: "
          f"{report['peer_over_shipyard']:.1f}x; sequential / shipyard: {report['sequential_over_shipyard']:.1f}x")
    print(f"machine: {report['cpus']} CPUs, load (1 min) {report['load_avg_1m']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
