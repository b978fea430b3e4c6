"""Builders shared by the drift, report and trend-CLI tests (no tests in this module).

Series are made by perturbing the reference payloads of :mod:`conditions.payloads.examples` and
storing them with IOVs through the ordinary write path, as a campaign upload would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.payloads import LightYieldV1, LpmtNonlinearityV1, encode_payload, type_of
from conditions.payloads.base import Payload
from conditions.payloads.examples import light_yield, lpmt_nonlinearity

#: Weekly campaigns per year (paper section 5.2) and the run numbers they start at.
N_WEEKS = 52
FIRST_RUN = 1000
RUNS_PER_WEEK = 100

#: Relative 1 sigma of a weekly Y0 (paper section 5.2: "better-than 0.1 %"; 6,000 n-H captures
#: with a 1.8 % peak width give 0.02-0.03 %): the tests use 0.01-0.03 %.
Y0_REL_SIGMA = 3e-4


def perturb(model: Payload, **changes: Any) -> Payload:
    """A validated copy of ``model`` with some fields replaced."""
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    fields.update(changes)
    return type(model).model_validate(fields)


def put_series(
    engine: Engine,
    tag: str,
    models: Sequence[Payload],
    sinces: Sequence[int],
    *,
    provenance: Sequence[dict[str, Any]] | None = None,
) -> list[str]:
    """Store ``models`` and append them to ``tag`` (created if missing) at ``sinces``."""
    type_name = type_of(models[0])[0]
    hashes: list[str] = []
    with write_session(engine) as s:
        store.register_payload_type(s, type_name)
        if not any(t.name == tag for t, _ in store.list_tags(s)):
            store.create_tag(s, tag, type_name)
        for n, model in enumerate(models):
            prov = provenance[n] if provenance is not None else {"job": "test", "week": n}
            hashes.append(
                store.put_payload(
                    s,
                    type_name,
                    encode_payload(model),
                    schema_version=type_of(model)[1],
                    provenance=prov,
                ).hash
            )
        store.append_iovs(s, tag, list(zip(sinces, hashes, strict=True)))
    return hashes


def weekly_runs(n: int = N_WEEKS) -> list[int]:
    return [FIRST_RUN + RUNS_PER_WEEK * k for k in range(n)]


def y0_truth(
    n: int, *, rate_per_week: float = 0.0, step_at: int | None = None, step: float = 0.0
) -> np.ndarray:
    """True Y0 [PE/MeV] per week: 1345 x (1 + rate)^k, times (1 + step) from week ``step_at``."""
    k = np.arange(n)
    y = 1345.0 * (1.0 + rate_per_week) ** k
    if step_at is not None:
        y[step_at:] *= 1.0 + step
    return y


def y0_models(values: Iterable[float], rel_sigma: float = Y0_REL_SIGMA) -> list[LightYieldV1]:
    base = light_yield()
    out = []
    for v in values:
        model = perturb(base, y0=float(v), y0_uncertainty=float(v) * rel_sigma)
        assert isinstance(model, LightYieldV1)
        out.append(model)
    return out


def lpmt_series(
    n: int,
    *,
    noise: float,
    outliers: dict[int, Sequence[int]],
    dead: dict[int, Sequence[int]] | None = None,
    seed: int = 3,
) -> list[LpmtNonlinearityV1]:
    """``n`` LPMT payloads: the example curves times (1 + noise x N(0,1)) per channel and payload;
    payload k moves the channels ``outliers[k]`` by +2 % and kills the channels ``dead[k]``."""
    base = lpmt_nonlinearity()
    rng = np.random.default_rng(seed)
    out = []
    status = base.status.copy()
    for k in range(n):
        factor = 1.0 + noise * rng.standard_normal(base.channel_ids.size)
        for ch in outliers.get(k, ()):
            factor[ch] += 0.02
        for ch in (dead or {}).get(k, ()):
            status[ch] = 2
        table = (base.true_charge.astype(np.float64) * factor[:, None]).astype(np.float32)
        model = perturb(base, true_charge=table, status=status.copy())
        assert isinstance(model, LpmtNonlinearityV1)
        out.append(model)
    return out


def true_drift(n: int, rate: float, step_at: int, method: str) -> np.ndarray:
    """Noise-free drift since point 0 of 1345 (1 + rate)^k with a step at ``step_at``.

    ``fit``: the straight line in log(value) with the step as a free offset is exact, so the
    drift is (1 + rate)^k - 1.  ``points``: the flagged step's whole consecutive change (the
    step and that week's drift) is removed, so (1 + rate)^(k - [k >= step_at]) - 1."""
    k = np.arange(n)
    if method == "fit":
        return (1.0 + rate) ** k - 1.0
    return (1.0 + rate) ** (k - (k >= step_at)) - 1.0


def fit_sigma(k: int, step_at: int, sigma: float) -> float:
    """1 sigma of the fitted log-level change over points 0..k with a free offset at step_at:
    a common slope over two segments (ANCOVA), sigma_slope = sigma / sqrt(S) with S the sum
    over both segments of (x - segment mean)^2, times the span k."""
    segments = [np.arange(0, min(step_at, k + 1)), np.arange(step_at, k + 1)]
    s = sum(float(np.sum((x - x.mean()) ** 2)) for x in segments if x.size)
    return sigma * k / math.sqrt(s) if s > 0 else math.inf
