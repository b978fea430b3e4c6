"""Base class of every payload schema, shared field types and validation helpers.

Every payload type is a pydantic v2 model that is ``frozen``, forbids extra fields and rejects
NaN/inf in scalar floats; it declares ``TYPE_NAME`` and ``SCHEMA_VERSION`` as class variables and a
``schema_version`` field whose only allowed value is that version (so a document says which schema
it was written against).  Cross-field checks raise :class:`FieldError`, which names the field the
user has to fix; :func:`invalid_payload` turns a pydantic ``ValidationError`` into the domain error
``InvalidPayload("<type>.<field>: <what>", hint)``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator

from conditions.errors import InvalidPayload
from conditions.payloads.arrays import ArraySpec


def _no_negative_zero(value: float) -> float:
    """``-0.0`` -> ``0.0`` so that equal content has equal canonical bytes."""
    return value + 0.0


#: Range of integer fields (signed 64-bit).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: A finite float (NaN/inf rejected by the model config), negative zero normalised.
Real = Annotated[float, AfterValidator(_no_negative_zero)]

#: Array field types (see :class:`~conditions.payloads.arrays.ArraySpec`).
F8Vector = Annotated[np.ndarray, ArraySpec("<f8", ndim=1)]
F8Matrix = Annotated[np.ndarray, ArraySpec("<f8", ndim=2)]
F4Matrix = Annotated[np.ndarray, ArraySpec("<f4", ndim=2)]
I4Vector = Annotated[np.ndarray, ArraySpec("<i4", ndim=1)]
U1Vector = Annotated[np.ndarray, ArraySpec("|u1", ndim=1)]


class FieldError(ValueError):
    """A cross-field validation failure attributed to one (possibly dotted) field name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Payload(BaseModel):
    """Base of all payload schemas (immutable value objects).

    Equality compares the type, the schema version and every field, arrays by dtype, shape and
    exact values; the hash is that of the canonical bytes.
    """

    # strict: no coercion (``True`` is not a count, ``"1345"`` is not a light yield); an int is
    # still accepted where a float is declared, and JSON arrays where a tuple is.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True, strict=True
    )

    TYPE_NAME: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 0

    @model_validator(mode="before")
    @classmethod
    def _numpy_scalars(cls, data: Any) -> Any:
        """A numpy scalar field value (a fit's ``np.int64`` count) counts as its Python value."""
        if isinstance(data, dict):
            return {k: v.item() if isinstance(v, np.generic) else v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _integers_fit_int64(self) -> Payload:
        """Every integer field fits a signed 64-bit integer (what every reader can hold)."""
        for name in type(self).model_fields:
            value = getattr(self, name)
            if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
                raise FieldError(name, "integer outside the signed 64-bit range")
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Payload):
            return NotImplemented
        if type(self) is not type(other):
            return False
        return all(
            _field_equal(getattr(self, name), getattr(other, name))
            for name in type(self).model_fields
        )

    def __hash__(self) -> int:
        from conditions.payloads.encoding import encode_payload, payload_hash

        return hash(payload_hash(encode_payload(self)))


#: Every registered payload model, in registration order (see :func:`payload_type`).
REGISTERED: list[type[Payload]] = []


def payload_type(cls: type[Payload]) -> type[Payload]:
    """Class decorator registering a payload schema (one TYPE_NAME + SCHEMA_VERSION)."""
    if not cls.TYPE_NAME or cls.SCHEMA_VERSION < 1:
        raise TypeError(f"{cls.__name__} needs TYPE_NAME and SCHEMA_VERSION >= 1")
    if any(c.TYPE_NAME == cls.TYPE_NAME and c.SCHEMA_VERSION == cls.SCHEMA_VERSION
           for c in REGISTERED):
        raise TypeError(f"{cls.TYPE_NAME} v{cls.SCHEMA_VERSION} registered twice")
    REGISTERED.append(cls)
    return cls


def _field_equal(a: Any, b: Any) -> bool:
    """Exact equality of two field values; arrays by dtype, shape and values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    if isinstance(a, BaseModel) and isinstance(b, BaseModel):
        return a == b
    return bool(a == b)


def check_covariance(field: str, cov: np.ndarray, n: int) -> None:
    """Raise :class:`FieldError` unless ``cov`` is an ``n x n`` symmetric PSD matrix.

    Tolerances are those of a covariance that came out of a numerical matrix inversion:
    asymmetry up to ``1e-9 * max|C|`` and eigenvalues down to ``-1e-10 * max eigenvalue``
    are accepted (round-off), anything beyond is an error.
    """
    if cov.shape != (n, n):
        raise FieldError(field, f"expected shape ({n}, {n}), got {cov.shape}")
    scale = float(np.max(np.abs(cov))) if cov.size else 0.0
    if scale == 0.0:
        return
    if float(np.max(np.abs(cov - cov.T))) > 1e-9 * scale:
        raise FieldError(field, "not symmetric")
    eig = np.linalg.eigvalsh(0.5 * (cov + cov.T))
    if float(eig.min()) < -1e-10 * max(float(eig.max()), 0.0) or float(eig.max()) < 0.0:
        raise FieldError(field, f"not positive semi-definite (smallest eigenvalue {eig.min():.3g})")


def check_strictly_increasing(field: str, values: np.ndarray, what: str = "values") -> None:
    """Raise :class:`FieldError` unless the 1-d ``values`` are strictly increasing."""
    if values.size > 1 and not bool(np.all(np.diff(values) > 0)):
        i = int(np.argmax(np.diff(values) <= 0))
        raise FieldError(
            field, f"{what} not strictly increasing (index {i + 1}: {values[i + 1]!r} "
            f"after {values[i]!r})"
        )


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def invalid_payload(type_name: str, exc: ValidationError) -> InvalidPayload:
    """Turn a pydantic ``ValidationError`` into ``InvalidPayload`` naming the offending field(s).

    The message is ``<type>.<field>: <reason>`` for the first error, followed by the number of
    further errors; the hint says where the schema is documented.
    """
    parts: list[str] = []
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        cause = ctx.get("error")
        field = _loc_to_field(tuple(err.get("loc", ())))
        message = str(err.get("msg", "invalid"))
        if isinstance(cause, FieldError):
            field = ".".join(p for p in (field, cause.field) if p)
            message = cause.message
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        parts.append(f"{type_name}.{field}: {message}" if field else f"{type_name}: {message}")
    shown = "; ".join(parts[:3]) if parts else f"{type_name}: invalid"
    more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
    return InvalidPayload(
        shown + more,
        hint=f"fix the field and retry; `conddb schema show {type_name}` prints the schema",
    )
