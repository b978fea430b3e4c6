"""Typed, versioned payload schemas of the JUNO calibration constants and their canonical bytes.

One pydantic v2 model per payload type and schema version (frozen, ``extra="forbid"``, units in
the field descriptions), registered in :data:`PAYLOAD_TYPES`:

=====================  =============================================================  =========
type name              content                                                        paper
=====================  =============================================================  =========
light_yield            Y0 [PE/MeV]                                                    Eq. 2.1
dark_noise             Delta Q_DR [PE] for LPMT and SPMT (v1, v2)                     Eq. 3.3
energy_nonlinearity    p0..p3 of f_nonlin, covariance, range, E_vis^anni, band         Eq. 2.4-5
lpmt_nonlinearity      per-channel LPMT charge correction curves (17,612 channels)    sec. 2.2
nonuniformity_map      g(r, theta) spline + calibration points                        Eq. 3.3
energy_resolution      a, b, c, covariance, a_tilde                                    Eq. 3.1-2
=====================  =============================================================  =========

The canonical byte format is documented in :mod:`conditions.payloads.encoding`.
"""

from conditions.payloads.dark_noise import DarkNoiseV1, DarkNoiseV2
from conditions.payloads.encoding import encode_payload, payload_hash
from conditions.payloads.light_yield import LightYieldV1
from conditions.payloads.lpmt import N_LPMT, ChannelStatus, LpmtNonlinearityV1
from conditions.payloads.lpmt_gain import GainStatus, LpmtGainV1
from conditions.payloads.nonlinearity import EnergyNonlinearityV1
from conditions.payloads.registry import (
    LATEST,
    PAYLOAD_TYPES,
    decode_payload,
    json_schema,
    model_class,
    parse_document,
    type_of,
    upgrade,
)
from conditions.payloads.resolution import EnergyResolutionV1
from conditions.payloads.uniformity import NonuniformityMapV1

__all__ = [
    "LATEST",
    "N_LPMT",
    "PAYLOAD_TYPES",
    "ChannelStatus",
    "DarkNoiseV1",
    "DarkNoiseV2",
    "EnergyNonlinearityV1",
    "EnergyResolutionV1",
    "GainStatus",
    "LightYieldV1",
    "LpmtGainV1",
    "LpmtNonlinearityV1",
    "NonuniformityMapV1",
    "decode_payload",
    "encode_payload",
    "json_schema",
    "model_class",
    "parse_document",
    "payload_hash",
    "type_of",
    "upgrade",
]
