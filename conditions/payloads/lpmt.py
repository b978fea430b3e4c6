"""``lpmt_nonlinearity`` payload: per-channel LPMT charge non-linearity (paper section 2.2).

Dual calorimetry (LPMT charge vs the SPMT reference under a laser scan of 0-100 PE per channel)
gives, for each of the 17,612 LPMT channels, the true charge as a function of the measured one.
It is stored on a common grid of measured charges ``charge_grid`` [PE] (K nodes, strictly
increasing) as a ``(17612, K)`` table ``true_charge`` [PE], each row strictly increasing (a
correction curve that is not monotonic is rejected: it would map two charges to one).
Between nodes the correction is linear; outside the grid it continues the first/last segment.

``true_charge`` is stored as float32: 17,612 x 32 x 4 B = 2.25 MB instead of 4.5 MB; the float32
relative precision (6e-8) is five orders of magnitude below the 0.3 % residual of the dual
calorimetry (section 2.3.5) and below the single-PE charge resolution (30 %), and all arithmetic
on it is done in float64.

``status`` per channel: 0 = GOOD (apply the curve), 1 = NO_CURVE (charge passed through
unchanged; the row is ignored), 2 = DEAD (charge dropped, i.e. corrected to 0 PE; row ignored).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from conditions.payloads.base import (
    F4Matrix,
    F8Vector,
    FieldError,
    I4Vector,
    Payload,
    U1Vector,
    check_strictly_increasing,
    payload_type,
)
from fitting.physics.detector import N_LPMT as N_LPMT_NOMINAL

#: Number of LPMT channels of the JUNO central detector.
N_LPMT = N_LPMT_NOMINAL


class ChannelStatus(IntEnum):
    """Per-channel status flag of :class:`LpmtNonlinearityV1`."""

    GOOD = 0
    NO_CURVE = 1
    DEAD = 2


@payload_type
class LpmtNonlinearityV1(Payload):
    """Per-channel LPMT correction curves measured charge -> true charge (section 2.2)."""

    TYPE_NAME = "lpmt_nonlinearity"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    channel_ids: I4Vector = Field(description=f"LPMT channel ids ({N_LPMT}, unique, >= 0)")
    charge_grid: F8Vector = Field(
        description="measured-charge nodes of the curves [PE], strictly increasing, >= 0"
    )
    true_charge: F4Matrix = Field(
        description="true charge at each node [PE], shape (n_channels, n_nodes), float32"
    )
    status: U1Vector = Field(description="per-channel status: 0 GOOD, 1 NO_CURVE, 2 DEAD")

    @model_validator(mode="after")
    def _check(self) -> LpmtNonlinearityV1:
        ids = self.channel_ids
        if ids.shape != (N_LPMT,):
            raise FieldError("channel_ids", f"expected {N_LPMT} channels, got {ids.shape[0]}")
        if int(ids.min()) < 0:
            raise FieldError("channel_ids", "negative channel id")
        uniq, counts = np.unique(ids, return_counts=True)
        if uniq.size != ids.size:
            raise FieldError("channel_ids", f"duplicate channel id {int(uniq[counts > 1][0])}")
        grid = self.charge_grid
        if grid.shape[0] < 2:
            raise FieldError("charge_grid", "needs at least 2 nodes")
        check_strictly_increasing("charge_grid", grid, "nodes")
        if grid[0] < 0:
            raise FieldError("charge_grid", "negative charge node")
        if self.true_charge.shape != (N_LPMT, grid.shape[0]):
            raise FieldError(
                "true_charge",
                f"expected shape ({N_LPMT}, {grid.shape[0]}), got {self.true_charge.shape}",
            )
        if self.status.shape != (N_LPMT,):
            raise FieldError("status", f"expected {N_LPMT} entries, got {self.status.shape[0]}")
        if int(self.status.max()) > max(ChannelStatus):
            raise FieldError("status", f"unknown status {int(self.status.max())}")
        good = self.status == ChannelStatus.GOOD
        steps = np.diff(self.true_charge[good].astype(np.float64), axis=1)
        bad_rows = ~np.all(steps > 0, axis=1)
        if bool(bad_rows.any()):
            channel = int(ids[good][bad_rows][0])
            raise FieldError(
                "true_charge",
                f"correction curve of channel {channel} not strictly increasing",
            )
        return self
