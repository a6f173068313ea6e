"""Thread-pool policy for the Numba CPU kernels.

The problem (DESIGN.md, "The kernels"): on a 2-core machine Numba's parallel pool and
torch's OpenMP pool busy-wait against each other; a torch eager step was measured going
from 114 µs to 872 µs once Numba's pool had run in the same process. Measured here
(``tradeoff bench kernels``, child processes): after a Numba kernel under Numba's
``workqueue`` layer, whose idle workers keep spinning, a torch eager l2 step went from
~190 µs to ~1700 µs for the rest of the process; under the OpenMP layer it did not slow
down (GNU OpenMP workers spin only briefly after a parallel region, then sleep).

The policy:

1. In a process where torch is loaded (``"torch" in sys.modules``), every kernel runs
   serially in the calling thread, whatever the array type: a torch program then has
   exactly one thread pool, torch's. (Measured: a torch eager step timed right after a
   parallel 16M step of ours took milliseconds instead of ~0.2 ms.)
2. Without torch, steps smaller than :data:`PARALLEL_MIN_ELEMENTS` (l∞ and the l∞
   projection, 262 144 elements) or :data:`PARALLEL_MIN_ELEMENTS_L2` (l2, 65 536) run
   serially; larger ones run on Numba's pool. Measured on the 2-core benchmark machine,
   float32, serial vs 2 threads (µs), quiet: l∞ 64k 14.4 vs 9.6, 100k 20.9 vs 15.0,
   262k 60 vs 34; l2 64k 36 vs 21, 100k 51 vs 35. With the other core busy the l∞ gain
   at 100k turned into a loss (30 vs 33 through the API), the l2 gain held (58 vs 46):
   l2 does ~2.5× the arithmetic per byte, so waking the pool pays off earlier.
3. Numba's threading layer is set to ``"omp"`` before Numba's pool first starts, unless
   the user chose one (``NUMBA_THREADING_LAYER``) or other code already started a pool.

:func:`describe` reports the choice; the benchmark prints it with its measured effect.
"""

from __future__ import annotations

import os
import sys

import numba

__all__ = [
    "PARALLEL_MIN_ELEMENTS",
    "PARALLEL_MIN_ELEMENTS_L2",
    "choose_layer",
    "describe",
    "parallel_ok",
    "policy",
]

#: Below this many elements an l∞ step or projection runs serially (no pool is woken).
PARALLEL_MIN_ELEMENTS = 1 << 18
#: The same for the l2 step and projection (more arithmetic per byte).
PARALLEL_MIN_ELEMENTS_L2 = 1 << 16

_LAYER = "omp"
_mode = {"mode": "auto"}


def policy(mode: str | None = None) -> str:
    """Get or set the policy: ``"auto"`` (above), ``"serial"`` or ``"parallel"`` (above
    the size threshold, even with torch loaded; the benchmark uses it to show the cost)."""
    if mode is not None:
        if mode not in ("auto", "serial", "parallel"):
            raise ValueError(f"mode must be one of 'auto', 'serial', 'parallel'; got {mode!r}")
        _mode["mode"] = mode
    return _mode["mode"]


def parallel_ok(n_elements: int, l2: bool = False) -> bool:
    """Whether a kernel over ``n_elements`` (an l2 kernel if ``l2``) may use Numba's pool."""
    mode = _mode["mode"]
    if mode == "serial" or n_elements < (PARALLEL_MIN_ELEMENTS_L2 if l2 else PARALLEL_MIN_ELEMENTS):
        return False
    return mode == "parallel" or "torch" not in sys.modules


_state = {"configured": False}


def choose_layer() -> None:
    """Select the OpenMP threading layer unless something already chose one."""
    if _state["configured"]:
        return
    _state["configured"] = True
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        numba.threading_layer()  # raises ValueError while no parallel code has run
    except ValueError:
        numba.config.THREADING_LAYER = _LAYER


def describe() -> str:
    """One line saying which threading layer and thresholds are in use."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = f"not started yet (will be {numba.config.THREADING_LAYER!r})"
    return (
        f"policy {_mode['mode']!r}: serial in the calling thread when torch is loaded (torch's "
        f"pool stays the only pool) or below {PARALLEL_MIN_ELEMENTS} (l∞) / "
        f"{PARALLEL_MIN_ELEMENTS_L2} (l2) elements, else "
        f"{numba.config.NUMBA_NUM_THREADS} threads; numba threading layer: {layer}"
    )
