"""Shared pieces of the typed config models.

The models are strict, as Batch Shipyard's pykwalify schemas are: an ``int`` is an integer (not
``"2"``, not ``true``), a ``bool`` is ``true`` or ``false`` (not ``"yes"``, not ``1``). Loose
types remain only where the schema has them: ``text`` (a string or a number) and ``float`` (a
number, or a string that reads as one; never a boolean).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, model_validator


def _scalar_to_str(value: Any) -> Any:
    """Batch Shipyard's ``text`` type: a string, or a number written without quotes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, found a boolean")
    return value


Text = Annotated[str, BeforeValidator(_scalar_to_str)]
SecretText = Annotated[SecretStr, BeforeValidator(_scalar_to_str)]
# pykwalify's ``float``: a number, or a string such as "1e-06"; never true/false.
Float = Annotated[float, Field(strict=False), BeforeValidator(_no_bool)]
# a string that says something: empty or only spaces is an error (``vm_size: ""``)
NonBlank = Annotated[str, Field(pattern=r"\S")]


class Model(BaseModel):
    """Frozen, strict, and keeps keys the product does not act on (``model_extra``).

    Every unknown key is reported as a warning by ``config.unknown_keys``. A key written as
    ``null`` (``license_type: null`` in the templates) means "not set": the field takes its
    default.
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, strict=True)

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
