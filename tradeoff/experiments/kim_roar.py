"""Does adversarial training make loss gradients quantitatively interpretable? —
Kim et al. 2019 §3.2–3.3, Figs. 4 and 5 (ROAR and KAR).

``kim-fig4``
    μ_ROAR and μ_KAR (:mod:`tradeoff.torch.roar`) of the loss gradient g_G and of
    gradient × input g_GX for CNNs adversarially trained at a grid of ε (ℓ2 and ℓ∞; ε = 0
    is standard training), against ε scaled into [0, 1] per norm, with Pearson's r and
    Spearman's ρ. The paper (CIFAR-10): "a strong positive correlation between the
    strength of attack used during adversarial training and interpretability with the
    exception of g_G from ℓ2-trained DNNs in KAR"; and g_GX scores above g_G.
``kim-fig5``
    The same scores against the networks' clean test accuracy. The paper: "a near-monotonic
    decreasing relation between interpretability and accuracy under both ROAR and KAR",
    with the same exception.

Protocol (Kim et al. §3.2 and their reference code): every attributed network ranks the
pixels of each training and test image by |g| summed over channels; ROAR replaces the
fraction f ∈ {0.1, 0.3, 0.5, 0.7, 0.9} ranked most important, KAR the fraction ranked
least important, by the training set's mean pixel; a fresh classifier is trained on the
occluded training set and tested on the occluded test set, three retrainings per point
averaged; the random ranking g_Rand is the baseline. The attributions are taken, as in
the reference code, with respect to the cross-entropy of the network's *predicted* class.
The retrainings of one (network, method, mode) share their seeds with every other, so
differences between methods are paired. ε is in pixel units of [−1, 1] (Kim scales the
data so); the plots' x-axis divides it by the grid's largest ε per norm, as the paper does
to put ℓ2 and ℓ∞ on one axis.

The ``paper`` scale is CIFAR-10 from the user's folder (Kim's grid: ℓ2 ε = 0.08·i, ℓ∞
ε = 0.002·i, i = 1…20; ``kim_cifar``, 20 epochs, PGD-40; retraining ``kim_cifar`` for 20
epochs). The ``reduced`` scale runs on Fashion-MNIST (closer to CIFAR-10 in difficulty
than MNIST), Kim's MNIST/FMNIST grid of §2.1 (ℓ2 {1, 2, 4}, ℓ∞ {0.05, 0.1, 0.2}), and
retrains a fully connected network (``collins_fc``) instead of the CNN: 420 retrainings
must fit a 2-core CPU. The curves of one (network, method, mode) are memoised beside the
model cache, so ``kim-fig5`` reuses ``kim-fig4``'s retrainings.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from tradeoff.experiments import Context, Experiment, row
from tradeoff.experiments.gradients import (
    KIM,
    KIM_SETTINGS,
    get_models,
    kim_cnn_recipe,
    load_recipe_data,
)

__all__ = [
    "EXPERIMENTS",
    "ROAR_SETTINGS",
    "correlations",
    "roar_kar_curves",
    "roar_model_recipe",
]

#: Attribution methods scored (Kim et al. Eq. (5), (6)), by their labels in the paper.
METHODS = {"G": "grad", "GX": "grad_x_input"}
NORM_LABEL = {"l2": "ℓ2", "linf": "ℓ∞"}

#: Per-scale settings. ``eps``: the training ε grid per norm (pixel units of [−1, 1]);
#: ``n_retrain``: occluded training images each retraining uses (None: all);
#: ``retrain_net`` / ``retrain_epochs`` / ``repeats``: the retrained classifier, its
#: epochs (Adam 1e-3, Kim's optimiser) and the retrainings averaged per point.
ROAR_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "dataset": "fashion_mnist",
        "eps": {"l2": (4.0,), "linf": (0.2,)},
        "n_retrain": 200,
        "n_test": 100,
        "retrain_net": "collins_fc",
        "retrain_epochs": 1,
        "repeats": 1,
        "batch_size": 50,
    },
    "reduced": {
        "dataset": "fashion_mnist",
        "eps": {"l2": (1.0, 2.0, 4.0), "linf": (0.05, 0.1, 0.2)},
        "n_retrain": 2000,
        "n_test": 1000,
        "retrain_net": "collins_fc",
        "retrain_epochs": 4,
        "repeats": 3,
        "batch_size": 100,
    },
    "paper": {
        "dataset": "cifar10",
        "eps": {
            "l2": tuple(round(0.08 * i, 2) for i in range(1, 21)),
            "linf": tuple(round(0.002 * i, 3) for i in range(1, 21)),
        },
        "n_retrain": None,
        "n_test": None,
        "retrain_net": "kim_cifar",
        "retrain_epochs": 20,
        "repeats": 3,
        "batch_size": 100,
    },
}


# --------------------------------------------------------------------------- models, data


def roar_model_recipe(scale: str, norm: str | None, eps: float, *, seed: int = 0) -> dict:
    """The recipe of an attributed network: Kim's MNIST/FMNIST CNN
    (:func:`~tradeoff.experiments.gradients.kim_cnn_recipe`, shared with ``kim-fig2``)
    below the paper scale; at ``paper`` scale Kim's CIFAR-10 CNN (App. A.2, B.3: Adam
    1e-3, 20 epochs, PGD-40 of α = 2.5 ε / 40 with a random start, adversarial images
    only; ε in pixel units of [−1, 1])."""
    if scale not in ROAR_SETTINGS:
        raise ValueError(f"scale must be one of {tuple(ROAR_SETTINGS)}, got {scale!r}")
    if norm not in (None, "l2", "linf"):
        raise ValueError(f"norm must be None, 'l2' or 'linf', got {norm!r}")
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0) or (eps > 0) != (norm is not None):
        raise ValueError(f"eps must be 0 with norm None and > 0 with a norm, got {eps!r}")
    s = ROAR_SETTINGS[scale]
    if scale != "paper":
        return kim_cnn_recipe(scale, s["dataset"], eps, norm=norm or "l2", seed=seed)
    steps = 40
    return {
        "format": "kim_cnn/1",
        "net": "kim_cifar",
        "data": {"dataset": "cifar10", "n_train": None, "seed": int(seed), "pixel_range": [-1, 1]},
        "method": "standard" if eps == 0 else "madry",
        "norm": norm,
        "eps": eps,
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 100,
        "steps": 0 if eps == 0 else steps,
        "schedule": [
            {"eps": eps, "alpha": round(2.5 * eps / steps, 10) if eps else 0.0, "epochs": 20}
        ],
        "seed": int(seed),
    }


def _recipes(ctx: Context) -> dict[str, dict]:
    s = ROAR_SETTINGS[ctx.scale]
    out = {"standard": roar_model_recipe(ctx.scale, None, 0.0, seed=ctx.seed)}
    for norm, grid in s["eps"].items():
        for e in grid:
            out[f"{norm}/{e:g}"] = roar_model_recipe(ctx.scale, norm, e, seed=ctx.seed)
    return out


def _n_test(scale: str) -> int | None:
    s = ROAR_SETTINGS[scale]
    if scale == "paper":
        return s["n_test"]
    return min(s["n_test"], KIM_SETTINGS[scale]["n_test"] or s["n_test"])


@functools.lru_cache(maxsize=2)
def _roar_data(recipe_json: str, root: str | None, n_retrain: int | None, n_test: int | None):
    """The retraining data of a recipe: its first ``n_retrain`` training images, its test
    images, and the occlusion value (the training set's mean pixel per channel)."""
    data = load_recipe_data(json.loads(recipe_json), root=root, n_test=n_test)
    x = data.train.x if n_retrain is None else data.train.x[:n_retrain]
    y = data.train.y if n_retrain is None else data.train.y[:n_retrain]
    value = data.train.x.mean(dim=(0, 2, 3))
    return x, y, data.test.x, data.test.y, value


def _attributions(model: Any, x: Any, pixel_range: tuple, method: str) -> np.ndarray:
    """g of ``method`` w.r.t. the cross-entropy of the predicted class, in batches."""
    import torch

    from tradeoff.torch.attribution import saliency

    out = []
    for i in range(0, len(x), 500):
        xb = x[i : i + 500]
        with torch.no_grad():
            pred = model(xb).argmax(1)
        g = saliency(model, xb, pred, method, clip=pixel_range)
        out.append(g.abs().sum(dim=1, keepdim=True).to(torch.float32).numpy())
    return np.concatenate(out)


def _curve_task(
    *,
    attr_train: np.ndarray,
    attr_test: np.ndarray,
    mode: str,
    recipe_json: str,
    root: str | None,
    n_retrain: int | None,
    n_test: int | None,
    net: str,
    epochs: int,
    repeats: int,
    batch_size: int,
    seed: int,
) -> dict:
    """Sweep task: the ROAR or KAR curve of one attribution (every fraction, every repeat)."""
    import torch

    from tradeoff.torch import roar

    x, y, xt, yt, value = _roar_data(recipe_json, root, n_retrain, n_test)
    # joblib hands large arrays over as read-only memory maps: copy them
    a_tr, a_te = torch.tensor(attr_train), torch.tensor(attr_test)
    acc = np.zeros((len(roar.FRACTIONS), repeats))
    for i, f in enumerate(roar.FRACTIONS):
        xo = roar.occlude(x, a_tr, f, mode, value)
        xto = roar.occlude(xt, a_te, f, mode, value)
        for r in range(repeats):
            acc[i, r] = roar.retrain_accuracy(
                xo,
                y,
                xto,
                yt,
                net=net,
                epochs=epochs,
                seed=seed * 1000 + r,
                batch_size=batch_size,
                num_classes=10,
            )
    return {"accuracy": acc.tolist(), "mean": acc.mean(axis=1).tolist()}


def _memo_path(ctx: Context, task: dict) -> Path | None:
    if ctx.models is None:
        return None
    from tradeoff.experiments.models import code_version
    from tradeoff.torch import roar

    # What makes a curve: the training code, roar.py, and the two functions of this module
    # that run a task (editing the reporting below keeps the memo).
    h = hashlib.sha256(code_version((roar.__file__,)).encode())
    for fn in (_curve_task, _roar_data):
        h.update(inspect.getsource(fn).encode())
    for k in sorted(task):
        v = task[k]
        h.update(k.encode() + b"=")
        h.update(v.tobytes() if isinstance(v, np.ndarray) else json.dumps(v).encode())
    return ctx.models.root.parent / "roar" / f"{h.hexdigest()}.json"


def roar_kar_curves(ctx: Context) -> dict:
    """Train (or load) the attributed networks of ``ctx.scale``, attribute their training
    and test images, and retrain on every occluded dataset: ROAR and KAR curves of g_G,
    g_GX and g_Rand, each network's test accuracy, and the configuration."""
    import torch

    from tradeoff.experiments.sweep import run_sweep
    from tradeoff.torch import roar

    s = ROAR_SETTINGS[ctx.scale]
    recipes = _recipes(ctx)
    models = get_models(ctx, recipes, "kim-roar")
    base = json.dumps(recipes["standard"], sort_keys=True)
    n_test = _n_test(ctx.scale)
    x, _, xt, yt, _ = _roar_data(base, ctx.data_dir, s["n_retrain"], n_test)
    prange = tuple(float(v) for v in recipes["standard"]["data"]["pixel_range"])
    common = {
        "recipe_json": base,
        "root": ctx.data_dir,
        "n_retrain": s["n_retrain"],
        "n_test": n_test,
        "net": s["retrain_net"],
        "epochs": s["retrain_epochs"],
        "repeats": s["repeats"],
        "batch_size": s["batch_size"],
        "seed": ctx.seed,
    }
    tasks, keys = [], []
    attrs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    acc: dict[str, float] = {}
    t0 = time.perf_counter()
    for name, (model, _) in models.items():
        with torch.no_grad():
            pred = torch.cat([model(xt[i : i + 500]).argmax(1) for i in range(0, len(xt), 500)])
        acc[name] = 100.0 * float((pred == yt).float().mean())
        for m, method in METHODS.items():
            attrs[f"{name}|{m}"] = (
                _attributions(model, x, prange, method),
                _attributions(model, xt, prange, method),
            )
    attrs["random|Rand"] = (
        roar.random_attribution((len(x), 1, *x.shape[2:]), 2 * ctx.seed + 1).float().numpy(),
        roar.random_attribution((len(xt), 1, *xt.shape[2:]), 2 * ctx.seed + 2).float().numpy(),
    )
    t_attr = time.perf_counter() - t0
    curves: dict[str, dict] = {}
    todo = []
    for key, (a_tr, a_te) in attrs.items():
        for mode in roar.MODES:
            task = {**common, "attr_train": a_tr, "attr_test": a_te, "mode": mode}
            memo = _memo_path(ctx, task)
            if memo is not None and memo.exists():
                curves[f"{key}|{mode}"] = json.loads(memo.read_text())
                continue
            tasks.append(task)
            keys.append(f"{key}|{mode}")
            todo.append(memo)
    t1 = time.perf_counter()
    if tasks:
        ctx.log(f"kim-roar: {len(tasks)} curves × {len(roar.FRACTIONS) * s['repeats']} retrainings")
        done = run_sweep(
            _curve_task,
            tasks,
            workers=ctx.workers,
            threads=1,
            desc="ROAR/KAR retraining",
            progress=ctx.progress,
        )
        for k, res, memo in zip(keys, done, todo, strict=True):
            curves[k] = res
            if memo is not None:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_suffix(".tmp")
                tmp.write_text(json.dumps(res))
                tmp.replace(memo)
    return {
        "curves": curves,
        "test_acc": acc,
        "models": {
            n: {"cached": info.get("cached"), "seconds": info.get("seconds")}
            for n, (_, info) in models.items()
        },
        "fractions": list(roar.FRACTIONS),
        "seconds": {"attributions": t_attr, "retraining": time.perf_counter() - t1},
        "n_retrainings": len(tasks) * len(roar.FRACTIONS) * s["repeats"],
        "config": {k: v for k, v in common.items() if k not in ("recipe_json", "root")},
    }


# --------------------------------------------------------------------------- scores


def correlations(x: Any, y: Any) -> dict[str, float | None]:
    """Pearson's r and Spearman's ρ of ``y`` against ``x`` (None below 3 points or for a
    constant series)."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": None, "spearman": None}
    return {
        "pearson": float(stats.pearsonr(x, y)[0]),
        "spearman": float(stats.spearmanr(x, y)[0]),
    }


def _area_se(mode: str, fractions: list, accuracy: list) -> float | None:
    """Standard error of a curve's area (AOC for ROAR, AUC for KAR) over its retrainings
    (the columns of ``accuracy``); None with one retraining."""
    from tradeoff.torch import roar

    acc = np.asarray(accuracy, dtype=float)
    if acc.ndim != 2 or acc.shape[1] < 2:
        return None
    area = roar.area_over_curve if mode == "roar" else roar.area_under_curve
    per_repeat = [area(fractions, acc[:, r]) for r in range(acc.shape[1])]
    return float(np.std(per_repeat, ddof=1) / np.sqrt(acc.shape[1]))


def _scores(raw: dict, eps_grid: dict) -> dict:
    """μ per network, method and mode, its standard error, and the points of each (norm,
    method, mode) series. The standard error is that of the attribution's own area over
    the retrainings: the random baseline is one curve shared by all networks, so its noise
    shifts every μ alike and cancels in comparisons between networks."""
    from tradeoff.torch import roar

    f = raw["fractions"]
    curves = raw["curves"]
    mu: dict[str, dict[str, dict[str, float]]] = {}
    se: dict[str, dict[str, dict[str, float | None]]] = {}
    for key in curves:
        name, m, mode = key.split("|")
        if m == "Rand":
            continue
        rand = curves[f"random|Rand|{mode}"]["mean"]
        mu.setdefault(name, {}).setdefault(m, {})[mode] = roar.interpretability_score(
            mode, f, curves[key]["mean"], rand
        )
        se.setdefault(name, {}).setdefault(m, {})[mode] = _area_se(mode, f, curves[key]["accuracy"])
    series = {}
    for norm, grid in eps_grid.items():
        names = ["standard", *(f"{norm}/{e:g}" for e in grid)]
        eps = [0.0, *grid]
        scaled = [e / max(grid) for e in eps]
        for m in METHODS:
            for mode in roar.MODES:
                ys = [mu[n][m][mode] for n in names]
                accs = [raw["test_acc"][n] for n in names]
                series[f"{norm}|{m}|{mode}"] = {
                    "eps": eps,
                    "scaled_eps": scaled,
                    "test_acc": accs,
                    "mu": ys,
                    "se": [se[n][m][mode] for n in names],
                    "vs_eps": correlations(scaled, ys),
                    "vs_acc": correlations(accs, ys),
                }
    return {"mu": mu, "se": se, "series": series}


def _noise_note(sc: dict) -> str | None:
    """How the change of μ from the standard network to the largest ε compares with the
    retrainings' noise, per series (in standard errors of the difference)."""
    parts = []
    for key, v in sc["series"].items():
        a, b = v["se"][0], v["se"][-1]
        if a is None or b is None:
            return None
        z = (v["mu"][-1] - v["mu"][0]) / max(float(np.hypot(a, b)), 1e-12)
        norm, m, mode = key.split("|")
        parts.append(f"{NORM_LABEL[norm]} {m} {mode.upper()} {z:+.1f}")
    ses = [x for by in sc["se"].values() for d in by.values() for x in d.values()]
    return (
        "Noise: the standard error of μ from the retrainings is "
        f"{np.median(ses):.4f} (median; {min(ses):.4f}–{max(ses):.4f}). Change of μ from the "
        "standard network to the largest ε, in standard errors of the difference: "
        + ", ".join(parts)
        + " (|z| < 2: not resolved at this scale)."
    )


_PAPER_DIRECTION = (
    "positive for every (norm, method, metric) except g_G of ℓ2-trained networks in KAR"
)


def _claim_text(series: dict, against: str, sign: int) -> list[str]:
    out = []
    for key, v in series.items():
        norm, m, mode = key.split("|")
        c = v[against]
        if c["pearson"] is None:
            out.append(f"{NORM_LABEL[norm]} {m} {mode.upper()}: too few points")
            continue
        agrees = "agrees" if np.sign(c["pearson"]) == sign else "**disagrees**"
        if norm == "l2" and m == "G" and mode == "kar":
            agrees += " (the paper's exception)"
        out.append(
            f"{NORM_LABEL[norm]} {m} {mode.upper()}: r = {c['pearson']:+.2f}, "
            f"ρ = {c['spearman']:+.2f} — {agrees}"
        )
    return out


def _compute(ctx: Context, against: str) -> dict:
    s = ROAR_SETTINGS[ctx.scale]
    raw = roar_kar_curves(ctx)
    sc = _scores(raw, s["eps"])
    rows = []
    for name, by in sc["mu"].items():
        rows.append(row(f"{name}: clean test accuracy", raw["test_acc"][name], unit="%"))
        for m in METHODS:
            for mode in ("roar", "kar"):
                err = sc["se"][name][m][mode]
                pm = "" if err is None else f" (± {err:.3f} SE)"
                rows.append(row(f"{name}: μ_{mode.upper()}(g_{m}){pm}", by[m][mode]))
    for key, v in sc["series"].items():
        norm, m, mode = key.split("|")
        for stat in ("pearson", "spearman"):
            what = "vs ε" if against == "vs_eps" else "vs test accuracy"
            sym = "r" if stat == "pearson" else "ρ"
            rows.append(
                row(
                    f"{NORM_LABEL[norm]}-trained, μ_{mode.upper()}(g_{m}) {what}: {sym}",
                    v[against][stat],
                )
            )
    gx_better = {
        mode: float(np.mean([sc["mu"][n]["GX"][mode] - sc["mu"][n]["G"][mode] for n in sc["mu"]]))
        for mode in ("roar", "kar")
    }
    adv_beats_std = {}
    for m in METHODS:
        for mode in ("roar", "kar"):
            adv = [v[m][mode] for n, v in sc["mu"].items() if n != "standard"]
            adv_beats_std[f"{m}|{mode}"] = bool(min(adv) > sc["mu"]["standard"][m][mode])
    sign = 1 if against == "vs_eps" else -1
    notes = [
        (
            "Claim (Kim Fig. 4): the correlation of μ with the training ε is "
            + _PAPER_DIRECTION
            + ". Ours: "
            if against == "vs_eps"
            else "Claim (Kim Fig. 5): μ decreases with test accuracy (negative correlation) "
            "for every (norm, method, metric) except g_G of ℓ2-trained networks in KAR. Ours: "
        )
        + "; ".join(_claim_text(sc["series"], against, sign))
        + ".",
        "Claim (Kim §3.2: min over adversarially trained μ > max over standard μ): "
        + ", ".join(
            f"g_{k.split('|')[0]} {k.split('|')[1].upper()} {'holds' if v else '**fails**'}"
            for k, v in adv_beats_std.items()
        )
        + ".",
        "Claim (Kim §3.2: g_GX scores above g_G): mean μ(g_GX) − μ(g_G) over the networks: "
        + ", ".join(f"{k.upper()} {v:+.3f}" for k, v in gx_better.items())
        + ".",
        "μ is in units of accuracy (a fraction) × occluded fraction: the area between two "
        f"accuracy curves over f ∈ [{raw['fractions'][0]}, {raw['fractions'][-1]}]. The "
        "paper shows its coefficients only in its figures; the rows here are ours.",
        _setting_note(ctx.scale, raw),
    ]
    noise = _noise_note(sc)
    if noise is not None:
        notes.insert(3, noise)
    return {
        "rows": rows,
        "config": {
            "dataset": s["dataset"],
            "eps": {k: list(v) for k, v in s["eps"].items()},
            **raw["config"],
        },
        "notes": notes,
        "data": {
            "raw": raw,
            "scores": sc,
            "against": against,
            "adv_beats_std": adv_beats_std,
            "gx_minus_g": gx_better,
        },
    }


def _setting_note(scale: str, raw: dict) -> str:
    s = ROAR_SETTINGS[scale]
    k = KIM_SETTINGS.get(scale, {})
    sec = raw["seconds"]
    text = (
        f"Setting ({scale}): {s['dataset']}; attributed networks "
        + (
            "kim_cifar, 20 epochs, PGD-40"
            if scale == "paper"
            else f"kim_mnist on {k.get('n_train')} training images, {k.get('epochs')} epochs, "
            f"PGD-{k.get('steps')}"
        )
        + f"; ε grid ℓ2 {list(s['eps']['l2'])}, ℓ∞ {list(s['eps']['linf'])} (pixel units of "
        f"[−1, 1]); retraining {s['retrain_net']} for {s['retrain_epochs']} epochs (Adam "
        f"1e-3) on {s['n_retrain'] or 'all'} occluded training images, tested on "
        f"{raw['config']['n_test'] or 'all'} occluded test images, {s['repeats']} "
        f"retraining(s) per point. This run: {raw['n_retrainings']} retrainings in "
        f"{sec['retraining']:.0f} s, attributions in {sec['attributions']:.0f} s (the rest "
        "were memoised)."
    )
    if scale != "paper":
        text += (
            " Differs from the paper: Fashion-MNIST instead of CIFAR-10, 3+3 ε instead of "
            "20+20, a fully connected retrained classifier instead of the CNN, a few epochs."
        )
    return text


def fig4_compute(ctx: Context) -> dict:
    """Kim et al. Fig. 4: μ_ROAR and μ_KAR of g_G and g_GX against the training ε."""
    return _compute(ctx, "vs_eps")


def fig5_compute(ctx: Context) -> dict:
    """Kim et al. Fig. 5: μ_ROAR and μ_KAR of g_G and g_GX against the test accuracy."""
    return _compute(ctx, "vs_acc")


# --------------------------------------------------------------------------- figures


def _fmt_corr(c: dict) -> str:
    if c["pearson"] is None:
        return "r, ρ: n/a"
    return f"r={c['pearson']:+.2f}, ρ={c['spearman']:+.2f}"


def _score_figure(result: dict, against: str) -> Any:
    import matplotlib.pyplot as plt

    d = result["data"]
    series = d["scores"]["series"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), squeeze=False)
    style = {"G": ("o", "tab:blue"), "GX": ("s", "tab:orange")}
    for r, mode in enumerate(("roar", "kar")):
        for c, norm in enumerate(("l2", "linf")):
            ax = axes[r, c]
            for m, (marker, colour) in style.items():
                v = series[f"{norm}|{m}|{mode}"]
                xs = v["scaled_eps"] if against == "vs_eps" else v["test_acc"]
                order = np.argsort(xs)
                err = v.get("se", [None] * len(xs))
                ax.errorbar(
                    np.asarray(xs)[order],
                    np.asarray(v["mu"])[order],
                    yerr=None if None in err else np.asarray(err)[order],
                    marker=marker,
                    color=colour,
                    capsize=3,
                    label=f"g_{m} ({_fmt_corr(v[against])})",
                )
                if against == "vs_acc":
                    for xv, yv, e in zip(xs, v["mu"], v["eps"], strict=True):
                        ax.annotate(
                            f"{e:g}",
                            (xv, yv),
                            fontsize=7,
                            xytext=(3, 3),
                            textcoords="offset points",
                        )
            ax.axhline(0, color="grey", lw=0.8, ls=":")
            ax.set_title(f"{NORM_LABEL[norm]}-trained networks — {mode.upper()}")
            ax.set_ylabel(f"μ_{mode.upper()} (accuracy × fraction; bars ± 1 SE)")
            ax.set_xlabel(
                "training ε / largest ε of the grid (0 = standard)"
                if against == "vs_eps"
                else "clean test accuracy (%) — labels: training ε"
            )
            ax.legend(fontsize=8)
    what = "training ε" if against == "vs_eps" else "test accuracy"
    paper = "positive" if against == "vs_eps" else "negative"
    fig.suptitle(
        f"Kim et al. Fig. {4 if against == 'vs_eps' else 5} — interpretability vs {what} "
        f"({result['config']['dataset']}, {result['scale']} scale); paper: {paper} "
        "correlation except ℓ2 g_G in KAR"
    )
    fig.tight_layout()
    return fig


def _curves_figure(result: dict) -> Any:
    import matplotlib.pyplot as plt

    raw = result["data"]["raw"]
    f = raw["fractions"]
    curves = raw["curves"]
    names = ["standard", *(n for n in raw["test_acc"] if n != "standard")]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), squeeze=False)
    for r, mode in enumerate(("roar", "kar")):
        for c, m in enumerate(METHODS):
            ax = axes[r, c]
            for i, n in enumerate(names):
                ls = "-" if n == "standard" or n.startswith("l2") else "--"
                ax.plot(
                    f,
                    100 * np.asarray(curves[f"{n}|{m}|{mode}"]["mean"]),
                    ls=ls,
                    color=cmap(i / max(1, len(names) - 1)),
                    marker=".",
                    label=n,
                )
            ax.plot(
                f,
                100 * np.asarray(curves[f"random|Rand|{mode}"]["mean"]),
                color="black",
                lw=2,
                ls=":",
                label="random ranking",
            )
            ax.set_title(f"{mode.upper()} curves of g_{m}")
            ax.set_xlabel(
                "fraction of pixels occluded ("
                + ("most" if mode == "roar" else "least")
                + " important first)"
            )
            ax.set_ylabel("test accuracy of the retrained network (%)")
            ax.legend(fontsize=7, ncol=2)
    fig.suptitle(
        f"Kim et al. §3.2 — ROAR / KAR curves ({result['config']['dataset']}, "
        f"{result['scale']} scale; solid ℓ2 / standard, dashed ℓ∞)"
    )
    fig.tight_layout()
    return fig


def fig4_figures(result: dict) -> dict:
    """μ against the scaled training ε (Kim Fig. 4) and the raw ROAR/KAR curves."""
    return {"kim-fig4": _score_figure(result, "vs_eps"), "kim-fig4-curves": _curves_figure(result)}


def fig5_figures(result: dict) -> dict:
    """μ against the clean test accuracy (Kim Fig. 5)."""
    return {"kim-fig5": _score_figure(result, "vs_acc")}


#: Measured wall time of the reduced scale on this project's 2-core CPU.
REDUCED_BUDGET = (
    "measured 18 min from a cold cache (7 attributed networks 7 min, 450 retrainings 9 min, "
    "attributions 2 min; a rerun with the networks cached took 17 min while other jobs "
    "shared the cores); kim-fig5 after kim-fig4: 1 min"
)

_SCALES = {
    "smoke": "Fashion-MNIST, the smoke kim_mnist models (standard, ℓ2 ε 4, ℓ∞ ε 0.2), 200 "
    "retraining images, 1 epoch, 1 retraining per point: seconds, a plumbing check only.",
    "reduced": "Fashion-MNIST: kim_mnist models of kim-fig2's recipe (4 000 images, 5 epochs, "
    "PGD-3) at ℓ2 ε ∈ {1, 2, 4} and ℓ∞ ε ∈ {0.05, 0.1, 0.2} (pixel units of [−1, 1]) and "
    "standard; 15 attributions × 2 modes × 5 fractions × 3 retrainings of collins_fc "
    "(2 000 occluded images, 4 epochs) = 450 retrainings on 2 sweep workers. Budget: "
    "{budget}. kim-fig5 reuses kim-fig4's memoised curves. Differs from the paper: "
    "Fashion-MNIST, a 3+3-point ε grid, a fully connected retrained network.",
    "paper": "CIFAR-10 from --data-dir: kim_cifar at Kim's 20+20-point ε grid, 20 epochs of "
    "PGD-40 training, (41 networks × 2 methods + the random ranking) × 2 modes × 5 "
    "fractions × 3 = 2 490 retrainings of kim_cifar for 20 epochs. For "
    "many GPUs (the sweep runner with a Dask/Ray backend).",
}

_ENTRY_SCALES = {**_SCALES, "reduced": _SCALES["reduced"].replace("{budget}", REDUCED_BUDGET)}

EXPERIMENTS = [
    Experiment(
        name="kim-fig4",
        paper=KIM,
        item="Fig. 4 (ROAR/KAR vs training ε)",
        description=(
            "μ_ROAR and μ_KAR (Remove/Keep And Retrain, random ranking as baseline) of the "
            "loss gradient g_G and gradient × input g_GX of networks adversarially trained "
            "at a grid of ℓ2 and ℓ∞ ε (pixel units of [−1, 1]), against ε, with Pearson "
            "and Spearman coefficients. The paper: interpretability grows with ε, except "
            "ℓ2 g_G in KAR."
        ),
        compute=fig4_compute,
        scales=_ENTRY_SCALES,
        figures=fig4_figures,
        needs_torch=True,
    ),
    Experiment(
        name="kim-fig5",
        paper=KIM,
        item="Fig. 5 (ROAR/KAR vs test accuracy)",
        description=(
            "The scores of kim-fig4 against each network's clean test accuracy, with "
            "Pearson and Spearman coefficients. The paper: a near-monotonic trade-off — "
            "more accurate networks have less interpretable gradients."
        ),
        compute=fig5_compute,
        scales=_ENTRY_SCALES,
        figures=fig5_figures,
        needs_torch=True,
    ),
]
