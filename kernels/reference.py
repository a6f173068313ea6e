"""Plain-numpy reference implementation of the PGD step kernels: the oracle.

Every backend is tested against these functions. They define the arithmetic exactly:

l∞ step (Madry et al. 2018, Eq. (2) with the l∞ projection), computed in the dtype ``T``
of ``x`` with scalars rounded to ``T`` first::

    x0v   = x0                       (or T(x0) / T(255) when x0 is uint8)
    y     = x + s,   s = α if g > 0, −α if g < 0, +0 otherwise
    y     = y        where y >= x0v − ε, else x0v − ε;   y where y <= x0v + ε, else x0v + ε
    y     = lo       where y < lo;        hi       where y > hi

(comparisons, not ``min``/``max``, so that signed zeros and NaN behave the same in every
backend; the ε-box is written so that a non-finite ``x0`` element gives NaN in that
element of the result — never an unconstrained value — and a NaN in ``x`` gives x0v − ε).
Every operation is a single IEEE operation in ``T`` — ``α·s`` is exact — so every backend
must agree bit for bit.

l2 step (normalised-gradient PGD, Madry et al. 2018 / Rony et al.), per sample (the first
axis is the batch), accumulated in float64::

    s  = α / ‖g‖₂   (0 when ‖g‖₂ = 0: a zero gradient is a zero step)
    y  = x + s·g,  d = y − x0v,  f = ε / ‖d‖₂ unless ‖d‖₂ <= ε, else 1
    out = T(x0v + f·d) unless ‖d‖₂ <= ε, else T(y), then clipped to [T(lo), T(hi)]

all in float64, so that s·g = α·g/‖g‖₂ cannot overflow whatever ‖g‖₂ (a tiny gradient
gives s far beyond float32's range). A sample with a non-finite ``x0`` element is NaN
throughout (its norm is NaN), never left unprojected.

ε and α are measured in the units of ``x`` (pixels in [0, 1] for images, so ε = 8/255 is
"8 grey levels" when ``x0`` holds uint8 images).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["l2_step", "linf_step", "project_l2", "project_linf"]


#: α or ε: one value for the batch or one per sample (shape ``(batch,)``).
PerSample = float | np.ndarray


def _x0_values(x0: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x0.dtype == np.uint8:
        out: np.ndarray = x0.astype(dtype) / dtype.type(255)
        return out
    return x0.astype(dtype, copy=False)


def _per_sample(v: float | np.ndarray, dtype: np.dtype, ndim: int) -> np.ndarray:
    arr = np.asarray(v).astype(dtype)
    if arr.ndim == 1:
        return arr.reshape((-1,) + (1,) * (ndim - 1))
    return arr


def _clip(y: np.ndarray, lower: Any, upper: Any) -> np.ndarray:
    y = np.where(y < lower, lower, y)
    out: np.ndarray = np.where(y > upper, upper, y)
    return out


def _clip_ball(y: np.ndarray, lower: Any, upper: Any) -> np.ndarray:
    """The ε-box: a NaN bound (a non-finite x0) gives NaN, never an unconstrained value."""
    y = np.where(y >= lower, y, lower)
    out: np.ndarray = np.where(y <= upper, y, upper)
    return out


def linf_step(
    x: npt.ArrayLike,
    x0: npt.ArrayLike,
    g: npt.ArrayLike,
    alpha: PerSample,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
) -> np.ndarray:
    """Reference l∞ PGD step; returns a new array of ``x``'s dtype (see module docstring)."""
    x = np.asarray(x)
    t = x.dtype
    a = _per_sample(alpha, t, x.ndim)
    e = _per_sample(eps, t, x.ndim)
    x0v = _x0_values(np.asarray(x0), t)
    g = np.asarray(g)
    zero = t.type(0)
    s = np.where(g > 0, a, np.where(g < 0, -a, zero)).astype(t)
    y = (x + s).astype(t)
    y = _clip_ball(y, (x0v - e).astype(t), (x0v + e).astype(t))
    return _clip(y, t.type(lo), t.type(hi)).astype(t)


def project_linf(
    x: npt.ArrayLike, x0: npt.ArrayLike, eps: PerSample, lo: float = 0.0, hi: float = 1.0
) -> np.ndarray:
    """Reference projection onto the l∞ ball of radius ``eps`` around ``x0`` and the box."""
    x = np.asarray(x)
    t = x.dtype
    e = _per_sample(eps, t, x.ndim)
    x0v = _x0_values(np.asarray(x0), t)
    y = _clip_ball(x, (x0v - e).astype(t), (x0v + e).astype(t))
    return _clip(y, t.type(lo), t.type(hi)).astype(t)


def _sample_norm(v: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.sqrt(np.sum(v.reshape(v.shape[0], -1) ** 2, axis=1))
    return out


def _l2(
    x: npt.ArrayLike,
    x0: npt.ArrayLike,
    g: npt.ArrayLike | None,
    alpha: PerSample,
    eps: PerSample,
    lo: float,
    hi: float,
) -> np.ndarray:
    x = np.asarray(x)
    t = x.dtype
    n = x.shape[0]
    shape = (n,) + (1,) * (x.ndim - 1)
    xf = x.astype(np.float64)
    x0f = _x0_values(np.asarray(x0), t).astype(np.float64)
    a = np.broadcast_to(np.asarray(alpha, dtype=t).astype(np.float64), (n,))
    e = np.broadcast_to(np.asarray(eps, dtype=t).astype(np.float64), (n,))
    if g is None:
        y = xf
    else:
        gf = np.asarray(g).astype(np.float64)
        gn = _sample_norm(gf)
        s = np.divide(a, gn, out=np.zeros(n), where=gn > 0)
        y = xf + s.reshape(shape) * gf
    with np.errstate(invalid="ignore"):  # inf − inf with a non-finite x0
        d = y - x0f
        dn = _sample_norm(d)
    proj = ~(dn <= e)  # NaN norm (non-finite x0): projected, i.e. NaN
    with np.errstate(invalid="ignore"):  # non-finite x0 only: NaN is the defined result
        f = np.divide(e, dn, out=np.ones(n), where=proj)
        z = np.where(proj.reshape(shape), x0f + f.reshape(shape) * d, y).astype(t)
    return _clip(z, t.type(lo), t.type(hi)).astype(t)


def l2_step(
    x: npt.ArrayLike,
    x0: npt.ArrayLike,
    g: npt.ArrayLike,
    alpha: PerSample,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
) -> np.ndarray:
    """Reference l2 PGD step; returns a new array of ``x``'s dtype (see module docstring)."""
    return _l2(x, x0, g, alpha, eps, lo, hi)


def project_l2(
    x: npt.ArrayLike, x0: npt.ArrayLike, eps: PerSample, lo: float = 0.0, hi: float = 1.0
) -> np.ndarray:
    """Reference projection onto the l2 ball (per sample) around ``x0`` and the box."""
    return _l2(x, x0, None, 0.0, eps, lo, hi)
