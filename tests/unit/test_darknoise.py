"""Dark-noise offset dQ_DR from random triggers (section 2.3.3) and the c term (section 3)."""

from __future__ import annotations

import numpy as np
import pytest

from fitting.darknoise import (
    c_term_from_offset,
    expected_offset_pe,
    fit_dark_noise,
    offset_from_random_triggers,
)


def test_paper_numbers() -> None:
    """350 ns x 17,600 x 30 kHz = 184.8 PE; sqrt(184.8) / 1345 = 1.01 % (GUIDE section 5)."""
    dq = expected_offset_pe(350.0, 17_600, 30e3)
    assert dq == pytest.approx(184.8, rel=1e-12)
    assert c_term_from_offset(dq, 1345.0) == pytest.approx(0.01011, abs=5e-5)


def test_offset_closure_from_poisson_random_triggers() -> None:
    """10^5 Poisson(184.8) triggers: error sqrt(184.8/1e5) = 0.043 PE, result within 4 errors;
    Fano factor 1 within 4 x sqrt(2/n) (variance estimator of a Poisson sample)."""
    rng = np.random.default_rng(10)
    q = rng.poisson(184.8, 100_000).astype(float)
    res = offset_from_random_triggers(q)
    assert res.error("dQ_DR") == pytest.approx(np.sqrt(184.8 / 1e5), rel=0.02)
    assert abs(res["dQ_DR"] - 184.8) < 4 * res.error("dQ_DR")
    assert abs(res.extra["fano"] - 1.0) < 4 * np.sqrt(2.0 / 1e5 + 1.0 / (184.8 * 1e5))


def test_lpmt_and_spmt_rates_per_channel() -> None:
    """Rate per channel = dQ / window / channels: 30 kHz LPMT, 1 kHz SPMT within 4 errors."""
    rng = np.random.default_rng(12)
    n = 50_000
    lp = rng.poisson(expected_offset_pe(350, 17_612, 30e3), n)
    sp = rng.poisson(expected_offset_pe(350, 25_600, 1e3), n)
    res = fit_dark_noise(lp, 350.0, q_spmt_pe=sp)
    err_rate = res.lpmt.error("dQ_DR") / 350e-9 / 17_612
    assert abs(res.rate_hz_per_channel_lpmt - 30e3) < 4 * err_rate
    assert res.spmt is not None and res.rate_hz_per_channel_spmt is not None
    err_sp = res.spmt.error("dQ_DR") / 350e-9 / 25_600
    assert abs(res.rate_hz_per_channel_spmt - 1e3) < 4 * err_sp
    assert res.window_ns == 350.0


def test_pileup_cut_removes_physics_contamination() -> None:
    """0.1 % of triggers overlap a 1 MeV event (+1345 PE): a cut at mean + 8 sqrt(mean) removes
    them and restores the offset within 4 errors, while without the cut the mean is ~1.3 PE high."""
    rng = np.random.default_rng(13)
    q = rng.poisson(184.8, 100_000).astype(float)
    q[rng.random(q.size) < 1e-3] += 1345.0
    raw = offset_from_random_triggers(q)
    cut = offset_from_random_triggers(q, max_pe=184.8 + 8 * np.sqrt(184.8))
    assert raw["dQ_DR"] - 184.8 > 10 * raw.error("dQ_DR")
    assert abs(cut["dQ_DR"] - 184.8) < 4 * cut.error("dQ_DR")


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        offset_from_random_triggers(np.array([3.0]))
    with pytest.raises(ValueError, match="window"):
        fit_dark_noise(np.ones(10), 0.0)
