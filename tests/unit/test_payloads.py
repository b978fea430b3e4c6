"""Payload schemas: round trips, canonical bytes, validation errors, schema evolution."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from conditions.errors import InvalidPayload
from conditions.payloads import (
    LATEST,
    N_LPMT,
    PAYLOAD_TYPES,
    DarkNoiseV1,
    DarkNoiseV2,
    EnergyResolutionV1,
    LightYieldV1,
    decode_payload,
    encode_payload,
    examples,
    json_schema,
    parse_document,
    payload_hash,
    type_of,
    upgrade,
)
from conditions.payloads.base import Payload
from conditions.payloads.encoding import decode_header

#: every registered payload type (the tests are parametrised from the registry)
TYPE_NAMES = tuple(PAYLOAD_TYPES)


@pytest.fixture(scope="module")
def payloads() -> dict[str, BaseModel]:
    return dict(examples.all_payloads())


def document(model: BaseModel) -> dict[str, Any]:
    """The JSON document a user would write for ``model`` (arrays as nested lists)."""
    doc: dict[str, Any] = json.loads(model.model_dump_json())
    return doc


# --- registry -----------------------------------------------------------------------------------
def test_registry_has_every_type_with_latest_versions() -> None:
    assert set(examples.all_payloads()) == set(TYPE_NAMES)  # one example per registered type
    for name, versions in PAYLOAD_TYPES.items():
        assert LATEST[name] == max(versions)
        for version, cls in versions.items():
            assert cls.model_config.get("frozen") is True
            assert cls.model_config.get("extra") == "forbid"
            assert issubclass(cls, Payload)
            assert (name, version) == (cls.TYPE_NAME, cls.SCHEMA_VERSION)


# --- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TYPE_NAMES)
def test_round_trip_bytes_object_and_hash(payloads: dict[str, BaseModel], name: str) -> None:
    model = payloads[name]
    assert type_of(model) == (name, LATEST[name])
    data = encode_payload(model)
    back = decode_payload(name, data)
    assert back == model
    assert type(back) is type(model)
    assert encode_payload(back) == data
    assert payload_hash(encode_payload(back)) == payload_hash(data)
    assert hash(back) == hash(model)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_document_round_trip(payloads: dict[str, BaseModel], name: str) -> None:
    """A JSON document (nested lists) parses to the same payload, with the same bytes."""
    model = payloads[name]
    doc = document(model)
    json.dumps(doc)  # plain JSON
    parsed = parse_document(name, doc)
    assert parsed == model
    assert encode_payload(parsed) == encode_payload(model)


@pytest.mark.parametrize("name", TYPE_NAMES)
def test_rebuilding_gives_the_same_hash(payloads: dict[str, BaseModel], name: str) -> None:
    """Independent constructions of the same content hash identically."""
    again = examples.all_payloads()[name]
    assert again is not payloads[name]
    assert payload_hash(encode_payload(again)) == payload_hash(encode_payload(payloads[name]))


def test_different_content_different_hash(payloads: dict[str, BaseModel]) -> None:
    ly = payloads["light_yield"]
    assert isinstance(ly, LightYieldV1)
    other = ly.model_copy(update={"y0": math.nextafter(ly.y0, 2e3)})
    other = LightYieldV1.model_validate(other.model_dump())
    assert payload_hash(encode_payload(other)) != payload_hash(encode_payload(ly))


def test_golden_bytes_follow_the_documented_format() -> None:
    """The bytes of a small payload, written out by hand from the format description."""
    model = LightYieldV1(
        y0=1345.0, y0_uncertainty=0.1, n_events=10, chi2=1.5, ndf=3,
        reference="n-H", reference_energy=2.223,
    )
    header = (
        b'{"fields":{"chi2":1.5,"n_events":10,"ndf":3,"pe_source":"lpmt+spmt",'
        b'"reference":"n-H","reference_energy":2.223,"y0":1345.0,"y0_uncertainty":0.1},'
        b'"schema_version":1,"type":"light_yield"}'
    )
    expected = b"JCDB" + struct.pack("<HHQ", 1, 0, len(header)) + header
    assert encode_payload(model) == expected


def test_array_block_layout(payloads: dict[str, BaseModel]) -> None:
    """Array blocks are 64-byte aligned, little-endian, C order, at the offsets of the header."""
    model = payloads["energy_resolution"]
    assert isinstance(model, EnergyResolutionV1)
    data = encode_payload(model)
    (hlen,) = struct.unpack_from("<Q", data, 8)
    header = json.loads(data[16 : 16 + hlen])
    ref = header["fields"]["covariance"]["$array"]
    assert ref["dtype"] == "<f8" and ref["shape"] == [3, 3] and ref["offset"] % 64 == 0
    start = -(-(16 + hlen) // 64) * 64 + ref["offset"]
    raw = np.frombuffer(data, dtype="<f8", count=9, offset=start).reshape(3, 3)
    assert np.array_equal(raw, model.covariance)
    assert len(data) == start + 9 * 8


def test_lpmt_table_is_binary_and_about_2_mb(payloads: dict[str, BaseModel]) -> None:
    """17,612 x 32 float32 = 2,254,336 B; ids (int32) + status (uint8) + grid add ~88 kB."""
    data = encode_payload(payloads["lpmt_nonlinearity"])
    table = N_LPMT * 32 * 4
    assert table < len(data) < table + N_LPMT * 5 + 4096


def test_equivalent_inputs_give_identical_bytes(payloads: dict[str, BaseModel]) -> None:
    """Lists vs arrays, ints vs floats, other dtypes, -0.0 vs 0.0, key order: same bytes."""
    model = payloads["energy_nonlinearity"]
    doc = document(model)
    variant = dict(reversed(list(doc.items())))
    variant["covariance"] = np.asarray(doc["covariance"], dtype=np.float64).T.copy().T
    variant["band_energy"] = np.asarray(doc["band_energy"]).astype(">f8")  # big-endian input
    variant["p3"] = doc["p3"]
    variant["chi2"] = float(doc["chi2"])
    variant["ndf"] = int(doc["ndf"])
    assert encode_payload(parse_document("energy_nonlinearity", variant)) == encode_payload(model)

    res = document(payloads["energy_resolution"])
    cov = np.asarray(res["covariance"], dtype=np.float64)
    cov_negzero = np.where(cov == 0.0, -0.0, cov)
    assert bool(np.signbit(cov_negzero).any())
    a = parse_document("energy_resolution", dict(res, covariance=cov_negzero))
    assert encode_payload(a) == encode_payload(payloads["energy_resolution"])

    ly = document(payloads["light_yield"])
    as_int = parse_document("light_yield", dict(ly, y0=1345))
    assert encode_payload(as_int) == encode_payload(payloads["light_yield"])


def test_models_are_immutable(payloads: dict[str, BaseModel]) -> None:
    model = payloads["energy_nonlinearity"]
    with pytest.raises(ValidationError):
        model.p0 = 2.0  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        model.covariance[0, 0] = 1.0  # type: ignore[attr-defined]


def test_input_array_is_copied(payloads: dict[str, BaseModel]) -> None:
    doc = document(payloads["energy_resolution"])
    cov = np.asarray(doc["covariance"], dtype=np.float64)
    model = parse_document("energy_resolution", dict(doc, covariance=cov))
    cov[0, 0] = 123.0
    assert model.covariance[0, 0] != 123.0  # type: ignore[attr-defined]


# --- property tests -----------------------------------------------------------------------------
finite_positive = st.floats(min_value=1e-300, max_value=1e300, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(y0=finite_positive, unc=st.floats(0, 1e300), chi2=st.floats(0, 1e300))
def test_any_finite_float_round_trips_exactly(y0: float, unc: float, chi2: float) -> None:
    """Floats in the JSON header are repr-exact: every double comes back bit for bit."""
    model = LightYieldV1(y0=y0, y0_uncertainty=unc, n_events=1, chi2=chi2, ndf=1)
    back = decode_payload("light_yield", encode_payload(model))
    assert isinstance(back, LightYieldV1)
    assert (back.y0, back.y0_uncertainty, back.chi2) == (y0, unc + 0.0, chi2 + 0.0)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=0, max_size=40
    )
)
def test_any_finite_array_round_trips_exactly(values: list[float]) -> None:
    base = examples.nonuniformity_map()
    n = len(values)
    doc = document(base)
    doc.update(
        points_r=[1.0] * n, points_theta=[0.5] * n, points_g=values,
        points_g_uncertainty=[0.0] * n,
    )
    model = parse_document("nonuniformity_map", doc)
    back = decode_payload("nonuniformity_map", encode_payload(model))
    assert np.array_equal(back.points_g, np.asarray(values, dtype=np.float64) + 0.0)  # type: ignore[attr-defined]
    assert back == model


# --- validation errors --------------------------------------------------------------------------
def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(doc))
    out[path] = value
    return out


def _bad_covariance(cov: list[list[float]], kind: str) -> list[list[float]]:
    c = np.asarray(cov, dtype=np.float64)
    if kind == "asymmetric":
        c[0, 1] += 1e-3 * abs(c).max()
    else:  # negative eigenvalue
        c = c - 2.0 * np.linalg.eigvalsh(c).max() * np.eye(c.shape[0])
    return c.tolist()


CASES: list[tuple[str, str, Any, str]] = [
    ("light_yield", "y0", -1345.0, "light_yield.y0:"),
    ("light_yield", "y0", float("nan"), "light_yield.y0:"),
    ("light_yield", "y0_uncertainty", float("inf"), "light_yield.y0_uncertainty:"),
    ("light_yield", "pe_source", "wpmt", "light_yield.pe_source:"),
    ("light_yield", "colour", "red", "light_yield.colour:"),
    ("dark_noise", "offset_lpmt", -1.0, "dark_noise.offset_lpmt:"),
    ("energy_nonlinearity", "band_energy", [1.0, float("nan")], "energy_nonlinearity.band_energy:"),
    ("energy_nonlinearity", "band_energy", [[1.0], [2.0]], "energy_nonlinearity.band_energy:"),
    ("energy_nonlinearity", "band_energy", [[1.0], [2.0, 3.0]], "ragged"),
    ("energy_nonlinearity", "band_energy", "1,2,3", "energy_nonlinearity.band_energy:"),
    ("energy_nonlinearity", "band_energy", ["a", "b"], "energy_nonlinearity.band_energy:"),
    ("energy_nonlinearity", "e_max", 0.1, "energy_nonlinearity.e_max: valid range empty"),
    ("energy_nonlinearity", "p3", -1.0, "energy_nonlinearity.p3: f_nonlin <= 0"),
    ("energy_nonlinearity", "covariance", "asymmetric", "covariance: not symmetric"),
    ("energy_nonlinearity", "covariance", "not_psd", "covariance: not positive semi-definite"),
    ("energy_resolution", "covariance", "not_psd", "energy_resolution.covariance: not positive"),
    ("energy_resolution", "a_tilde", 0.05, "energy_resolution.a_tilde: "),
    ("nonuniformity_map", "knots_u", "shuffle", "nonuniformity_map.knots_u: knots out of order"),
    ("nonuniformity_map", "coefficients", "negative", "nonuniformity_map.coefficients: g"),
    ("nonuniformity_map", "coefficients", "shape", "nonuniformity_map.coefficients: expected"),
    ("nonuniformity_map", "points_theta", "short", "nonuniformity_map.points_theta: expected"),
    ("nonuniformity_map", "degree_u", 7, "nonuniformity_map.degree_u:"),
]


@pytest.mark.parametrize(("name", "field", "value", "message"), CASES)
def test_invalid_documents_name_the_field(
    payloads: dict[str, BaseModel], name: str, field: str, value: Any, message: str
) -> None:
    doc = document(payloads[name])
    if field == "covariance":
        value = _bad_covariance(doc["covariance"], value)
    elif value == "shuffle":
        knots = list(doc[field])
        knots[4], knots[6] = knots[6], knots[4]
        value = knots
    elif value == "negative":
        value = (-np.asarray(doc[field])).tolist()
    elif value == "shape":
        value = np.asarray(doc[field])[:, :-1].tolist()
    elif value == "short":
        value = doc[field][:-1]
    with pytest.raises(InvalidPayload) as info:
        parse_document(name, _set(doc, field, value))
    assert message in info.value.message
    assert info.value.hint


def test_lpmt_validation(payloads: dict[str, BaseModel]) -> None:
    """Wrong channel count, duplicate ids, non-monotonic curve, bad status."""
    model = payloads["lpmt_nonlinearity"]
    fields = {k: getattr(model, k) for k in type(model).model_fields}
    cls = type(model)

    def attempt(**changes: Any) -> str:
        with pytest.raises(InvalidPayload) as info:
            parse_document("lpmt_nonlinearity", {**fields, **changes})
        return info.value.message

    ids = fields["channel_ids"]
    assert "lpmt_nonlinearity.channel_ids: expected 17612 channels" in attempt(
        channel_ids=ids[:-1]
    )
    dup = ids.copy()
    dup[10] = dup[11]
    assert f"lpmt_nonlinearity.channel_ids: duplicate channel id {int(dup[11])}" in attempt(
        channel_ids=dup
    )
    good_row = int(np.flatnonzero(fields["status"] == 0)[0])
    curves = fields["true_charge"].copy()
    curves[good_row, 5] = curves[good_row, 4]
    assert (
        f"lpmt_nonlinearity.true_charge: correction curve of channel {int(ids[good_row])} "
        "not strictly increasing" in attempt(true_charge=curves)
    )
    status = fields["status"].copy()
    status[0] = 9
    assert "lpmt_nonlinearity.status: unknown status 9" in attempt(status=status)
    assert "lpmt_nonlinearity.true_charge: expected shape" in attempt(
        true_charge=fields["true_charge"][:, :-1]
    )
    assert "lpmt_nonlinearity.status" in attempt(status=status.astype(np.float64) + 0.5)
    # a dead channel's row is ignored even if not monotonic
    dead_row = int(np.flatnonzero(fields["status"] == 2)[0])
    curves = fields["true_charge"].copy()
    curves[dead_row] = 0.0
    assert parse_document("lpmt_nonlinearity", {**fields, "true_charge": curves}) != model
    assert cls is type(parse_document("lpmt_nonlinearity", fields))


def test_schema_version_errors(payloads: dict[str, BaseModel]) -> None:
    doc = document(payloads["light_yield"])
    with pytest.raises(InvalidPayload, match=r"light_yield\.schema_version: unknown schema ver"):
        parse_document("light_yield", dict(doc, schema_version=7))
    no_version = {k: v for k, v in doc.items() if k != "schema_version"}
    # defaulted in the JSON Schema, so optional: a document without it is the latest version
    assert json_schema("light_yield")["properties"]["schema_version"]["default"] == 1
    assert parse_document("light_yield", no_version) == parse_document("light_yield", doc)
    with pytest.raises(InvalidPayload, match="unknown payload type"):
        parse_document("lightyield", doc)
    with pytest.raises(InvalidPayload, match="must be a JSON object"):
        parse_document("light_yield", [doc])  # type: ignore[arg-type]
    with pytest.raises(InvalidPayload, match="unknown schema version"):
        json_schema("light_yield", 3)


# --- decoding of bad bytes ----------------------------------------------------------------------
def test_decode_rejects_corrupt_or_foreign_bytes(payloads: dict[str, BaseModel]) -> None:
    data = encode_payload(payloads["energy_resolution"])
    (hlen,) = struct.unpack_from("<Q", data, 8)
    header = data[16 : 16 + hlen]
    bad = {
        "magic": b"XXXX" + data[4:],
        "format": data[:4] + struct.pack("<H", 2) + data[6:],
        "truncated": data[:-8],
        "trailing": data + b"\0",
        "short": data[:10],
        "header": data[:16] + b"[" + data[17:],
        "spaces": _rewrite_header(data, header.replace(b'"a":', b'"a": ')),
        "unsorted": _rewrite_header(data, _unsorted(header)),
        "version": _rewrite_header(
            data, header.replace(b'"schema_version":1', b'"schema_version":9')
        ),
    }
    for what, blob in bad.items():
        try:
            decode_payload("energy_resolution", blob)
        except InvalidPayload:
            continue
        pytest.fail(f"corrupt bytes ({what}) accepted")
    with pytest.raises(InvalidPayload, match="hold type 'energy_resolution'"):
        decode_payload("light_yield", data)
    with pytest.raises(InvalidPayload, match="unknown payload type"):
        decode_payload("nope", data)


def _rewrite_header(data: bytes, header: bytes) -> bytes:
    """Same payload with another header text (array blocks moved to the new alignment)."""
    (hlen,) = struct.unpack_from("<Q", data, 8)
    old_start = -(-(16 + hlen) // 64) * 64
    head = b"JCDB" + struct.pack("<HHQ", 1, 0, len(header)) + header
    new_start = -(-len(head) // 64) * 64
    return head + b"\0" * (new_start - len(head)) + data[old_start:]


def _unsorted(header: bytes) -> bytes:
    obj = json.loads(header)
    fields = dict(reversed(list(obj["fields"].items())))
    return json.dumps(
        {"type": obj["type"], "schema_version": obj["schema_version"], "fields": fields},
        separators=(",", ":"),
    ).encode()


def test_unsorted_header_still_parses_but_is_rejected(payloads: dict[str, BaseModel]) -> None:
    """The non-canonical variant is structurally fine (decode_header reads it) but refused."""
    data = encode_payload(payloads["energy_resolution"])
    (hlen,) = struct.unpack_from("<Q", data, 8)
    blob = _rewrite_header(data, _unsorted(data[16 : 16 + hlen]))
    assert decode_header(blob)[0] == "energy_resolution"
    with pytest.raises(InvalidPayload, match="not in canonical form"):
        decode_payload("energy_resolution", blob)


def test_encode_rejects_non_payloads() -> None:
    class Other(BaseModel):
        x: int = 1

    with pytest.raises(InvalidPayload):
        encode_payload(Other())
    with pytest.raises(InvalidPayload):
        type_of(Other())


# --- schema evolution ---------------------------------------------------------------------------
def test_schema_evolution_v1_stays_readable() -> None:
    v1 = examples.dark_noise(version=1)
    v2 = examples.dark_noise(version=2)
    assert LATEST["dark_noise"] == 2
    assert type_of(v1) == ("dark_noise", 1) and type_of(v2) == ("dark_noise", 2)
    data = encode_payload(v1)
    back = decode_payload("dark_noise", data)
    assert isinstance(back, DarkNoiseV1) and back == v1
    assert payload_hash(data) != payload_hash(encode_payload(v2))
    # a v1 document still parses as v1; a v1 document with v2 fields is refused
    doc = document(v1)
    assert doc["schema_version"] == 1
    assert isinstance(parse_document("dark_noise", doc), DarkNoiseV1)
    with pytest.raises(InvalidPayload, match=r"dark_noise\.rate_lpmt_hz"):
        parse_document("dark_noise", dict(doc, rate_lpmt_hz=3e4))
    up = upgrade(back)
    assert isinstance(up, DarkNoiseV2)
    assert up.offset_lpmt == v1.offset_lpmt and up.rate_lpmt_hz is None
    assert upgrade(v2) is v2
    assert "rate_lpmt_hz" in json_schema("dark_noise")["properties"]
    assert "rate_lpmt_hz" not in json_schema("dark_noise", 1)["properties"]


# --- JSON schema --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TYPE_NAMES)
def test_json_schema_describes_fields_and_arrays(
    payloads: dict[str, BaseModel], name: str
) -> None:
    schema = json_schema(name)
    json.dumps(schema)
    assert schema["x-payload-type"] == name
    assert schema["x-schema-version"] == LATEST[name]
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    model = payloads[name]
    assert set(props) == set(type(model).model_fields)
    for field in type(model).model_fields:
        value = getattr(model, field)
        if isinstance(value, np.ndarray):
            assert props[field]["x-dtype"] == value.dtype.str
            assert props[field]["x-ndim"] == value.ndim
        if field != "schema_version":
            assert props[field].get("description"), f"{name}.{field} lacks a description"
