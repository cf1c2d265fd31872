"""Point the user's pool file at an image: ``custom_image.image_uris`` or ``custom_image.arm_image_id``.

``set_custom_image`` rewrites ``pool_specification.vm_configuration.custom_image`` in place and
changes nothing else. YAML goes through ruamel's round trip: comments, key order, quoting and
indentation are kept, and a sequence keeps its style (block or flow). JSON is written back as
JSON with its own indentation. The config rule ``custom_image.source`` wants exactly one image
source, so writing one key removes the other (the new key takes its place).

The write is atomic: a temporary file beside the pool file, with the pool file's permissions,
renamed over it; on any failure the pool file is untouched and no temporary file is left.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard.config.document import load_document
from shipyard.config.keypath import format_path
from shipyard.config.yaml_edit import dump, replace_file, round_trip
from shipyard.errors import ConfigError

IMAGE_URIS = "image_uris"
ARM_IMAGE_ID = "arm_image_id"
_OTHER = {IMAGE_URIS: ARM_IMAGE_ID, ARM_IMAGE_ID: IMAGE_URIS}
CUSTOM_IMAGE_PATH = ("pool_specification", "vm_configuration", "custom_image")


def set_custom_image(
    path: str | Path,
    *,
    image_uris: Sequence[str] | None = None,
    arm_image_id: str | None = None,
    keep_other: bool = False,
) -> bool:
    """Make the pool file's custom image ``image_uris`` (VHD blobs) or ``arm_image_id`` (a gallery image).

    Give exactly one. The other key is removed (a pool takes one image source), unless
    ``keep_other``: then it stays as it was (``image replicate --update-pool`` only refreshes
    ``image_uris``, and leaves a pool that names both for ``config check`` to report). Returns False when the file already says exactly that (and nothing else
    is written). Raises ``ConfigError`` for a file that cannot be read or parsed, that is not a
    pool file, or whose pool has no ``custom_image`` to write into; ``ShipyardError`` when the
    new file cannot be written.
    """
    key, value = _image_source(image_uris, arm_image_id)
    path = Path(path)
    document = load_document(path)  # unreadable, not YAML/JSON, not a mapping: one-line ConfigErrors
    _require_custom_image(document.data, lambda depth: document.line_of(CUSTOM_IMAGE_PATH[:depth]), str(path))
    text = path.read_text(encoding="utf-8")
    edit = _edit_json if path.suffix.lower() == ".json" else _edit_yaml
    new_text = edit(text, key, value, keep_other)
    if new_text is None:
        return False
    replace_file(path, new_text)
    return True


def _image_source(image_uris: Sequence[str] | None, arm_image_id: str | None) -> tuple[str, Any]:
    if (image_uris is None) == (arm_image_id is None):
        raise TypeError("set_custom_image: give exactly one of image_uris and arm_image_id")
    if image_uris is not None:
        if isinstance(image_uris, str):
            raise TypeError("image_uris is a sequence of URIs, not one string")
        uris = [str(uri) for uri in image_uris]
        if not uris:
            raise ValueError("image_uris must name at least one image")
        return IMAGE_URIS, uris
    assert arm_image_id is not None
    if not arm_image_id.strip():
        raise ValueError("arm_image_id must not be empty")
    return ARM_IMAGE_ID, arm_image_id


def _require_custom_image(data: Any, line_of: Callable[[int], int | None], file: str) -> Any:
    """The ``custom_image`` mapping, or a ConfigError that says which part is missing."""
    if not isinstance(data, dict) or CUSTOM_IMAGE_PATH[0] not in data:
        raise ConfigError("not a pool file: it has no pool_specification", file=file, line=1)
    node = data
    for depth, part in enumerate(CUSTOM_IMAGE_PATH):
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            missing = ".".join(CUSTOM_IMAGE_PATH[depth:])
            problem = f"{missing} is missing" if child is None else f"{part} is not a mapping"
            raise ConfigError(
                problem, file=file, line=line_of(depth if child is None else depth + 1), path=format_path(CUSTOM_IMAGE_PATH[:depth]) or None,
                hint="the image goes into pool_specification.vm_configuration.custom_image, with its node_agent",
            )
        node = child
    return node


def _unchanged(custom: Any, key: str, value: Any, keep_other: bool) -> bool:
    current = custom.get(key)
    same = list(current) == value if key == IMAGE_URIS and isinstance(current, list) else current == value
    return bool(same) and (keep_other or _OTHER[key] not in custom)


# -- JSON -----------------------------------------------------------------------------------------

def _edit_json(text: str, key: str, value: Any, keep_other: bool) -> str | None:
    data = json.loads(text)
    custom = _require_custom_image(data, lambda depth: None, "pool file")
    if _unchanged(custom, key, value, keep_other):
        return None
    other = _OTHER[key]
    if keep_other:
        custom[key] = value
    elif key not in custom and other in custom:  # the new key takes the other's place
        entries = [(key, value) if k == other else (k, v) for k, v in custom.items()]
        custom.clear()
        custom.update(entries)
    else:
        custom[key] = value
        custom.pop(other, None)
    indent = 2
    for line in text.splitlines()[1:]:
        stripped = line.lstrip(" ")
        if stripped and len(stripped) < len(line):
            indent = len(line) - len(stripped)
            break
    return json.dumps(data, indent=indent, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")


# -- YAML -----------------------------------------------------------------------------------------

def _edit_yaml(text: str, key: str, value: Any, keep_other: bool) -> str | None:
    from ruamel.yaml.comments import CommentedSeq

    yaml, data = round_trip(text)
    custom = _require_custom_image(data, lambda depth: None, "pool file")
    if _unchanged(custom, key, value, keep_other):
        return None
    other = _OTHER[key]
    current = custom.get(key)
    if key == IMAGE_URIS and isinstance(current, list):
        _update_sequence(custom, value)
    elif key in custom:
        custom[key] = _like(current, value)
    else:
        new = CommentedSeq(value) if key == IMAGE_URIS else value
        if other in custom and not keep_other:  # the new key takes the other's place
            custom.insert(list(custom).index(other), key, new)
        else:
            custom[key] = new
    if other in custom and not keep_other:
        keys = list(custom)
        position = keys.index(other)
        tail = _take_tail(custom, other)
        del custom[other]
        if position > 0:  # the comment lines after the removed value now follow the key before it
            _give_tail(custom, keys[position - 1], tail)
        else:  # or, the removed key being the first, they precede the new first key
            _give_head(custom, tail)
    return dump(yaml, data)


def _update_sequence(custom: Any, uris: list[str]) -> None:
    """Edit the sequence in place: its style (flow or block) and its items' comments stay."""
    current = custom[IMAGE_URIS]
    tail = _take_tail(custom, IMAGE_URIS)  # the comment lines after the last item stay after the last item
    common = min(len(current), len(uris))
    for i in range(common):
        if current[i] != uris[i]:
            current[i] = uris[i]
    del current[common:]
    for uri in uris[common:]:
        current.append(uri)
    _give_tail(custom, IMAGE_URIS, tail)


def _like(old: Any, new: str) -> Any:
    """``new`` quoted as ``old`` was (ruamel keeps a scalar's quoting in its type)."""
    from ruamel.yaml.scalarstring import ScalarString

    return type(old)(new) if isinstance(old, ScalarString) else new


def _tail_slot(custom: Any, key: str) -> tuple[dict[Any, Any], Any, int] | None:
    """Where ruamel keeps the comment that ends ``custom[key]``'s last line.

    ``(comments, index, position)``: the token is ``comments[index][position]``. That token also
    holds the full-line comments (and blank lines) up to the next key. None where the value is
    a nested mapping: its comments stay inside it.
    """
    from ruamel.yaml.comments import CommentedSeq

    value = custom[key]
    if isinstance(value, CommentedSeq) and len(value) and value.fa.flow_style() is not True:
        return value.ca.items, len(value) - 1, 0  # a block sequence: on its last item
    if isinstance(value, dict) or (isinstance(value, list) and not isinstance(value, CommentedSeq)):
        return None
    return custom.ca.items, key, 2  # a scalar, or a flow sequence: after the value, on the key


def _take_tail(custom: Any, key: str) -> str:
    """Detach the full-line comments that follow ``custom[key]``; its end-of-line comment stays."""
    slot = _tail_slot(custom, key)
    entry = slot[0].get(slot[1]) if slot else None
    token = entry[slot[2]] if slot and entry else None
    if token is None:
        return ""
    eol, newline, tail = str(token.value).partition("\n")
    if not tail:
        return ""
    if eol.strip():
        token.value = eol + newline
    else:
        entry[slot[2]] = None  # type: ignore[index]
    return tail


def _give_tail(custom: Any, key: str, tail: str) -> None:
    """Put ``tail`` (full-line comments) after ``custom[key]``'s value."""
    slot = _tail_slot(custom, key) if tail else None
    if slot is None:
        return
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    comments, index, position = slot
    entry = comments.setdefault(index, [None, None, None, None])
    token = entry[position]
    if token is None:
        entry[position] = CommentToken("\n" + tail, CommentMark(0), None)
    else:
        value = str(token.value)
        token.value = value + ("" if value.endswith("\n") else "\n") + tail


def _give_head(custom: Any, tail: str) -> None:
    """Put ``tail`` (full-line comments, indented as they were) before the mapping's first key."""
    if not tail:
        return
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    tokens = []
    for line in tail.splitlines(keepends=True):
        text = line.lstrip(" ")
        tokens.append(CommentToken(text if text.strip() else "\n", CommentMark(len(line) - len(text)), None))
    if custom.ca.comment is None:
        custom.ca.comment = [None, []]
    custom.ca.comment[1] = [*(custom.ca.comment[1] or []), *tokens]


# -- the write ------------------------------------------------------------------------------------

