"""Loading one YAML/JSON file: plain data, line numbers, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.document import format_path, load_document
from shipyard.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_line_of_follows_keys_and_list_items(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pool.yaml",
        "pool_specification:\n"
        "  id: p\n"
        "  vm_configuration:\n"
        "    custom_image:\n"
        "      image_uris:\n"
        "      - https://a.blob.core.windows.net/vhds/a.vhd\n"
        "      - https://b.blob.core.windows.net/vhds/b.vhd\n",
    )
    doc = load_document(path)
    assert doc.line_of(("pool_specification", "id")) == 2
    assert doc.line_of(("pool_specification", "vm_configuration", "custom_image", "image_uris", 1)) == 7
    # a missing key reports the line of its deepest existing parent
    assert doc.line_of(("pool_specification", "vm_configuration", "custom_image", "node_agent")) == 4


def test_json_keeps_line_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "pool.json", '{\n  "pool_specification": {\n    "id": "p",\n    "vm_size": 3\n  }\n}\n')
    doc = load_document(path)
    assert doc.data == {"pool_specification": {"id": "p", "vm_size": 3}}
    assert doc.line_of(("pool_specification", "vm_size")) == 4


def test_plain_types_and_yaml_1_2_strings(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path, "x.yaml", "a:\n  t: 00:20:00\n  b: true\n  f: 1.5\n  l: [1, x]\n"))
    assert doc.data == {"a": {"t": "00:20:00", "b": True, "f": 1.5, "l": [1, "x"]}}
    assert type(doc.data["a"]["b"]) is bool and type(doc.data["a"]) is dict


@pytest.mark.parametrize(
    ("name", "text", "expected", "line"),
    [
        ("bad.yaml", "a: [1, 2\nb: 3\n", "invalid YAML", 2),
        ("dup.yaml", "a: 1\nb: 2\na: 3\n", "invalid YAML", 3),
        ("bad.json", '{\n  "a": 1,\n  "b": ,\n}\n', "invalid JSON: Expecting value", 3),
        ("empty.yaml", "", "file is empty", None),
        ("list.yaml", "- a\n- b\n", "top level must be a mapping, found list", 1),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, name: str, text: str, expected: str, line: int) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_document(path)
    assert expected in info.value.message
    assert info.value.line == line
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_missing_file_and_directory_and_binary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_document(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_document(tmp_path)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_document(binary)


def test_format_path() -> None:
    assert format_path(("a", "b", 1, "c")) == "a.b[1].c"
    assert format_path(()) == ""
