"""Numpy arrays as pydantic fields: declared dtype, dimensionality and finiteness.

A payload field annotated ``Annotated[np.ndarray, ArraySpec("<f8", ndim=2)]`` accepts a numpy array
or (in a user-written JSON document) nested lists, and always stores a *new, read-only,
C-contiguous, little-endian* array of exactly the declared dtype.  Floating arrays are checked for
NaN/inf and negative zero is normalised to ``+0.0`` (``-0.0 == 0.0``, so two equal tables must not
give two different canonical byte strings).  Integer arrays only accept integral input that fits
the declared dtype without wrap-around.

In JSON mode (``model_dump(mode="json")`` / the JSON Schema) arrays appear as nested lists of
numbers with the extension keywords ``x-dtype`` and ``x-ndim``; in the canonical bytes they are
binary blocks (see :mod:`conditions.payloads.encoding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

#: dtypes a payload array may declare (all little-endian or byte-sized).
ALLOWED_DTYPES: frozenset[str] = frozenset({"<f8", "<f4", "<i8", "<i4", "|u1"})


def _as_list(value: np.ndarray) -> list[Any]:
    """JSON form of an array: nested Python lists (floats repr-exact through ``json``)."""
    out: list[Any] = value.tolist()
    return out


@dataclass(frozen=True)
class ArraySpec:
    """Validation rule of one array field.

    Parameters
    ----------
    dtype : str
        Numpy dtype string of the stored array, one of :data:`ALLOWED_DTYPES`.
    ndim : int
        Required number of dimensions.
    finite : bool
        Reject NaN and +-inf (floating dtypes only).
    """

    dtype: str
    ndim: int
    finite: bool = True

    def __post_init__(self) -> None:
        if self.dtype not in ALLOWED_DTYPES:
            raise ValueError(f"dtype {self.dtype!r} not in {sorted(ALLOWED_DTYPES)}")

    # -- pydantic hooks ----------------------------------------------------------------------
    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _as_list, when_used="json"
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        kind = "integer" if self.dtype[1] in "iu" else "number"
        inner: dict[str, Any] = {"type": kind}
        for _ in range(self.ndim):
            inner = {"type": "array", "items": inner}
        inner["x-dtype"] = self.dtype
        inner["x-ndim"] = self.ndim
        return inner

    # -- validation --------------------------------------------------------------------------
    def validate(self, value: Any) -> np.ndarray:
        """Return a read-only, C-contiguous copy of ``value`` with the declared dtype.

        Raises ``ValueError`` (turned by pydantic into a field error) on a wrong type, ragged
        lists, wrong ``ndim``, lossy integer conversion, or non-finite floats.
        """
        target = np.dtype(self.dtype)
        if isinstance(value, np.ndarray):
            src = value
        elif isinstance(value, list | tuple):
            try:
                src = np.asarray(value)
            except ValueError as exc:  # ragged nested lists
                raise ValueError("ragged nested lists are not an array") from exc
        else:
            raise ValueError(f"expected an array (nested lists), got {type(value).__name__}")
        if src.ndim != self.ndim:
            raise ValueError(f"expected {self.ndim}-d array, got shape {src.shape}")
        if src.size and src.dtype.kind not in "iuf":
            raise ValueError(f"expected numbers, got array of dtype {src.dtype}")
        if target.kind == "f":
            with np.errstate(over="ignore", invalid="ignore"):
                out = np.array(src, dtype=target, order="C", copy=True)
            if self.finite and not np.isfinite(out).all():
                raise ValueError(f"contains NaN or infinity (or overflows {self.dtype})")
            np.add(out, 0.0, out=out)  # -0.0 -> +0.0 for canonical bytes
        else:
            if (
                src.size
                and src.dtype.kind == "f"
                and not (np.isfinite(src).all() and np.array_equal(src, np.trunc(src)))
            ):
                raise ValueError("expected integers")
            info = np.iinfo(target)
            if src.size and (src.min() < info.min or src.max() > info.max):
                raise ValueError(f"values outside the range of {self.dtype}")
            out = np.array(src, dtype=target, order="C", copy=True)
        out.flags.writeable = False
        return out
