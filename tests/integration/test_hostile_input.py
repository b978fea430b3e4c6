"""Hostile input: fuzzed payload documents and bytes, SQL-injection names, a fuzzed service.

Contract under test: only :class:`~conditions.errors.ConddbError` subclasses escape validation,
a rejected input writes no row, names are never interpolated into SQL, and the HTTP service
answers every generated request (valid or not) without a 5xx, a traceback or a stray row.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from cli.main import main
from conditions import store
from conditions.db import read_session, write_session
from conditions.documents import encode_document, parse_json_bytes, put_document
from conditions.errors import ConddbError, InvalidName
from conditions.payloads import decode_payload, examples, parse_document, type_of
from tests.conftest import row_counts
from tests.stress.service_fuzz import FuzzStats, fuzz_service

#: JSON-like values, including what json.loads never returns but a Python caller may pass.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # NaN, inf, -0.0, subnormals
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)

#: Valid documents of every typed payload (the 2.3 MB LPMT curves are left out for speed).
DOCUMENTS: dict[str, dict[str, Any]] = {
    type_of(m)[0]: {"schema_version": type_of(m)[1], **m.model_dump(mode="json")}
    for record, m in examples.all_payloads().items()
    if record != "lpmt_nonlinearity"
}
TYPES = sorted(DOCUMENTS)


@st.composite
def mutated_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid document with one to three fields replaced, removed or added, or any JSON value."""
    type_name = draw(st.sampled_from(TYPES))
    if draw(st.integers(0, 4)) == 0:
        return type_name, draw(JSON_VALUES)
    doc = json.loads(json.dumps(DOCUMENTS[type_name]))
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(doc)
        action = draw(st.sampled_from(["replace", "remove", "add", "shrink"]))
        key = draw(st.sampled_from(keys)) if keys else "x"
        if action == "replace":
            doc[key] = draw(JSON_VALUES)
        elif action == "remove":
            doc.pop(key, None)
        elif action == "add":
            doc[draw(st.text(max_size=12))] = draw(JSON_VALUES)
        elif isinstance(doc.get(key), list) and doc[key]:  # shrink or ragged-ify an array
            doc[key] = doc[key][: draw(st.integers(0, len(doc[key]) - 1))]
    return type_name, doc


@settings(max_examples=400, deadline=None, database=None)
@given(mutated_documents())
def test_parse_document_raises_only_conddb_errors(case: tuple[str, Any]) -> None:
    type_name, doc = case
    try:
        model = parse_document(type_name, doc)
    except ConddbError:
        return
    assert type_of(model)[0] == type_name  # accepted: it must encode and decode again
    assert decode_payload(type_name, encode_document(type_name, doc)[0]) == model


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from(TYPES), st.binary(max_size=300), st.integers(0, 2000), st.binary(max_size=8))
def test_decode_of_damaged_bytes_raises_only_conddb_errors(
    type_name: str, noise: bytes, where: int, patch: bytes
) -> None:
    """Random bytes, and valid canonical bytes with a patch written anywhere in them."""
    valid = encode_document(type_name, DOCUMENTS[type_name])[0]
    where = where % (len(valid) + 1)
    for data in (noise, valid[:where] + patch + valid[where + len(patch) :], valid[:where]):
        with contextlib.suppress(ConddbError):
            decode_payload(type_name, data)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_json_parsing_raises_only_conddb_errors(raw: bytes) -> None:
    with contextlib.suppress(ConddbError):
        parse_json_bytes(raw, "fuzz.json")


def test_put_document_rejections_write_nothing(engine: Engine) -> None:
    with write_session(engine) as s:
        for name in [*TYPES, "json"]:
            store.register_payload_type(s, name)
    stats = {"accepted": 0, "rejected": 0}

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(mutated_documents(), st.booleans())
    def check(case: tuple[str, Any], as_json: bool) -> None:
        type_name, doc = case
        type_name = "json" if as_json else type_name
        before = row_counts(engine)
        try:
            with write_session(engine) as s:
                put = put_document(s, type_name, doc, max_bytes=64 * 1024)
        except ConddbError:
            stats["rejected"] += 1
            assert row_counts(engine) == before
            return
        stats["accepted"] += 1
        after = row_counts(engine)
        assert after["payload"] == before["payload"] + (1 if put.created else 0)

    check()
    assert stats["accepted"] > 0 and stats["rejected"] > 0  # both branches were exercised


INJECTIONS = [
    "x'; DROP TABLE tag; --",
    "' OR '1'='1",
    'a" OR "1"="1',
    "1; DELETE FROM iov",
    "t0' UNION SELECT hash FROM payload --",
    "%' --",
    "Robert'); DROP TABLE global_tag;--",
    "../../etc/passwd",
    "t0\x00",
    "ｔ０",  # full-width look-alike
    "t" * 101,
]


def test_injection_names_are_refused_by_the_store(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b"{}").hash
        store.create_tag(s, "t0", "json")
        store.append_iovs(s, "t0", [(0, h)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "a", "t0")
    before = row_counts(engine)
    writers = [
        lambda s, n: store.register_payload_type(s, n),
        lambda s, n: store.create_tag(s, n, "json"),
        lambda s, n: store.create_global_tag(s, n),
        lambda s, n: store.set_record(s, "G", n, "t0"),
        lambda s, n: store.register_run(s, 5, run_type=n),
    ]
    for name in INJECTIONS:
        for write in writers:
            with pytest.raises(InvalidName), write_session(engine) as s:
                write(s, name)
        # lookups bind the name as a parameter: nothing is found, nothing leaks
        with read_session(engine) as s, pytest.raises(ConddbError):
            store.get_tag(s, name)
        with read_session(engine) as s, pytest.raises(ConddbError):
            store.append_iovs(s, name, [(1, h)])
    assert row_counts(engine) == before


def test_injection_names_through_the_cli(
    db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    def conddb(*args: str) -> tuple[int, str, str]:
        try:
            main(["--db", db_url, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    assert conddb("db", "upgrade")[0] == 0
    assert conddb("tag", "create", "t0", "--type", "json")[0] == 0
    before = row_counts(engine)
    for name in INJECTIONS:
        if "\x00" in name:
            continue  # the OS refuses NUL in argv before conddb sees it
        for args in (
            ("tag", "create", name, "--type", "json"),
            ("tag", "create", "t1", "--type", name),
            ("tag", "show", name),
            ("tag", "lock", name),
            ("gt", "create", name),
            ("gt", "set", "G", name, "t0"),
            ("gt", "show", name),
            ("iov", "list", name),
            ("get", "--gt", name, "--run", "1"),
            ("payload", "show", name),
        ):
            code, _out, err = conddb(*args)
            lines = err.strip().splitlines()
            assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), (args, err)
            assert "Traceback" not in err and "internal error" not in err, (args, err)
    assert row_counts(engine) == before


def test_fuzzed_service_requests(db_url: str, tmp_path: Path) -> None:
    """A bounded hypothesis run against the OpenAPI document (the 10,000-request run is
    tests/stress/service_fuzz.py): 0 5xx, 0 tracebacks, 0 rows written by rejected requests."""
    stats: FuzzStats = fuzz_service(db_url, tmp_path, requests=250, seed=1, raise_on_failure=True)
    assert stats.requests >= 250
    assert stats.server_errors == 0 and stats.tracebacks == 0 and stats.rejected_writes == 0
    assert stats.by_status.get(200, 0) > 0 and stats.rejected > 0  # both outcomes generated
    assert len(stats.operations) >= 15  # most operations of the OpenAPI document were hit
