"""Calibration sources of Table 1 (paper section 2.1.1): the gamma lines they emit.

Energies in MeV.  ``PEAKS_OF_SOURCE`` lists the peaks a run of each deployed source shows at
the centre (the (alpha, n) sources also give neutron-capture gammas).
"""

from __future__ import annotations

from dataclasses import dataclass

ELECTRON_MASS_MEV: float = 0.51099895
"""Electron rest energy [MeV] (CODATA 2018)."""


@dataclass(frozen=True)
class GammaSource:
    """A calibration gamma line of Table 1.

    ``gammas``: energies [MeV] emitted together in one event (a cascade); ``back_to_back``:
    True when the two gammas are collinear (68Ge annihilation); ``neutron``: True for the
    (alpha, n) sources whose neutrons also give n-H / n-C capture events; ``prompt_fraction``:
    for those, the fraction of neutrons accompanied by the prompt gamma (mock values: AmBe
    0.57, AmC 0.30).
    """

    name: str
    label: str
    gammas: tuple[float, ...]
    back_to_back: bool = False
    neutron: bool = False
    prompt_fraction: float = 1.0

    @property
    def total_energy(self) -> float:
        """Sum of the gamma energies E^gamma of one event [MeV]."""
        return float(sum(self.gammas))


GAMMA_SOURCES: dict[str, GammaSource] = {
    s.name: s
    for s in (
        GammaSource("Cs137", "137Cs", (0.6617,)),
        GammaSource("Mn54", "54Mn", (0.8348,)),
        GammaSource("Ge68", "68Ge", (ELECTRON_MASS_MEV, ELECTRON_MASS_MEV), back_to_back=True),
        GammaSource("K40", "40K", (1.4608,)),
        GammaSource("nH", "n-H capture", (2.2232,)),
        GammaSource("Co60", "60Co", (1.1732, 1.3325)),
        GammaSource("AmBe", "241Am-Be (12C*)", (4.439,), neutron=True, prompt_fraction=0.57),
        GammaSource("nC", "n-12C capture", (4.9463,)),
        GammaSource("AmC", "241Am-13C (16O*)", (6.130,), neutron=True, prompt_fraction=0.30),
    )
}
"""Table 1 sources by short name: Cs137, Mn54, Ge68, K40, nH, Co60, AmBe, nC, AmC."""

PEAKS_OF_SOURCE: dict[str, tuple[str, ...]] = {
    "Cs137": ("Cs137",),
    "Mn54": ("Mn54",),
    "Co60": ("Co60",),
    "K40": ("K40",),
    "Ge68": ("Ge68",),
    "AmBe": ("AmBe", "nC", "nH"),
    "AmC": ("AmC", "nH"),
}
"""Peaks measured in each deployed source's runs at the centre (section 2.1.1, Table 1)."""
