"""Benchmark of the reconstruction-side energy scale (conditions/energy.py).

Prints:

1. events/s of the full correction (Eq. 3.3 with the g(r, theta) spline, then Eq. 2.4 through
   the inverse of E f_nonlin(E)) on N events (default 10M) on one core, and the ratio of its time
   to two same-run baselines over the same arrays:
   * "floor": the bare memory traffic of the job, one numpy pass reading the four inputs
     (PE, x, y, z) and writing the three outputs (E_vis, E_rec, flags);
   * "Eq. 2.1": the single expression ``(PE - dQ) / Y0`` (what an uncorrected scale costs);
2. hits/s of the per-channel LPMT charge correction (as many hits as events);
3. the time to build the consumer for 1,000 consecutive runs whose IOVs mostly share payload
   hashes (dark noise changes every 20 runs, light yield every 100, the rest never), from cold
   caches, with the number of builds and payload fetches.

Usage: ``python benchmarks/bench_energy.py [--events N] [--repeat R]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core (numpy element-wise ops are serial)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conditions import energy
from conditions.energy import EnergyScale
from conditions.payloads import encode_payload, examples, payload_hash
from conditions.payloads.nonlinearity import EnergyNonlinearityV1


def best_of(repeat: int, func: Callable[[], Any]) -> float:
    """Smallest wall time [s] of ``repeat`` calls (the least disturbed by other processes)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def make_events(n: int, scale: EnergyScale, seed: int = 1) -> tuple[np.ndarray, ...]:
    """Positrons of 0.5-9 MeV uniform in r < 17 m, PE from the inverse chain (no smearing)."""
    rng = np.random.default_rng(seed)
    e_true = rng.uniform(0.5, 9.0, n)
    r = 17.0 * np.cbrt(rng.uniform(0.0, 1.0, n))
    cos_t = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    x, y, z = r * sin_t * np.cos(phi), r * sin_t * np.sin(phi), r * cos_t
    nl = scale.nonlinearity
    assert isinstance(nl, EnergyNonlinearityV1)
    g, _ = scale.g(x, y, z)
    pe = (nl.visible_electron_energy(e_true) + nl.e_vis_anni) * scale.light_yield.y0 * g
    pe += scale.delta_q_dr
    return pe, x, y, z, e_true


def bench_events(n: int, repeat: int) -> None:
    scale = EnergyScale.from_payloads(examples.all_payloads())
    pe, x, y, z, e_true = make_events(n, scale)
    e_vis = np.empty(n)
    e_rec = np.empty(n)
    flags = np.empty(n, dtype=np.uint8)

    def floor() -> None:
        np.add(pe, x, out=e_vis)
        np.add(y, z, out=e_rec)
        flags.fill(0)

    def eq21() -> None:
        np.subtract(pe, scale.delta_q_dr, out=e_vis)
        np.multiply(e_vis, scale.inv_y0, out=e_vis)

    result: list[Any] = []

    def full() -> None:
        result[:] = [scale.reconstruct(pe, x, y, z)]

    t_full = best_of(repeat, full)
    t_floor = best_of(repeat, floor)
    t_eq21 = best_of(repeat, eq21)
    res = result[0]
    worst = float(np.max(np.abs(res.e_rec - e_true) / e_true))
    print(f"events                         : {n:,}")
    print(f"full correction (Eq 3.3 + 2.4) : {t_full:.3f} s  = {n / t_full / 1e6:.2f} M events/s")
    print(f"floor (read 4, write 3 arrays) : {t_floor:.3f} s  -> full / floor = "
          f"{t_full / t_floor:.1f}")
    print(f"Eq 2.1 alone ((PE - dQ) / Y0)  : {t_eq21:.3f} s  -> full / Eq 2.1 = "
          f"{t_full / t_eq21:.1f}")
    print(f"closure max |E_rec - E|/E      : {worst:.2e}  (flags set: {int(res.flags.any())})")
    print(f"inverse table                  : {scale.inverse.n} intervals, error ratio "
          f"{scale.inverse.max_error_ratio:.2f} of (1e-13 MeV + 1e-11 E)")


def bench_lpmt(n_hits: int, repeat: int) -> None:
    """Per-channel LPMT charge correction (section 2.2) on ``n_hits`` hits."""
    scale = EnergyScale.from_payloads(examples.all_payloads())
    rng = np.random.default_rng(3)
    channels = rng.integers(0, 17612, n_hits).astype(np.int32)
    charges = rng.exponential(5.0, n_hits)
    t = best_of(repeat, lambda: scale.correct_lpmt_charges(channels, charges))
    print(f"LPMT channel correction        : {n_hits:,} hits in {t:.3f} s = "
          f"{n_hits / t / 1e6:.1f} M hits/s")


@dataclass(frozen=True)
class Resolved:
    record: str
    payload_type: str
    payload_hash: str
    since: int
    until: int | None


def bench_runs(n_runs: int = 1000) -> None:
    """from_resolved for consecutive runs; most runs share every hash with the previous one."""
    base = examples.all_payloads()
    blobs: dict[str, bytes] = {}

    def put(model: Any) -> str:
        data = encode_payload(model)
        digest = payload_hash(data)
        blobs[digest] = data
        return digest

    fixed = {name: put(model) for name, model in base.items()}
    ly0 = base["light_yield"]
    dn0 = base["dark_noise"]
    ly_hashes = [
        put(type(ly0).model_validate({**ly0.model_dump(), "y0": 1345.0 + 0.1 * k}))
        for k in range(n_runs // 100 + 1)
    ]
    dn_hashes = [
        put(type(dn0).model_validate({**dn0.model_dump(), "offset_lpmt": 184.8 + 0.01 * k}))
        for k in range(n_runs // 20 + 1)
    ]
    plan = []
    for run in range(1, n_runs + 1):
        rec = {n: Resolved(n, n, h, 1, None) for n, h in fixed.items()}
        ly_k, dn_k = (run - 1) // 100, (run - 1) // 20
        rec["light_yield"] = Resolved("light_yield", "light_yield", ly_hashes[ly_k],
                                      1 + 100 * ly_k, 101 + 100 * ly_k)
        rec["dark_noise"] = Resolved("dark_noise", "dark_noise", dn_hashes[dn_k],
                                     1 + 20 * dn_k, 21 + 20 * dn_k)
        plan.append(rec)
    fetches = 0

    def fetch(digest: str) -> bytes:
        nonlocal fetches
        fetches += 1
        return blobs[digest]

    energy.clear_caches()
    start = time.perf_counter()
    first = EnergyScale.from_resolved(plan[0], fetch)
    t_first = time.perf_counter() - start
    start = time.perf_counter()
    previous = first
    builds = 1
    for rec in plan[1:]:
        scale = EnergyScale.from_resolved(rec, fetch)
        builds += scale is not previous
        previous = scale
    t_rest = time.perf_counter() - start
    total = t_first + t_rest
    print(f"runs                           : {n_runs} ({builds} builds, "
          f"{fetches} payload fetches)")
    print(f"first (cold) build             : {t_first * 1e3:.1f} ms (incl. 2.3 MB LPMT decode)")
    print(f"all {n_runs} runs                  : {total:.3f} s total, "
          f"{total / n_runs * 1e3:.3f} ms/run mean; runs 2..{n_runs}: "
          f"{t_rest / (n_runs - 1) * 1e6:.0f} us/run incl. rebuilds")
    energy.clear_caches()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=1000)
    args = parser.parse_args()
    bench_events(args.events, args.repeat)
    bench_lpmt(args.events, args.repeat)
    bench_runs(args.runs)


if __name__ == "__main__":
    main()
