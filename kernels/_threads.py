"""Thread-pool policy for the Numba CPU kernels.

The problem (DESIGN.md, "The kernels"): on a 2-core machine Numba's parallel pool and
torch's OpenMP pool busy-wait against each other; a torch eager step was measured going
from 114 µs to 872 µs once Numba's pool had run in the same process. The policy here:

1. Steps smaller than :data:`PARALLEL_MIN_ELEMENTS` run the serial kernel in the calling
   thread: no pool is woken, so nothing is left spinning (a 128×784 step is a few µs of
   work; waking a pool costs as much).
2. Larger steps run in parallel with as many threads as torch uses when the arrays are
   torch tensors (``torch.get_num_threads()``), else Numba's default.
3. Numba's threading layer is chosen before Numba's pool first starts: ``"workqueue"``,
   whose idle workers block on a condition variable instead of spinning (the OpenMP layer
   would load a second libgomp next to torch's, with its own spinning workers). If the
   pool has already been started by other code, or the user set
   ``NUMBA_THREADING_LAYER``, their choice is kept.

:func:`describe` reports the choice; the benchmark prints it with the measured effect on
a torch eager step.
"""

from __future__ import annotations

import os

import numba

__all__ = ["PARALLEL_MIN_ELEMENTS", "choose_layer", "describe", "threads_for"]

#: Below this many elements a step runs serially (no thread pool is woken).
PARALLEL_MIN_ELEMENTS = 1 << 18

_LAYER = "workqueue"
_state = {"configured": False}


def choose_layer() -> None:
    """Select the non-spinning ``workqueue`` layer unless something already chose one."""
    if _state["configured"]:
        return
    _state["configured"] = True
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    try:
        numba.threading_layer()  # raises ValueError while no parallel code has run
    except ValueError:
        numba.config.THREADING_LAYER = _LAYER


def threads_for(torch_threads: int | None) -> int:
    """Threads for a parallel kernel: torch's count for torch tensors, Numba's otherwise."""
    n = numba.config.NUMBA_NUM_THREADS
    if torch_threads is not None:
        n = max(1, min(n, torch_threads))
    return n


def describe() -> str:
    """One line saying which threading layer and thresholds are in use."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = f"not started yet (will be {numba.config.THREADING_LAYER!r})"
    return (
        f"numba threading layer: {layer}; serial below {PARALLEL_MIN_ELEMENTS} elements; "
        f"parallel threads = torch.get_num_threads() for torch tensors, else "
        f"{numba.config.NUMBA_NUM_THREADS}"
    )
