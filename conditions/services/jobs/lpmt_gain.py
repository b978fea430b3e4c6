"""``lpmt_gain``: per-channel gain and relative response from the laser scan (issue 14 item 7)."""

from __future__ import annotations

import numpy as np

from conditions.payloads import GainStatus, LpmtGainV1
from conditions.services.jobs.context import JobContext, JobOutput
from conditions.services.jobs.laser import laser_fit
from conditions.services.jobs.registry import job
from fitting import dualcal
from fitting.gain import relative_response


@job("lpmt_gain", needs=("dark_noise",))
def lpmt_gain(ctx: JobContext) -> JobOutput | None:
    fit = laser_fit(ctx)
    if fit is None:
        return None
    res, g = fit.result, fit.gain
    dead = (res.status & np.uint16(dualcal.ChannelStatus.DEAD)) != 0
    ok = np.isfinite(g.gain) & np.isfinite(g.gain_uncertainty) & ~dead
    slope_err = np.sqrt(np.clip(res.fit_cov[:, 0, 0], 0.0, None))
    rel = relative_response(res.fit_coeffs[:, 0], res.status == 0)
    med = float(np.median(res.fit_coeffs[res.status == 0, 0])) if res.n_good else 1.0
    rel_err = slope_err / med
    fitted = (res.degree > 0) & np.isfinite(rel) & np.isfinite(rel_err)
    status = np.full(res.channel_ids.size, GainStatus.GOOD, dtype=np.uint8)
    status[~(ok & fitted)] = GainStatus.NO_ESTIMATE
    status[dead] = GainStatus.DEAD
    keep = status == GainStatus.GOOD
    pos = fit.scan["position_mm"]
    payload = LpmtGainV1(
        channel_ids=res.channel_ids.astype(np.int32),
        gain=np.where(keep, g.gain, 0.0),
        gain_uncertainty=np.where(keep, g.gain_uncertainty, 0.0),
        relative_response=np.where(keep, rel, 0.0),
        relative_response_uncertainty=np.where(keep, rel_err, 0.0),
        status=status,
        spe_resolution=g.spe_resolution,
        spe_resolution_measured=g.spe_measured,
        laser_jitter=g.jitter,
        laser_position_mm=(float(pos[0]), float(pos[1]), float(pos[2])),
    )
    quality = {
        "valid": bool(np.any(keep)),
        "n_good": int(np.count_nonzero(keep)),
        "median_steps_used": float(np.median(g.n_steps)),
        "method": "photon statistics of the low-intensity steps + dual-calorimetry slope",
    }
    return payload, ctx.provenance("lpmt_gain", [fit.run], quality)
