"""`admit_pool`: what `pool add` checks before it allocates, on real images read in place.

The images are built by `image build` from the Ubuntu fixture tree (one as it is, one with
dockerd removed) and uploaded to the embedded local store and to Azurite; each VHD's results must
be those `image check` gives for the file, and only a small part of each blob is read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.trees import remove, write_ubuntu_2204
from shipyard.checks.image import check_image
from shipyard.config.credentials import StorageLink
from shipyard.config.loader import ConfigPaths, ConfigSet, load_config_set
from shipyard.errors import ConfigError, UsageError
from shipyard.image.build import build_image
from shipyard.pools.admission import AdmissionReport, admit_pool, check_resize
from shipyard.pools.models import AllocationState, ImageSource, NodeFillType, Pool, PoolState
from shipyard.pools.vhd_plan import plan_vhds
from shipyard.results import Status
from shipyard.rules.context import PoolContext
from shipyard.storage.open import open_store
from shipyard.storage.upload import upload_page_blob

AGENT = "batch.node.ubuntu 22.04"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``good``: the Ubuntu fixture as it is; ``broken``: the same without dockerd."""
    out = {}
    for name, change in (("good", None), ("broken", "/usr/bin/dockerd")):
        tree = write_ubuntu_2204(tmp_path_factory.mktemp(f"{name}-tree") / "root")
        if change:
            remove(tree, change)
        out[name] = build_image(tree, tmp_path_factory.mktemp(name) / f"{name}.vhd")
    return out


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    return home


@pytest.fixture
def container(request: pytest.FixtureRequest) -> str:
    """A container unique to the test: the session's Azurite is shared."""
    return "c" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:20]


class Storage:
    """Three storage links (sa1..sa3, accounts acct1..acct3) of one kind, and their credentials file."""

    def __init__(self, kind: str, links: dict[str, StorageLink], home: Path, container: str) -> None:
        self.kind, self.links, self.home, self.container = kind, links, home, container

    def credentials(self) -> str:
        lines = ["credentials:", "  batch:", "    account_service_url: local://", "  storage:"]
        for name, link in self.links.items():
            lines += [f"    {name}:", f"      account: {link.account}"]
            if link.is_local:
                lines.append("      endpoint: local")
            else:
                lines += [f"      account_key: {link.account_key.get_secret_value()}",
                          f"      blob_endpoint: {link.blob_endpoint}"]
        return "\n".join(lines) + "\n"

    def upload(self, image: Path, link: str = "sa1", blob: str = "ubuntu.vhd") -> str:
        store = open_store(self.links[link], self.home)
        return upload_page_blob(image, store, self.container, blob).uri


@pytest.fixture(params=["local", "azurite"])
def storage(request: pytest.FixtureRequest, home: Path, container: str) -> Storage:
    if request.param == "local":
        links = {f"sa{i}": StorageLink(account=f"acct{i}", endpoint="local") for i in (1, 2, 3)}
    else:
        azurite = request.getfixturevalue("azurite")
        links = {f"sa{i}": azurite.link(f"acct{i}") for i in (1, 2, 3)}
    return Storage(request.param, links, home, container)


def pool_yaml(uris: list[str], dedicated: int = 4, low_priority: int = 0, extra: str = "") -> str:
    listed = "".join(f"\n      - {uri}" for uri in uris)
    return (f"pool_specification:\n  id: mypool\n  vm_configuration:\n    custom_image:\n      image_uris:{listed}\n"
            f"      node_agent: {AGENT}\n  vm_size: Standard_D2s_v3\n"
            f"  vm_count:\n    dedicated: {dedicated}\n    low_priority: {low_priority}\n{extra}")


Admit = Callable[..., tuple[ConfigSet, AdmissionReport]]


@pytest.fixture
def admit(write_config, storage: Storage, home: Path) -> Admit:
    def run(uris: list[str], dedicated: int = 4, low_priority: int = 0, **kw: object) -> tuple[ConfigSet, AdmissionReport]:
        directory = write_config(credentials=storage.credentials(), pool=pool_yaml(uris, dedicated, low_priority))
        config = load_config_set(ConfigPaths.resolve(directory))
        return config, admit_pool(config, home=home, **kw)  # type: ignore[arg-type]

    return run


def test_a_good_image_is_admitted_with_the_files_results(admit: Admit, storage: Storage, images) -> None:
    uri = storage.upload(images["good"])
    config, report = admit([uri], dedicated=3, low_priority=1)
    assert report.ok and not report.failed() and report.backend == "local" and report.pool.id == "mypool"
    assert [r.id for r in report.config_results if r.status is Status.FAIL] == []
    (vhd,) = report.vhds
    expected = check_image(images["good"], PoolContext.from_config(config))
    assert vhd.uri == uri and vhd.error is None and list(vhd.results) == expected
    size = images["good"].stat().st_size
    assert vhd.size_bytes == size and 0 < vhd.bytes_read < size // 10 and 2 <= vhd.requests <= 20
    assert report.plan.counts() == {uri: (3, 1)} and report.plan.shortfall is None
    data = json.loads(json.dumps(report.as_dict()))  # plain JSON for --raw
    assert list(data) == ["pool", "backend", "ok", "config", "vhds", "plan"] and data["ok"] is True
    assert data["vhds"][0]["blob"] == {"uri": uri, "size_bytes": size, "bytes_read": vhd.bytes_read,
                                       "requests": vhd.requests}
    assert [n["low_priority"] for n in data["plan"]["nodes"]] == [False, False, False, True]


def test_a_broken_image_is_refused_with_its_rule_ids(admit: Admit, storage: Storage, images) -> None:
    good, broken = storage.upload(images["good"], "sa1"), storage.upload(images["broken"], "sa2")
    _, report = admit([good, broken])
    assert report.failed() and not report.ok
    failing = {vhd.uri: sorted(r.id for r in vhd.results if r.status is Status.FAIL) for vhd in report.vhds}
    assert failing == {good: [], broken: ["docker.installed", "docker.socket"]}
    assert report.plan.counts() == {good: (2, 0), broken: (2, 0)}
    skipped = admit_pool(load_config_set(ConfigPaths.resolve(Path(report.pool.config_files[0][1]).parent)),
                         skip=("docker.installed", "docker.socket"), home=storage.home)
    assert skipped.ok and {r.status for r in skipped.vhds[1].results if r.id.startswith("docker.")} >= {Status.SKIP}


def test_100_linux_nodes_over_3_vhds_round_robin(admit: Admit, storage: Storage, images) -> None:
    uris = [storage.upload(images["good"], link) for link in ("sa1", "sa2", "sa3")]
    _, report = admit(uris, dedicated=80, low_priority=20)
    assert report.ok, [r for r in report.config_results if r.status is Status.FAIL]
    plan = report.plan
    assert (plan.node_count, plan.required, plan.nodes_per_vhd, plan.unplaced) == (100, 3, 40, 0)
    assert [node.image_uri for node in plan.nodes[:4]] == [uris[0], uris[1], uris[2], uris[0]]
    assert plan.counts() == {uris[0]: (27, 7), uris[1]: (27, 6), uris[2]: (26, 7)}
    assert max(d + low for d, low in plan.counts().values()) <= 40
    assert [vhd.uri for vhd in report.vhds] == uris and all(vhd.bytes_read > 0 for vhd in report.vhds)


def test_a_shortfall_fails_and_leaves_nodes_without_a_vhd(admit: Admit, storage: Storage, images) -> None:
    uris = [storage.upload(images["good"], link) for link in ("sa1", "sa2")]
    _, report = admit(uris, dedicated=100)
    assert report.failed()
    (count,) = [r for r in report.config_results if r.id == "custom_image.vhd_count"]
    assert count.status is Status.FAIL and count.message == (
        "insufficient number of VHDs (2) supplied for 100 compute nodes. At least 3 VHDs are required.")
    assert count.location is not None and count.location.path == "pool_specification.vm_configuration.custom_image.image_uris"
    assert report.plan.counts() == {uris[0]: (40, 0), uris[1]: (40, 0)} and report.plan.unplaced == 20
    # the same URI listed twice is one VHD: the config rule counts the list, the plan the VHDs
    _, twice = admit([uris[0], uris[0]], dedicated=60)
    shortfalls = [r for r in twice.config_results if r.id == "custom_image.vhd_count"]
    assert [(r.status, r.message) for r in shortfalls] == [
        (Status.PASS, "one VHD per 40 Linux or 20 Windows nodes"),
        (Status.FAIL, "insufficient number of VHDs (1) supplied for 60 compute nodes. At least 2 VHDs are required. "
                      "(2 URIs listed, 1 distinct)")]
    assert twice.failed() and len(twice.vhds) == 1


def test_a_vhd_that_cannot_be_read_fails_in_one_line(admit: Admit, storage: Storage, images) -> None:
    good = storage.upload(images["good"])
    missing = good.replace("ubuntu.vhd", "nope.vhd")
    _, report = admit([good, missing])
    assert report.failed() and [vhd.error for vhd in report.vhds] == [None, f"blob {missing} does not exist"]
    assert report.as_dict()["vhds"][1]["error"] == f"blob {missing} does not exist"


def test_a_sas_uri_is_refused_and_never_shown(admit: Admit, storage: Storage, images) -> None:
    uri = storage.upload(images["good"])
    sas = "sv=2024-01-01&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D"
    _, report = admit([f"{uri}?{sas}"])
    assert report.failed()
    assert [r.id for r in report.config_results if r.status is Status.FAIL] == ["custom_image.bare_uri"]
    text = json.dumps(report.as_dict())
    assert "sig=" not in text and "c2VjcmV0" not in text and report.vhds[0].uri == uri
    assert "no query string (no SAS)" in (report.vhds[0].error or "")


def test_autoscale_is_refused_on_the_local_backend(write_config, storage: Storage) -> None:
    extra = "  autoscale:\n    evaluation_interval: 00:05:00\n    scenario:\n      name: active_tasks\n"
    directory = write_config(credentials=storage.credentials(), pool=pool_yaml(["local://acct1/c1/u.vhd"], extra=extra))
    with pytest.raises(ConfigError) as caught:
        admit_pool(load_config_set(ConfigPaths.resolve(directory)))
    assert str(caught.value).endswith("pool.yaml:12: pool_specification.autoscale: autoscale is not supported on the "
                                      "local backend: it keeps a pool at its vm_count")


def test_a_pool_that_does_not_load_is_its_config_error(write_config) -> None:
    directory = write_config(pool="pool_specification:\n  id: p\n  vm_size: x\n")
    with pytest.raises(ConfigError, match=r"pool\.yaml:1: pool_specification\.vm_configuration: required key is missing"):
        admit_pool(load_config_set(ConfigPaths.resolve(directory)))


# --- the plan and resize, pure ------------------------------------------------------------------


def test_windows_nodes_take_20_per_vhd() -> None:
    plan = plan_vhds(["a", "b"], "batch.node.windows amd64", 30, 10)
    assert (plan.nodes_per_vhd, plan.required, plan.counts(), plan.unplaced) == (20, 2, {"a": (15, 5), "b": (15, 5)}, 0)
    short = plan_vhds(["a"], "batch.node.windows amd64", 25, 0)
    assert short.counts() == {"a": (20, 0)} and short.unplaced == 5 and "At least 2 VHDs" in (short.shortfall or "")


def test_a_gallery_image_has_no_vhd_plan() -> None:
    plan = plan_vhds([], AGENT, 3, 0)
    assert (plan.required, plan.shortfall, plan.unplaced) == (0, None, 0)
    assert [node.image_uri for node in plan.nodes] == [None, None, None]


def pool_of(uris: tuple[str, ...], dedicated: int, low_priority: int = 0) -> Pool:
    return Pool("p", PoolState.ACTIVE, AllocationState.STEADY, "Standard_D2s_v3", ImageSource(AGENT, uris),
                dedicated, low_priority, dedicated, low_priority, 1, NodeFillType.SPREAD)


def test_resize_rechecks_the_vhd_count_before_growing() -> None:
    pool = pool_of(("a", "b"), 60)
    assert check_resize(pool, 70, 10).counts() == {"a": (35, 5), "b": (35, 5)}
    with pytest.raises(UsageError) as caught:
        check_resize(pool, 70, 20)
    assert str(caught.value) == ("pool p: insufficient number of VHDs (2) supplied for 90 compute nodes. At least 3 "
                                 "VHDs are required.")
    assert "shipyard image replicate" in (caught.value.hint or "")
    over = pool_of(("a",), 60)  # forced past its VHDs: shrinking is still allowed
    assert check_resize(over, 50, 0).unplaced == 10
    with pytest.raises(UsageError, match="cannot have -1 nodes"):
        check_resize(pool, -1, 0)
