"""The models as JSON: what the local backend stores in SQLite and sends over the node pipes.

``dump`` turns a frozen model dataclass into plain JSON values (enums as their strings, tuples as
lists); ``load`` rebuilds it from its type hints, nested dataclasses, tuples, enums and optionals
included. Only the shapes ``shipyard.pools.models`` uses are supported.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import UTC, datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union

T = TypeVar("T")


def dump(value: Any) -> Any:
    """``value`` as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [dump(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def dumps(value: Any) -> str:
    return json.dumps(dump(value), separators=(",", ":"))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def load(cls: type[T], data: Any) -> T:
    """An instance of the dataclass ``cls`` from what ``dump`` made of one."""
    return typing.cast(T, _load(cls, data))


def loads(cls: type[T], text: str | None) -> T | None:
    return None if text is None else load(cls, json.loads(text))


def _load(hint: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _load(options[0], data) if len(options) == 1 else data
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(args[0], item) for item in data)
        return tuple(_load(arg, item) for arg, item in zip(args, data, strict=True))
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            hints = _hints(hint)
            known = {f.name for f in dataclasses.fields(hint) if f.init}
            return hint(**{k: _load(hints[k], v) for k, v in data.items() if k in known})
        if issubclass(hint, Enum):
            return hint(data)
        if hint is datetime:
            return from_epoch(data)
        if hint is float and isinstance(data, int):
            return float(data)
    return data


def from_epoch(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
