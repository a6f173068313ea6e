"""Input attributions, large-ε examples and interpolations of (robust) models, with the
papers' display conventions.

- :func:`saliency` — the loss gradient ``g_G = ∇ₓ L(f(x), y)`` (Tsipras et al. §3, Fig. 2
  and 5; Collins et al. Fig. 1, 3; Kim et al. Eq. (5)), gradient × input ``g_GX = x ⊙ g_G``
  (Kim et al. Eq. (6)), and two methods no paper here ships but Kim et al. point to:
  integrated gradients (Sundararajan et al. 2017, Eq. (3), Gauss–Legendre quadrature) and
  SmoothGrad (Smilkov et al. 2017). Captum implements the last three too; ours are kept
  (they share the loss-gradient conventions below and need no extra dependency) and are
  tested against Captum's to float tolerance on the same model and baseline.
- :func:`large_eps_examples` — PGD with the papers' large radii (Tsipras et al. Fig. 3,
  Table 3: MNIST l∞ 0.3, l2 4), optionally targeted.
- :func:`interpolate`, :func:`interpolation_probabilities` — the path from an image to
  its large-ε example and the model's class probabilities along it (Tsipras et al. Fig. 4).
- Display: :func:`signed_map` (MNIST: positive blue, negative red, symmetric scale —
  Tsipras, Collins), :func:`clip_sigma` (colour: clip to ±3σ, rescale to [0, 1] —
  Tsipras), :func:`channel_sum_percentile` (sum over channels, clip to the 0.5th/99.5th
  percentiles — Kim), and :func:`grid_figure` (rows: input and models; columns: samples).
- Scores: :func:`mass_on_mask` (share of |attribution| on the digit's pixels) and
  :func:`abs_correlation` (Pearson correlation of |attribution| with the image): a number
  beside the papers' pictures.

Conventions: losses are summed over the batch (an attribution of one sample does not
depend on the others); the model is evaluated in eval mode and left in the train/eval
mode it was in; its parameters' ``.grad`` are untouched (gradients are taken with respect
to the input only). ε is in the pixel units of ``clip``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from tradeoff._validate import check_choice, check_int, check_real, check_seed

from .attacks import (
    _check_clip,
    _check_input,
    _check_labels,
    _check_model_matches,
    eval_mode,
    input_gradient,
    per_sample_loss,
    pgd,
)

__all__ = [
    "METHODS",
    "abs_correlation",
    "channel_sum_percentile",
    "clip_sigma",
    "grid_figure",
    "integrated_gradients",
    "interpolate",
    "interpolation_probabilities",
    "large_eps_examples",
    "mass_on_mask",
    "saliency",
    "signed_map",
    "smoothgrad",
]

METHODS = ("grad", "grad_x_input", "integrated_gradients", "smoothgrad")


def _objective(y: torch.Tensor, target: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The scalar whose input gradient is taken: the summed per-sample loss (``"loss"``),
    or the summed logit of each sample's class ``y`` (``"logit"``, Captum's convention)."""
    if target == "loss":
        return lambda logits: per_sample_loss(logits, y, "ce").sum()

    def logit(out: torch.Tensor) -> torch.Tensor:
        if out.ndim == 1 or out.shape[-1] == 1:
            return (out.reshape(-1) * y.to(out.dtype).reshape(-1)).sum()
        return out.gather(1, y.long().view(-1, 1)).sum()

    return logit


def _prepare(model, x, y, clip):
    lo, hi = _check_clip(clip)
    x0 = _check_input(x, lo, hi)
    y = _check_labels(y, x0)
    _check_model_matches(model, x0)
    return x0, y, lo, hi


def saliency(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    method: str = "grad",
    *,
    target: str = "loss",
    clip: tuple[float, float] = (0.0, 1.0),
    steps: int = 50,
    baseline: torch.Tensor | float | None = None,
    samples: int = 50,
    noise: float = 0.15,
    seed: int | None = 0,
) -> torch.Tensor:
    """Attribution maps of a batch, same shape as ``x``.

    Parameters
    ----------
    method:
        ``"grad"`` — the loss gradient g_G (Tsipras et al. §3; Kim et al. Eq. (5));
        ``"grad_x_input"`` — x ⊙ g_G (Kim et al. Eq. (6));
        ``"integrated_gradients"`` — see :func:`integrated_gradients` (``steps``,
        ``baseline``); ``"smoothgrad"`` — see :func:`smoothgrad` (``samples``, ``noise``,
        ``seed``).
    target:
        ``"loss"`` (the papers': cross-entropy of the label ``y``; for one output and ±1
        labels the logistic loss) or ``"logit"`` (the logit of class ``y``).
    clip:
        the pixel range of ``x``.
    """
    check_choice("method", method, METHODS)
    check_choice("target", target, ("loss", "logit"))
    x0, y, lo, hi = _prepare(model, x, y, clip)
    if method == "integrated_gradients":
        return integrated_gradients(model, x0, y, target=target, steps=steps, baseline=baseline)
    if method == "smoothgrad":
        return smoothgrad(
            model, x0, y, target=target, samples=samples, noise=noise * (hi - lo), seed=seed
        )
    with eval_mode(model):
        g = input_gradient(model, x0, _objective(y, target))
    return g * x0 if method == "grad_x_input" else g


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    target: str = "loss",
    steps: int = 50,
    baseline: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al. 2017, Eq. (3)):
    ``(x − x') ⊙ ∫₀¹ ∇F(x' + t(x − x')) dt``, the integral by ``steps``-point Gauss–Legendre
    quadrature on [0, 1] (as Captum's default). ``baseline`` x': a tensor like ``x``, a
    constant, or None for zeros. Completeness: the attributions of a sample sum to
    ``F(x) − F(x')`` up to the quadrature error (tested)."""
    steps = check_int("steps", steps, low=1)
    check_choice("target", target, ("loss", "logit"))
    if baseline is None:
        base = torch.zeros_like(x)
    elif isinstance(baseline, torch.Tensor):
        if baseline.shape != x.shape:
            raise ValueError(
                f"baseline must have shape {tuple(x.shape)}, got {tuple(baseline.shape)}"
            )
        base = baseline.to(x)
    else:
        base = torch.full_like(x, check_real("baseline", baseline))
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    ts, ws = 0.5 * (nodes + 1.0), 0.5 * weights
    objective = _objective(y, target)
    total = torch.zeros_like(x)
    with eval_mode(model):
        for t, w in zip(ts, ws):
            total += float(w) * input_gradient(model, base + float(t) * (x - base), objective)
    return (x - base) * total


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    target: str = "loss",
    samples: int = 50,
    noise: float = 0.15,
    seed: int | None = 0,
) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the mean of the input gradient at
    ``x + N(0, noise²)`` over ``samples`` draws (``noise`` in pixel units; :func:`saliency`
    passes 15 % of the pixel range, the paper's suggestion). The noise is drawn from a
    ``torch.Generator`` seeded with ``seed`` (None: from torch's global generator)."""
    samples = check_int("samples", samples, low=1)
    noise = check_real("noise", noise, low=0.0)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=x.device).manual_seed(check_seed(seed))
    objective = _objective(y, target)
    total = torch.zeros_like(x)
    with eval_mode(model):
        for _ in range(samples):
            z = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
            total += input_gradient(model, x + noise * z, objective)
    return total / samples


# --------------------------------------------------------------------- large-ε examples


def large_eps_examples(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    norm: str = "l2",
    *,
    steps: int = 100,
    alpha: float | None = None,
    targeted: torch.Tensor | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> torch.Tensor:
    """Adversarial examples at a large radius (Tsipras et al. §3, Fig. 3: "iteratively
    following the (negative) loss gradient while staying within distance ε"): PGD from
    ``x`` itself (no random start), ``steps`` steps of ``alpha`` (default 2.5 ε / steps,
    Madry et al.'s rule), cross-entropy. With ``targeted`` (class labels, one per sample)
    the loss of the target class is descended instead, so that the example moves towards
    that class. The result lies in the ε-ball and in ``clip`` (:func:`~.attacks.pgd`'s
    contract); the model's mode and parameters' ``.grad`` are left as found."""
    eps = check_real("eps", eps, low=0.0)
    steps = check_int("steps", steps, low=1)
    a = 2.5 * eps / steps if alpha is None else check_real("alpha", alpha, low=0.0)
    labels = y if targeted is None else targeted
    return pgd(
        model,
        x,
        labels,
        eps=eps,
        alpha=a,
        steps=steps,
        norm=norm,
        random_start=False,
        targeted=targeted is not None,
        seed=seed,
        clip=clip,
    )


def interpolate(x: torch.Tensor, x_adv: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` points on the segment from ``x`` to ``x_adv`` (Tsipras et al. Fig. 4): shape
    ``(n, *x.shape)``, point k = (1 − t_k) x + t_k x_adv with t = linspace(0, 1, n)."""
    n = check_int("n", n, low=2)
    if not isinstance(x, torch.Tensor) or not isinstance(x_adv, torch.Tensor):
        raise TypeError("x and x_adv must be torch tensors")
    if x.shape != x_adv.shape:
        raise ValueError(
            f"x_adv must have the shape of x {tuple(x.shape)}, got {tuple(x_adv.shape)}"
        )
    t = torch.linspace(0.0, 1.0, n, dtype=x.dtype, device=x.device).view(n, *([1] * x.ndim))
    return (1 - t) * x.detach().unsqueeze(0) + t * x_adv.detach().unsqueeze(0)


@torch.no_grad()
def interpolation_probabilities(
    model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, n: int
) -> torch.Tensor:
    """The model's class probabilities along :func:`interpolate`: shape ``(n, batch, k)``
    (softmax; for one output, the probability of +1 as ``k = 1``)."""
    path = interpolate(x, x_adv, n)
    out = []
    with eval_mode(model):
        for point in path:
            logits = model(point)
            if logits.ndim == 1 or logits.shape[-1] == 1:
                out.append(torch.sigmoid(logits.reshape(-1, 1)))
            else:
                out.append(torch.softmax(logits, dim=1))
    return torch.stack(out)


# ------------------------------------------------------------------------------ display


def _as_numpy(a: torch.Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def signed_map(g: torch.Tensor | np.ndarray) -> np.ndarray:
    """MNIST display of a signed attribution (Tsipras et al. Fig. 2, Collins et al. Fig. 1):
    positive blue, negative red, white at 0, on a symmetric scale ±max|g| of each image.
    ``g``: ``(h, w)``, ``(1, h, w)`` or a batch ``(n, 1, h, w)``; returns RGB in [0, 1],
    ``(h, w, 3)`` or ``(n, h, w, 3)``."""
    from matplotlib import colormaps

    a = _as_numpy(g).astype(np.float64)
    batch = a.ndim == 4
    if a.ndim == 4 or (a.ndim == 3 and a.shape[0] == 1):
        a = a[:, 0] if batch else a[0]
    if a.ndim not in (2, 3):
        raise ValueError(
            f"g must be (h, w), (1, h, w) or (n, 1, h, w), got shape {_as_numpy(g).shape}"
        )
    stack = a if batch else a[None]
    scale = np.abs(stack).reshape(len(stack), -1).max(axis=1)
    scale[scale == 0] = 1.0
    v = stack / scale[:, None, None]  # in [-1, 1]
    rgb = colormaps["RdBu"]((v + 1) / 2)[..., :3]  # RdBu: -1 red, 0 white, +1 blue
    return rgb if batch else rgb[0]


def clip_sigma(g: torch.Tensor | np.ndarray, k: float = 3.0) -> np.ndarray:
    """Colour display (Tsipras et al. Fig. 2, CIFAR-10 / ImageNet): clip each image's
    attribution to mean ± kσ (σ its standard deviation) and rescale to [0, 1]; ``(c, h, w)``
    or ``(n, c, h, w)`` in, channels last out."""
    k = check_real("k", k, low=0.0, low_open=True)
    a = _as_numpy(g).astype(np.float64)
    batch = a.ndim == 4
    if a.ndim not in (3, 4):
        raise ValueError(f"g must be (c, h, w) or (n, c, h, w), got shape {a.shape}")
    stack = a if batch else a[None]
    out = np.empty_like(stack)
    for i, img in enumerate(stack):
        m, s = img.mean(), img.std()
        lo, hi = m - k * s, m + k * s
        out[i] = 0.5 if hi == lo else (np.clip(img, lo, hi) - lo) / (hi - lo)
    out = np.moveaxis(out, 1, -1)
    return out if batch else out[0]


def channel_sum_percentile(
    g: torch.Tensor | np.ndarray, low: float = 0.5, high: float = 99.5
) -> np.ndarray:
    """Kim et al.'s display (§4): the attribution summed over channels, clipped to its
    ``low``-th/``high``-th percentiles and rescaled to [0, 1]; ``(c, h, w)`` or
    ``(n, c, h, w)`` in, ``(h, w)`` or ``(n, h, w)`` out."""
    low = check_real("low", low, low=0.0, high=100.0)
    high = check_real("high", high, low=0.0, high=100.0)
    if not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}")
    a = _as_numpy(g).astype(np.float64)
    batch = a.ndim == 4
    if a.ndim not in (3, 4):
        raise ValueError(f"g must be (c, h, w) or (n, c, h, w), got shape {a.shape}")
    stack = (a if batch else a[None]).sum(axis=1)
    out = np.empty_like(stack)
    for i, img in enumerate(stack):
        lo, hi = np.percentile(img, [low, high])
        out[i] = 0.5 if hi == lo else (np.clip(img, lo, hi) - lo) / (hi - lo)
    return out if batch else out[0]


def grid_figure(
    rows: Sequence[tuple[str, np.ndarray]],
    *,
    col_titles: Sequence[str] | None = None,
    title: str = "",
    cell: float = 1.2,
):
    """A grid of images: one row per ``(label, images)`` (``images``: ``(n, h, w)``
    greyscale in [0, 1] or ``(n, h, w, 3)`` RGB), one column per sample; the papers' layout
    (input, standard model, robust models). Returns a matplotlib Figure."""
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows must not be empty")
    n = len(rows[0][1])
    if any(len(imgs) != n for _, imgs in rows):
        raise ValueError("every row must hold the same number of images")
    fig, axes = plt.subplots(
        len(rows), n, figsize=(cell * n + 1.6, cell * len(rows) + 0.6), squeeze=False
    )
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            img = np.asarray(imgs[c])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------- scores


def mass_on_mask(g: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per sample, the share of ``|g|`` on the pixels where ``mask`` is true (e.g. the digit:
    ``x > 0.5``), in [0, 1]; a sample with ``g = 0`` gives NaN-free 0."""
    a = np.abs(_as_numpy(g)).reshape(len(_as_numpy(g)), -1).astype(np.float64)
    m = _as_numpy(mask).reshape(a.shape).astype(bool)
    total = a.sum(axis=1)
    on = (a * m).sum(axis=1)
    return np.divide(on, total, out=np.zeros_like(on), where=total > 0)


def abs_correlation(g: torch.Tensor | np.ndarray, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per sample, the Pearson correlation of ``|g|`` with the image ``x`` (over pixels),
    0 where either is constant."""
    a = np.abs(_as_numpy(g)).reshape(len(_as_numpy(g)), -1).astype(np.float64)
    b = _as_numpy(x).reshape(a.shape).astype(np.float64)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    num = (a * b).sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
