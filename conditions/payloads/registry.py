"""Registry of payload types and versions; decode, parse, schema and upgrade entry points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from conditions.errors import InvalidPayload

# importing a schema module registers its models (@payload_type)
from conditions.payloads import (  # noqa: F401
    light_yield,
    lpmt,
    lpmt_gain,
    nonlinearity,
    resolution,
    uniformity,
)
from conditions.payloads.base import REGISTERED, Payload, invalid_payload
from conditions.payloads.dark_noise import upgrade_v1
from conditions.payloads.encoding import FORMAT_VERSION, decode_header, encode_payload

_MODELS: tuple[type[Payload], ...] = tuple(REGISTERED)

#: type name -> schema_version -> pydantic model.
PAYLOAD_TYPES: dict[str, dict[int, type[BaseModel]]] = {}
for _model in _MODELS:
    PAYLOAD_TYPES.setdefault(_model.TYPE_NAME, {})[_model.SCHEMA_VERSION] = _model

#: type name -> newest schema_version.
LATEST: dict[str, int] = {name: max(versions) for name, versions in PAYLOAD_TYPES.items()}

#: (type name, old version) -> function returning the next version's model.
UPGRADES: dict[tuple[str, int], Callable[[Any], Payload]] = {
    ("dark_noise", 1): upgrade_v1,
}


def _unknown_type(type_name: str) -> InvalidPayload:
    return InvalidPayload(
        f"unknown payload type {type_name!r}",
        hint=f"use one of: {', '.join(sorted(PAYLOAD_TYPES))}",
    )


def model_class(type_name: str, version: int | None = None) -> type[BaseModel]:
    """The model of ``type_name`` at ``version`` (default: the latest).

    Raises :class:`InvalidPayload` for an unknown type or schema version.
    """
    versions = PAYLOAD_TYPES.get(type_name)
    if versions is None:
        raise _unknown_type(type_name)
    version = LATEST[type_name] if version is None else version
    if isinstance(version, bool) or not isinstance(version, int) or version not in versions:
        raise InvalidPayload(
            f"{type_name}.schema_version: unknown schema version {version!r}",
            hint=f"known versions of {type_name}: {sorted(versions)}",
        )
    return versions[version]


def type_of(model: BaseModel) -> tuple[str, int]:
    """``(type name, schema_version)`` of a payload model instance."""
    cls = type(model)
    name = getattr(cls, "TYPE_NAME", "")
    version = getattr(cls, "SCHEMA_VERSION", 0)
    if PAYLOAD_TYPES.get(name, {}).get(version) is not cls:
        raise InvalidPayload(
            f"{cls.__name__} is not a registered payload schema",
            hint="build one of the models in conditions.payloads",
        )
    return name, version


def _validate(type_name: str, version: int, fields: dict[str, Any]) -> BaseModel:
    cls = model_class(type_name, version)
    try:
        return cls.model_validate({**fields, "schema_version": version})
    except ValidationError as exc:
        raise invalid_payload(type_name, exc) from None


def decode_payload(type_name: str, data: bytes) -> BaseModel:
    """Model from canonical bytes; the schema version is read from the bytes.

    Raises :class:`InvalidPayload` if the bytes are corrupt, of another type, of an unknown
    schema version, fail validation, or are not the canonical encoding of their content.
    """
    if type_name not in PAYLOAD_TYPES:
        raise _unknown_type(type_name)
    stored_type, version, fields = decode_header(data)
    if stored_type != type_name:
        raise InvalidPayload(
            f"payload bytes hold type {stored_type!r}, expected {type_name!r}",
            hint="fetch the payload with its own type",
        )
    model = _validate(type_name, version, fields)
    if encode_payload(model) != bytes(data):
        raise InvalidPayload(
            f"{type_name}: bytes are not in canonical form (format {FORMAT_VERSION})",
            hint="re-encode the payload with conditions.payloads.encode_payload",
        )
    return model


def parse_document(type_name: str, doc: dict[str, Any]) -> BaseModel:
    """Validate a user-written document (arrays as nested lists) into a model.

    ``schema_version`` defaults to the latest version of the type.  Raises
    :class:`InvalidPayload` naming the field.
    """
    if type_name not in PAYLOAD_TYPES:
        raise _unknown_type(type_name)
    if not isinstance(doc, dict):
        raise InvalidPayload(
            f"{type_name}: document must be a JSON object, got {type(doc).__name__}",
            hint=f"`conddb schema show {type_name}` prints the expected fields",
        )
    # the JSON Schema of the latest version marks schema_version as defaulted: a document
    # without it is read as the latest version (issue 17)
    version = doc.get("schema_version", LATEST[type_name])
    model_class(type_name, version)  # unknown version -> clear error
    fields = {k: v for k, v in doc.items() if k != "schema_version"}
    return _validate(type_name, version, fields)


def json_schema(type_name: str, version: int | None = None) -> dict[str, Any]:
    """JSON Schema of the document form of ``type_name`` (default: latest version).

    Arrays appear as nested lists with ``x-dtype``/``x-ndim``; ``x-canonical-encoding`` points to
    the binary layout a reader of the stored bytes must implement.
    """
    cls = model_class(type_name, version)
    schema = cls.model_json_schema(mode="validation")
    schema["x-payload-type"] = type_name
    schema["x-schema-version"] = getattr(cls, "SCHEMA_VERSION", 0)
    schema["x-canonical-encoding"] = (
        f"conddb payload format {FORMAT_VERSION}: see conditions/payloads/encoding.py"
    )
    return schema


def upgrade(model: BaseModel) -> BaseModel:
    """The same payload expressed in the latest schema version of its type (schema evolution).

    Old versions stay readable forever; consumers call this to work with one shape only.
    """
    name, version = type_of(model)
    current: BaseModel = model
    while version < LATEST[name]:
        step = UPGRADES.get((name, version))
        if step is None:
            raise InvalidPayload(
                f"{name}: no upgrade from schema version {version}",
                hint="add an upgrade function to conditions.payloads.registry.UPGRADES",
            )
        current = step(current)
        name, version = type_of(current)
    return current
