"""``lpmt_gain`` payload: per-channel LPMT gain from the low-intensity laser steps (section 2.2).

The channel non-linearity payload normalises each channel to its own low-light slope, so a gain
change of one channel is invisible there; this payload keeps it.  Two estimates per channel
(:mod:`fitting.gain`):

* ``gain``: mean charge of one photoelectron in the campaign's PE unit, from photon statistics
  (variance / mean of the low-intensity steps, Eq. G1); 1 = calibrated;
* ``relative_response``: the dual-calorimetry slope (LPMT PE per SPMT PE) relative to the median
  channel: gain x QE x illumination, with far smaller errors; a step of it between campaigns at
  the same laser position is a gain (or QE) change of that channel.

``spe_resolution`` is the single-PE charge resolution sigma/mean used (measured or configured).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from conditions.payloads.base import (
    F8Vector,
    FieldError,
    I4Vector,
    Payload,
    Real,
    U1Vector,
    payload_type,
)


class GainStatus(IntEnum):
    """Per-channel status of :class:`LpmtGainV1`."""

    GOOD = 0
    NO_ESTIMATE = 1
    DEAD = 2


@payload_type
class LpmtGainV1(Payload):
    """Per-channel LPMT gain and relative response (any number of channels)."""

    TYPE_NAME = "lpmt_gain"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    channel_ids: I4Vector = Field(description="LPMT channel ids (unique, >= 0)")
    gain: F8Vector = Field(description="SPE gain per channel, photon statistics (1 = nominal)")
    gain_uncertainty: F8Vector = Field(description="1 sigma of gain (dimensionless)")
    relative_response: F8Vector = Field(
        description="dual-calorimetry slope / median channel (gain x QE x illumination)")
    relative_response_uncertainty: F8Vector = Field(description="1 sigma of relative_response")
    status: U1Vector = Field(description="0 GOOD, 1 NO_ESTIMATE, 2 DEAD")
    spe_resolution: Real = Field(ge=0, description="single-PE charge resolution sigma/mean")
    spe_resolution_measured: bool = Field(description="True if measured, False if configured")
    laser_jitter: Real = Field(ge=0, description="relative pulse-to-pulse laser jitter")
    laser_position_mm: tuple[Real, Real, Real] = Field(description="laser position [mm]")

    @field_validator("laser_position_mm", mode="before")
    @classmethod
    def _json_array(cls, v: object) -> object:
        # the canonical encoding stores the tuple as a JSON array (a list): same content
        return tuple(v) if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check(self) -> LpmtGainV1:
        n = self.channel_ids.shape[0]
        if n == 0:
            raise FieldError("channel_ids", "no channels")
        if np.unique(self.channel_ids).size != n or int(self.channel_ids.min()) < 0:
            raise FieldError("channel_ids", "channel ids must be unique and >= 0")
        for name in ("gain", "gain_uncertainty", "relative_response",
                     "relative_response_uncertainty", "status"):
            if getattr(self, name).shape != (n,):
                raise FieldError(name, f"expected {n} entries")
        if int(self.status.max()) > max(GainStatus):
            raise FieldError("status", f"unknown status {int(self.status.max())}")
        return self
