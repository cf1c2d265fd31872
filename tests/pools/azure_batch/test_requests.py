"""What the Azure Batch backend sends: the real ``BatchClient``'s requests, captured by the local
HTTPS server (``tests/fixtures/azure_server.py``), asserted on method, path, api-version and body;
and how the service's answers (its documented shapes, its errors) come back."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.batch.models import ResourceFile

from fixtures.azure_server import AzureTestServer, Reply, batch_error, serve
from shipyard.config.credentials import Credentials
from shipyard.errors import BackendError, ConflictError, NotFoundError
from shipyard.pools.azure_batch.backend import AzureBatchBackend
from shipyard.pools.azure_batch.client import open_session
from shipyard.pools.azure_batch.to_sdk import StartTaskPlan
from shipyard.pools.models import (
    AllocationState,
    ImageSource,
    JobSpec,
    MultiInstance,
    NodeState,
    PoolSpec,
    PoolState,
    StartCommands,
    TaskAction,
    TaskSpec,
)

API = "2025-06-01"
KEY = base64.b64encode(b"batch-account-key-for-tests-0123").decode()
IMAGE = "/subscriptions/sub-1/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal/images/ubuntu/versions/1.0.0"
SAS_URL = "https://acct1.blob.core.windows.net/shipyard/nodeprep/abc/nodeprep.py?sv=2025&sig=SECRETSIG"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AzureTestServer]:
    yield from serve(tmp_path, monkeypatch)


def pool_json(pool_id: str, **extra: object) -> dict:
    return {"id": pool_id, "state": "active", "allocationState": "steady", "vmSize": "standard_d2s_v3",
            "virtualMachineConfiguration": {"imageReference": {"virtualMachineImageId": IMAGE},
                                            "nodeAgentSKUId": "batch.node.ubuntu 22.04"},
            "targetDedicatedNodes": 2, "currentDedicatedNodes": 1, "taskSlotsPerNode": 2,
            "taskSchedulingPolicy": {"nodeFillType": "pack"}, "creationTime": "2026-12-03T05:00:00Z", **extra}


def routes(server: AzureTestServer, pools: dict[str, dict]) -> None:
    """A Batch account holding ``pools``: create, read, list, resize, delete (as the service answers)."""

    def create(request, match):
        body = request.json
        if body["id"] in pools:
            return batch_error(409, "PoolExists", "The specified pool already exists.")
        pools[body["id"]] = pool_json(body["id"])
        return Reply(201, headers={"DataServiceId": f"{server.url}/pools/{body['id']}"})

    def get(request, match):
        found = pools.get(match["id"])
        if found is None:
            return batch_error(404, "PoolNotFound", "The specified pool does not exist.")
        return Reply(200, {} if request.method == "HEAD" else found)

    def delete(request, match):
        if pools.pop(match["id"], None) is None:
            return batch_error(404, "PoolNotFound", "The specified pool does not exist.")
        return Reply(202)

    def nodes(request, match):
        return Reply(200, {"value": [{"id": "tvmps_1", "state": "idle", "isDedicated": True,
                                      "startTaskInfo": {"state": "completed", "exitCode": 0, "result": "success",
                                                        "retryCount": 0, "startTime": "2026-12-03T05:01:00Z"}}]})

    server.route("POST", "/pools", create)
    server.route("GET", r"/pools", lambda r, m: Reply(200, {"value": list(pools.values())}))
    server.route("GET", r"/pools/(?P<id>[^/]+)", get)
    server.route("HEAD", r"/pools/(?P<id>[^/]+)", get)
    server.route("DELETE", r"/pools/(?P<id>[^/]+)", delete)
    server.route("GET", r"/pools/(?P<id>[^/]+)/nodes", nodes)
    server.route("POST", r"/pools/(?P<id>[^/]+)/resize", lambda r, m: Reply(202))
    server.route("POST", r"/pools/(?P<id>[^/]+)/removenodes", lambda r, m: Reply(202))


def backend_for(server: AzureTestServer, *, key: str | None = None) -> AzureBatchBackend:
    batch = {"account_service_url": server.url, **({"account_key": key} if key else {})}
    credentials = Credentials.model_validate({"batch": batch})
    plan = StartTaskPlan("/bin/sh -c 'set -e; python3 nodeprep/nodeprep.py --configdir config'",
                         (ResourceFile(http_url=SAS_URL, file_path="nodeprep/nodeprep.py"),))
    return AzureBatchBackend(open_session(credentials), lambda spec: plan, poll_s=0.05)


def spec(pool_id: str = "gpu-pool", **extra: object) -> PoolSpec:
    options: dict = {"dedicated": 2, "low_priority": 1, "max_tasks_per_node": 2,
                     "start_commands": StartCommands(pre=("echo pre",)), **extra}
    return PoolSpec(pool_id, "STANDARD_NC24ADS_A100_V4", ImageSource("batch.node.ubuntu 22.04", arm_image_id=IMAGE),
                    **options)


def test_a_pool_from_a_gallery_image(server: AzureTestServer) -> None:
    routes(server, {})
    backend = backend_for(server)
    pool = backend.add_pool(spec())
    create = server.sent("POST", r"^/pools$")[0]
    assert create.api_version == API
    body = create.json
    assert body["id"] == "gpu-pool" and body["vmSize"] == "STANDARD_NC24ADS_A100_V4"
    assert body["virtualMachineConfiguration"] == {"imageReference": {"virtualMachineImageId": IMAGE},
                                                   "nodeAgentSKUId": "batch.node.ubuntu 22.04"}
    assert (body["targetDedicatedNodes"], body["targetLowPriorityNodes"], body["taskSlotsPerNode"]) == (2, 1, 2)
    assert body["taskSchedulingPolicy"] == {"nodeFillType": "spread"}
    assert body["resizeTimeout"] == "PT15M00S"  # at least 15 minutes per 1,000 nodes
    start = body["startTask"]
    assert start["waitForSuccess"] is True and start["maxTaskRetryCount"] == 3
    assert start["userIdentity"] == {"autoUser": {"scope": "pool", "elevationLevel": "admin"}}
    assert start["resourceFiles"] == [{"httpUrl": SAS_URL, "filePath": "nodeprep/nodeprep.py"}]
    assert "communication" not in str(body).lower() and "certificate" not in str(body).lower()
    assert create.authorization.startswith("Bearer token-")  # Entra ID, from the managed-identity endpoint
    assert (pool.id, pool.state, pool.allocation_state, pool.image.arm_image_id) == (
        "gpu-pool", PoolState.ACTIVE, AllocationState.STEADY, IMAGE)
    assert dict(pool.node_counts) == {NodeState.IDLE: 1}


def test_the_resize_timeout_scales_with_the_pool(server: AzureTestServer) -> None:
    routes(server, {})
    backend_for(server).add_pool(spec("big", dedicated=2500, low_priority=0))
    assert server.sent("POST", r"^/pools$")[0].json["resizeTimeout"] == "PT45M00S"


@pytest.mark.parametrize(("image_id", "field"), [
    ("/SharedGalleries/0000-abc/Images/ubuntu/Versions/1.0.0", "sharedGalleryImageId"),
    ("/CommunityGalleries/pub-1/Images/ubuntu", "communityGalleryImageId"),
    (IMAGE.rsplit("/versions/", 1)[0], "virtualMachineImageId"),  # a definition: its latest version
])
def test_shared_community_and_latest_images(server: AzureTestServer, image_id: str, field: str) -> None:
    routes(server, {})
    backend_for(server).add_pool(PoolSpec("p", "STANDARD_D2S_V3", ImageSource("batch.node.ubuntu 22.04",
                                                                                arm_image_id=image_id)))
    assert server.sent("POST", r"^/pools$")[0].json["virtualMachineConfiguration"]["imageReference"] == {field: image_id}


def test_vhd_uris_and_managed_images_never_reach_the_service(server: AzureTestServer) -> None:
    routes(server, {})
    backend = backend_for(server)
    with pytest.raises(BackendError, match="needs a Compute Gallery image"):
        backend.add_pool(PoolSpec("p", "S", ImageSource("batch.node.ubuntu 22.04", ("https://a.blob.core.windows.net/v/x.vhd",))))
    with pytest.raises(BackendError, match="managed image: Azure Batch retired managed-image pools on 2026-03-31") as caught:
        backend.add_pool(PoolSpec("p", "S", ImageSource("batch.node.ubuntu 22.04", arm_image_id=(
            "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/images/legacy"))))
    assert "shipyard image publish" in (caught.value.hint or "")
    assert server.sent() == []


def test_resize_and_delete(server: AzureTestServer) -> None:
    routes(server, {"gpu-pool": pool_json("gpu-pool")})
    backend = backend_for(server)
    backend.resize_pool("gpu-pool", 2995, 5, task_action=TaskAction.TASK_COMPLETION)
    resize = server.sent("POST", r"/resize$")[0]
    assert resize.path == "/pools/gpu-pool/resize" and resize.api_version == API
    assert resize.json == {"targetDedicatedNodes": 2995, "targetLowPriorityNodes": 5, "resizeTimeout": "PT45M00S",
                           "nodeDeallocationOption": "taskcompletion"}
    backend.delete_pool("gpu-pool")
    delete = server.sent("DELETE")[0]
    assert (delete.path, delete.api_version) == ("/pools/gpu-pool", API)
    with pytest.raises(NotFoundError) as caught:
        backend.get_pool("gpu-pool")
    assert str(caught.value) == "reading pool 'gpu-pool': no pool 'gpu-pool'"
    with pytest.raises(NotFoundError):
        backend.delete_pool("gpu-pool")


def test_a_taken_pool_id_is_a_conflict(server: AzureTestServer) -> None:
    routes(server, {"gpu-pool": pool_json("gpu-pool")})
    with pytest.raises(ConflictError, match="pool 'gpu-pool' already exists"):
        backend_for(server).add_pool(spec())


def test_tasks_with_dependencies(server: AzureTestServer) -> None:
    routes(server, {"gpu-pool": pool_json("gpu-pool")})
    jobs: dict[str, dict] = {}
    tasks: list[dict] = []

    def create_job(request, match):
        jobs[request.json["id"]] = {"id": request.json["id"], "state": "active", "priority": request.json.get("priority", 0),
                                    "poolInfo": request.json["poolInfo"]}
        return Reply(201)

    def add_collection(request, match):
        values = request.json["value"]
        tasks.extend({"id": t["id"], "state": "active", "commandLine": t["commandLine"],
                      **({"dependsOn": t["dependsOn"]} if "dependsOn" in t else {})} for t in values)
        return Reply(200, {"value": [{"status": "success", "taskId": t["id"]} for t in values]})

    server.route("POST", "/jobs", create_job)
    server.route("GET", r"/jobs/(?P<id>[^/]+)", lambda r, m: Reply(200, jobs[m["id"]]))
    server.route("GET", r"/jobs/(?P<id>[^/]+)/taskcounts", lambda r, m: Reply(200, {
        "taskCounts": {"active": len(tasks), "running": 0, "completed": 0, "succeeded": 0, "failed": 0},
        "taskSlotCounts": {"active": len(tasks), "running": 0, "completed": 0, "succeeded": 0, "failed": 0}}))
    server.route("GET", r"/jobs/(?P<id>[^/]+)/tasks", lambda r, m: Reply(200, {"value": tasks}))
    server.route("POST", r"/jobs/(?P<id>[^/]+)/addtaskcollection", add_collection)

    backend = backend_for(server)
    job = backend.add_job(JobSpec("job-1", "gpu-pool", priority=5, tasks=(
        TaskSpec("prep", "/bin/true", max_task_retries=2, max_wall_time_s=600),
        TaskSpec("train", "/usr/bin/python3 train.py", depends_on=("prep",), environment=(("EPOCHS", "3"),)),
        TaskSpec("mpi", "mpirun -n 3 app", multi_instance=MultiInstance(3, "/bin/sh -c ready")))))
    body = server.sent("POST", r"^/jobs$")[0].json
    assert body == {"id": "job-1", "priority": 5, "usesTaskDependencies": True, "poolInfo": {"poolId": "gpu-pool"}}
    collection = server.sent("POST", r"/addtaskcollection$")[0]
    assert collection.path == "/jobs/job-1/addtaskcollection" and collection.api_version == API
    sent = {t["id"]: t for t in collection.json["value"]}
    assert sent["train"]["dependsOn"] == {"taskIds": ["prep"]}
    assert sent["train"]["environmentSettings"] == [{"name": "EPOCHS", "value": "3"}]
    assert sent["prep"]["constraints"] == {"maxWallClockTime": "PT10M00S", "maxTaskRetryCount": 2}
    assert sent["mpi"]["multiInstanceSettings"] == {"numberOfInstances": 3, "coordinationCommandLine": "/bin/sh -c ready"}
    assert job.id == "job-1" and job.priority == 5
    # all or nothing: a taken id is refused before anything is sent
    with pytest.raises(ConflictError, match="'prep'"):
        backend.add_tasks("job-1", [TaskSpec("new", "/bin/true"), TaskSpec("prep", "/bin/true")])
    assert len(server.sent("POST", r"/addtaskcollection$")) == 1


def test_a_job_for_a_pool_that_does_not_exist_is_refused(server: AzureTestServer) -> None:
    routes(server, {})
    with pytest.raises(NotFoundError, match="no pool 'nope'"):
        backend_for(server).add_job(JobSpec("j", "nope"))
    assert server.sent("POST") == []


def test_shared_key_is_signed_and_never_shown(server: AzureTestServer, caplog: pytest.LogCaptureFixture) -> None:
    routes(server, {})
    server.route("GET", r"/pools/(?P<id>[^/]+)", lambda r, m: batch_error(
        403, "AuthenticationFailed", "Server failed to authenticate the request."))
    backend = backend_for(server, key=KEY)
    caplog.set_level("DEBUG")
    with pytest.raises(BackendError) as caught:
        backend.get_pool("p")
    sent = server.sent("GET")[0]
    assert re.fullmatch(r"SharedKey 127:[A-Za-z0-9+/=]{44}", sent.authorization)
    text = str(caught.value) + str(caught.value.hint) + caplog.text
    assert "refused the credentials" in str(caught.value)
    assert KEY not in text and sent.authorization.split(":")[1] not in text


def test_a_shared_key_gallery_pool_refusal_says_what_to_do(server: AzureTestServer) -> None:
    routes(server, {})
    server.route("POST", "/pools", lambda r, m: batch_error(
        403, "OperationNotPermittedWithSharedKey",
        "Pools using a Shared Image Gallery image must be created with Azure Active Directory authentication."))
    with pytest.raises(BackendError) as caught:
        backend_for(server, key=KEY).add_pool(spec())
    assert "refused shared key credentials" in str(caught.value)
    assert "Microsoft Entra ID" in (caught.value.hint or "") and KEY not in str(caught.value) + str(caught.value.hint)


def test_file_paths_stay_inside_without_a_request(server: AzureTestServer) -> None:
    backend = backend_for(server)
    for path in ("../../etc/passwd", "/etc/passwd", "startup/../.."):
        with pytest.raises(NotFoundError):
            backend.read_node_file("p", "n", path)
    assert server.sent() == []


def test_a_task_the_service_refuses_takes_the_others_back(server: AzureTestServer) -> None:
    """All or nothing: when the service refuses one task of an add (here for a property it rejects),
    the tasks it took are deleted again and the error names the refused one. (A ``TaskExists`` the SDK
    counts as added: that is how it makes a retried request idempotent.)"""
    routes(server, {"gpu-pool": pool_json("gpu-pool")})
    job = {"id": "job-1", "state": "active", "priority": 0, "poolInfo": {"poolId": "gpu-pool"}}
    server.route("GET", r"/jobs/job-1", lambda r, m: Reply(200, job))
    server.route("GET", r"/jobs/job-1/taskcounts", lambda r, m: Reply(200, {"taskCounts": {}, "taskSlotCounts": {}}))
    server.route("GET", r"/jobs/job-1/tasks", lambda r, m: Reply(200, {"value": []}))
    server.route("DELETE", r"/jobs/job-1/tasks/(?P<id>[^/]+)", lambda r, m: Reply(200))

    def add(request, match):
        return Reply(200, {"value": [
            {"status": "success", "taskId": t["id"]} if t["id"] != "b" else
            {"status": "clienterror", "taskId": "b", "error": {"code": "InvalidPropertyValue",
                                                                "message": {"value": "bad value"}}}
            for t in request.json["value"]]})

    server.route("POST", r"/jobs/job-1/addtaskcollection", add)
    with pytest.raises(BackendError) as caught:
        backend_for(server).add_tasks("job-1", [TaskSpec(i, "/bin/true") for i in ("a", "b", "c")])
    assert str(caught.value) == "job 'job-1': the service refused 1 task(s): b (InvalidPropertyValue); none of them was added"
    assert sorted(r.path for r in server.sent("DELETE")) == ["/jobs/job-1/tasks/a", "/jobs/job-1/tasks/c"]


def test_failed_rules_from_node_preps_stderr() -> None:
    from shipyard.pools.azure_batch.from_sdk import failed_rules

    text = ("shipyard: node prep: docker.socket: no /var/run/docker.sock; fix: enable docker.socket\n"
            "Traceback? no: some other line\n"
            "shipyard: node prep: docker.socket: no /var/run/docker.sock; fix: enable docker.socket\n"  # a retry
            "shipyard: node prep: setup: cannot mount share; fix: never\n"
            "shipyard: node prep: net.inbound: 22 closed; 443 open; fix: ufw allow 22\n")
    assert [(r.id, r.message, r.fix) for r in failed_rules(text)] == [
        ("docker.socket", "no /var/run/docker.sock", "enable docker.socket"),
        ("net.inbound", "22 closed; 443 open", "ufw allow 22")]
