"""``dark_noise``: Delta Q_DR of the LPMT and SPMT sums from random triggers (section 2.3.3)."""

from __future__ import annotations

import numpy as np

from conditions.errors import InvalidInput
from conditions.payloads import DarkNoiseV2
from conditions.services.jobs.context import JobContext, JobOutput
from conditions.services.jobs.registry import job
from fitting import io
from fitting.darknoise import fit_dark_noise


@job("dark_noise")
def dark_noise(ctx: JobContext) -> JobOutput:
    randoms = [r for r in ctx.runs if r.source == "random"]
    if not randoms:
        raise InvalidInput(
            f"campaign {ctx.manifest['campaign_id']} has no random triggers",
            "every campaign needs them for the dark-noise offset",
        )
    cols = [io.read_events(r.path) for r in randoms]
    q_lpmt = np.concatenate([c["pe_lpmt"] for c in cols])
    q_spmt = np.concatenate([c["pe_spmt"] for c in cols])
    window = ctx.settings.dark_window_ns
    res = fit_dark_noise(q_lpmt, window, q_spmt_pe=q_spmt)
    assert res.spmt is not None
    payload = DarkNoiseV2(
        offset_lpmt=res.lpmt.values[0],
        offset_lpmt_uncertainty=res.lpmt.errors[0],
        offset_spmt=res.spmt.values[0],
        offset_spmt_uncertainty=res.spmt.errors[0],
        window_ns=window,
        rate_lpmt_hz=res.rate_hz_per_channel_lpmt,
        rate_spmt_hz=res.rate_hz_per_channel_spmt,
        n_random_triggers=int(q_lpmt.size),
    )
    quality = {"valid": bool(res.lpmt.valid), "n_events": int(q_lpmt.size)}
    return payload, ctx.provenance("dark_noise", randoms, quality)
