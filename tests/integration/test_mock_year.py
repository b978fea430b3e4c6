"""A simulated year of weekly campaigns on the mock detector: the drifts it injects are found, and
nothing else is flagged (issue 7 acceptance).

The mock's truth (fitting.toymc.truth.DriftModel): Y0 ages by -0.5 %/year, steps by -0.4 % on day
150, and three LPMT channels change gain (+5 % day 40, -8 % day 90, +10 % day 200).  Each weekly
campaign at the nominal statistics of Table 6 (6,000 neutrons at the centre) measures Y0 to
~0.033 %, so the 0.4 % step stands at ~8 sigma above the noise of a consecutive difference (at a
fifth of the statistics it is only ~4 sigma and is missed half the time), and the ageing adds
0.5 % over the year (drift threshold 0.3 %).
"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from conditions import drift, store
from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import read_session, write_session
from conditions.jobs import run_campaign_jobs
from fitting.toymc.campaign import write_campaign
from fitting.toymc.truth import DriftModel

pytestmark = pytest.mark.slow

WEEKS = 50


def first_run(week: int) -> int:
    return 10_000 + 100 * week


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> list[CampaignConstants]:
    base = tmp_path_factory.mktemp("year")
    out = []
    for week in range(WEEKS):
        manifest = write_campaign("weekly", first_run(week), base / f"w{week:02d}", seed=week,
                                  day=7.0 * week)
        out.append(run_campaign_jobs(manifest))
    return out


def _track(engine: Engine, year: list[CampaignConstants]) -> drift.TrackReport:
    with write_session(engine) as s:
        for constants in year:
            upload_campaign(s, constants)
        store.create_global_tag(s, "YEAR")
        for record in ("light_yield", "dark_noise", "lpmt_nonlinearity"):
            store.set_record(s, "YEAR", record, f"juno-{record}")
    with read_session(engine) as s:
        return drift.track(s, drift.SeriesSource(global_tag="YEAR"))


def test_year_of_weekly_campaigns_flags_exactly_the_injected_drifts(
    engine: Engine, year: list[CampaignConstants]
) -> None:
    report = _track(engine, year)
    flags = [(t.series.key, f.kind, t.series.points[f.index].since) for t, f in report.flags()]
    truth = DriftModel()
    step_week = next(w for w in range(WEEKS) if 7.0 * w >= truth.y0_step_day)
    y0_flags = [f for f in flags if f[0] == "light_yield/Y0"]
    assert ("light_yield/Y0", "step", first_run(step_week)) in y0_flags, flags
    drifts = [f for f in y0_flags if f[1] == "drift"]
    assert 1 <= len(drifts) <= 2, flags  # -0.5 %/year ageing crosses the 0.3 % threshold once
    assert all(f[2] > first_run(step_week) for f in drifts), flags
    others = [f for f in flags if f[0] != "light_yield/Y0"]
    assert others == [], others  # dark noise, LPMT summaries, Y0 error: nothing flagged


@pytest.mark.xfail(
    strict=True,
    reason="at the nominal weekly laser statistics (6,000 flashes per step, Table 6) the "
    "per-channel outlier test flags 24 moves of a few channels (799, 6414, 6428, 17108, ...) "
    "that flip between fit degrees from week to week (the degree step-up of fitting/dualcal.py "
    "on a p-value cut); at the 500 flashes simulated before, it flagged none",
)
def test_year_per_channel_lpmt_outliers_are_only_noise(
    engine: Engine, year: list[CampaignConstants]
) -> None:
    # Per-channel outliers of the LPMT curves: the mock's gain steps do not show there, because
    # dual calorimetry normalises each channel to its own single-PE gain (the curves hold only the
    # shape of the non-linearity).  What is left is noise: 5-sigma outliers among 49 x 17,612
    # channel comparisons, a handful at most.
    if engine.dialect.name != "sqlite":
        pytest.skip("pure drift analysis of the same series: one backend is enough")
    report = _track(engine, year)
    moved = [int(ch) for o in report.outliers for ch in o.outliers.channel_ids]
    assert len(moved) <= 10, moved
