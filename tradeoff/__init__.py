"""tradeoff — exact theory and fast experiments for the robustness–accuracy trade-off.

Theory modules (no torch needed): :mod:`tradeoff.gaussian`, :mod:`tradeoff.svm`,
:mod:`tradeoff.calibration`, :mod:`tradeoff.intervals`, :mod:`tradeoff.bernoulli`.
Fused PGD step kernels: :mod:`tradeoff.kernels`. The deep-network layer:
:mod:`tradeoff.torch` (needs the ``torch`` extra). Checks of the papers' theorems:
:mod:`tradeoff.verify` (``tradeoff verify``).

``import tradeoff`` imports none of torch, CuPy or Numba; submodules load on demand.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = {
    "bernoulli",
    "calibration",
    "gaussian",
    "intervals",
    "svm",
    "verify",
    "kernels",
    "proofs_check",
    "experiments",
}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tradeoff' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
