"""Loading one YAML/JSON file: plain data, line numbers, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config.document import load_document
from shipyard.config.keypath import format_path
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


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        # a flow sequence left open: the parser stops at the next key; it opened on line 1
        ("a: [1, 2\nb: 3\n", 2, "invalid YAML: expected ',' or ']', but got ':' at line 2 (while parsing a flow sequence opened at line 1)"),
        # ... and at the end of the file: the last line with text, never a line past the end
        ("a:\n  b: [1, 2\n", 2, "invalid YAML: expected ',' or ']', but got '<stream end>' at line 2 (while parsing a flow sequence opened at line 2)"),
        ("pool_specification:\n  id: \"p\n  vm_size: x\n\n", 3, "invalid YAML: found unexpected end of stream at line 3 (while scanning a quoted scalar opened at line 2)"),
        ("a:\n  b: 1\n  c\n", 3, "invalid YAML: could not find expected ':' at line 3 (while scanning a simple key opened at line 3)"),
        # a key without its colon in the middle: the parser names the next line, the key opened on line 3
        ("a:\n  b: 1\n  c\n  d: 2\n", 4, "invalid YAML: could not find expected ':' at line 4 (while scanning a simple key opened at line 3)"),
        # a key indented less than its siblings
        ("a:\n  b: 1\n c: 2\n", 3, "invalid YAML: expected <block end>, but found '<block mapping start>' at line 3 (while parsing a block mapping opened at line 1)"),
        ("a:\n  b: 1\n  - x\n", 3, "invalid YAML: expected <block end>, but found '-' at line 3 (while parsing a block mapping opened at line 2)"),
        # more indented than its siblings
        ("a:\n  b: 1\n   c: 2\n", 3, "invalid YAML: mapping values are not allowed here at line 3"),
        ("a:\n\tb: 1\n", 2, "invalid YAML: found character '\\t' that cannot start any token at line 2 (while scanning for the next token)"),
        ("a: 1\n--- 2\n", 2, "invalid YAML: but found another document at line 2 (expected a single document in the stream opened at line 1)"),
    ],
)
def test_syntax_error_lines(tmp_path: Path, text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_document(write(tmp_path, "pool.yaml", text))
    assert (info.value.line, info.value.message) == (line, message)
    assert len(text.splitlines()) >= line


@pytest.mark.parametrize(
    ("name", "text", "line", "path", "message"),
    [
        ("c.yaml", "credentials:\n  storage:\n    sa1:\n      account_key: KeyOne==\n      account: a\n      account_key: KeyTwo==\n",
         6, "credentials.storage.sa1.account_key", "invalid YAML: duplicate key 'account_key' (first at line 4, again at line 6)"),
        ("f.yaml", "a: {account_key: KeyOne==, account_key: KeyTwo==}\n",
         1, "a.account_key", "invalid YAML: duplicate key 'account_key' (first at line 1, again at line 1)"),
        ("l.yaml", "a:\n- x: 1\n- image_uris: [https://a.blob.core.windows.net/v/x.vhd?sig=KeyOne]\n  image_uris: [https://a.blob.core.windows.net/v/x.vhd?sig=KeyTwo]\n",
         4, "a[1].image_uris", "invalid YAML: duplicate key 'image_uris' (first at line 3, again at line 4)"),
        ("d.json", '{\n  "a": {"password": "KeyOne",\n    "password": "KeyTwo"}\n}\n',
         3, "a.password", "invalid JSON: duplicate key 'password' (first at line 2, again at line 3)"),
    ],
)
def test_duplicate_keys_name_key_path_and_both_lines_never_values(
    tmp_path: Path, name: str, text: str, line: int, path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_document(write(tmp_path, name, text))
    error = info.value
    assert (error.line, error.path, error.message) == (line, path, message)
    assert "KeyOne" not in str(error) and "KeyTwo" not in str(error)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a:\n  password: *Pa55word\n", "invalid YAML: found undefined alias (text not shown) at line 2"),
        # document text that looks like one of the parser's token names is still document text
        ("a:\n  password: *<hunter>\n", "invalid YAML: found undefined alias (text not shown) at line 2"),
        ('a:\n  password: "Pa55word\\q"\n', "invalid YAML: found unknown escape character (text not shown) at line 2 (while scanning a double-quoted scalar opened at line 2)"),
        ("a:\n  password: |Pa55word\n", "invalid YAML: expected chomping or indentation indicators, but found (text not shown) at line 2 (while scanning a block scalar opened at line 2)"),
        ("a:\n  password: !Pa55word%zz x\n", None),
    ],
)
def test_parser_text_quoting_the_document_is_hidden(tmp_path: Path, text: str, message: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        load_document(write(tmp_path, "c.yaml", text))
    assert "Pa55word" not in str(info.value)
    if message is not None:
        assert info.value.message == message


def test_ruamel_warnings_with_snippets_are_not_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import warnings

    path = write(tmp_path, "c.yaml", "a:\n  password: &x Pa55word\n  other: &x 2\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = load_document(path)
    assert doc.data == {"a": {"password": "Pa55word", "other": 2}}
    assert caught == []
    captured = capsys.readouterr()
    assert "Pa55word" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", "invalid YAML: nested too deeply to read"),
        ("deep.json", '{"a": ' + "[" * 100000 + "]" * 100000 + "}", "invalid JSON: nested too deeply to read"),
        ("big.yaml", "a: " + "7" * 5000 + "\n", "invalid YAML: a value cannot be read (ValueError)"),
        ("ctl.yaml", "a:\n  b: Pa55\x07word\n", "invalid YAML: unacceptable character #x0007 at line 2"),
        ("bad.json", '{\n  "a": 1,\n  "b": ,\n}\n', "invalid JSON: Expecting value at line 3, column 8"),
        ("ctl.json", '{\n  "a": "Pa55\x07word"\n}\n', "invalid JSON: Invalid control character at line 2, column 13"),
    ],
)
def test_other_parser_failures_are_one_clean_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_document(write(tmp_path, name, text))
    assert info.value.message == message
