"""Per-channel LPMT charge correction of the energy scale (paper section 2.2); the curves
themselves are :func:`fitting.physics.lpmt.interpolate_curves`."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from conditions.payloads import ChannelStatus, LpmtNonlinearityV1
from fitting.physics.lpmt import interpolate_curves


class LpmtCorrection:
    """Piecewise-linear per-channel charge correction (section 2.2), vectorised over hits.

    NO_CURVE channels get the identity and DEAD channels the zero function, folded into the table
    at build time so that applying it needs no per-status branching.
    """

    def __init__(self, payload: LpmtNonlinearityV1) -> None:
        grid = payload.charge_grid
        table = payload.true_charge.astype(np.float64)
        table[payload.status == ChannelStatus.NO_CURVE] = grid
        table[payload.status == ChannelStatus.DEAD] = 0.0
        self.grid = grid
        self.table = table
        ids = payload.channel_ids
        self.row_of = np.full(int(ids.max()) + 1, -1, dtype=np.intp)
        self.row_of[ids] = np.arange(ids.size)

    def __call__(self, channel_ids: ArrayLike, charges: ArrayLike) -> np.ndarray:
        """True charge [PE] of hits with measured ``charges`` [PE] on ``channel_ids``.

        Linear between nodes, continued with the end segments outside the grid.  Raises
        ``ValueError`` for channel ids the payload does not know.
        """
        ids = np.asarray(channel_ids)
        q = np.asarray(charges, dtype=np.float64)
        if ids.shape != q.shape:
            raise ValueError(f"channel_ids shape {ids.shape} != charges shape {q.shape}")
        known = (ids >= 0) & (ids < self.row_of.size)
        rows = np.full(ids.shape, -1, dtype=np.intp)
        rows[known] = self.row_of[ids[known]]
        if bool((rows < 0).any()):
            bad = ids[rows < 0][:5].tolist()
            raise ValueError(f"unknown LPMT channel ids {bad}")
        return interpolate_curves(self.grid, self.table, rows, q)
