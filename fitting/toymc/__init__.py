"""Mock JUNO detector and calibration-campaign generator with known truth (issue 4).

Public API (details in each module):

* :class:`DetectorTruth` (``truth.py``): every true constant; ``DetectorTruth.default()``,
  ``.realistic()``, ``.at_day(d)``; ``electron_visible_energy(T_MeV) -> E_vis [MeV]``
  (Birks + Cherenkov) and ``nonlin_true(T) = E_vis / T`` (Eq. 2.3); ``g(r_mm, theta_rad)``.
* ``gammas.py``: :data:`GAMMA_SOURCES` (Table 1) and
  ``secondary_electrons(source, n_events, rng) -> (energies_flat [MeV], event_index)``
  (Eq. 2.6/2.7: ``np.bincount(idx, truth.electron_visible_energy(e))`` = E_vis^gamma per event).
* ``beta12b.py``: ``b12_spectrum``, ``sample_b12_kinetic``; ``positrons.py``; ``noise.py``;
  ``vertex.py``; ``gmap.py`` (true g); ``pmts.py`` (per-channel LPMT truth);
  ``laser.py`` (``simulate_laser_scan``, :class:`LaserScan`).
* ``events.py``: ``source_events``, ``b12_events``, ``positron_events``, ``electron_events``,
  ``random_trigger_events`` -> dict of columns (documented there and in :mod:`fitting.io`);
  ``detection.py`` (deposits -> PE, Eq. 3.3 backwards); ``library.py`` (cached deposit
  libraries for the many off-centre points).
* ``layout.py`` / ``campaign.py``: deployment points (Fig. 12, from :mod:`fitting.layouts`)
  and travel times, programs of Tables 5-7, ``write_campaign(kind, first_run, out_dir, seed)``
  -> manifest + data + truth files (read back with :func:`fitting.io.load_manifest`).
"""

from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.truth import DetectorTruth, DriftModel

__all__ = ["GAMMA_SOURCES", "DetectorTruth", "DriftModel", "secondary_electrons"]
