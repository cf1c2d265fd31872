"""Shared pieces of the typed config models."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator


def _scalar_to_str(value: Any) -> Any:
    """Batch Shipyard's ``text`` type: a string, or a number written without quotes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_to_str)]


class Model(BaseModel):
    """Frozen, and keeps keys the product does not act on yet (``model_extra``).

    A key written as ``null`` (``license_type: null`` in the templates) means "not set": the
    field takes its default.
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_unset(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fields = cls.model_fields
            return {
                k: v
                for k, v in data.items()
                if not (v is None and k in fields and not fields[k].is_required())
            }
        return data
