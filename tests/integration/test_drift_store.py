"""Drift tracking on the database (SQLite and PostgreSQL): series of a tag or a global-tag
record, injected drifts found where injected, supersession and snapshots, LPMT channel outliers,
global-tag diffs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from conditions import drift, store
from conditions.db import read_session, write_session
from conditions.errors import InvalidInput, RecordNotFound
from conditions.payloads.examples import dark_noise, light_yield
from tests.support.lifecycle import publish

from .test_drift_support import (
    Y0_REL_SIGMA,
    fit_sigma,
    lpmt_series,
    perturb,
    put_series,
    true_drift,
    weekly_runs,
    y0_models,
    y0_truth,
)

#: Mock-detector-like truth: -0.5 %/year light-yield ageing and a -0.4 % step at week 20.
RATE, STEP_AT, STEP = -0.005 / 52, 20, -0.004


def test_series_of_a_tag_in_run_order_with_provenance(engine: Engine) -> None:
    values = [1345.0, 1344.0, 1346.0]
    runs = [300, 100, 200]  # appended out of order
    provenance = [
        {"job": "lightyield", "campaign": f"w{k}", "inputs": ["a", "b"]} for k in range(3)
    ]
    hashes = put_series(engine, "ly", y0_models(values), runs, provenance=provenance)
    with read_session(engine) as s:
        ser = drift.series(s, "ly", "Y0")
    assert [p.since for p in ser.points] == [100, 200, 300]
    assert [p.until for p in ser.points] == [199, 299, None]
    assert [p.value for p in ser.points] == [1344.0, 1346.0, 1345.0]
    assert ser.points[0].error == pytest.approx(1344.0 * Y0_REL_SIGMA)
    assert [p.payload_hash for p in ser.points] == [hashes[1], hashes[2], hashes[0]]
    assert ser.points[0].provenance == {"campaign": "w1", "inputs": "2 items", "job": "lightyield"}
    assert all(p.insertion_time.tzinfo is not None for p in ser.points)
    assert ser.key == "ly/Y0"


def test_injected_step_and_slow_drift_flagged_where_injected_and_nowhere_else(
    engine: Engine,
) -> None:
    n, sigma = 52, 1e-4
    rng = np.random.default_rng(2024)
    truth = y0_truth(n, rate_per_week=RATE, step_at=STEP_AT, step=STEP)
    measured = truth * (1.0 + sigma * rng.standard_normal(n))
    runs = weekly_runs(n)
    put_series(engine, "ly", y0_models(measured, sigma), runs)
    put_series(engine, "dn", [dark_noise()] * 3, runs[:3])  # same payload: nothing to flag
    with write_session(engine) as s:
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "light_yield", "ly")
        store.set_record(s, "GT", "dark_noise", "dn")
    with read_session(engine) as s:
        report = drift.track(s, drift.SeriesSource(global_tag="GT"))
    by_key = {t.series.key: t for t in report.trends}
    assert set(by_key) == {
        "light_yield/Y0",
        "dark_noise/dQ_DR_LPMT",
        "dark_noise/dQ_DR_SPMT",
    }
    flags = [(t.series.key, f.kind, t.series.points[f.index].since) for t, f in report.flags()]
    steps = [f for f in flags if f[1] == "step"]
    drifts = [f for f in flags if f[1] == "drift"]
    assert steps == [("light_yield/Y0", "step", runs[STEP_AT])]
    # drift crossing window: where the true drift (straight-line fit with the step as a free
    # offset, see test_drift_analysis) is within 4 fit-sigma of the threshold
    expected = np.abs(true_drift(n, RATE, STEP_AT, "fit"))
    threshold = drift.QUANTITIES["Y0"].thresholds.drift
    band = np.array([4 * fit_sigma(i, STEP_AT, sigma) for i in range(n)])
    earliest = int(np.argmax(expected + band > threshold))
    latest = int(np.argmax(expected - band > threshold))
    assert len(drifts) == 1 and drifts[0][0] == "light_yield/Y0"
    assert runs[earliest] <= drifts[0][2] <= runs[latest]
    assert len(flags) == 2


def test_threshold_override_and_reference_run(engine: Engine) -> None:
    values = y0_truth(6, step_at=3, step=STEP)
    runs = weekly_runs(6)
    put_series(engine, "ly", y0_models(values), runs)
    loose = drift.DriftConfig(thresholds=drift.override_thresholds(["Y0=0.5%:1%"]))
    with read_session(engine) as s:
        assert drift.track(s, "ly", ["Y0"]).flags()[0][1].index == 3
        assert drift.track(s, "ly", ["Y0"], loose).flags() == []
        late = drift.track(s, "ly", ["Y0"], drift.DriftConfig(reference_run=runs[4] + 5))
    (trend,) = late.trends
    assert trend.analysis.reference == 4
    assert trend.analysis.to_reference[5] == pytest.approx(0.0, abs=1e-12)
    assert trend.analysis.to_reference[3] is None


def test_superseded_iov_and_as_of_replay(engine: Engine) -> None:
    first = put_series(engine, "ly", y0_models([1345.0, 1340.0]), [100, 200])
    with read_session(engine) as s:
        before = store.list_iovs(s, "ly")[-1].insertion_time
    fixed = put_series(engine, "ly", y0_models([1345.5]), [200])
    with read_session(engine) as s:
        now = drift.series(s, "ly", "Y0")
        then = drift.series(s, "ly", "Y0", as_of=before)
    assert [p.payload_hash for p in now.points] == [first[0], fixed[0]]
    assert [p.payload_hash for p in then.points] == first
    assert now.points[1].value == 1345.5


def test_global_tag_record_and_frozen_snapshot(engine: Engine) -> None:
    put_series(engine, "ly-a", y0_models([1345.0, 1344.0]), [10, 20])
    put_series(engine, "ly-b", y0_models([1300.0]), [10])
    with write_session(engine) as s:
        store.create_global_tag(s, "GT")
        store.set_record(s, "GT", "ly_centre", "ly-a")
        store.set_record(s, "GT", "ly_other", "ly-b")
        publish(s, "GT")
    put_series(engine, "ly-a", y0_models([1350.0]), [30])  # after the snapshot: hidden
    with read_session(engine) as s:
        ser = drift.series(s, drift.SeriesSource(global_tag="GT", record="ly_centre"), "Y0")
        assert [p.value for p in ser.points] == [1345.0, 1344.0]
        assert ser.record == "ly_centre" and ser.tag == "ly-a"
        with pytest.raises(RecordNotFound, match="2 records of type light_yield"):
            drift.series(s, drift.SeriesSource(global_tag="GT"), "Y0")
        with pytest.raises(RecordNotFound):
            drift.series(s, drift.SeriesSource(global_tag="GT", record="nope"), "Y0")
        assert len(drift.series(s, "ly-a", "Y0").points) == 3  # the tag itself shows all


def test_untracked_or_mismatched_quantities_are_clear_errors(engine: Engine) -> None:
    put_series(engine, "ly", y0_models([1345.0]), [1])
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "plain", "json")
        store.append_iovs(s, "plain", [(1, h)])
    with read_session(engine) as s:
        with pytest.raises(InvalidInput, match="nothing to track"):
            drift.track(s, "plain")
        with pytest.raises(InvalidInput, match="nothing to track for p0"):
            drift.track(s, "ly", ["p0"])
        with pytest.raises(InvalidInput, match="unknown quantity"):
            drift.series(s, "ly", "Y1")


def test_lpmt_channel_outliers_between_consecutive_payloads(engine: Engine) -> None:
    # per-channel noise 1e-4 of the correction (~1e-4 x 1.025 robust sigma); moved channels
    # +2 % of their curve (~200 sigma); 5 sigma and 0.1 % cuts leave ~0.01 false outliers
    models = lpmt_series(
        3, noise=1e-4, outliers={1: [10, 2000, 15000], 2: [7]}, dead={2: [300, 301]}
    )
    put_series(engine, "lpmt", models, [100, 200, 300])
    with read_session(engine) as s:
        report = drift.track(s, "lpmt")
    assert [o.since for o in report.outliers] == [200, 300]
    first, second = (o.outliers for o in report.outliers)
    # a channel that moved at payload 1 is back at payload 2: it moves again, by -2 %
    assert first.channel_ids == (10, 2000, 15000)
    assert set(second.channel_ids) == {7, 10, 2000, 15000}
    assert second.newly_bad == (300, 301)
    assert all(d > 0.015 for d in first.delta)
    bad = {t.series.quantity.name: t for t in report.trends}["lpmt_bad_channels"]
    assert [p.value for p in bad.series.points] == [264.0, 264.0, 266.0]
    assert report.flags() == []  # the population summaries did not drift


def test_gt_diff_records_payloads_and_scalars(engine: Engine) -> None:
    ly_old = y0_models([1345.0, 1340.0])
    h_old = put_series(engine, "ly-v1", ly_old, [100, 300])
    h_new = put_series(engine, "ly-v2", [ly_old[0], y0_models([1334.6])[0]], [100, 300])
    put_series(engine, "ly-copy", ly_old, [100, 300])
    dn = put_series(engine, "dn", [dark_noise()], [100])
    res = put_series(engine, "dn-bis", [perturb(dark_noise(), window_ns=351.0)], [100])
    assert dn != res
    with write_session(engine) as s:
        store.create_global_tag(s, "A")
        store.set_record(s, "A", "light_yield", "ly-v1")
        store.set_record(s, "A", "dark_noise", "dn")
        store.set_record(s, "A", "ly_copy", "ly-v1")
        store.clone_global_tag(s, "A", "B")
        store.set_record(s, "B", "light_yield", "ly-v2")
        store.set_record(s, "B", "ly_copy", "ly-copy")
        store.set_record(s, "B", "extra", "dn-bis")
    with read_session(engine) as s:
        diff = drift.gt_diff(s, "A", "B")
        early = drift.gt_diff(s, "A", "B", runs=250)
        late = drift.gt_diff(s, "A", "B", runs=(250, None))
        reverse = {r.record: r.status for r in drift.gt_diff(s, "B", "A", scalars=False).records}
    status = {r.record: r.status for r in diff.records}
    assert status == {
        "light_yield": "changed",
        "dark_noise": "unchanged",
        "ly_copy": "retagged",
        "extra": "added",
    }
    (seg,) = {r.record: r for r in diff.records}["light_yield"].segments
    assert (seg.first, seg.last, seg.hash_a, seg.hash_b) == (300, None, h_old[1], h_new[1])
    y0 = {c.quantity: c for c in seg.scalars}["Y0"]
    assert (y0.value_a, y0.value_b) == (1340.0, 1334.6)
    assert y0.change == pytest.approx(1334.6 / 1340.0 - 1.0, rel=1e-12)
    # at run 250 both tags put the same payload in force: only the tag name differs
    assert {r.record: r.status for r in early.records}["light_yield"] == "retagged"
    (late_seg,) = {r.record: r for r in late.records}["light_yield"].segments
    assert late_seg.first == 300 and diff.changed() != []
    assert reverse["extra"] == "removed"


def test_light_yield_reference_payload_is_a_valid_start(engine: Engine) -> None:
    # the examples' Y0 (1345 PE/MeV, section 2.1.3) is what the builders perturb
    put_series(engine, "ly", [light_yield()], [0])
    with read_session(engine) as s:
        (p,) = drift.series(s, "ly", "Y0").points
    assert (p.value, p.error, p.since, p.until) == (1345.0, 0.4, 0, None)
    assert dt.datetime.now(dt.UTC) - p.created_at < dt.timedelta(minutes=5)


def test_gt_diff_same_tag_different_payloads_through_a_snapshot(engine: Engine) -> None:
    put_series(engine, "ly", y0_models([1345.0, 1344.0]), [100, 200])
    with write_session(engine) as s:
        store.create_global_tag(s, "OLD")
        store.set_record(s, "OLD", "light_yield", "ly")
        publish(s, "OLD")
        store.clone_global_tag(s, "OLD", "NEW")
    put_series(engine, "ly", y0_models([1339.0, 1338.0]), [200, 300])  # after the snapshot
    with read_session(engine) as s:
        diff = drift.gt_diff(s, "OLD", "NEW")
        before = drift.gt_diff(s, "OLD", "NEW", runs=(100, 199))
    (rec,) = diff.records
    assert rec.tag_a == rec.tag_b == "ly" and rec.status == "changed"
    # 200-299: 1344 (OLD) vs the superseding 1339 (NEW); 300-: 1344 still vs 1338
    assert [(g.first, g.last) for g in rec.segments] == [(200, 299), (300, None)]
    changes = [{c.quantity: c.change for c in g.scalars}["Y0"] for g in rec.segments]
    assert changes == [pytest.approx(1339.0 / 1344.0 - 1), pytest.approx(1338.0 / 1344.0 - 1)]
    assert before.records[0].status == "unchanged"


def test_reference_run_before_the_first_iov_is_an_error(engine: Engine) -> None:
    put_series(engine, "ly", y0_models([1345.0, 1344.0]), [100, 200])
    with read_session(engine) as s, pytest.raises(InvalidInput, match="before the first IOV"):
        drift.track(s, "ly", ["Y0"], drift.DriftConfig(reference_run=99))


def test_lpmt_gain_step_of_some_channels_is_counted_against_the_previous_iov(
    engine: Engine,
) -> None:
    # relative responses known to 0.1 %: 5 channels moved by +2 % (20 sigma) at the second IOV
    # and stay there; the third IOV repeats the second, so nothing moved against it
    from conditions.payloads.examples import lpmt_gain

    base = lpmt_gain()
    rr = base.relative_response.copy()
    moved = [3, 40, 900, 7000, 17000]
    rr[moved] *= 1.02
    second = perturb(base, relative_response=rr)
    third = perturb(second, spe_resolution=0.31)  # a new payload, same responses
    put_series(engine, "gain", [base, second, third], [100, 200, 300])
    with read_session(engine) as s:
        ser = drift.series(s, "gain", "gain_moved_channels")
        med = drift.series(s, "gain", "gain_median")
    assert [p.value for p in ser.points] == [0.0, 5.0, 0.0]
    assert med.values() == [pytest.approx(float(np.median(base.gain[base.status == 0])))] * 3
    assert all(e is not None and 0 < e < 1e-3 for e in med.errors())
