"""Collins et al. 2019 — Table 1 and Figure 2 on the modified Bernoulli model.

``collins-table1``: standard and robust test accuracy of standard vs robust training
(App. B.2: d = 100, N = 10 000, 100 Adam iterations at lr 0.01, FGSM on every other
iteration) for ε in {0.1, …, 0.5}; the accuracies of the trained weights are exact
(:meth:`tradeoff.bernoulli.BernoulliModel.accuracy`, bracket width <= 1e-5), not test-set
estimates. Run for the stated τ range [0, 0.25] and for [0, 0.2], which is what the
paper's numbers match.

``collins-fig2``: learned weights against τ_j (ε = 0.5), with the exact thresholds τ*
of the population objectives (pure adversarial, a = 1; alternating, a = 1/2) and of the
finite procedure's own objective (the N-sample a = 1/2 objective, solved exactly), and
τ*(d), τ*(ε) of the alternating objective.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tradeoff.experiments import Context, Experiment, row

PAPER = "Collins et al. 2019"
EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5)
D = 100
N = 10_000

# Table 1 as printed (percent). "0.08%" and "0.01%" are fractions written with a
# percent sign (8% and 1%): the column falls 92.4 → 68.5 → 32.3 → 8 → 1 smoothly, and
# the exact computation gives 7.6% and 0.7% there (see the output).
PAPER_TABLE1 = {
    "clean": {"std_train_std": 98.9},
    0.1: {
        "std_train_std": 98.9,
        "std_train_rob": 92.4,
        "rob_train_std": 98.9,
        "rob_train_rob": 94.0,
    },
    0.2: {
        "std_train_std": 98.9,
        "std_train_rob": 68.5,
        "rob_train_std": 98.7,
        "rob_train_rob": 79.7,
    },
    0.3: {
        "std_train_std": 98.9,
        "std_train_rob": 32.3,
        "rob_train_std": 97.8,
        "rob_train_rob": 60.5,
    },
    0.4: {
        "std_train_std": 98.9,
        "std_train_rob": 0.08,
        "rob_train_std": 97.0,
        "rob_train_rob": 38.8,
    },
    0.5: {
        "std_train_std": 98.9,
        "std_train_rob": 0.01,
        "rob_train_std": 95.2,
        "rob_train_rob": 24.0,
    },
}
# the same with the unit slip corrected (fractions → percent)
PAPER_SLIP_FIXED = {0.4: 8.0, 0.5: 1.0}
COLUMNS = ("std_train_std", "std_train_rob", "rob_train_std", "rob_train_rob")
TITLES = {
    "std_train_std": "std. training, std. test",
    "std_train_rob": "std. training, rob. test",
    "rob_train_std": "rob. training, std. test",
    "rob_train_rob": "rob. training, rob. test",
}


def _model(hi: float, rng: np.random.Generator, d: int = D):
    from tradeoff.bernoulli import BernoulliModel

    theta = rng.choice([-1.0, 1.0], d)
    return BernoulliModel(np.linspace(0.0, hi, d), theta)


def _paper_value(eps: float, col: str, fixed: bool) -> float:
    value = PAPER_TABLE1[eps][col]
    if fixed and col == "std_train_rob" and eps in PAPER_SLIP_FIXED:
        value = PAPER_SLIP_FIXED[eps]
    return value


def table1_runs(
    hi: float, seed: int, repeats: int, *, n: int = N, d: int = D, tol: float = 1e-5
) -> list[dict]:
    """One Table 1 per seed: exact accuracies (percent) of the procedure's weights."""
    from tradeoff.bernoulli import collins_procedure

    runs = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        model = _model(hi, rng, d)
        x, y = model.sample(n, rng)
        w_std = collins_procedure(model, rng, eps=0.0, data=(x, y))
        row: dict = {"clean": {"std_train_std": 100 * model.accuracy(w_std, tol=tol)}}
        for eps in EPSILONS:
            w_rob = collins_procedure(model, rng, eps=eps, robust=True, data=(x, y))
            row[eps] = {
                "std_train_std": row["clean"]["std_train_std"],
                "std_train_rob": 100 * model.accuracy(w_std, eps, tol=tol),
                "rob_train_std": 100 * model.accuracy(w_rob, tol=tol),
                "rob_train_rob": 100 * model.accuracy(w_rob, eps, tol=tol),
            }
        runs.append(row)
    return runs


def _summary(runs: list[dict]) -> dict:
    out: dict = {}
    for eps in EPSILONS:
        out[eps] = {}
        for col in COLUMNS:
            vals = np.array([r[eps][col] for r in runs])
            out[eps][col] = (float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0)
    return out


def _rms(summary: dict, fixed: bool) -> float:
    diffs = [
        summary[eps][col][0] - _paper_value(eps, col, fixed) for eps in EPSILONS for col in COLUMNS
    ]
    return float(np.sqrt(np.mean(np.square(diffs))))


def _population_rows(hi: float, seed: int, tol: float) -> dict:
    """Exact accuracies of the population optima (a = 1/2 mixture; a = 0 standard)."""
    from tradeoff.bernoulli import robust_logistic

    model = _model(hi, np.random.default_rng([seed, 0]))
    w_std = model.bayes_weights()
    rows = {}
    for eps in EPSILONS:
        opt = robust_logistic(model, eps, adversarial_fraction=0.5)
        rows[eps] = {
            "std_train_std": 100 * model.accuracy(w_std, tol=tol),
            "std_train_rob": 100 * model.accuracy(w_std, eps, tol=tol),
            "rob_train_std": 100 * model.accuracy(opt.w, tol=tol),
            "rob_train_rob": 100 * model.accuracy(opt.w, eps, tol=tol),
        }
    return rows


def compute_table1(ctx: Context) -> dict:
    """``collins-table1``: Table 1 (paper vs ours, mean ± sd over seeds) for the stated τ
    range [0, 0.25] and for [0, 0.2]; accuracies in percent, exact to ``tol``; ε in
    feature units."""
    repeats = ctx.pick(smoke=1, reduced=3, paper=3)
    n = ctx.pick(smoke=1000, reduced=N, paper=N)
    tol = ctx.pick(smoke=1e-3, reduced=1e-4, paper=1e-4)
    ranges = {"[0, 0.2]": 0.2, "[0, 0.25] (stated)": 0.25}
    results: dict[str, dict[str, Any]] = {}  # per τ range: the JSON record
    for label, hi in ranges.items():
        ctx.log(f"collins-table1: τ in {label}, {repeats} seed(s), N = {n}")
        runs = table1_runs(hi, ctx.seed, repeats, n=n, tol=tol)
        summ = _summary(runs)
        results[label] = {
            "tau_max": hi,
            "runs": [{str(k): v for k, v in r.items()} for r in runs],
            "mean_sd": {str(e): {c: list(summ[e][c]) for c in COLUMNS} for e in EPSILONS},
            "rms_vs_paper_as_printed": _rms(summ, fixed=False),
            "rms_vs_paper_slip_fixed": _rms(summ, fixed=True),
            "population_a_half": {
                str(e): v for e, v in _population_rows(hi, ctx.seed, tol).items()
            },
        }
    best = min(results, key=lambda k: results[k]["rms_vs_paper_slip_fixed"])
    rows = []
    for eps in EPSILONS:
        for col in COLUMNS:
            m, sd = results[best]["mean_sd"][str(eps)][col]
            why = ""
            if col == "std_train_rob" and eps in PAPER_SLIP_FIXED:
                why = f"paper prints {PAPER_TABLE1[eps][col]}%, a fraction written as percent"
            rows.append(
                row(
                    f"ε = {eps:g}, {TITLES[col]} (τ in {best})",
                    m,
                    _paper_value(eps, col, fixed=True),
                    unit="%",
                    tol=max(2.0, 3 * sd),
                    why=why or f"seed spread ±{sd:.1f}",
                )
            )
    notes = [
        f"d = {D}, N = {n}, θ* random signs, τ linearly spaced; App. B.2 procedure (100 "
        "full-batch Adam steps, lr 0.01, FGSM on every other step); accuracies of the trained "
        f"weights are exact (bracket width <= {tol:g}); mean ± sd over {repeats} seeds; ε in "
        "feature units (features ±1).",
        "Paper's unit slip: the standard-training robust column prints 0.08% and 0.01% at "
        "ε = 0.4, 0.5; they are fractions (8%, 1%); the rows compare with 8 and 1.",
        f"**What reproduces Table 1:** τ in {best} (RMS "
        f"{results[best]['rms_vs_paper_slip_fixed']:.2f} points), not the stated τ in "
        "[0, 0.25], whose standard accuracy is ~99.8% instead of 98.9%.",
    ]
    config = {"d": D, "n": n, "repeats": repeats, "tol": tol}
    data = {
        "paper": {str(k): v for k, v in PAPER_TABLE1.items()},
        "paper_unit_slip_fixed": {str(k): v for k, v in PAPER_SLIP_FIXED.items()},
        "results": results,
        "best_tau_range": best,
    }
    return {"rows": rows, "notes": notes, "config": config, "data": data}


def table1_markdown(result: dict) -> list[str]:
    """Both τ ranges as full tables (paper | ours per column) and the population optima."""
    lines: list[str] = []
    for label, res in result["data"]["results"].items():
        lines += [
            f"## τ in {label}",
            "",
            "| ε | " + " | ".join(f"{TITLES[c]}: paper | ours" for c in COLUMNS) + " |",
            "|---|" + "---|---|" * len(COLUMNS),
        ]
        for eps in EPSILONS:
            cells = []
            for col in COLUMNS:
                paper = PAPER_TABLE1[eps][col]
                shown = f"{paper:g}" + (
                    f" (={PAPER_SLIP_FIXED[eps]:g})"
                    if col == "std_train_rob" and eps in PAPER_SLIP_FIXED
                    else ""
                )
                m, sd = res["mean_sd"][str(eps)][col]
                cells += [shown, f"{m:.1f} ± {sd:.1f}"]
            lines.append(f"| {eps:g} | " + " | ".join(cells) + " |")
        lines += [
            "",
            f"RMS difference to the paper (percentage points): {res['rms_vs_paper_slip_fixed']:.2f}"
            f" with the unit slip fixed, {res['rms_vs_paper_as_printed']:.2f} as printed.",
            "",
            "Population optima (exact expectations; standard = Bayes log-odds, robust = the "
            "a = 1/2 objective that alternating FGSM minimises in expectation):",
            "",
            "| ε | " + " | ".join(TITLES[c] for c in COLUMNS) + " |",
            "|---|" + "---|" * len(COLUMNS),
        ]
        for eps in EPSILONS:
            pop = res["population_a_half"][str(eps)]
            lines.append(f"| {eps:g} | " + " | ".join(f"{pop[c]:.2f}" for c in COLUMNS) + " |")
        lines.append("")
    return lines


# --------------------------------------------------------------------------------------
def _hinge_fit(tau: np.ndarray, w: np.ndarray) -> float:
    """τ0 of the least-squares fit ``w ≈ max(0, k(τ − τ0))`` (the visual threshold)."""
    best, best_err = float(tau[0]), np.inf
    for t0 in np.linspace(float(tau.min()), float(tau.max()), 501):
        feat = np.maximum(tau - t0, 0.0)
        denom = float(feat @ feat)
        if denom == 0:
            continue
        k = float(feat @ w) / denom
        err = float(np.sum((w - k * feat) ** 2))
        if err < best_err:
            best, best_err = float(t0), err
    return best


def compute_fig2(ctx: Context, *, eps: float = 0.5) -> dict:
    """``collins-fig2``: learned weights against τ_j for standard and robust training
    (Collins et al. Figure 2, ε in feature units), the exact τ* of the finite objective and
    of the pure/mixed population objectives, and the mixed (a = 1/2) τ* against d."""
    from tradeoff.bernoulli import (
        collins_procedure,
        empirical_robust_logistic,
        robust_logistic,
        threshold_at,
        weight_threshold,
    )

    n = ctx.pick(smoke=1000, reduced=N, paper=N)
    d_values = ctx.pick(
        smoke=(10, 20), reduced=(10, 25, 50, 100, 200), paper=(10, 25, 50, 100, 200)
    )
    rng = np.random.default_rng(ctx.seed)
    model = _model(0.25, rng)
    tau, theta = model.tau, model.theta
    x, y = model.sample(n, rng)
    ctx.log(f"collins-fig2: training (N = {n}) and the exact optima")
    w_std = collins_procedure(model, rng, eps=0.0, data=(x, y))
    w_rob = collins_procedure(model, rng, eps=eps, robust=True, data=(x, y))

    def unit(w):
        w = np.asarray(w) * theta  # θ*-aligned, so informative weights are positive
        nrm = float(np.linalg.norm(w))
        return w / nrm if nrm > 0 else w

    pop_mixed = robust_logistic(model, eps, adversarial_fraction=0.5)
    pop_pure = robust_logistic(model, eps, adversarial_fraction=1.0)
    t_pure = weight_threshold(model, eps, adversarial_fraction=1.0)
    t_mixed = threshold_at(model, pop_mixed.w, eps, 0.5)
    emp = empirical_robust_logistic(x, y, eps, adversarial_fraction=0.5, theta=theta)
    emp_zero = emp.w == 0
    emp_tau_zero_max = float(tau[emp_zero].max()) if emp_zero.any() else None
    emp_tau_nonzero_min = float(tau[~emp_zero].min()) if (~emp_zero).any() else None
    observed = _hinge_fit(tau, unit(w_rob))
    by_d = {}
    for d in d_values:
        m_d = _model(0.25, np.random.default_rng([ctx.seed, d]), d)
        by_d[d] = threshold_at(m_d, robust_logistic(m_d, eps, adversarial_fraction=0.5).w, eps, 0.5)
    by_eps = {e: weight_threshold(model, e, adversarial_fraction=0.5) for e in EPSILONS}
    rows = [
        row(
            "τ* (visual threshold of the robust weights)",
            observed,
            0.18,
            unit="",
            tol=0.02,
            why="hinge fit to 100 Adam steps' weights",
        ),
        row("exact τ*, population, alternating clean/FGSM (a = 1/2)", t_mixed, 0.18, tol=0.02),
        row("exact τ*, population, pure adversarial (a = 1) = ε/2", t_pure),
        row("exact τ*_N of the finite objective, on τ̂_j", emp.threshold),
    ]
    notes = [
        f"d = {D}, τ = linspace(0, 0.25, {D}), N = {n}, ε = {eps:g} (feature units).",
        f"At ε = {eps:g} the pure adversarial population optimum is w = 0 "
        f"({int(np.sum(pop_pure.w == 0))}/{D} zero weights): every τ_j <= ε/2. The paper's "
        "≈ 0.18 is the threshold of the alternating (a = 1/2) objective.",
        "Standard training is far from converged after 100 Adam steps (Adam moves each weight "
        "by about lr per step, so the weights of strong features are capped near 100·lr = 1 "
        "before normalisation): its weights are not proportional to τ_j for large τ_j.",
        "Finite objective (N samples, a = 1/2): largest zeroed τ_j "
        f"{emp_tau_zero_max} / smallest kept τ_j {emp_tau_nonzero_min} (they overlap: in a "
        "sample the rule is on τ̂_j, not τ_j).",
        "Exact τ* of the a = 1/2 objective against d (ε = 0.5): "
        + ", ".join(f"d = {d}: {t:.5f}" for d, t in by_d.items())
        + "; against ε (d = 100): "
        + ", ".join(f"ε = {e:g}: {t:.5f}" for e, t in by_eps.items()),
        f"KKT residuals: population {pop_mixed.kkt_residual:.1e}, finite objective "
        f"{emp.kkt_residual:.1e}.",
    ]
    data = {
        "eps": eps,
        "tau_star_population_mixed": t_mixed,
        "tau_star_population_pure": t_pure,
        "finite_objective": {
            "largest_zero_tau": emp_tau_zero_max,
            "smallest_nonzero_tau": emp_tau_nonzero_min,
            "threshold_on_tau_hat": emp.threshold,
            "kkt_residual": emp.kkt_residual,
        },
        "tau_star_mixed_by_d": {str(k): v for k, v in by_d.items()},
        "tau_star_mixed_by_eps": {str(k): v for k, v in by_eps.items()},
        "tau": tau,
        "w_standard_unit": unit(w_std),
        "w_robust_unit": unit(w_rob),
        "w_bayes_unit": unit(model.bayes_weights()),
        "w_population_mixed_unit": unit(pop_mixed.w),
        "w_finite_objective_unit": unit(emp.w),
    }
    return {"rows": rows, "notes": notes, "config": {"d": D, "n": n, "eps": eps}, "data": data}


def fig2_figures(result: dict) -> dict:
    """Figure 2 (weights vs τ_j with the thresholds) and τ*(d), from the saved result."""
    import matplotlib.pyplot as plt

    r = result["data"]
    eps, n = r["eps"], result["config"]["n"]
    tau = np.asarray(r["tau"])
    t_mixed, t_pure = r["tau_star_population_mixed"], r["tau_star_population_pure"]
    fin = r["finite_objective"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ax = axes[0]
    ax.scatter(
        tau, r["w_standard_unit"], s=10, color="tab:blue", label="standard training (App. B.2)"
    )
    ax.scatter(
        tau, r["w_robust_unit"], s=10, color="tab:red", label=f"robust training, ε = {eps:g}"
    )
    ax.plot(tau, r["w_bayes_unit"], color="tab:blue", lw=1, label="population std. optimum")
    ax.plot(
        tau, r["w_population_mixed_unit"], color="tab:red", lw=1, label="population a = 1/2 optimum"
    )
    ax.plot(
        tau,
        r["w_finite_objective_unit"],
        color="k",
        lw=1,
        ls=":",
        label="exact optimum of the N-sample a = 1/2 objective",
    )
    ax.axvline(
        t_mixed, color="tab:red", ls="--", lw=1, label=f"τ* population a = 1/2: {t_mixed:.4f}"
    )
    ax.axvline(
        t_pure, color="tab:purple", ls="--", lw=1, label=f"τ* population a = 1 (ε/2): {t_pure:.3f}"
    )
    ax.axvline(0.18, color="gray", ls="-.", lw=1, label="paper: ≈ 0.18")
    if fin["largest_zero_tau"] is not None and fin["smallest_nonzero_tau"] is not None:
        ax.axvspan(
            fin["largest_zero_tau"],
            fin["smallest_nonzero_tau"],
            color="k",
            alpha=0.15,
            label=f"finite objective: zero up to τ = {fin['largest_zero_tau']:.4f}",
        )
    ax.set_xlabel("τ_j")
    ax.set_ylabel("learned weight θ*_j w_j (unit ℓ2 norm)")
    ax.set_title(f"Collins et al. Fig. 2: d = {D}, N = {n}, ε = {eps:g}")
    ax.legend(fontsize=7, loc="upper left")
    ax2 = axes[1]
    by_d = {int(k): v for k, v in r["tau_star_mixed_by_d"].items()}
    ds = sorted(by_d)
    ax2.plot(ds, [by_d[d] for d in ds], "o-", color="tab:red", label=f"τ*(d), a = 1/2, ε = {eps:g}")
    ax2.axhline(eps / 2, color="tab:purple", ls="--", lw=1, label="a = 1: τ* = ε/2 (all d)")
    ax2.axhline(eps / 4, color="gray", ls=":", lw=1, label="lower bound aε/2")
    ax2.set_xscale("log")
    ax2.set_xlabel("d  (τ = linspace(0, 0.25, d))")
    ax2.set_ylabel("exact τ*")
    ax2.set_title("τ* is ε/2 for pure adversarial training, depends on d for a = 1/2")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return {"collins-fig2": fig}


_SCALES = {
    "smoke": "N = 1 000, one seed, brackets of 1e-3: seconds.",
    "reduced": "The paper's setting (d = 100, N = 10 000, App. B.2 procedure), 3 seeds: "
    "≈ 5 s on a 2-core CPU.",
    "paper": "As reduced: the Bernoulli experiment is already the paper's size.",
}

EXPERIMENTS = [
    Experiment(
        "collins-table1",
        PAPER,
        "Table 1",
        "Standard and robust accuracy of standard vs robust training on the modified "
        "Bernoulli model, ε = 0.1..0.5, accuracies exact (not test-set estimates).",
        compute_table1,
        _SCALES,
        markdown=table1_markdown,
    ),
    Experiment(
        "collins-fig2",
        PAPER,
        "Figure 2",
        "Learned weights against τ_j with the exact weight thresholds τ*.",
        compute_fig2,
        _SCALES,
        figures=fig2_figures,
    ),
]
