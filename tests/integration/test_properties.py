"""Property tests (hypothesis) of the IOV semantics against a plain-Python model of them."""

from __future__ import annotations

import bisect
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.errors import RunNotCovered
from conditions.resolve import resolve, resolve_many

N_PAYLOADS = 4
_counter = itertools.count()

# A batch is a list of (since, payload index); a history is a list of batches.
batches = st.lists(
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, N_PAYLOADS - 1)), max_size=6),
    min_size=1,
    max_size=5,
)
PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _prepare(engine: Engine) -> list[str]:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        return [
            store.put_payload(s, "json", f'{{"p":{k}}}'.encode()).hash for k in range(N_PAYLOADS)
        ]


@PROPERTY_SETTINGS
@given(history=batches, probes=st.lists(st.integers(0, 70), min_size=1, max_size=8))
def test_resolve_is_greatest_since_of_the_newest_rows(
    engine: Engine, history: list[list[tuple[int, int]]], probes: list[int]
) -> None:
    hashes = _prepare(engine)
    name = f"p{next(_counter)}"
    model: dict[int, str] = {}
    with write_session(engine) as s:
        store.create_tag(s, name, "json")
        store.create_global_tag(s, name)
        store.set_record(s, name, "r", name)
    for batch in history:
        deduped = dict(batch)  # one payload per since within a batch
        with write_session(engine) as s:
            result = store.append_iovs(s, name, [(k, hashes[v]) for k, v in deduped.items()])
        changed = sum(1 for k, v in deduped.items() if model.get(k) != hashes[v])
        assert result.added == changed  # re-appending an identical IOV changes nothing
        model.update({k: hashes[v] for k, v in deduped.items()})
    sinces = sorted(model)
    for run in probes:
        k = bisect.bisect_right(sinces, run) - 1
        if k < 0:
            try:
                resolve(engine, name, run)
            except RunNotCovered:
                continue
            raise AssertionError(f"run {run} resolved before the first since {sinces[:1]}")
        got = resolve(engine, name, run)["r"]
        until = sinces[k + 1] - 1 if k + 1 < len(sinces) else None
        assert (got.since, got.until, got.payload_hash) == (sinces[k], until, model[sinces[k]])
    covered = [r for r in probes if sinces and r >= sinces[0]]
    if covered:
        many = resolve_many(engine, name, covered)
        for run in covered:
            assert many[run].records == resolve(engine, name, run).records  # one payload per run


@PROPERTY_SETTINGS
@given(
    content=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_payload_round_trips_to_the_same_hash(engine: Engine, content: object) -> None:
    from conditions.documents import canonical_json, decode_document, put_document

    _prepare(engine)
    with write_session(engine) as s:
        first = put_document(s, "json", content)
        again = put_document(s, "json", decode_document("json", store.payload_bytes(s, first.hash)))
    assert first.hash == again.hash == store.sha256_hex(canonical_json(content))
