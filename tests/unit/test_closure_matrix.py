"""Closure matrix at reduced statistics: every job on every truth variant of the mock.

A comprehensive campaign at 5 % of Table 5's event counts (100 laser flashes per step) is
simulated for each variant of :mod:`fitting.toymc.variants` and every job is run on its files;
the figures of :func:`fitting.studies.closure.closure_figures` are checked against tolerances
scaled from the issue-14 targets by the reduced statistics (comments).  The nominal-statistics
matrix is ``benchmarks/closure_matrix.py``.
"""

from __future__ import annotations

import json
import math

import pytest

from conditions.services.jobs import JOBS, JobSettings, run_campaign_jobs
from fitting.studies.closure import closure_figures
from fitting.toymc.campaign import write_campaign
from fitting.toymc.variants import VARIANTS, truth_variant

pytestmark = pytest.mark.slow

SCALE = 0.05
FLASHES = 100


@pytest.fixture(scope="module", params=VARIANTS)
def figures(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[str, dict[str, float], set[str]]:
    name = str(request.param)
    out = tmp_path_factory.mktemp(f"closure-{name}")
    truth = truth_variant(name)
    manifest = write_campaign("comprehensive", 500, out, seed=11, truth=truth, scale=SCALE,
                              n_flashes=FLASHES)
    constants = run_campaign_jobs(manifest, JobSettings(band_toys=20))
    fig = closure_figures(out, truth, constants)
    (out / "closure.json").write_text(json.dumps(fig, indent=1))
    return name, fig, set(constants.payloads)


def test_every_job_produces_its_record(figures: tuple[str, dict[str, float], set[str]]) -> None:
    _, _, records = figures
    assert records == set(JOBS)


def test_light_yield_and_dark_noise(figures: tuple[str, dict[str, float], set[str]]) -> None:
    name, fig, _ = figures
    # pulls against the truth: statistical, any statistics (4 sigma: two-sided 6e-5 per check)
    assert abs(fig["y0_pull"]) < 4, (name, fig["y0_pull"])
    assert abs(fig["dq_lpmt_pull"]) < 4, (name, fig["dq_lpmt_pull"])


def test_fnonlin_and_gmap(figures: tuple[str, dict[str, float], set[str]]) -> None:
    name, fig, _ = figures
    # 5 % of the statistics: peak centroids 4.5x less precise than Table 5's, so the 0.3 %
    # (f_nonlin) and 0.3 % (g-map rms) targets become ~1 %
    assert fig["fnonlin_max_dev"] < 0.01, (name, fig["fnonlin_max_dev"])
    assert fig["gmap_rms"] < 0.01, (name, fig["gmap_rms"])


#: measured misses at this reduced statistics (2026-12-01, 100 flashes per step, benchmarks/
#: lpmt_study.py --flashes 100): extreme event level 4.7 % / median 3.4 % (50 % at 100 PE, 8
#: steps: at 100 flashes the model chosen by PRESS is a plain low degree); dim closes since the
#: smoothed response of fitting.dualcal (0.59 % / 0.57 %, was 2.5 % / 2.0 %); at Table 5's
#: 100,000 flashes both close (tests/unit/test_lpmt_closure_nominal.py).  Strict, so the test
#: says so when the reduced-statistics fit improves
LPMT_MEDIAN_KNOWN_MISSES = {"extreme"}


def test_lpmt_curves_and_spe(figures: tuple[str, dict[str, float], set[str]],
                             request: pytest.FixtureRequest) -> None:
    name, fig, _ = figures
    if name in LPMT_MEDIAN_KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(strict=True, reason="LPMT per-channel median"))
    # 100 flashes per step instead of Table 5's 100,000: per-channel curves are ~30x noisier
    # than nominal, so only the event level (averaging 17,612 channels) keeps a tight target
    assert fig["lpmt_event"] < 0.01, (name, fig["lpmt_event"])
    assert fig["lpmt_median"] < 0.02, (name, fig["lpmt_median"])
    assert math.isfinite(fig["lpmt_p95"])
    # SPE resolution from the low steps: X = 1 + s^2 per channel with ~15 % error at 100
    # flashes, the median over 17,612 channels fixes s to ~0.02
    assert abs(fig["spe_resolution_fit"] - fig["spe_resolution_true"]) < 0.06, (name, fig)
