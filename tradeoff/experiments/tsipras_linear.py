"""Tsipras et al. 2019 — Table 4 and Figure 2: linear classifiers on binary MNIST (5 vs 7).

Section 2.3 and Appendix E of "Robustness may be at odds with accuracy" (ICLR 2019):
a linear classifier ``f(x) = wᵀx + b`` (``w ∈ R^784``) on the MNIST digits 5 and 7
(labels −1 for "5" and +1 for "7", App. A.2), trained with the cross-entropy (logistic)
loss by 100 epochs of gradient descent, by standard training and by adversarial training
against an l∞ adversary of ε = 0.2 (pixels in [0, 1], App. A.3 Table 2).

``tsipras-table4``
    Table 4: train/test standard and adversarial accuracy and ‖w‖₁ of both models.
``tsipras-fig2``
    Figure 2: (a) the two weight vectors as images, (b) per-pixel feature–label
    correlation against the weight, (c) standard training restricted to the k pixels most
    correlated with the label ("an alternative path to robustness").

For a linear model the l∞ adversary needs no search: the worst point of the box-clipped
ball is known in closed form per pixel (:func:`linear_worst_case`), so adversarial
training trains on the exact worst case of the current weights every epoch and every
adversarial accuracy here is exact — no PGD, no attack-strength caveat.

Training (:func:`train_linear`): full-batch gradient descent in float64 on the mean
logistic loss, from ``w = 0, b = 0``, at the learning rate :data:`LR` (the paper states
neither the step size nor the initialisation). With a zero initialisation and full
batches the training is deterministic: the seed only draws the ``smoke`` subset and the
order of the samples (which full-batch gradient descent does not see).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeoff._validate import check_int, check_real
from tradeoff.experiments import Context, Experiment, row

__all__ = [
    "CLASSES",
    "EPOCHS",
    "EPS",
    "EXPERIMENTS",
    "LR",
    "PAPER_TABLE4",
    "LinearFit",
    "accuracy",
    "feature_label_correlation",
    "linear_worst_case",
    "top_k_curve",
    "train_linear",
    "vanishing_threshold",
]

PAPER = "Tsipras et al. 2019"
#: l∞ radius of the adversary, in pixel units of [0, 1] (App. A.3, Table 2: binary MNIST).
EPS = 0.2
#: epochs of full-batch gradient descent (App. A.2).
EPOCHS = 100
#: our learning rate (not stated in the paper): below 1/L ≈ 0.11, the step of
#: guaranteed descent of the clean logistic loss on these data, L = λ_max(AᵀA)/(4n) for
#: A = [X, 1] (recorded in each result's ``config``).
LR = 0.1
#: the binary task as ``data.load(binary=...)`` takes it: "7" is +1, "5" is −1 (App. A.2).
CLASSES = (7, 5)
#: the learning rates of the sensitivity table of ``tsipras-table4``.
LR_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
#: a weight "vanishes" when its sign changed within the last this-many epochs (see
#: :func:`train_linear`).
FLIP_WINDOW = 10

#: Table 4 as printed (percent; ‖w‖₁ without unit).
PAPER_TABLE4 = {
    "standard": {"train_std": 98.38, "test_std": 70.05, "train_adv": 13.69, "test_adv": 14.95,
                 "l1": 41.08},
    "adversarial": {"train_std": 94.05, "test_std": 92.10, "train_adv": 76.05,
                    "test_adv": 74.65, "l1": 13.69},
}  # fmt: skip
#: sizes of the paper's splits: the 5s and 7s of full MNIST (5421 + 6265 train,
#: 892 + 1028 test), used for the binomial part of the tolerances.
PAPER_SIZES = {"train": 11_686, "test": 1_920}
_METRICS = ("train_std", "test_std", "train_adv", "test_adv")
_METRIC_NAMES = {
    "train_std": "train standard acc.",
    "test_std": "test standard acc.",
    "train_adv": "train adversarial acc.",
    "test_adv": "test adversarial acc.",
}
_MODEL_NAMES = {"standard": "standard training", "adversarial": "adversarial training"}
_TOL_SETUP = 3.0  # points allowed for the unstated training details (lr, init, optimiser)


# --------------------------------------------------------------------------- the exact adversary


def _as_real_array(name: str, value: object) -> np.ndarray:
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def linear_worst_case(
    x: np.ndarray,
    y: np.ndarray | float,
    w: np.ndarray,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
) -> np.ndarray:
    """The exact worst l∞ perturbation of a linear classifier inside the pixel box.

    For ``f(x) = wᵀx + b`` and a label ``y ∈ {−1, +1}``, the adversary of Tsipras et al.
    (2019, §2.3 and Table 4; the l∞ threat model of Madry et al. 2018, Eq. (2.1))
    minimises the margin ``y·f(x')`` over ``{x' : ‖x' − x‖∞ ≤ ε, lo ≤ x' ≤ hi}``. The
    margin is a sum over pixels and the set is a box, so each pixel is minimised on its
    own interval ``[max(lo, x_i − ε), min(hi, x_i + ε)]`` by the endpoint against
    ``y·w_i``::

        x'_i = clip(x_i − ε · y · sign(w_i), lo, hi)

    A pixel with ``w_i = 0`` does not move. Without clipping the worst margin is
    ``y·f(x) − ε‖w‖₁``; the box makes it larger where a pixel is already at a bound.

    Parameters
    ----------
    x:
        inputs, shape ``(d,)`` or ``(n, d)``, values in ``[lo, hi]``.
    y:
        labels in {−1, +1}: a scalar, or shape ``(n,)`` for a batch.
    w:
        weights, shape ``(d,)`` (the bias does not change the worst case).
    eps:
        the l∞ radius ε ≥ 0, in the units of the pixels (``[0, 1]`` by default, so
        ε = 0.2 is a fifth of the pixel range).
    lo, hi:
        the pixel range, ``lo < hi``.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``x``: the worst-case inputs, inside the ε-ball and ``[lo, hi]``.
    """
    lo = check_real("lo", lo)
    hi = check_real("hi", hi)
    if not lo < hi:
        raise ValueError(f"lo must be smaller than hi, got lo={lo!r}, hi={hi!r}")
    eps = check_real("eps", eps, low=0.0)
    x = _as_real_array("x", x)
    w = _as_real_array("w", w)
    if w.ndim != 1:
        raise ValueError(f"w must have shape (d,), got shape {w.shape}")
    if x.ndim not in (1, 2) or x.shape[-1] != w.shape[0]:
        raise ValueError(
            f"x must have shape ({w.shape[0]},) or (n, {w.shape[0]}) to match w, "
            f"got shape {x.shape}"
        )
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(
            f"x has values in [{x.min():.9g}, {x.max():.9g}], outside [lo, hi] = [{lo:g}, {hi:g}]"
        )
    y = _as_real_array("y", y)
    if y.shape != x.shape[:-1]:
        want = "a scalar" if x.ndim == 1 else f"shape ({x.shape[0]},)"
        raise ValueError(f"y must be {want} (one label per input), got shape {y.shape}")
    if not np.all(np.abs(y) == 1.0):
        raise ValueError("y must hold labels in {-1, +1}")
    return _worst_case(x, y[..., None] if x.ndim == 2 else y, w, eps, lo, hi)


def _worst_case(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, eps: float, lo: float, hi: float
) -> np.ndarray:
    """:func:`linear_worst_case` without the checks (``y`` broadcast against ``x``)."""
    return np.clip(x - eps * y * np.sign(w), lo, hi)


def _one_blas_thread():
    """One BLAS thread for the matrix-vector products: on a busy 2-core machine
    OpenBLAS's spinning workers made a 100-epoch training 60x slower (1.6 s vs 0.025 s
    measured for 800 × 784)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def _margins(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    return y * (x @ w + b)


def accuracy(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    b: float,
    eps: float = 0.0,
    lo: float = 0.0,
    hi: float = 1.0,
) -> float:
    """Accuracy (percent) of ``sign(wᵀx + b)``; with ``eps > 0`` under the exact worst
    l∞ perturbation of radius ``eps`` (pixel units of ``[lo, hi]``), :func:`linear_worst_case`.

    A sample counts as correct when its margin ``y·f(x')`` is positive (a zero margin,
    e.g. ``w = 0, b = 0``, is an error). ``x`` has shape ``(n, d)``, ``y`` shape ``(n,)``.
    """
    x = _as_real_array("x", x)
    y = _as_real_array("y", y)
    w = _as_real_array("w", w)
    b = check_real("b", b)
    eps = check_real("eps", eps, low=0.0)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, d) with n >= 1, got shape {x.shape}")
    xa = linear_worst_case(x, y, w, eps, lo, hi)  # checks x, y, w, lo, hi; eps = 0: x
    with _one_blas_thread():
        return 100.0 * float(np.mean(_margins(xa, y, w, b) > 0))


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class LinearFit:
    """A trained linear classifier ``f(x) = wᵀx + b``.

    Attributes
    ----------
    w, b:
        the weights (float64, shape ``(d,)``) and the bias after the last epoch.
    loss:
        the training loss before each epoch's step, shape ``(epochs,)``: the clean
        logistic loss for standard training, the exact adversarial one for ``eps > 0``.
    vanishing:
        bool, shape ``(d,)``: the weights whose sign changed within the last
        ``window`` epochs, or that are exactly 0. With the exact adversary the training
        loss has a kink at ``w_i = 0`` (it holds ``−ε|w_i|`` inside the margin when no
        clipping binds), and a pixel too weakly correlated with the label has its optimum
        at ``w_i = 0``: fixed-step gradient descent then flips ``w_i`` around 0 with an
        amplitude of about one step. These weights are 0 up to the step size.
    """

    w: np.ndarray
    b: float
    loss: np.ndarray
    vanishing: np.ndarray
    eps: float
    lr: float
    epochs: int


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for any finite z


def train_linear(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float = 0.0,
    lr: float = LR,
    epochs: int = EPOCHS,
    window: int = FLIP_WINDOW,
    lo: float = 0.0,
    hi: float = 1.0,
) -> LinearFit:
    """Standard (``eps = 0``) or adversarial training of a linear classifier, Tsipras et
    al. (2019) §2.3 / App. A.2: full-batch gradient descent on the mean logistic loss.

    Each epoch takes one step on ``mean_j log(1 + exp(−y_j (wᵀx'_j + b)))`` where ``x'_j``
    is ``x_j`` (standard training) or the exact worst case
    :func:`linear_worst_case` ``(x_j, y_j, w, eps)`` of the current ``w`` (adversarial
    training, ε in pixel units of ``[lo, hi]``). The gradient of the adversarial loss is
    taken at that worst case (Danskin's theorem; at ``w_i = 0`` the pixel does not move,
    one element of the subdifferential). Starts from ``w = 0, b = 0``; float64.

    Parameters
    ----------
    x, y:
        training inputs ``(n, d)`` in ``[lo, hi]`` and labels ``(n,)`` in {−1, +1}.
    eps:
        the adversary's l∞ radius (0: standard training).
    lr, epochs:
        the step size and the number of full-batch steps.
    window:
        the last epochs in which a sign change marks a weight as vanishing
        (:attr:`LinearFit.vanishing`).
    """
    x = _as_real_array("x", x)
    y = _as_real_array("y", y)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n, d) with n >= 1, got shape {x.shape}")
    eps = check_real("eps", eps, low=0.0)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    epochs = check_int("epochs", epochs, low=1)
    window = check_int("window", window, low=1, high=epochs)
    linear_worst_case(x, y, np.zeros(x.shape[1]), 0.0, lo, hi)  # checks x, y, lo, hi
    n, d = x.shape
    w = np.zeros(d)
    b = 0.0
    losses = np.empty(epochs)
    sign_changed = np.zeros(d, dtype=bool)
    y_col = y[:, None]
    with _one_blas_thread():
        for epoch in range(epochs):
            xa = _worst_case(x, y_col, w, eps, lo, hi) if eps > 0 else x
            m = _margins(xa, y, w, b)
            losses[epoch] = float(np.mean(np.logaddexp(0.0, -m)))
            g = -y * _sigmoid(-m) / n  # d loss / d f, per sample
            w_new = w - lr * (xa.T @ g)
            b -= lr * float(g.sum())
            if epoch >= epochs - window:
                sign_changed |= np.sign(w_new) != np.sign(w)
            w = w_new
    return LinearFit(
        w=w,
        b=b,
        loss=losses,
        vanishing=sign_changed | (w == 0),
        eps=eps,
        lr=lr,
        epochs=epochs,
    )


def feature_label_correlation(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each pixel with the label over the samples, shape ``(d,)``.

    ``x`` has shape ``(n, d)``, ``y`` shape ``(n,)``. A pixel that is constant over the
    samples (e.g. a border pixel that is 0 in every image) has no correlation; it gets 0.
    """
    x = _as_real_array("x", x)
    y = _as_real_array("y", y)
    if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] < 2:
        raise ValueError(
            f"x must have shape (n, d) with n >= 2 and y shape (n,), got {x.shape} and {y.shape}"
        )
    xc = x - x.mean(0)
    yc = y - y.mean()
    sx = np.sqrt(np.mean(xc * xc, 0))
    sy = math.sqrt(float(np.mean(yc * yc)))
    if sy == 0:
        raise ValueError("y is constant: the correlation with the label is undefined")
    cov = (xc * yc[:, None]).mean(0)
    out = np.zeros(x.shape[1])
    ok = sx > 1e-12
    out[ok] = cov[ok] / (sx[ok] * sy)
    return out


def vanishing_threshold(corr: np.ndarray, vanishing: np.ndarray) -> float:
    """The correlation threshold below which a model's weights vanish: the smallest
    ``|corr_i|`` over the pixels whose weight does not vanish (every pixel with a smaller
    ``|corr|`` has a vanishing weight; see :attr:`LinearFit.vanishing`). NaN when every
    weight vanishes."""
    corr = _as_real_array("corr", corr)
    vanishing = np.asarray(vanishing, dtype=bool)
    if vanishing.shape != corr.shape:
        raise ValueError(
            f"vanishing must have the shape of corr {corr.shape}, got {vanishing.shape}"
        )
    kept = np.abs(corr[~vanishing])
    return float(kept.min()) if kept.size else math.nan


def top_k_curve(
    x: np.ndarray,
    y: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    order: np.ndarray,
    ks: list[int] | tuple[int, ...],
    *,
    eps: float = EPS,
    lr: float = LR,
    epochs: int = EPOCHS,
) -> list[dict]:
    """Standard training on the first ``k`` pixels of ``order`` (Tsipras et al. 2019,
    Figure 2(c)), for each ``k`` in ``ks``: the other pixels' weights are 0, so the exact
    adversary (radius ``eps``, pixel units of [0, 1]) leaves them alone.

    Returns one dict per k: ``k``, the train/test standard and adversarial accuracy
    (percent) and ``l1`` (‖w‖₁)."""
    out = []
    d = x.shape[1]
    for k in ks:
        k = check_int("k", k, low=1, high=d)
        idx = np.asarray(order[:k])
        fit = train_linear(x[:, idx], y, lr=lr, epochs=epochs)
        w = np.zeros(d)
        w[idx] = fit.w
        out.append(
            {
                "k": k,
                "train_std": accuracy(x, y, w, fit.b),
                "test_std": accuracy(x_test, y_test, w, fit.b),
                "train_adv": accuracy(x, y, w, fit.b, eps),
                "test_adv": accuracy(x_test, y_test, w, fit.b, eps),
                "l1": float(np.abs(w).sum()),
            }
        )
    return out


# --------------------------------------------------------------------------- data and runs


def _load(ctx: Context) -> dict:
    """The 5s and 7s of this scale as float64 ``(n, 784)`` arrays, labels ±1 (7 = +1)."""
    from tradeoff.torch import data

    if ctx.scale == "paper":
        if ctx.data_dir is None and not os.environ.get("TRADEOFF_DATA"):
            raise FileNotFoundError(
                "scale 'paper' needs full MNIST: pass the folder of its four IDX files as the "
                "data folder (Context.data_dir / --data-dir) or set TRADEOFF_DATA"
            )
        d = data.load("mnist", root=ctx.data_dir, binary=CLASSES, seed=ctx.seed)
    else:
        sub = ctx.pick(smoke=100, reduced=None)
        d = data.load("mnist5k", binary=CLASSES, seed=ctx.seed, subset=sub, test_subset=sub)

    def arrays(split):
        x = split.x.reshape(len(split), -1).double().numpy()
        return x, split.y.double().numpy()

    x, y = arrays(d.train)
    xt, yt = arrays(d.test)
    return {"x": x, "y": y, "x_test": xt, "y_test": yt, "describe": d.describe()}


def _inverse_smoothness(x: np.ndarray) -> float:
    """1/L for the mean logistic loss on ``[x, 1]``: L = λ_max(AᵀA)/(4n)."""
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    with _one_blas_thread():
        lam = float(np.linalg.eigvalsh(a.T @ a)[-1])
    return 4.0 * x.shape[0] / lam


def _evaluate(fit: LinearFit, ds: dict) -> dict:
    x, y, xt, yt = ds["x"], ds["y"], ds["x_test"], ds["y_test"]
    return {
        "train_std": accuracy(x, y, fit.w, fit.b),
        "test_std": accuracy(xt, yt, fit.w, fit.b),
        "train_adv": accuracy(x, y, fit.w, fit.b, EPS),
        "test_adv": accuracy(xt, yt, fit.w, fit.b, EPS),
        "l1": float(np.abs(fit.w).sum()),
    }


def _tolerance(paper_pct: float, n_ours: int, n_paper: int) -> float:
    """Points allowed between our accuracy and the paper's: :data:`_TOL_SETUP` for the
    unstated training details, plus two standard errors of the difference of two binomial
    estimates of the paper's accuracy on sets of our size and of the paper's size."""
    p = paper_pct / 100.0
    se = 100.0 * math.sqrt(p * (1.0 - p) * (1.0 / n_ours + 1.0 / n_paper))
    return round(_TOL_SETUP + 2.0 * se, 1)


def _fit_both(ds: dict, ctx: Context) -> dict[str, LinearFit]:
    ctx.log(f"tsipras linear: {ds['describe']}")
    fits = {}
    for name, eps in (("standard", 0.0), ("adversarial", EPS)):
        fits[name] = train_linear(ds["x"], ds["y"], eps=eps)
        ctx.log(f"tsipras linear: {name} training done (lr {LR}, {EPOCHS} epochs)")
    return fits


def _common_config(ds: dict) -> dict:
    return {
        "data": ds["describe"],
        "n_train": len(ds["y"]),
        "n_test": len(ds["y_test"]),
        "labels": "+1 = digit 7, -1 = digit 5 (App. A.2)",
        "eps": EPS,
        "norm": "linf, pixels in [0, 1]",
        "adversary": "exact worst case x' = clip(x - eps*y*sign(w), 0, 1) (linear_worst_case)",
        "epochs": EPOCHS,
        "lr": LR,
        "inverse_smoothness_1_over_L": _inverse_smoothness(ds["x"]),
        "init": "w = 0, b = 0",
        "optimiser": "full-batch gradient descent, mean logistic loss, float64",
    }


_WHY_STD_TEST = (
    "the paper's 70.05 % is far below what a linear 5-vs-7 classifier gets (ours and the "
    "usual ≈ 97–99 %); with 98.38 % train accuracy it is a 28-point generalisation gap for "
    "785 parameters fitted to ~11.7k digits — likely an error or peculiarity of the paper's "
    "setup, not reproduced (we do not tune towards it)"
)
_WHY_STD_ADV = (
    "the standard model's adversarial accuracy falls as training puts more weight on "
    "weakly correlated pixels, so it depends on the unstated step size and length of "
    "training (see the learning-rate table: lower at larger lr); the paper's lower value "
    "needs a longer or larger-step training than ours, or shares the unexplained cause of "
    "its 70.05 % test accuracy"
)
_WHY_L1 = (
    "‖w‖₁ scales with the unstated learning rate and initialisation (see the learning-rate "
    "table), so no verdict; compare the ratio and the ordering robust < standard"
)


def compute_table4(ctx: Context) -> dict:
    """``tsipras-table4``: Table 4 of Tsipras et al. (2019), with exact adversarial
    accuracies (ε = 0.2 in pixel units of [0, 1])."""
    ds = _load(ctx)
    fits = _fit_both(ds, ctx)
    ours = {name: _evaluate(fit, ds) for name, fit in fits.items()}
    n_ours = {"train": len(ds["y"]), "test": len(ds["y_test"])}
    rows = []
    for model in ("standard", "adversarial"):
        for metric in _METRICS:
            split = metric.split("_")[0]
            paper = PAPER_TABLE4[model][metric]
            why = ""
            if model == "standard" and metric == "test_std":
                why = _WHY_STD_TEST
            elif model == "standard" and metric.endswith("adv"):
                why = _WHY_STD_ADV
            elif model == "adversarial":
                why = "unstated training details (lr, initialisation, optimiser)"
            rows.append(
                row(
                    f"{_MODEL_NAMES[model]}: {_METRIC_NAMES[metric]}",
                    ours[model][metric],
                    paper,
                    unit="%",
                    tol=_tolerance(paper, n_ours[split], PAPER_SIZES[split]),
                    why=why,
                )
            )
        rows.append(
            row(
                f"{_MODEL_NAMES[model]}: ‖w‖₁",
                ours[model]["l1"],
                PAPER_TABLE4[model]["l1"],
                why=_WHY_L1,
            )
        )
    ratio_paper = PAPER_TABLE4["standard"]["l1"] / PAPER_TABLE4["adversarial"]["l1"]
    rows.append(
        row(
            "‖w‖₁ standard / ‖w‖₁ adversarial",
            ours["standard"]["l1"] / ours["adversarial"]["l1"],
            round(ratio_paper, 2),
            why="a ratio of two lr-dependent norms (see the learning-rate table): no verdict",
        )
    )
    ctx.log("tsipras-table4: learning-rate sensitivity")
    lr_table = []
    for lr in LR_GRID:
        entry: dict[str, Any] = {"lr": lr}
        for name, eps in (("standard", 0.0), ("adversarial", EPS)):
            fit = train_linear(ds["x"], ds["y"], eps=eps, lr=lr)
            entry[name] = _evaluate(fit, ds)
        lr_table.append(entry)
    config = _common_config(ds)
    inv_l = config["inverse_smoothness_1_over_L"]
    notes = [
        f"Adversarial accuracies are exact: the worst l∞ perturbation (ε = {EPS}) of a linear "
        "model inside the pixel box is x' = clip(x − ε·y·sign(w), 0, 1), pixel by pixel; "
        "adversarial training trains on it every epoch (the paper trained against PGD, "
        "which on a linear model with enough steps lands on this same point).",
        f"Learning rate {LR} (not stated in the paper; "
        f"{'below' if LR <= inv_l else 'above'} 1/L = {inv_l:.3f}, L the smoothness "
        "constant of the clean logistic loss on these data), initialisation w = 0, b = 0 "
        f"(not stated), {EPOCHS} epochs of full-batch gradient descent (as stated).",
        "Tolerances: 3 points for the unstated training details plus two binomial standard "
        "errors of the difference between our split and the paper's (11 686 train / 1 920 "
        "test digits of full MNIST).",
        "The paper's standard test accuracy (70.05 %) is not reproduced: ours is "
        f"{ours['standard']['test_std']:.2f} %. "
        "Oddities of the printed table: the standard model's train adversarial accuracy "
        "(13.69) equals the adversarial model's ‖w‖₁ (13.69), possibly a copying slip.",
        (
            "‖w‖₁ robust < standard holds in ours too: adversarial training drives the weights "
            "of weakly correlated pixels to 0 (see tsipras-fig2)."
            if ours["adversarial"]["l1"] < ours["standard"]["l1"]
            else "Unlike the paper, ours has ‖w‖₁ robust >= standard at this scale."
        ),
    ]
    return {
        "rows": rows,
        "config": config,
        "notes": notes,
        "data": {"ours": ours, "paper": PAPER_TABLE4, "lr_table": lr_table},
    }


def _k_grid(ctx: Context, d: int) -> list[int]:
    n = ctx.pick(smoke=5, reduced=16, paper=16)
    ks = np.unique(np.round(np.geomspace(10, d, n)).astype(int))
    return [int(k) for k in ks]


def compute_fig2(ctx: Context) -> dict:
    """``tsipras-fig2``: Figure 2 (a)–(c) of Tsipras et al. (2019), with exact adversarial
    accuracies (ε = 0.2 in pixel units of [0, 1])."""
    ds = _load(ctx)
    fits = _fit_both(ds, ctx)
    x, y = ds["x"], ds["y"]
    d = x.shape[1]
    corr = feature_label_correlation(x, y)
    const = np.ptp(x, axis=0) == 0
    n_var = int((~const).sum())
    ours = {name: _evaluate(fit, ds) for name, fit in fits.items()}
    std, rob = fits["standard"], fits["adversarial"]
    # constant pixels keep w = 0 under both trainings (zero gradient from w = 0 for the
    # standard model; a zero correlation for the robust one): left out of the counts
    van_std = std.vanishing & ~const
    van_rob = rob.vanishing & ~const
    tau = vanishing_threshold(corr[~const], van_rob[~const])
    tau_std = vanishing_threshold(corr[~const], van_std[~const])
    absc = np.abs(corr)

    def mass_below(w: np.ndarray, t: float) -> float:
        m = np.abs(w)
        return 100.0 * float(m[absc < t].sum() / m.sum()) if m.sum() > 0 else math.nan

    w_rob_clean = np.where(van_rob, 0.0, rob.w)
    clean_acc = {
        "test_std": accuracy(ds["x_test"], ds["y_test"], w_rob_clean, rob.b),
        "test_adv": accuracy(ds["x_test"], ds["y_test"], w_rob_clean, rob.b, EPS),
    }
    const_zero = bool(np.all(x[:, const] == 0))
    const_w = float(
        max(np.abs(std.w[const]).max(initial=0.0), np.abs(rob.w[const]).max(initial=0.0))
    )
    ks = _k_grid(ctx, d)
    ctx.log(f"tsipras-fig2: top-k curve over k = {ks}")
    # ties (the constant pixels, corr = 0) broken by pixel index: a stable sort
    order_abs = np.argsort(-absc, kind="stable")
    order_signed = np.argsort(-corr, kind="stable")
    curve = top_k_curve(x, y, ds["x_test"], ds["y_test"], order_abs, ks)
    curve_signed = top_k_curve(x, y, ds["x_test"], ds["y_test"], order_signed, ks)
    # k chosen on the training set (best train adversarial accuracy; ties: smaller k)
    best = max(curve, key=lambda r: (r["train_adv"], -r["k"]))
    best_test = max(curve, key=lambda r: (r["test_adv"], -r["k"]))
    gap = ours["adversarial"]["test_adv"] - best["test_adv"]
    kept_rob = ~van_rob & ~const
    chatter = float(np.abs(rob.w[van_rob & ~const]).max()) if (van_rob & ~const).any() else 0.0
    median_kept = float(np.median(np.abs(rob.w[kept_rob]))) if kept_rob.any() else math.nan
    rows = [
        row("robust model: pixels with non-vanishing weight", int(kept_rob.sum()),
            unit=f"of {n_var}"),
        row("standard model: pixels with non-vanishing weight", int((~van_std & ~const).sum()),
            unit=f"of {n_var}"),
        row("correlation threshold τ*: every robust weight vanishes where abs(corr) < τ*", tau),
        row("the same threshold for the standard model", tau_std),
        row("standard model: share of ‖w‖₁ on pixels with abs(corr) < τ*",
            mass_below(std.w, tau), unit="%"),
        row("robust model: share of ‖w‖₁ on pixels with abs(corr) < τ* (step-size chatter)",
            mass_below(rob.w, tau), unit="%"),
        row("robust model: median non-vanishing weight / largest vanishing one (abs. values)",
            median_kept / chatter if chatter > 0 else math.inf, unit="×"),
        row("robust model with vanishing weights set to 0: test adversarial acc.",
            clean_acc["test_adv"], unit="%"),
        row("(c) top-k standard training: k with the best train adversarial acc.", best["k"],
            unit="pixels"),
        row("(c) at that k: test standard acc.", best["test_std"], unit="%"),
        row("(c) at that k: test adversarial acc.", best["test_adv"], unit="%"),
        row("(c) adversarial training's test adversarial acc. minus top-k's (paper: 'similar')",
            gap, 0.0, unit="%", tol=5.0,
            why="top-k standard training is not as robust as adversarial training here"
            if gap > 0 else "top-k standard training is more robust than adversarial training"),
        row("(c) best test adversarial acc. over k (selected on the test set)",
            best_test["test_adv"], unit="%"),
    ]  # fmt: skip
    notes = [
        "A weight *vanishes* when gradient descent flips its sign within the last "
        f"{FLIP_WINDOW} epochs (or it is exactly 0): with the exact adversary the training "
        "loss has a kink at w_i = 0 (the −ε|w_i| inside the margin), and a pixel too weakly "
        "correlated with the label has its optimum there; fixed-step gradient descent then "
        "oscillates around 0 with an amplitude of about one step. The standard (smooth) loss "
        "has no such kink.",
        f"{d - n_var} of the {d} pixels are constant on the training set"
        + (" (0 in every image)" if const_zero else "")
        + ": correlation 0 by convention; their largest weight is "
        f"{const_w:.3g} over both models"
        + (" (no gradient ever reaches them from w = 0)" if const_w == 0 else "")
        + "; left out of the counts and of panel (b).",
        "Robust model with its vanishing weights set to 0: test standard "
        f"{clean_acc['test_std']:.2f} %, adversarial {clean_acc['test_adv']:.2f} % (as "
        f"trained: {ours['adversarial']['test_std']:.2f} %, "
        f"{ours['adversarial']['test_adv']:.2f} %): the vanishing weights are step-size noise.",
        "Panel (c) orders the pixels by decreasing |corr(x_i, y)| (the paper says "
        "'decreasing correlation'; a linear model uses a negatively correlated pixel with a "
        "negative weight as well as a positively correlated one, and the signed order would "
        "depend on which digit is +1). The signed order (7 = +1) is in the table below.",
        "The top-k model is trained exactly like the standard model (same lr, epochs, "
        "initialisation) on the k pixels; its adversarial accuracy uses the exact adversary "
        f"(ε = {EPS}); k is chosen by the *training* adversarial accuracy, so the test "
        "accuracies at that k carry no selection on the test set.",
        "Paper's Figure 2 has no numbers; the rows are ours, except the claim of §2.3 that "
        "top-k standard training reaches 'similar performance to adversarial training', read "
        "as a gap of at most 5 points in test adversarial accuracy.",
    ]
    config = _common_config(ds) | {
        "k_grid": ks,
        "order": "decreasing |corr| (Pearson, training set); ties by pixel index",
        "vanishing": f"sign change within the last {FLIP_WINDOW} epochs, or w_i = 0",
    }
    data = {
        "w_standard": std.w,
        "b_standard": std.b,
        "w_adversarial": rob.w,
        "b_adversarial": rob.b,
        "corr": corr,
        "constant": const,
        "vanishing_standard": van_std,
        "vanishing_adversarial": van_rob,
        "tau": tau,
        "ours": ours,
        "robust_cleaned": clean_acc,
        "curve_abs": curve,
        "curve_signed": curve_signed,
        "n_variable": n_var,
        "paper": PAPER_TABLE4,
        "eps": EPS,
        "loss_standard": std.loss,
        "loss_adversarial": rob.loss,
    }
    return {"rows": rows, "config": config, "notes": notes, "data": data}


# --------------------------------------------------------------------------- rendering


_COLORS = {"standard": "#1f77b4", "adversarial": "#d62728"}


def figures_table4(result: dict) -> dict:
    """Table 4 as grouped bars: ours (solid) beside the paper's (hatched), from the saved
    result."""
    import matplotlib.pyplot as plt

    data = result["data"]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.2
    xs = np.arange(len(_METRICS))
    for i, model in enumerate(("standard", "adversarial")):
        c = _COLORS[model]
        ours = [data["ours"][model][m] for m in _METRICS]
        paper = [data["paper"][model][m] for m in _METRICS]
        off = (i - 0.5) * 2 * width
        b1 = ax.bar(
            xs + off - width / 2,
            ours,
            width,
            color=c,
            label=f"{_MODEL_NAMES[model]} (ours; ‖w‖₁ = {data['ours'][model]['l1']:.2f})",
        )
        b2 = ax.bar(
            xs + off + width / 2,
            paper,
            width,
            facecolor="white",
            edgecolor=c,
            hatch="///",
            label=f"{_MODEL_NAMES[model]} (paper; ‖w‖₁ = {data['paper'][model]['l1']:.2f})",
        )
        ax.bar_label(b1, fmt="%.2f", fontsize=6.5, padding=1)
        ax.bar_label(b2, fmt="%.2f", fontsize=6.5, padding=1)
    ax.set_xticks(xs, [_METRIC_NAMES[m] for m in _METRICS])
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 109)
    cfg = result["config"]
    ax.set_title(
        f"Tsipras et al. Table 4: linear classifier, MNIST 5 vs 7, l∞ ε = {cfg['eps']} "
        f"(exact adversary)\nours: {cfg['n_train']} train / {cfg['n_test']} test digits, "
        f"{cfg['epochs']} epochs GD, lr {cfg['lr']} ({result['scale']} scale)",
        fontsize=10,
    )
    ax.legend(fontsize=8, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.grid(axis="y", alpha=0.3)
    return {result["name"]: fig}


def markdown_table4(result: dict) -> list[str]:
    """The learning-rate sensitivity table."""
    lines = [
        "## Sensitivity to the (unstated) learning rate",
        "",
        "Same data, 100 epochs from w = 0; test accuracies and ‖w‖₁ (train accuracies in "
        "the JSON).",
        "",
        "| lr | std: test std. | std: test adv. | std: ‖w‖₁ | adv: test std. | adv: test adv. "
        "| adv: ‖w‖₁ |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in result["data"]["lr_table"]:
        s, a = e["standard"], e["adversarial"]
        lines.append(
            f"| {e['lr']:g} | {s['test_std']:.2f} | {s['test_adv']:.2f} | {s['l1']:.2f} "
            f"| {a['test_std']:.2f} | {a['test_adv']:.2f} | {a['l1']:.2f} |"
        )
    lines += [
        "",
        "Above lr ≈ 1/L the adversarial training oscillates (the kink of its loss at w_i = 0 "
        "turns into large sign flips) and ‖w‖₁ of the robust model grows instead of shrinking.",
    ]
    return lines


def figures_fig2(result: dict) -> dict:
    """Figure 2 (a)–(c) from the saved result."""
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec
    from matplotlib.lines import Line2D

    data, cfg = result["data"], result["config"]
    eps = data["eps"]
    ws = np.asarray(data["w_standard"], dtype=float)
    wr = np.asarray(data["w_adversarial"], dtype=float)
    corr = np.asarray(data["corr"], dtype=float)
    const = np.asarray(data["constant"], dtype=bool)
    van_r = np.asarray(data["vanishing_adversarial"], dtype=bool)
    tau = data["tau"]
    ours = data["ours"]
    paper = data["paper"]

    fig = plt.figure(figsize=(15, 11.5))
    gs = GridSpec(2, 3, figure=fig, height_ratios=[1, 1.05], hspace=0.38, wspace=0.3)
    # (a) the weights as images, one symmetric scale for both
    vmax = float(max(np.abs(ws).max(), np.abs(wr).max(), 1e-12))
    ims = []
    for j, (w, model) in enumerate(((ws, "standard"), (wr, "adversarial"))):
        ax = fig.add_subplot(gs[0, j])
        ims.append(ax.imshow(w.reshape(28, 28), cmap="RdBu_r", vmin=-vmax, vmax=vmax))
        extra = f" (ε = {eps})" if model == "adversarial" else ""
        ax.set_title(
            f"(a) {_MODEL_NAMES[model]}{extra}: w as 28×28\n‖w‖₁ = {ours[model]['l1']:.2f} "
            f"(paper {paper[model]['l1']:.2f})",
            fontsize=10,
        )
        ax.set_xticks([])
        ax.set_yticks([])
    cb = fig.colorbar(
        ims[1], ax=fig.axes[:2], orientation="horizontal", fraction=0.05, pad=0.04, aspect=40
    )
    cb.set_label(
        "weight w_i (one scale for both; red: evidence for 7 = +1, blue: for 5 = −1)", fontsize=9
    )

    # (b) correlation vs weight
    ax = fig.add_subplot(gs[0, 2])
    var = ~const
    has_tau = tau is not None and math.isfinite(tau)
    if has_tau:
        ax.axvspan(
            -tau,
            tau,
            color="0.88",
            zorder=0,
            label=f"|corr| < τ* = {tau:.2f}: robust weights vanish",
        )
    ax.scatter(
        corr[var], ws[var], s=7, color=_COLORS["standard"], alpha=0.6, label="standard training"
    )
    keep = var & ~van_r
    ax.scatter(
        corr[keep],
        wr[keep],
        s=9,
        color=_COLORS["adversarial"],
        alpha=0.8,
        label="adversarial training",
    )
    ax.scatter(
        corr[var & van_r],
        wr[var & van_r],
        s=9,
        facecolors="none",
        edgecolors=_COLORS["adversarial"],
        alpha=0.5,
        linewidths=0.6,
        label="adversarial, vanishing (sign flips)",
    )
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("feature–label correlation corr(x_i, y) (training set)")
    ax.set_ylabel("weight w_i")
    ax.set_title(f"(b) weight vs correlation ({int(var.sum())} non-constant pixels)", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left")
    ax.grid(alpha=0.3)

    # (c) top-k standard training
    ax = fig.add_subplot(gs[1, :])
    curve = data["curve_abs"]
    ks = [r["k"] for r in curve]
    c_std, c_adv = "#2ca02c", "#9467bd"
    ax.plot(
        ks,
        [r["test_std"] for r in curve],
        "o-",
        color=c_std,
        label="top-k standard training: test standard acc.",
    )
    ax.plot(
        ks,
        [r["test_adv"] for r in curve],
        "s-",
        color=c_adv,
        label=f"top-k standard training: test adversarial acc. (ε = {eps})",
    )
    ax.axhline(
        ours["adversarial"]["test_std"],
        color=c_std,
        ls="--",
        lw=1.2,
        label="adversarial training (ours): test standard acc.",
    )
    ax.axhline(
        ours["adversarial"]["test_adv"],
        color=c_adv,
        ls="--",
        lw=1.2,
        label="adversarial training (ours): test adversarial acc.",
    )
    ax.axhline(
        paper["adversarial"]["test_std"],
        color=c_std,
        ls=":",
        lw=1.5,
        label="adversarial training (paper, Table 4): test standard acc.",
    )
    ax.axhline(
        paper["adversarial"]["test_adv"],
        color=c_adv,
        ls=":",
        lw=1.5,
        label="adversarial training (paper, Table 4): test adversarial acc.",
    )
    d = len(ws)
    ax.plot(
        [d],
        [paper["standard"]["test_std"]],
        marker="*",
        ms=13,
        color=c_std,
        ls="none",
        markeredgecolor="k",
        label="standard training, all pixels (paper, Table 4): test std. (green) / adv. (purple)",
    )
    ax.plot(
        [d],
        [paper["standard"]["test_adv"]],
        marker="*",
        ms=13,
        color=c_adv,
        ls="none",
        markeredgecolor="k",
    )
    n_var = data["n_variable"]
    if has_tau:
        k_tau = int((np.abs(corr) >= tau).sum())
        n_kept = int((~van_r & ~const).sum())
        ax.axvline(k_tau, color=_COLORS["adversarial"], lw=0.8, ls="-.")
        ax.text(
            k_tau,
            15,
            f" {k_tau} pixels have |corr| ≥ τ* = {tau:.2f};\n the robust model keeps "
            f"{n_kept} of them (b)",
            fontsize=8,
            color=_COLORS["adversarial"],
            va="center",
        )
    ax.axvline(n_var, color="0.5", lw=0.8)
    ax.text(
        n_var,
        84,
        f"{n_var} pixels vary on the training set;\nthe others are constant: more k adds nothing ",
        fontsize=8,
        color="0.35",
        ha="right",
        va="center",
    )
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("k: the k pixels most correlated with the label (by |corr|) used for training")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 102)
    ax.set_title(
        "(c) an alternative path to robustness: standard training on the k most correlated pixels",
        fontsize=10,
    )
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="none"))
    labels.append("")
    ax.legend(
        handles, labels, fontsize=8.5, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.13)
    )
    ax.grid(alpha=0.3)
    fig.suptitle(
        f"Tsipras et al. Figure 2: linear classifier on MNIST 5 vs 7, l∞ ε = {eps} (exact "
        f"adversary); ours: {cfg['n_train']} train / {cfg['n_test']} test digits, "
        f"{cfg['epochs']} epochs GD, lr {cfg['lr']} ({result['scale']} scale)",
        fontsize=11,
    )
    return {result["name"]: fig}


def markdown_fig2(result: dict) -> list[str]:
    """The top-k curve of panel (c), both pixel orders."""
    data = result["data"]
    lines = [
        "## Panel (c): standard training on the k most correlated pixels",
        "",
        "Test standard / adversarial accuracy (%), exact adversary; by decreasing |corr| "
        "(plotted) and by decreasing signed corr (7 = +1).",
        "",
        "| k | by \\|corr\\|: std. | by \\|corr\\|: adv. | signed: std. | signed: adv. |",
        "|---|---|---|---|---|",
    ]
    for a, s in zip(data["curve_abs"], data["curve_signed"]):
        lines.append(
            f"| {a['k']} | {a['test_std']:.2f} | {a['test_adv']:.2f} | {s['test_std']:.2f} "
            f"| {s['test_adv']:.2f} |"
        )
    adv = data["ours"]["adversarial"]
    lines += [
        "",
        f"Adversarial training (ours): test standard {adv['test_std']:.2f} %, adversarial "
        f"{adv['test_adv']:.2f} %; paper (Table 4): 92.10 % and 74.65 %.",
    ]
    return lines


_SCALES = {
    "smoke": "100 train / 100 test digits drawn from mnist5k's 5s and 7s, otherwise as "
    "reduced (100 epochs; a few seconds, mostly loading).",
    "reduced": "all 5s and 7s of mnist5k (real MNIST digits; 800 train / 200 test, the "
    "fixed mnist5k split) instead of full MNIST's 11 686 / 1 920; as the paper otherwise: "
    "linear model, logistic loss, 100 epochs of full-batch gradient descent (our lr 0.1, "
    "w = 0 start), ε = 0.2; adversary exact instead of PGD. Seconds on a 2-core CPU.",
    "paper": "full MNIST 5 vs 7 from the data folder (11 686 train / 1 920 test digits), "
    "otherwise as reduced; about 2 minutes on a 2-core CPU (measured on 12 000 digits), "
    "no GPU needed.",
}

EXPERIMENTS = [
    Experiment(
        name="tsipras-table4",
        paper=PAPER,
        item="Table 4 (App. E): linear classifier on binary MNIST 5 vs 7, standard vs "
        "adversarial training, l∞ ε = 0.2",
        description=(
            "Train/test standard and adversarial accuracy and ‖w‖₁ of a linear classifier "
            "trained by standard and by adversarial training (ε = 0.2) on MNIST 5 vs 7; the "
            "adversary is the exact worst case of a linear model in the pixel box."
        ),
        compute=compute_table4,
        scales=_SCALES,
        figures=figures_table4,
        markdown=markdown_table4,
        needs_torch=True,
    ),
    Experiment(
        name="tsipras-fig2",
        paper=PAPER,
        item="Figure 2 (§2.3): weights, feature–label correlation and top-k training of a "
        "linear classifier on MNIST 5 vs 7",
        description=(
            "(a) the weights of the standard and the adversarially trained (ε = 0.2) linear "
            "model as images, (b) weight against the pixel's correlation with the label, "
            "(c) standard training on the k most correlated pixels against adversarial "
            "training."
        ),
        compute=compute_fig2,
        scales=_SCALES,
        figures=figures_fig2,
        markdown=markdown_fig2,
        needs_torch=True,
    ),
]
