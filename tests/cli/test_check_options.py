"""The options `image check`, `node check` and `node prep` share: an empty --vm-size is a usage error."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize("size", ["", " "])
def test_image_check_refuses_an_empty_vm_size(cli, tmp_path: Path, size: str) -> None:
    image = tmp_path / "disk.vhd"
    image.write_bytes(b"\0" * 4096)
    result = cli("image", "check", image, "--vm-size", size)
    assert result.code == 2
    assert "--vm-size" in result.err and "must not be empty" in result.err
    assert result.out == ""  # refused before the image was read

