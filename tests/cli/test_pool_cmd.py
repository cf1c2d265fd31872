"""`shipyard pool listskus` and its modern name `shipyard account images`."""

from __future__ import annotations

from shipyard.catalog.node_agents import load_catalogue


def test_listskus_raw_has_one_row_per_sku_and_image(cli) -> None:
    result = cli("pool", "listskus", "--raw")
    rows = result.json()
    assert result.code == 0
    assert len(rows) == sum(len(sku.images) for sku in load_catalogue())
    assert {
        "node_agent": "batch.node.ubuntu 22.04", "status": "current", "os_family": "linux",
        "publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts",
        "distro_end_of_life": None,
    } in rows


def test_account_images_is_the_same_list(cli) -> None:
    assert cli("account", "images", "--raw").json() == cli("pool", "listskus", "--raw").json()


def test_table_output(cli) -> None:
    result = cli("pool", "listskus")
    assert result.code == 0
    assert "batch.node.windows amd64" in result.out and "node agent" in result.out
