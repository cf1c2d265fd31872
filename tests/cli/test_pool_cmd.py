"""`shipyard pool listskus` and its modern name `shipyard account images`."""

from __future__ import annotations

from datetime import date

import pytest

from shipyard.catalog.node_agents import load_catalogue


@pytest.fixture
def on_day(monkeypatch: pytest.MonkeyPatch):
    def set_day(day: date) -> None:
        monkeypatch.setattr("shipyard.cli.pool_cmd.today", lambda: day)

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
        "distro_end_of_life": None,
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
