"""`shipyard pool ...`: listskus (and its modern name `shipyard account images`); add, list, del,
resize and nodes on the local backend, end to end."""

from __future__ import annotations

from datetime import date

import pytest

from fixtures.pool_cli import POOL_ID, CliPool
from fixtures.pools import SETTLED, home_processes, wait_until
from fixtures.terminal import ANSI
from shipyard.catalog.node_agents import load_catalogue


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch):
    def set_day(day: date) -> None:
        monkeypatch.setattr("shipyard.cli.skus.today", lambda: day)

    return set_day


def statuses(rows: list[dict]) -> dict[str, str]:
    return {row["node_agent"]: row["status"] for row in rows}


def test_listskus_raw_has_one_row_per_sku_and_image(cli, on_day) -> None:
    on_day(date(2026, 1, 15))
    result = cli("pool", "listskus", "--raw")
    rows = result.json()
    assert result.code == 0
    assert len(rows) == sum(len(sku.images) for sku in load_catalogue())
    assert {
        "node_agent": "batch.node.ubuntu 22.04", "status": "current", "os_family": "linux",
        "publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts",
        "distro_end_of_life": None, "source": "bundled catalogue",
    } in rows


@pytest.mark.parametrize("command", [("pool", "listskus"), ("account", "images")])
def test_a_distribution_past_its_end_of_life_is_not_current(cli, on_day, command: tuple[str, str]) -> None:
    on_day(date(2026, 1, 15))
    got = statuses(cli(*command, "--raw").json())
    assert got["batch.node.ubuntu 20.04"] == "end of life"  # standard support ended 2025-05-31
    assert got["batch.node.mariner 2.0"] == "end of life"  # ended 2025-07-31
    assert got["batch.node.ubuntu 22.04"] == got["batch.node.el 9"] == "current"
    assert got["batch.node.centos 7"] == "retired"
    on_day(date(2025, 5, 1))
    got = statuses(cli(*command, "--raw").json())
    assert got["batch.node.ubuntu 20.04"] == got["batch.node.mariner 2.0"] == "current"


def test_account_images_is_the_same_list(cli) -> None:
    assert cli("account", "images", "--raw").json() == cli("pool", "listskus", "--raw").json()


def test_table_output(cli, on_day) -> None:
    on_day(date(2026, 1, 15))
    result = cli("pool", "listskus")
    assert result.code == 0
    assert "batch.node.windows amd64" in result.out and "node agent" in result.out
    line = next(line for line in result.out.splitlines() if "batch.node.ubuntu 20.04" in line)
    assert "end of life" in line and "current" not in line


# --- pools on the local backend, end to end ------------------------------------------------------
#
# Each test adds real pools (a supervisor, a process per node, node prep on the VHD read in
# place) through the CLI; `cli_pool`'s teardown deletes them with `shipyard pool del` and fails the
# test if a process is left.



def steady_nodes(cli, pool: CliPool, count: int, pool_id: str = POOL_ID) -> list[dict]:
    """The pool's nodes (`pool nodes list --raw`) once there are ``count`` and none is coming up."""
    def check():
        nodes = cli("pool", "nodes", "list", "--poolid", pool_id, "--raw", *pool.options).json()["nodes"]
        return (nodes,) if len(nodes) == count and all(n["state"] in SETTLED for n in nodes) else None

    return wait_until(check, f"{count} settled nodes in {pool_id}")[0]


def test_pool_add_waits_with_lines_and_pool_del_leaves_no_process(cli, cli_pool: CliPool) -> None:
    cli_pool.write_pool(dedicated=2)
    assert home_processes(cli_pool.home) == []
    added = cli("pool", "add", *cli_pool.options)
    assert added.code == 0, added.err
    assert ANSI not in added.out  # no terminal: plain lines, no live table
    lines = added.out.splitlines()
    assert "config: OK (12 pass)" in lines
    assert f"pool {POOL_ID}: 2 of 2 nodes: 2 idle (steady)" in lines
    assert lines[-1] == f"pool {POOL_ID} is steady: 2 idle"
    pid = int(next(line for line in lines if line.startswith("supervisor: pid ")).split()[2].rstrip(","))
    assert "`shipyard pool del` stops it" in added.out
    running = home_processes(cli_pool.home)
    assert pid in running and len(running) >= 3  # the supervisor and 2 nodes

    listed = cli("pool", "list", "--raw", *cli_pool.options).json()
    assert [(p["id"], p["state"], p["allocation_state"], p["node_counts"]) for p in listed] == [
        (POOL_ID, "active", "steady", {"idle": 2})]
    assert listed[0]["image"]["image_uris"] == [cli_pool.uris[0]]
    table = cli("pool", "list", *cli_pool.options)
    row = next(line for line in table.out.splitlines() if line.startswith(POOL_ID))
    assert "2 idle" in row and "1 VHD: " + cli_pool.uris[0] in row

    refused = cli("pool", "del", *cli_pool.options)  # no terminal and no -y: refused, nothing deleted
    assert refused.code == 2 and "pass -y to confirm" in refused.err and len(refused.err.splitlines()) == 1
    assert set(running) <= set(home_processes(cli_pool.home))

    deleted = cli("pool", "del", "-y", *cli_pool.options)
    assert deleted.code == 0, deleted.err
    assert deleted.out.strip() == f"pool {POOL_ID} deleted: its supervisor (pid {pid}) and 2 nodes stopped"
    assert home_processes(cli_pool.home) == []
    assert cli("pool", "list", *cli_pool.options).out.strip() == "no pools"


def test_dry_run_plans_48_nodes_over_2_vhds_and_creates_nothing(cli, cli_pool: CliPool) -> None:
    cli_pool.write_pool(uris=cli_pool.uris, dedicated=40, low_priority=8)
    result = cli("pool", "add", "--dry-run", "--raw", *cli_pool.options)
    assert result.code == 0, result.err
    data = result.json()
    assert (data["dry_run"], data["allocated"], data["pool"]) == (True, False, None)
    plan = data["admission"]["plan"]
    assert (plan["vhds_given"], plan["vhds_required"], plan["nodes_per_vhd"], plan["shortfall"]) == (2, 2, 40, None)
    assert plan["vhds"] == [{"uri": cli_pool.uris[0], "dedicated": 20, "low_priority": 4},
                            {"uri": cli_pool.uris[1], "dedicated": 20, "low_priority": 4}]
    assert [n["image_uri"] for n in plan["nodes"][:3]] == [cli_pool.uris[0], cli_pool.uris[1], cli_pool.uris[0]]
    assert [vhd["ok"] for vhd in data["admission"]["vhds"]] == [True, True]
    assert all(0 < vhd["blob"]["bytes_read"] < vhd["blob"]["size_bytes"] for vhd in data["admission"]["vhds"])

    text = cli("pool", "add", "--dry-run", *cli_pool.options)
    assert text.code == 0
    assert "VHDs: 2 given, 2 required (40 nodes per VHD)" in text.out
    assert f"{cli_pool.uris[0]}: 20 dedicated + 4 low priority, nodes 0, 2, 4, …, 46" in text.out
    assert f"{cli_pool.uris[1]}: 20 dedicated + 4 low priority, nodes 1, 3, 5, …, 47" in text.out
    assert "dry run: pool clipool not allocated" in text.out
    assert cli("pool", "list", "--raw", *cli_pool.options).json() == []
    assert home_processes(cli_pool.home) == []

    cli_pool.write_pool(uris=cli_pool.uris[:1], dedicated=40, low_priority=8)  # 48 nodes, 1 VHD: short
    short = cli("pool", "add", "--dry-run", "--raw", *cli_pool.options)
    assert short.code == 1
    failing = [c for c in short.json()["admission"]["config"] if c["status"] == "fail"]
    assert [c["id"] for c in failing] == ["custom_image.vhd_count"] and "At least 2 VHDs" in failing[0]["message"]


def test_a_broken_image_is_refused_and_nothing_is_created(cli, cli_pool: CliPool, broken_vhd) -> None:
    cli_pool.write_pool(uris=(cli_pool.upload(broken_vhd, "broken.vhd"),))
    result = cli("pool", "add", *cli_pool.options)
    assert result.code == 1
    assert result.err.startswith(f"shipyard: error: pool {POOL_ID} refused: docker.installed, docker.socket failed; "
                                 "nothing was allocated") and len(result.err.splitlines()) == 1
    row = next(line for line in result.out.splitlines() if line.startswith("docker.installed "))
    assert " fail " in row and "install docker-ce" in row  # image check's table, with the fix
    assert "broken.vhd: FAILED" in result.out
    assert cli("pool", "list", "--raw", *cli_pool.options).json() == []
    assert home_processes(cli_pool.home) == []
    raw = cli("pool", "add", "--raw", *cli_pool.options)
    assert raw.code == 1 and raw.err == ""
    assert (raw.json()["allocated"], raw.json()["admission"]["ok"]) == (False, False)


def test_force_allocates_a_broken_image_whose_nodes_fail_their_start_task(cli, cli_pool: CliPool, broken_vhd) -> None:
    cli_pool.write_pool(uris=(cli_pool.upload(broken_vhd, "broken.vhd"),))
    result = cli("pool", "add", "--force", *cli_pool.options)
    assert result.code == 1  # allocated, but its node is starttaskfailed
    assert "--force: allocating pool clipool although error-level rules failed" in result.out
    assert "docker.installed " in result.out  # the full table, as refused
    assert result.err.startswith(f"shipyard: error: pool {POOL_ID}: 1 of 1 nodes are starttaskfailed")
    assert "  docker.installed: " in result.out and "    fix: install docker-ce" in result.out

    listed = cli("pool", "nodes", "list", "--start-task-failed", *cli_pool.options)
    assert listed.code == 0
    (node,) = cli("pool", "nodes", "list", "--start-task-failed", "--raw", *cli_pool.options).json()["nodes"]
    assert node["state"] == "starttaskfailed"
    rules = {rule["id"]: rule for rule in node["start_task"]["failed_rules"]}
    assert {"docker.installed", "docker.socket"} <= set(rules) and rules["docker.installed"]["fix"]
    assert f"{node['id']}: starttaskfailed" in listed.out and "docker.installed" in listed.out
    assert "    fix: " + rules["docker.installed"]["fix"] in listed.out
    assert cli("pool", "nodes", "list", "--unusable", "--raw", *cli_pool.options).json()["nodes"] == []

    rebooted = cli("pool", "nodes", "reboot", "--all-start-task-failed", "-y", *cli_pool.options)
    assert rebooted.code == 0 and f"{node['id']} rebooting" in rebooted.out

    def rebooted_and_failed_again():  # the reboot is a request: until the supervisor acts, the node reads as before
        (again,) = steady_nodes(cli, cli_pool, 1)
        ran = again["start_task"] and again["start_task"]["start_time"]
        return (again,) if again["state"] == "starttaskfailed" and ran != node["start_task"]["start_time"] else None

    wait_until(rebooted_and_failed_again, "the node rebooted, its start task failed again")
    gone = cli("pool", "nodes", "del", "--all-start-task-failed", "-y", "--raw", *cli_pool.options)
    assert gone.code == 0 and gone.json() == {"pool": POOL_ID, "nodes": [node["id"]], "delete": True}
    steady_nodes(cli, cli_pool, 0)
    assert cli("pool", "list", "--raw", *cli_pool.options).json()[0]["target_dedicated"] == 0


def test_the_live_display_is_a_table_on_a_terminal(cli_pool: CliPool) -> None:
    """`pool add` under a pseudo-terminal: a rich live table of the nodes, its last frame left."""
    import sys

    from fixtures.terminal import run_on_terminal

    cli_pool.write_pool(dedicated=2)
    code, shown = run_on_terminal([sys.executable, "-m", "shipyard", "pool", "add", *cli_pool.options],
                                  {"COLUMNS": "200"})
    assert code == 0
    assert ANSI in shown  # drawn on a terminal
    assert "node" in shown and "start task" in shown and "ok (exit 0)" in shown
    assert f"pool {POOL_ID}: 2 of 2 nodes: 2 idle (steady)" in shown


def test_pool_add_no_wait_returns_at_once(cli, cli_pool: CliPool) -> None:
    result = cli("pool", "add", "--no-wait", "--raw", *cli_pool.options)
    assert result.code == 0, result.err
    data = result.json()
    assert list(data) == ["admission", "dry_run", "forced", "allocated", "pool", "supervisor_pid", "nodes", "steady"]
    assert (data["allocated"], data["nodes"], data["steady"]) == (True, None, False)
    assert data["pool"]["id"] == POOL_ID and data["supervisor_pid"] in home_processes(cli_pool.home)
    assert [n["state"] for n in steady_nodes(cli, cli_pool, 1)] == ["idle"]
    again = cli("pool", "add", *cli_pool.options)
    assert again.code == 2 and again.err.startswith(f"shipyard: error: pool {POOL_ID} already exists")


def test_resize_rechecks_the_vhd_count_before_growing(cli, cli_pool: CliPool) -> None:
    assert cli("pool", "add", *cli_pool.options).code == 0
    cli_pool.write_pool(dedicated=41)  # one VHD serves 40
    refused = cli("pool", "resize", *cli_pool.options)
    assert refused.code == 2 and "insufficient number of VHDs (1) supplied for 41 compute nodes" in refused.err
    assert cli("pool", "list", "--raw", *cli_pool.options).json()[0]["target_dedicated"] == 1
    bad = cli("pool", "resize", "--task-action", "retaineddata", *cli_pool.options)
    assert bad.code == 2 and "--task-action" in bad.err
    cli_pool.write_pool(dedicated=2)
    grown = cli("pool", "resize", "--wait", "--task-action", "taskcompletion", *cli_pool.options)
    assert grown.code == 0, grown.err
    assert "resizing from 1 dedicated + 0 low priority to 2 + 0 (task action taskcompletion)" in grown.out
    assert grown.out.splitlines()[-1] == f"pool {POOL_ID} is steady: 2 idle"
    cli_pool.write_pool(dedicated=1)
    shrunk = cli("pool", "resize", "--wait", "--raw", *cli_pool.options)
    assert shrunk.code == 0 and len(shrunk.json()["nodes"]) == 1 and shrunk.json()["task_action"] == "requeue"


@pytest.mark.parametrize("args, message", [
    (("pool", "del", "--poolid", "nope", "-y"), "pool nope does not exist"),
    (("pool", "nodes", "list", "--poolid", "nope"), "pool nope does not exist"),
    (("pool", "resize",), "pool clipool does not exist"),
    (("pool", "nodes", "del", "-y"), "give --nodeid ID or one of the --all-... options"),
    (("pool", "nodes", "reboot", "--nodeid", "n1", "--all-start-task-failed", "-y"), "not both"),
])
def test_bad_input_is_one_line_and_exit_2(cli, cli_pool: CliPool, args: tuple[str, ...], message: str) -> None:
    result = cli(*args, *cli_pool.options)
    assert result.code == 2 and message in result.err and len(result.err.splitlines()) == 1, result.err
    assert result.out == ""


def test_autoscale_is_refused_on_the_local_backend(cli, cli_pool: CliPool) -> None:
    cli_pool.write_pool(pool_extra="""
        autoscale:
          evaluation_interval: 00:05:00
          formula: $TargetDedicatedNodes = 2;
        """)
    result = cli("pool", "add", *cli_pool.options)
    assert result.code == 2 and len(result.err.splitlines()) == 1
    assert "autoscale is not supported on the local backend" in result.err
    assert cli("pool", "list", "--raw", *cli_pool.options).json() == []


