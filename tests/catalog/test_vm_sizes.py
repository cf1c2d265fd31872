"""GPU and RDMA detection from Azure VM size names."""

from __future__ import annotations

import pytest

from shipyard.catalog.vm_sizes import vm_size_features


@pytest.mark.parametrize(
    ("size", "nvidia", "rdma"),
    [
        ("STANDARD_D2_V2", False, False),
        ("Standard_D4s_v5", False, False),
        ("Standard_F72s_v2", False, False),
        ("Standard_NC6", True, False),
        ("Standard_NC24r", True, True),
        ("Standard_NC6s_v3", True, False),
        ("Standard_NC24rs_v3", True, True),
        ("Standard_NC4as_T4_v3", True, False),
        ("Standard_NC24ads_A100_v4", True, False),
        ("Standard_NC40ads_H100_v5", True, False),
        ("Standard_NCC40ads_H100_v5", True, False),
        ("Standard_ND40rs_v2", True, True),
        ("Standard_ND96asr_v4", True, True),
        ("Standard_ND96amsr_A100_v4", True, True),
        ("Standard_ND96isr_H100_v5", True, True),
        ("Standard_ND96isr_MI300X_v5", False, True),
        ("Standard_NV6", True, False),
        ("Standard_NV12s_v3", True, False),
        ("Standard_NV36ads_A10_v5", True, False),
        ("Standard_NV4as_v4", False, False),
        ("Standard_NG8ads_V620_v1", False, False),
        ("Standard_A8", False, True),
        ("Standard_A9", False, True),
        ("Standard_A10", False, False),
        ("Standard_H16r", False, True),
        ("Standard_H16mr", False, True),
        ("Standard_H16", False, False),
        ("Standard_HB60rs", False, True),
        ("Standard_HB120rs_v3", False, True),
        ("Standard_HB120-16rs_v3", False, True),
        ("Standard_HC44rs", False, True),
        ("Standard_HX176rs", False, True),
        ("Standard_HB176rs_v4", False, True),
        ("not a size", False, False),
    ],
)
def test_features(size: str, nvidia: bool, rdma: bool) -> None:
    features = vm_size_features(size)
    assert (features.nvidia_gpu, features.rdma) == (nvidia, rdma)


def test_sriov_and_amd() -> None:
    assert vm_size_features("Standard_HB120rs_v2").sriov_rdma
    assert not vm_size_features("Standard_H16r").sriov_rdma
    assert vm_size_features("Standard_NV4as_v4").amd_gpu
    assert not vm_size_features("bogus size").known_form


def test_every_size_in_the_feature_table_is_in_the_catalogue() -> None:
    from shipyard.catalog.vm_sizes import is_known_vm_size, known_vm_sizes

    assert len(known_vm_sizes()) > 500
    for size in ("STANDARD_D2_V2", "Standard_NC6s_v3", "standard_hb120-16rs_v3", "NC24ads_A100_v4"):
        assert is_known_vm_size(size), size
    for size in ("Standard_NC6sv3", "Standard_NC6s_v9", "", "not a size", "Standard_D2_v2x"):
        assert not is_known_vm_size(size), size


def test_every_catalogued_size_parses_as_an_azure_size_name() -> None:
    from shipyard.catalog.vm_sizes import known_vm_sizes

    for spelled in known_vm_sizes().values():
        assert spelled.startswith("Standard_"), spelled
        assert vm_size_features(spelled).known_form, spelled


def test_closest_sizes_to_a_typo() -> None:
    from shipyard.catalog.vm_sizes import closest_vm_sizes

    assert closest_vm_sizes("Standard_NC6sv3")[0] == "Standard_NC6s_v3"
    assert closest_vm_sizes("standard_hb120rsv3")[0] == "Standard_HB120rs_v3"
    assert closest_vm_sizes("Standard_D2_V5", count=1) == ["Standard_D2_v5"]
    assert closest_vm_sizes("zzzz") == []
