"""JUNO central-detector constants used by fits, the mock detector and the energy scale.

Sources: the calibration paper (sections 1, 2.3.3, 3.5, 4) and its Figure 12 layout.
Lengths in mm unless the name says otherwise.
"""

from __future__ import annotations

R_LS_MM: float = 17_700.0
"""Inner radius of the acrylic sphere = radius of the liquid scintillator [mm]."""
R_LS_M: float = R_LS_MM / 1000.0
"""The same in metres (the payloads' spline coordinates use metres)."""
GT_RADIUS_MM: float = 17_900.0
"""Radius of the Guide Tube, just outside the 12 cm acrylic [mm] (section 4.2)."""
LPMT_RADIUS_MM: float = 19_434.0
"""Radius of the LPMT photocathode sphere [mm]."""
ACU_PARKING_MM: float = 29_000.0
"""Height of the ACU source parking position above the centre [mm] (section 4.1)."""
B12_FIDUCIAL_MM: float = 15_000.0
"""Fiducial radius of the 12B sample [mm] (section 2.1.3: r < 15 m, acceptance 0.61)."""

N_LPMT: int = 17_612
"""Nominal number of 20-inch LPMT channels."""
N_SPMT: int = 25_600
"""Nominal number of 3-inch SPMT channels."""
N_LPMT_DARK_ESTIMATE: int = 17_600
"""LPMT count used by the paper's dark-noise estimate (section 2.3.3)."""
DARK_WINDOW_NS: float = 350.0
"""Analysis time window of the dark-noise pile-up [ns] (section 2.3.3)."""
