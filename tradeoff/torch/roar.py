"""Remove-and-retrain (ROAR) and keep-and-retrain (KAR): quantitative interpretability of
an attribution method (Hooker et al. 2019, as used by Kim et al. 2019 §3.2, Figs. 4–5).

An attribution method g ranks each image's pixels by importance. ROAR replaces the
fraction f of pixels ranked *most* important with a constant, KAR the fraction f ranked
*least* important; a fresh classifier is retrained on the occluded training set and
tested on the occluded test set. A better attribution method makes ROAR accuracy drop
faster and KAR accuracy drop slower. Kim et al. score a method against a random ranking:

    μ_ROAR(f, g) = AOC(ROAR curve of g) − AOC(ROAR curve of g_Rand),
    μ_KAR(f, g)  = AUC(KAR curve of g)  − AUC(KAR curve of g_Rand),

with f ∈ {0.1, 0.3, 0.5, 0.7, 0.9} and each point the mean test accuracy of three
retrained networks.

Conventions (as Kim et al.'s reference code, except where stated):

- a pixel's importance is ``|a|`` summed over the image's channels (one ranking per pixel
  location; all channels of a pixel are occluded together);
- exactly ``round(f · H · W)`` pixels of every image are occluded (round half up); ties
  in importance are broken by the pixel's row-major index, lower first, so the masks are
  deterministic (Kim's code adds uniform noise of 1e-8 to break ties, and its random
  baseline draws an independent Bernoulli(f) per pixel, so its counts vary per image);
- the importance order is one total order: ROAR occludes its first ``k`` pixels, KAR its
  last ``k``, so the ROAR mask at f and the KAR mask at 1 − f are complements;
- the occlusion value is a constant per channel, by default the training set's mean
  pixel (Kim's ``cifar_mean``);
- the random baseline g_Rand ranks pixels by i.i.d. uniform scores from a seeded
  generator (:func:`random_attribution`).

Accuracies are fractions in [0, 1]; areas are trapezoidal over the given fractions, so
an AUC lies in [0, f_max − f_min]. Pixel units do not enter: the rankings are
scale-free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from tradeoff._validate import check_choice, check_int, check_real, check_seed

__all__ = [
    "FRACTIONS",
    "MODES",
    "area_over_curve",
    "area_under_curve",
    "importance_order",
    "interpretability_score",
    "n_occluded",
    "occlude",
    "occlusion_mask",
    "random_attribution",
    "retrain_accuracy",
]

#: Kim et al. §3.2: the occluded fractions.
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: ``"roar"`` removes the most important pixels, ``"kar"`` the least important.
MODES = ("roar", "kar")


def _check_attr(attr: Any, name: str = "attr") -> torch.Tensor:
    if not isinstance(attr, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {type(attr).__name__}")
    if attr.ndim != 4:
        raise ValueError(
            f"{name} must have shape (n, channels, height, width), got {tuple(attr.shape)}"
        )
    if not attr.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {attr.dtype}")
    if attr.numel() and not bool(torch.isfinite(attr).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return attr


def _check_fraction(fraction: object) -> float:
    return check_real("fraction", fraction, low=0.0, high=1.0)


def n_occluded(fraction: float, n_pixels: int) -> int:
    """Pixels occluded of an image of ``n_pixels``: ``round(fraction · n_pixels)``, halves
    rounded up (exact in binary for the fractions used here)."""
    fraction = _check_fraction(fraction)
    n_pixels = check_int("n_pixels", n_pixels, low=0)
    return min(n_pixels, int(np.floor(fraction * n_pixels + 0.5)))


def importance_order(attr: torch.Tensor) -> torch.Tensor:
    """Each image's pixel locations from most to least important.

    ``attr``: attributions ``(n, c, h, w)``; importance is ``|attr|`` summed over the
    channels. Returns ``(n, h·w)`` int64 row-major pixel indices; equal importances keep
    the lower index first (a stable sort), so the order is deterministic."""
    attr = _check_attr(attr)
    score = attr.detach().abs().sum(dim=1).flatten(1).to(torch.float64)
    return torch.sort(score, dim=1, descending=True, stable=True).indices


def occlusion_mask(attr: torch.Tensor, fraction: float, mode: str) -> torch.Tensor:
    """Boolean mask ``(n, 1, h, w)``, True on the pixels that ``mode`` occludes at
    ``fraction``: the first ``k`` = :func:`n_occluded` pixels of :func:`importance_order`
    for ``"roar"``, the last ``k`` for ``"kar"``. Exactly ``k`` per image."""
    mode = str(check_choice("mode", mode, MODES))
    fraction = _check_fraction(fraction)
    order = importance_order(attr)
    n, hw = order.shape
    k = n_occluded(fraction, hw)
    chosen = order[:, :k] if mode == "roar" else order[:, hw - k :]
    mask = torch.zeros(n, hw, dtype=torch.bool, device=order.device)
    mask.scatter_(1, chosen, True)
    return mask.view(n, 1, *attr.shape[2:])


def occlude(
    x: torch.Tensor,
    attr: torch.Tensor,
    fraction: float,
    mode: str,
    value: float | Sequence[float] | torch.Tensor,
) -> torch.Tensor:
    """A copy of ``x`` with the pixels of :func:`occlusion_mask` set to ``value`` (a
    number, or one per channel, in the pixel units of ``x``)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError("x must be a floating torch tensor")
    attr = _check_attr(attr)
    if attr.shape[0] != x.shape[0] or attr.shape[2:] != x.shape[2:] or x.ndim != 4:
        raise ValueError(
            f"attr must be (n, c', h, w) with x's n, h, w; got x {tuple(x.shape)}, "
            f"attr {tuple(attr.shape)}"
        )
    v = torch.as_tensor(value, dtype=x.dtype, device=x.device).reshape(-1)
    if v.numel() not in (1, x.shape[1]) or not bool(torch.isfinite(v).all()):
        raise ValueError(
            f"value must be a finite number or one per channel ({x.shape[1]}), got {value!r}"
        )
    mask = occlusion_mask(attr, fraction, mode).to(x.device)
    fill = v.view(1, -1, 1, 1).expand_as(x)
    return torch.where(mask, fill, x)


def random_attribution(shape: Sequence[int], seed: int) -> torch.Tensor:
    """The random baseline g_Rand: i.i.d. uniform scores of ``shape`` (one channel is
    enough: ``(n, 1, h, w)``) from a generator seeded by ``seed``."""
    seed = check_seed(seed)
    shape = tuple(check_int("shape", s, low=1) for s in shape)
    if len(shape) != 4:
        raise ValueError(f"shape must be (n, channels, height, width), got {shape}")
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen, dtype=torch.float64)


def _check_curve(
    fractions: Sequence[float] | np.ndarray, acc: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, ...]:
    f = np.asarray(fractions, dtype=np.float64)
    a = np.asarray(acc, dtype=np.float64)
    if f.ndim != 1 or f.shape != a.shape or f.size < 2:
        raise ValueError(
            f"fractions and accuracies must be 1-D of one length ≥ 2, got {f.shape} and {a.shape}"
        )
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(a))):
        raise ValueError("fractions and accuracies must be finite")
    if np.any(np.diff(f) <= 0):
        raise ValueError(f"fractions must increase strictly, got {f.tolist()}")
    if np.any((a < 0) | (a > 1)):
        raise ValueError(f"accuracies must be fractions in [0, 1], got {a.tolist()}")
    return f, a


def area_under_curve(
    fractions: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray
) -> float:
    """Trapezoidal area under the accuracy curve over ``fractions`` (accuracy in [0, 1])."""
    f, a = _check_curve(fractions, accuracies)
    return float(np.sum(np.diff(f) * (a[1:] + a[:-1]) / 2))


def area_over_curve(
    fractions: Sequence[float] | np.ndarray, accuracies: Sequence[float] | np.ndarray
) -> float:
    """Area between the curve and accuracy 1 over ``fractions``:
    ``(f_max − f_min) − AUC``."""
    f, _ = _check_curve(fractions, accuracies)
    return float(f[-1] - f[0]) - area_under_curve(fractions, accuracies)


def interpretability_score(
    mode: str,
    fractions: Sequence[float],
    accuracies: Sequence[float],
    random_accuracies: Sequence[float],
) -> float:
    """Kim et al. §3.2: μ_ROAR = AOC(g) − AOC(g_Rand) (``mode="roar"``) or
    μ_KAR = AUC(g) − AUC(g_Rand) (``"kar"``); higher is more interpretable."""
    mode = str(check_choice("mode", mode, MODES))
    if mode == "roar":
        return area_over_curve(fractions, accuracies) - area_over_curve(
            fractions, random_accuracies
        )
    return area_under_curve(fractions, accuracies) - area_under_curve(fractions, random_accuracies)


def retrain_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    net: str,
    epochs: int,
    seed: int,
    batch_size: int = 100,
    lr: float = 1e-3,
    num_classes: int | None = None,
) -> float:
    """Test accuracy (fraction) of a fresh network ``net`` (:func:`tradeoff.torch.nets.build`)
    trained with Adam (``lr``, Kim's optimiser) for ``epochs`` on ``(train_x, train_y)``
    by standard training: the retraining step of ROAR/KAR. Seeded by ``seed``
    (initialisation and data order)."""
    from tradeoff.torch import data as tdata
    from tradeoff.torch import nets
    from tradeoff.torch import train as ttrain

    seed = check_seed(seed)
    epochs = check_int("epochs", epochs, low=1)
    train = tdata.Split(train_x, train_y)
    test = tdata.Split(test_x, test_y)
    k = num_classes if num_classes is not None else int(train.y.max()) + 1
    shape = tuple(train.x.shape[1:])
    model = nets.build(net, input_shape=shape, num_classes=k, seed=seed)
    lo = float(min(train.x.min(), test.x.min()))
    hi = float(max(train.x.max(), test.x.max()))
    data = tdata.Data(
        name="occluded",
        train=train,
        val=None,
        test=test,
        num_classes=k,
        input_shape=shape,
        pixel_range=(lo, hi),
        classes=tuple(range(k)),
    )
    ttrain.fit(
        model,
        data,
        method="standard",
        epochs=epochs,
        optimizer="adam",
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        progress=False,
    )
    return float(ttrain.evaluate(model, data, checks=False, warn=False).clean_acc)
