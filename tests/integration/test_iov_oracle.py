"""The SQL reader against the IOV oracle (:mod:`conditions.iov`), property-tested on both backends.

Random histories of appends (superseding rows at the same since included) are written through
the repository; then, for as-of times around every insertion, for an open global tag and for
frozen ones with snapshots at those times, and for runs at every segment boundary (since - 1,
since, since + 1) and random runs, the one-statement lookup (:func:`resolve`), the range lookup
(:func:`resolve_many`), the listing (:func:`store.list_iovs`) and, without as-of time, the same
lookup statement sent on a bare driver connection (:func:`resolve_plain`, ``conddb get``; None
where the run is not covered) must equal
``iov.locate(iov.in_force(rows, as_of, snapshot), run)`` over the raw stored rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from conditions import iov, store
from conditions.db import read_session, write_session
from conditions.db.plain import resolve_plain
from conditions.errors import RunNotCovered
from conditions.resolve import resolve, resolve_many
from tests.support.lifecycle import publish

N_PAYLOADS = 3
US = dt.timedelta(microseconds=1)
_names = itertools.count()

# A history is a list of batches; a batch a list of (since, payload index).  Small since values
# and few payloads make superseding rows (same since, new payload) and re-appends frequent.
histories = st.lists(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, N_PAYLOADS - 1)), max_size=4),
    min_size=1,
    max_size=5,
)
ORACLE_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _expected(
    rows: list[iov.Row], as_of: dt.datetime | None, snapshot: dt.datetime | None, run: int
) -> iov.Interval | None:
    return iov.locate(iov.in_force(rows, as_of, snapshot), run)


def _got(engine: Engine, gt: str, run: int, as_of: dt.datetime | None) -> iov.Interval | None:
    try:
        r = resolve(engine, gt, run, as_of=as_of)["r"]
    except RunNotCovered:
        return None
    return iov.Interval(r.since, r.until, r.payload_hash, r.insertion_time)


@ORACLE_SETTINGS
@given(
    history=histories,
    extra_runs=st.lists(st.integers(0, 20), max_size=4),
    snapshot_picks=st.lists(st.integers(0, 10), min_size=1, max_size=2),
)
def test_sql_reader_agrees_with_the_iov_oracle(
    engine: Engine,
    history: list[list[tuple[int, int]]],
    extra_runs: list[int],
    snapshot_picks: list[int],
) -> None:
    name = f"o{next(_names)}"
    url = engine.url.render_as_string(hide_password=False)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"o":{k}}}'.encode()).hash for k in range(3)]
        store.create_tag(s, name, "json")
        store.create_global_tag(s, name)
        store.set_record(s, name, "r", name)
    time.sleep(0.002)  # every as-of time below is after the map row
    inserted: list[dt.datetime] = []
    for batch in history:
        with write_session(engine) as s:
            done = store.append_iovs(s, name, [(k, hashes[v]) for k, v in dict(batch).items()])
        inserted.append(done.insertion_time)
        time.sleep(0.001)
    with read_session(engine) as s:
        rows = store.iov_rows(s, store.get_tag(s, name).id)
    # frozen global tags resolving as of a snapshot between/at the insertion times
    times = sorted({t + d for t in inserted for d in (-US, dt.timedelta(0))})
    frozen: dict[str, dt.datetime] = {}
    for n, pick in enumerate(snapshot_picks):
        snap = times[pick % len(times)]
        with write_session(engine) as s:
            store.clone_global_tag(s, name, f"{name}f{n}")
            gt = publish(s, f"{name}f{n}", snapshot_time=snap)
            frozen[gt.name] = snap
    sinces = sorted({r.since for r in rows})
    runs = sorted({x for s0 in sinces for x in (s0 - 1, s0, s0 + 1) if x >= 0} | set(extra_runs))
    cases: list[tuple[str, dt.datetime | None]] = [(name, None)] + [(name, t) for t in times]
    cases += [(g, a) for g in frozen for a in (None, *times[::2])]
    for gt_name, as_of in cases:
        snapshot = frozen.get(gt_name)
        want = {run: _expected(rows, as_of, snapshot, run) for run in runs}
        for run in runs:
            assert _got(engine, gt_name, run, as_of) == want[run], (gt_name, as_of, run)
            if as_of is None:  # the same statement on a bare driver connection (`conddb get`)
                plain = resolve_plain(url, gt_name, run)
                got = None if plain is None else plain["r"]
                assert want[run] == (
                    None
                    if got is None
                    else iov.Interval(got.since, got.until, got.payload_hash, got.insertion_time)
                ), ("plain", gt_name, run)
                assert plain is None or plain.frozen == (snapshot is not None)
        covered = [run for run in runs if want[run] is not None]
        if covered:
            many = resolve_many(engine, gt_name, covered, as_of=as_of)
            for run in covered:
                got = many[run]["r"]
                assert want[run] == iov.Interval(
                    got.since, got.until, got.payload_hash, got.insertion_time
                ), (gt_name, as_of, run)
        uncovered = [run for run in runs if want[run] is None]
        if uncovered:
            try:
                resolve_many(engine, gt_name, uncovered, as_of=as_of)
            except RunNotCovered:
                pass
            else:
                raise AssertionError(f"runs {uncovered} resolved under {gt_name} as of {as_of}")
    for as_of in [None, *times]:
        with read_session(engine) as s:
            listed = store.list_iovs(s, name, as_of=as_of)
        assert [(i.since, i.until, i.payload_hash, i.insertion_time) for i in listed] == [
            (i.since, i.until, i.payload_hash, i.insertion_time) for i in iov.in_force(rows, as_of)
        ]
