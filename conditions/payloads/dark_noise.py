"""``dark_noise`` payload: the dark-rate pile-up offset Delta Q_DR of Eq. (3.3).

Delta Q_DR [PE] is the mean charge that PMT dark counts add to an event inside the analysis window,
measured with random triggers (paper section 2.3.3: 350 ns x 17,600 LPMT x 30 kHz = 184.8 PE).

Schema evolution example: version 2 adds the mean per-channel dark rates and the number of random
triggers; version-1 payloads stay readable and :func:`upgrade_v1` maps them to version 2 with the
new fields unset (``None``: "not recorded").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conditions.payloads.base import Payload, Real, payload_type


class _DarkNoiseCommon(Payload):
    """Fields every version of ``dark_noise`` has."""

    TYPE_NAME = "dark_noise"

    offset_lpmt: Real = Field(ge=0, description="Delta Q_DR summed over LPMTs [PE]")
    offset_lpmt_uncertainty: Real = Field(ge=0, description="1 sigma of offset_lpmt [PE]")
    offset_spmt: Real = Field(ge=0, description="Delta Q_DR summed over SPMTs [PE]")
    offset_spmt_uncertainty: Real = Field(ge=0, description="1 sigma of offset_spmt [PE]")
    window_ns: Real = Field(gt=0, description="analysis time window [ns] (paper: 350 ns)")


@payload_type
class DarkNoiseV1(_DarkNoiseCommon):
    """Dark-noise offsets Delta Q_DR [PE] for the LPMT and SPMT systems (Eq. 3.3)."""

    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")


@payload_type
class DarkNoiseV2(_DarkNoiseCommon):
    """Dark-noise offsets Delta Q_DR [PE] (Eq. 3.3) with mean dark rates (v2 of v1 + rates)."""

    SCHEMA_VERSION = 2

    schema_version: Literal[2] = Field(2, description="schema version of this document")
    rate_lpmt_hz: Real | None = Field(
        None, ge=0, description="mean dark rate per LPMT channel [Hz] (paper: 30 kHz)"
    )
    rate_spmt_hz: Real | None = Field(
        None, ge=0, description="mean dark rate per SPMT channel [Hz]"
    )
    n_random_triggers: int | None = Field(
        None, ge=0, description="number of random triggers the offsets were measured with"
    )


def upgrade_v1(old: DarkNoiseV1) -> DarkNoiseV2:
    """Version 1 -> version 2; the fields new in version 2 are ``None`` (not recorded)."""
    data = {k: getattr(old, k) for k in _DarkNoiseCommon.model_fields}
    return DarkNoiseV2(**data)
