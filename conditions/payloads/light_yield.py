"""``light_yield`` payload: the light yield Y0 of Eq. (2.1) / (3.3).

Y0 is the number of photoelectrons per MeV of visible energy at the detector centre, measured with
the n-H capture gamma (2.223 MeV) of a neutron source at the CD centre (paper section 2.1.3:
Y0 = 1345 PE/MeV for LPMT + SPMT).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from conditions.payloads.base import Payload, Real, payload_type

#: Which photosensor system's PE sum Y0 (and the consumer's PE input) refers to.
PeSource = Literal["lpmt", "spmt", "lpmt+spmt"]


@payload_type
class LightYieldV1(Payload):
    """Light yield Y0 [PE/MeV] (Eq. 2.1: E_vis = PE / Y0)."""

    TYPE_NAME = "light_yield"
    SCHEMA_VERSION = 1

    schema_version: Literal[1] = Field(1, description="schema version of this document")
    y0: Real = Field(gt=0, description="light yield Y0 [PE/MeV] (Eq. 2.1)")
    y0_uncertainty: Real = Field(ge=0, description="1 sigma uncertainty of Y0 [PE/MeV]")
    pe_source: PeSource = Field(
        "lpmt+spmt",
        description="PE sum Y0 refers to: 'lpmt', 'spmt' or 'lpmt+spmt' (Eq. 3.3 PE_tot)",
    )
    reference: str = Field(
        "n-H capture gamma at CD centre",
        description="calibration reference the light yield was measured with",
    )
    reference_energy: Real = Field(
        2.223, gt=0, description="true gamma energy of the reference [MeV]"
    )
    n_events: int = Field(ge=0, description="number of events in the fit")
    chi2: Real = Field(ge=0, description="chi2 of the peak fit")
    ndf: int = Field(ge=0, description="degrees of freedom of the peak fit")
