"""``lpmt_nonlinearity``: per-channel LPMT correction curves from the laser scan (section 2.2).

A channel whose curve cannot be fitted or inverted is flagged (payload status NO_CURVE or DEAD,
the reasons in the provenance's ``broken_channels``) and never aborts the campaign.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conditions.payloads import ChannelStatus, LpmtNonlinearityV1
from conditions.services.jobs.context import JobContext, JobOutput
from conditions.services.jobs.laser import laser_fit
from conditions.services.jobs.registry import job
from fitting import dualcal

#: Channels listed by id in the provenance (the counts per reason are always complete).
MAX_LISTED = 200


def payload_status(status: np.ndarray) -> np.ndarray:
    """Payload status of dual-calorimetry flags: 0 GOOD, 2 DEAD, 1 NO_CURVE for any other flag."""
    out = np.where(status == 0, ChannelStatus.GOOD, ChannelStatus.NO_CURVE).astype(np.uint8)
    out[(status & np.uint16(dualcal.ChannelStatus.DEAD)) != 0] = ChannelStatus.DEAD
    return out


def broken_channels(result: dualcal.ChannelNonlinearityResult) -> dict[str, Any]:
    """Count of flagged channels, per reason, and the first :data:`MAX_LISTED` with reasons."""
    counts: dict[str, int] = {}
    for flag in dualcal.ChannelStatus:
        if flag.value:
            n = int(np.count_nonzero(result.status & np.uint16(flag.value)))
            if n:
                counts[dualcal.STATUS_REASONS[flag]] = n
    reasons = result.reasons()
    listed = {str(k): v for k, v in list(reasons.items())[:MAX_LISTED]}
    return {"count": len(reasons), "by_reason": counts, "channels": listed}


def lpmt_payload(result: dualcal.ChannelNonlinearityResult) -> LpmtNonlinearityV1:
    """The channel non-linearity payload (float32 curves) of a fit result."""
    return LpmtNonlinearityV1(
        channel_ids=result.channel_ids.astype(np.int32),
        charge_grid=result.charge_grid.copy(),
        true_charge=result.linearised_charge.astype(np.float32),
        status=payload_status(result.status),
    )


@job("lpmt_nonlinearity", needs=("dark_noise",))
def lpmt_nonlinearity(ctx: JobContext) -> JobOutput | None:
    fit = laser_fit(ctx)
    if fit is None:
        return None
    result = fit.result
    broken = broken_channels(result)
    ctx.memo["broken_channels"] = broken
    good = result.status == 0
    quality = {
        "valid": bool(np.any(good)),
        "n_good": int(result.n_good),
        "n_channels": int(result.channel_ids.size),
        "n_steps": int(fit.scan["lpmt_mean"].shape[0]),
        "n_flashes": int(fit.scan["spmt_total"].shape[1]),
        "degree_counts": {str(d): int(n) for d, n in
                          zip(*np.unique(result.degree[good], return_counts=True), strict=True)},
        "degree_criterion": "AICc",
        "spe_resolution": fit.gain.spe_resolution,
        "spe_resolution_measured": fit.gain.spe_measured,
        "broken_channels": broken,
    }
    return lpmt_payload(result), ctx.provenance("lpmt_nonlinearity", [fit.run], quality)
