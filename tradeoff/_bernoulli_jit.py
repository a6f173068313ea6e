"""Numba kernel behind :mod:`tradeoff.bernoulli` (compiled on first use, cached on disk by
:mod:`tradeoff._jit_cache`)."""

from __future__ import annotations

import math

import numpy as np

from tradeoff._jit_cache import njit

#: the rotated phases are recomputed exactly every RESYNC frequencies
RESYNC = 256
#: features whose phases are advanced by rotation (the rest use cos/sin directly):
#: all of them for small d, else the first 64 (products usually fall below the
#: threshold within ~50 factors, so later features are rarely needed)
ROTATED_SMALL_D = 192
ROTATED = 64


@njit(nogil=True)
def cf_on_grid(
    v: np.ndarray, two_tau: np.ndarray, t0: float, dt: float, thr2: float, out: np.ndarray
) -> int:
    """``out[k] = Π_j (cos v_j t_k + i·2τ_j sin v_j t_k)``, ``t_k = t0 + k·dt``; 0 once small.

    Every factor has modulus <= 1, so a partial product bounds the full one: a product
    stopped early (``|·|² < thr2``) has modulus below ``sqrt(thr2)``. The phases of the
    first ``ROTATED`` features are advanced by one complex rotation per frequency and
    recomputed exactly every ``RESYNC`` frequencies (relative drift <= RESYNC·4·2⁻⁵³
    per factor). Returns how many products were stopped.
    """
    stopped = 0
    d = v.size
    J = d if d <= ROTATED_SMALL_D else ROTATED
    zr = np.empty(J)
    zi = np.empty(J)
    rr = np.empty(J)
    ri = np.empty(J)
    for j in range(J):
        rr[j] = math.cos(v[j] * dt)
        ri[j] = math.sin(v[j] * dt)
    for k in range(out.size):
        tk = t0 + k * dt
        if k % RESYNC == 0:
            for j in range(J):
                zr[j] = math.cos(v[j] * tk)
                zi[j] = math.sin(v[j] * tk)
        re = 1.0
        im = 0.0
        small = False
        for j in range(J):
            c = zr[j]
            s = two_tau[j] * zi[j]
            re, im = re * c - im * s, re * s + im * c
            if (j & 15) == 15 and re * re + im * im < thr2:
                small = True
                break
        for j in range(J):  # advance the phases to the next frequency
            zr[j], zi[j] = zr[j] * rr[j] - zi[j] * ri[j], zr[j] * ri[j] + zi[j] * rr[j]
        if not small and re * re + im * im < thr2:
            small = True
        if not small:
            for j in range(J, d):
                th = v[j] * tk
                c = math.cos(th)
                s = two_tau[j] * math.sin(th)
                re, im = re * c - im * s, re * s + im * c
                if (j & 7) == 7 and re * re + im * im < thr2:
                    small = True
                    break
        if small:
            out[k] = 0.0
            stopped += 1
        else:
            out[k] = complex(re, im)
    return stopped
