"""Hostile payload bytes and loosely typed documents are clear validation errors (issue 13
item 5 decoding part, Low "loose validation"), over the library, HTTP and the CLI, both backends.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from conditions import store
from conditions.db import make_engine, write_session
from conditions.errors import InvalidPayload
from conditions.payloads import examples
from conditions.payloads.registry import decode_payload, parse_document
from conditions.service.testing import RunningService, running_service
from tests.conftest import row_counts
from tests.integration.test_cli import run


def raw_payload(header: str, tail: bytes = b"") -> bytes:
    """Format-1 bytes with the given header text (see conditions/payloads/encoding.py)."""
    body = header.encode("ascii")
    return struct.pack("<4sHHQ", b"JCDB", 1, 0, len(body)) + body + tail


def _array_header(shape: list[int]) -> str:
    ref = {"$array": {"dtype": "<f8", "offset": 0, "shape": shape}}
    return json.dumps({"fields": {"x": ref}, "schema_version": 1, "type": "light_yield"})


HOSTILE = {
    "deep-header-100k": raw_payload("[" * 100_000 + "]" * 100_000),
    "deep-fields-1k": raw_payload(
        '{"fields":{"x":' + "[" * 1000 + "]" * 1000 + '},"schema_version":1,'
        '"type":"light_yield"}'
    ),
    "shape-product-overflows-int64": raw_payload(_array_header([2**32, 2**32, 2**32]), b"\0" * 64),
    "shape-wraps-to-zero": raw_payload(_array_header([2**32, 2**32]), b"\0" * 64),
    "huge-extent-times-zero": raw_payload(_array_header([0, 2**70]), b"\0" * 64),
    "70-dimensions": raw_payload(_array_header([1] * 70), b"\0" * 128),
    "bool-extent": raw_payload(_array_header([True]), b"\0" * 128),  # type: ignore[list-item]
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bytes_are_invalid_payloads(case: str) -> None:
    with pytest.raises(InvalidPayload, match=r"payload bytes|light_yield"):
        decode_payload("light_yield", HOSTILE[case])


def _scalar_fields(model: Any) -> dict[str, Any]:
    dumped = model.model_dump(mode="json")
    return {
        k: v
        for k, v in dumped.items()
        if k != "schema_version" and isinstance(v, int | float) and not isinstance(v, bool)
    }


def loose_values(value: int | float) -> list[Any]:
    """Values a strict schema refuses in place of ``value``: a bool, its text and (for an
    integer field) one beyond the signed 64-bit range."""
    wrong: list[Any] = [True, str(value)]
    if isinstance(value, int):
        wrong += [2**80, float(value) + 0.5]
    return wrong


EXAMPLES = examples.all_payloads()


@pytest.mark.parametrize("type_name", sorted(EXAMPLES))
def test_every_payload_type_refuses_loosely_typed_numbers(type_name: str) -> None:
    model = EXAMPLES[type_name]
    doc = model.model_dump(mode="json")
    parse_document(type_name, doc)  # the example itself is valid
    fields = _scalar_fields(model)
    if not fields:
        pytest.skip(f"{type_name} has no scalar number field (arrays only)")
    for name, value in fields.items():
        for wrong in loose_values(value):
            with pytest.raises(InvalidPayload, match=rf"{type_name}\.{name}|{type_name}:"):
                parse_document(type_name, {**doc, name: wrong})


def test_light_yield_cases_of_the_issue() -> None:
    doc = examples.light_yield().model_dump(mode="json")
    for change in ({"n_events": True}, {"n_events": 2**80}, {"y0": "1345"}):
        with pytest.raises(InvalidPayload, match="light_yield"):
            parse_document("light_yield", {**doc, **change})
    assert parse_document("light_yield", {**doc, "y0": 1345}).y0 == 1345.0  # type: ignore[attr-defined]


@pytest.fixture
def service(db_url: str, tmp_path: Path) -> Iterator[tuple[RunningService, httpx.Client]]:
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
    engine.dispose()
    with (
        running_service(db_url, tmp_path) as svc,
        httpx.Client(base_url=svc.base_url, timeout=60) as http,
    ):
        yield svc, http


def test_http_refuses_hostile_bytes_with_422(
    service: tuple[RunningService, httpx.Client], db_url: str
) -> None:
    svc, http = service
    engine = make_engine(db_url)
    before = row_counts(engine)
    headers = {"Content-Type": "application/octet-stream", **svc.auth("uploader")}
    for case, data in HOSTILE.items():
        r = http.post(
            "/v1/payloads/raw", params={"type": "light_yield"}, content=data, headers=headers
        )
        assert r.status_code == 422, (case, r.status_code, r.text[:200])
        assert "Traceback" not in r.text
    assert row_counts(engine) == before
    engine.dispose()


def test_http_register_an_existing_type_is_200_not_created(
    service: tuple[RunningService, httpx.Client],
) -> None:
    svc, http = service
    admin = svc.auth("admin")
    first = http.post("/v1/types", json={"name": "new_type"}, headers=admin)
    assert first.status_code == 201 and first.json()["created"] is True
    again = http.post("/v1/types", json={"name": "new_type"}, headers=admin)
    assert again.status_code == 200 and again.json() == {"type": "new_type", "created": False}
    existing = http.post("/v1/types", json={"name": "light_yield"}, headers=admin)
    assert existing.status_code == 200 and existing.json()["created"] is False


def test_cli_shows_a_hostile_stored_payload_as_a_clear_error(db_url: str) -> None:
    """Bytes that reached the table by raw SQL: `payload show` says they are broken, in one
    line, instead of "internal error"."""
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "light_yield")
    data = HOSTILE["shape-product-overflows-int64"]
    digest = store.sha256_hex(data)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO payload (hash, type_name, schema_version, data, size, provenance, "
                "created_at) VALUES (:h, 'light_yield', 1, :d, :n, '{}', CURRENT_TIMESTAMP)"
            ),
            {"h": digest, "d": data, "n": len(data)},
        )
    engine.dispose()
    proc = run(db_url, "payload", "show", digest, ok=False)
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("Error: ")
