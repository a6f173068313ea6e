"""Fused PGD step kernels, installed as :mod:`tradeoff.kernels`.

One API for the inner loop of projected gradient descent (Madry et al. 2018, Eq. (2)):

- :func:`linf_step` — ``x ← clip(clip(x + α·sign(g), x0 − ε, x0 + ε), lo, hi)``, one pass;
- :func:`l2_step` — normalised-gradient step, projection onto the l2 ball, clip; per sample;
- :func:`project_linf`, :func:`project_l2` — the projections alone;
- :func:`random_start` — exactly uniform starts in the l∞ / l2 ball, clipped to the box;
- :func:`available_backends`;
- :func:`thread_policy` — get or set how the CPU kernels use Numba's thread pool
  (``"auto"``, ``"serial"``, ``"parallel"``; see :mod:`tradeoff.kernels._threads`).

Dispatch is on the array type: numpy arrays and CPU torch tensors (zero-copy views) run
the Numba CPU kernels; CuPy arrays and CUDA torch tensors run CuPy kernels (or the Numba
CUDA ones with ``backend="numba-cuda"``) on the current stream. ``backend="reference"``
runs :mod:`tradeoff.kernels.reference`, the plain-numpy oracle. ε and α are in the units
of ``x``. Importing this package imports neither torch nor CuPy.
"""

from ._api import (
    BACKENDS,
    available_backends,
    l2_step,
    linf_step,
    project_l2,
    project_linf,
    random_start,
)
from ._threads import policy as thread_policy

__all__ = [
    "BACKENDS",
    "available_backends",
    "l2_step",
    "linf_step",
    "project_l2",
    "project_linf",
    "random_start",
    "thread_policy",
]
