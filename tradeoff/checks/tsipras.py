"""Tsipras et al. 2019 — Gaussian model (3), Theorems 2.1/2.2, Lemmas C.1–C.5 (exact).

Every check recomputes the paper's claim exactly: accuracies through the normal CDF
(:mod:`tradeoff.gaussian`), the Theorem 2.1 frontier as a linear programme, the hinge-SVM
optimum and its non-robust threshold (:mod:`tradeoff.svm`), the proof algebra with sympy
and the lemmas' constants with mpmath (:mod:`tradeoff.proofs_check.tsipras`).
Defaults follow the paper: p = 0.7, d = 10^4, eta = 3/sqrt(d) for classifier (4) and
eta = 4/sqrt(d) for Theorem 2.2; eps is an l-inf radius in feature units and the adversary
moves every coordinate, x1 included.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache

import numpy as np
from scipy.special import ndtr

from tradeoff.verify import Check

PREFIX = "tsipras"

_D = 10_000
_P = 0.7
_TOL = 1e-9


def _src(where: str) -> str:
    return f"Tsipras et al. 2019, {where}"


@cache
def _model(d: int, c: float, p: float = _P):
    from tradeoff.gaussian import GaussianModel

    return GaussianModel(d, c / math.sqrt(d), p)


@cache
def _svm(d: int, c: float, lam: float | None = None, eps: float = 0.0):
    from tradeoff.svm import svm_optimum

    return svm_optimum(_model(d, c), lam=lam, eps=eps)


def _normal_hinge(c: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``E max(0, c - N(mean, sd^2))`` (``max(0, c - mean)`` where ``sd = 0``)."""
    from tradeoff.svm import _g  # g(t) = E max(0, t - N(0, 1)) = t Phi(t) + phi(t)

    safe = np.where(sd > 0, sd, 1.0)
    return np.where(sd > 0, safe * _g((c - mean) / safe), np.maximum(c - mean, 0.0))


def _averaging() -> list[Check]:
    m = _model(_D, 3.0)
    std = m.averaging_accuracy()
    adv = m.averaging_accuracy(2 * m.eta)
    as_written = float(ndtr(-m.eta))
    src = _src("Section 2.1, classifier (4)")
    return [
        Check.bound(
            "tsipras.avg.standard",
            src,
            "averaging classifier (4) has standard accuracy > 99% when eta >= 3/sqrt(d)",
            std,
            ">",
            0.99,
            detail=f"exact Phi(eta sqrt(d)) = Phi(3) (any d at eta = 3/sqrt(d)); margin "
            f"{std - 0.99:.3g}",
        ),
        Check.bound(
            "tsipras.avg.adversarial",
            src,
            "averaging classifier (4) has adversarial accuracy < 1% at eps = 2 eta",
            adv,
            "<",
            0.01,
            detail=f"exact Phi(-eta sqrt(d)) = Phi(-3); margin {0.01 - adv:.3g}",
        ),
        Check.note(
            "tsipras.avg.display",
            src,
            "min_delta Pr[sign(x + delta) = y] = Pr[N(eta, 1) - eps > 0] = Pr[N(-eta, 1) > 0]",
            adv,
            "Pr[N(-eta, 1/d) > 0]",
            f"the display writes variance 1 (one feature); the average w_unif.x has variance "
            f"1/d, so the adversarial accuracy is Phi(-eta sqrt(d)) = {adv:.6g}; read as "
            f"written, Phi(-eta) = {as_written:.6g} at d = {_D} — the conclusion (< 1%) "
            f"needs the 1/d",
        ),
    ]


def _theorem_2_1() -> list[Check]:
    from tradeoff.gaussian import frontier

    src = _src("Theorem 2.1 / Appendix B")
    ps = (0.55, 0.7, 0.9, 0.99)
    deltas = np.linspace(0.0, 1.0, 6)
    points = {(p, float(dl)): frontier(p, float(dl)) for p in ps for dl in deltas}
    for p in ps:
        points[(p, 1 - p)] = frontier(p, 1 - p)
    excess = max(f.value - f.bound for f in points.values())
    lp_gap = max(
        max(abs(f.value - f.closed_form), abs(f.shift_value - f.shift_closed_form))
        for f in points.values()
    )
    tight_gap = max(abs(points[(p, 1 - p)].value - points[(p, 1 - p)].bound) for p in ps)
    below = [f for f in points.values() if f.delta <= 1 - f.p + 1e-12]
    tight_all = max(abs(f.value - f.bound) for f in below)
    m = _model(_D, 4.0)
    e1 = np.zeros(m.dim)
    e1[0] = 1.0
    x1_std, x1_adv = m.accuracy(e1), m.accuracy(e1, 2 * m.eta)
    x1_adv_near1 = m.accuracy(e1, 0.999)
    f_half = frontier(_P, 0.5)
    vacuous_from = (1 - _P) / _P
    return [
        Check.bound(
            "tsipras.thm2_1.bound",
            src,
            "any classifier with standard accuracy >= 1 - delta has adversarial accuracy "
            "<= p/(1-p) delta (7/3 delta at p = 0.7), eps >= 2 eta",
            excess,
            "<=",
            _TOL,
            detail=f"max over p in {ps}, delta in 0:0.2:1 of (exact LP frontier - bound); "
            f"the bound holds for every p in (1/2, 1)",
        ),
        Check.close(
            "tsipras.thm2_1.lp_closed_form",
            src,
            "the LP over (p_++, p_+-, p_-+, p_--) equals its closed form p min(delta/(1-p), 1)",
            lp_gap,
            0.0,
            _TOL,
            detail="linprog (HiGHS) vs closed form, also for the proof's fixed-shift LP",
        ),
        Check.close(
            "tsipras.thm2_1.tight",
            src,
            "the bound is tight: at delta = 1 - p both accuracies are p, attained by sign(x1)",
            tight_gap,
            0.0,
            _TOL,
            detail=f"|frontier - bound| at delta = 1-p, p in {ps}; the LP frontier equals the "
            f"bound on all of [0, 1-p] (max gap {tight_all:.1e}), approached as eta sqrt(d) "
            f"-> inf",
        ),
        Check.close(
            "tsipras.thm2_1.x1_classifier",
            _src("Section 2.1 (after Theorem 2.1)"),
            "the classifier relying solely on x1 has standard and adversarial accuracy 70%",
            min(x1_std, x1_adv, x1_adv_near1),
            _P,
            1e-15,
            detail=f"exact: standard {x1_std}, eps = 2 eta {x1_adv}, eps = 0.999 "
            f"{x1_adv_near1}; at eps = 1 it is {m.accuracy(e1, 1.0)} (sign(0) is an error)",
        ),
        Check.note(
            "tsipras.thm2_1.beyond",
            src,
            "adversarial accuracy <= 7/3 delta (for every delta)",
            f_half.value,
            f"<= {f_half.bound:.6g} (bound at delta = 0.5)",
            f"beyond delta = 1-p the exact frontier is flat at p = {f_half.value:.6g}, while "
            f"the bound grows and is vacuous (> 1) for delta > (1-p)/p = {vacuous_from:.6g}; "
            f"the proof's LP against its fixed shift adversary alone gives "
            f"p + (1-p)(delta-(1-p))/p = {f_half.shift_value:.6g} at delta = 0.5, rising "
            f"to 1 at delta = 1 (f = -sign(z)); a worst-case adversary can also leave x "
            f"unchanged, so adversarial <= standard accuracy caps it at p",
        ),
    ]


def _theorem_2_2() -> list[Check]:
    src = _src("Theorem 2.2 / Appendix C")
    stds, advs = [], []
    for c in (4.0, 5.0, 8.0):
        for d in (100, _D, 1_000_000):
            opt = _svm(d, c)
            stds.append(opt.standard_accuracy)
            advs.append(opt.accuracy(2 * _model(d, c).eta))
    opt = _svm(_D, 4.0)
    lams = (1e-3, 0.1, 1.0, 100.0)
    pen = [_svm(_D, 4.0, lam) for lam in lams]
    pen_std = min(o.standard_accuracy for o in pen)
    pen_adv = max(o.accuracy(2 * _model(_D, 4.0).eta) for o in pen)

    m = _model(_D, 4.0)
    r = 2 * m.p - 1
    train = (m.eta, 2 * m.eta, 0.3, 0.6, 0.9)
    unit = [_svm(_D, 4.0, None, e) for e in train]
    unit_acc = [min(o.standard_accuracy, o.accuracy(2 * m.eta), o.accuracy(0.999)) for o in unit]
    unit_acc_max = [
        max(o.standard_accuracy, o.accuracy(2 * m.eta), o.accuracy(0.999)) for o in unit
    ]
    robust_lam = 1.0
    pen_robust = [_svm(_D, 4.0, robust_lam, e) for e in train]
    pen_zero = [e for e, o in zip(train, pen_robust) if o.w1 == 0.0 and o.v == 0.0]
    pen_ok = [e for e, o in zip(train, pen_robust) if o.w1 > 0 and o.v == 0.0]
    lam_eq = {e: o.multiplier for e, o in zip(train, unit)}
    return [
        Check.bound(
            "tsipras.thm2_2.standard",
            src,
            "eta >= 4/sqrt(d): the unit-norm soft-margin SVM has standard accuracy > 99%",
            min(stds),
            ">",
            0.99,
            detail=f"min over eta sqrt(d) in {{4, 5, 8}}, d in {{1e2, 1e4, 1e6}} (exact "
            f"optimum, lam = None i.e. ||w||_2 = 1); at 4/sqrt(1e4): (w1, v) = "
            f"({opt.w1:.6f}, {opt.v:.6f}), standard {opt.standard_accuracy:.8f}",
        ),
        Check.bound(
            "tsipras.thm2_2.adversarial",
            src,
            "... and adversarial accuracy < 1% at eps = 2 eta (every coordinate attacked)",
            max(advs),
            "<",
            0.01,
            detail=f"max over the same grid; at d = 1e4, eta = 0.04: {opt.accuracy(2 * m.eta):.4g}",
        ),
        Check.bound(
            "tsipras.thm2_2.standard_penalized",
            src,
            f"the same standard-training claims for the penalised SVM (5), lam in {list(lams)}",
            pen_std,
            ">",
            0.99,
            detail=f"min standard accuracy; max adversarial accuracy at 2 eta {pen_adv:.4g} "
            f"(< 1%): the conclusion does not depend on the normalisation",
        ),
        Check.close(
            "tsipras.thm2_2.robust_unit_norm",
            src,
            "adversarial training (eps_train >= 2 eta) gives standard and adversarial "
            "accuracy 70% against any eps < 1 — unit-norm normalisation",
            min(unit_acc),
            _P,
            1e-12,
            detail=f"w = (1, 0) for eps_train in {[round(e, 4) for e in train]}; accuracies "
            f"at eps = 0, 2 eta, 0.999 lie in [{min(unit_acc):.12g}, "
            f"{max(unit_acc_max):.12g}]",
        ),
        Check.note(
            "tsipras.thm2_2.robust_penalized",
            src,
            "adversarial training gives 70%/70% for any eps < 1 — penalised SVM (5)",
            r,
            f"w1* > 0 for every eps_train in [2 eta, 1) (lam = {robust_lam})",
            f"value: the exact eps_train from which w1* = 0. With a fixed lam > 0, w1* = 0 "
            f"exactly when eps_train >= 2p - 1 = {r:.3g} (the "
            f"hinge's slope in w1 at 0 is eps - (2p-1) on the active set, which z does not "
            f"change), and w* = 0 when eps_train >= max(2p-1, eta): sign(0) has accuracy 0. "
            f"lam = {robust_lam}: w = (w1 > 0, 0), 70%/70%, for eps_train in "
            f"{[round(e, 4) for e in pen_ok]}; w = 0 for {pen_zero}",
        ),
        Check.note(
            "tsipras.thm2_2.normalisation",
            _src('Appendix C ("tune lam such that ||w*||_2 = 1")'),
            "lam can be tuned so that the optimum has unit norm",
            lam_eq[0.6],
            "> 0 (a lam exists)",
            f"the unit-norm optimum w = (1, 0) has Lagrange multiplier 2p - 1 - eps_train "
            f"({', '.join(f'{e:.4g}: {v:.4g}' for e, v in lam_eq.items())}); for eps_train "
            f">= 2p - 1 = {r:.3g} it is <= 0, no lam > 0 gives ||w*|| = 1, and the paper's "
            f"normalisation means the sphere-constrained problem",
        ),
    ]


def _lemmas() -> list[Check]:
    from tradeoff.svm import reduced_hinge

    m = _model(_D, 4.0)
    opt = _svm(_D, 4.0)
    out = []
    # Lemma C.1: optimise the full (d+1)-dimensional objective (small d) without symmetry.
    out.append(_lemma_c1())
    r2 = 1 / math.sqrt(2)
    out.append(
        Check.bound(
            "tsipras.lemma_c2.v_star",
            _src("Lemma C.2"),
            "the unit-norm optimum of (5) has v* >= 1/sqrt(2) (eta = 4/sqrt(d))",
            opt.v,
            ">=",
            r2,
            detail=f"exact (w1*, v*) = ({opt.w1:.10f}, {opt.v:.10f}); hinge "
            f"{opt.hinge:.6g}; margin {opt.v - r2:.3g}",
        )
    )
    vs = np.linspace(0.0, r2, 401)
    w1s = np.sqrt(1 - vs**2)
    # 0.3 E[max(0, 1 + w1 - N(4v, v^2))] on v in (0, 1/sqrt2], w1 = sqrt(1 - v^2).
    step = 0.3 * _normal_hinge(1 + w1s, 4 * vs, vs)
    out.append(
        Check.bound(
            "tsipras.lemma_c2.monotone_step",
            _src("Lemma C.2 (second inequality)"),
            "for v < 1/sqrt2 (w1 = sqrt(1-v^2)): 0.3 E[max(0, 1 + w1 - N(4v, v^2))] is at "
            "least its value at v = 1/sqrt2",
            float(step[:-1].min() - step[-1]),
            ">=",
            0.0,
            detail=f"min over 400 v in [0, 1/sqrt2) minus the value at 1/sqrt2 "
            f"({step[-1]:.6g}); the proof's first inequality (only y x1 = -1 counted) also "
            f"needs w1 >= 0, which holds at the optimum",
        )
    )
    out.append(
        Check.bound(
            "tsipras.lemma_c2.optimum_loss",
            _src("Lemma C.2"),
            "the optimum's hinge is at most that of (w1, v) = (0, 1), < 0.0004",
            opt.hinge,
            "<=",
            reduced_hinge(m, 0.0, 1.0),
            detail=f"exact hinge {opt.hinge:.6g} vs {reduced_hinge(m, 0.0, 1.0):.6g}",
        )
    )
    std = opt.standard_accuracy
    out.append(
        Check.bound(
            "tsipras.lemma_c3.standard_accuracy",
            _src("Lemma C.3"),
            "the standard accuracy of the SVM of (5) is at least 99%",
            std,
            ">=",
            0.99,
            detail=f"exact {std:.10f} (the proof's worst case Phi(3) = 0.99865); margin "
            f"{std - 0.99:.3g}",
        )
    )
    adv_full = opt.accuracy(2 * m.eta)
    # The proof's adversary moves only z: x1 untouched.
    z_only = sum(
        ps * float(ndtr((opt.w1 * s + opt.v * (m.mu - 2 * m.mu)) / opt.v))
        for s, ps in ((1.0, m.p), (-1.0, 1 - m.p))
    )
    out.append(
        Check.bound(
            "tsipras.lemma_c4.adversarial_accuracy",
            _src("Lemma C.4"),
            "the adversarial accuracy of the SVM of (5) is at most 1% at eps = 2 eta",
            adv_full,
            "<=",
            0.01,
            detail=f"exact, every coordinate attacked: {adv_full:.6g}; the proof's adversary "
            f"(only x2.. shifted by 2 eta): {z_only:.6g}",
        )
    )
    out.extend(_lemma_c5())
    return out


def _lemma_c1() -> Check:
    from scipy.optimize import minimize

    from tradeoff.gaussian import GaussianModel
    from tradeoff.svm import objective, svm_optimum

    m = GaussianModel(4, 0.5, _P)
    rng = np.random.default_rng(2019)
    x0 = rng.normal(size=m.dim)
    res = minimize(
        lambda w: objective(m, w, eps=0.2),
        x0 / np.linalg.norm(x0),
        method="SLSQP",
        constraints=[{"type": "eq", "fun": lambda w: w @ w - 1.0}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    red = svm_optimum(m, eps=0.2)
    spread = float(np.ptp(res.x[1:]))
    gap = abs(res.fun - red.objective)
    return Check.bound(
        "tsipras.lemma_c1.equal_weights",
        _src("Lemma C.1"),
        "the optimum gives equal weight to x2..x_{d+1}",
        spread,
        "<=",
        1e-6,
        detail=f"full 5-dim unit-norm adversarial hinge (d = 4, eta = 0.5, eps = 0.2) from a "
        f"random start by SLSQP: spread of w_2.. {spread:.2g}; objective minus the "
        f"reduced (w1, v) optimum {res.fun - red.objective:.2g} (|.| {gap:.1g})",
    )


def _lemma_c5() -> list[Check]:
    from tradeoff.gaussian import GaussianModel
    from tradeoff.svm import nonrobust_threshold

    m = _model(_D, 4.0)
    src = _src("Lemma C.5")
    unit = nonrobust_threshold(m)
    lams = (0.01, 0.1, 0.3, 1.0)
    pen = {lam: nonrobust_threshold(m, lam=lam) for lam in lams}
    kink_lam = (2 * m.p - 1 - m.eta) * (1 - m.eta)
    confirmed = all(
        t.v_at == 0.0 and t.v_below > 0 and t.below_gain > 0 for t in (unit, *pen.values())
    )
    at_2eta = [_svm(_D, 4.0, lam, 2 * m.eta).v for lam in (None, *lams)]
    edge = nonrobust_threshold(GaussianModel(1, 0.5, _P))
    return [
        Check.note(
            "tsipras.lemma_c5.threshold_unit",
            src,
            "adversarial training with eps >= 2 eta puts zero weight on x2..x_{d+1}",
            unit.value,
            f"2 eta = {unit.paper_value:.6g}",
            f"unit norm: the exact threshold is eta = {unit.value:.6g}, half of 2 eta: at "
            f"w = (1, 0) every hinge is active and z is independent of x1, so the one-sided "
            f"derivative in v is sqrt(d)(eps - eta), >= 0 iff eps >= eta (the proof's mean "
            f"'2 eta - eps' should read (eps - eta)|w_i|). 2 eta suffices but is loose by a "
            f"factor 2",
        ),
        Check.note(
            "tsipras.lemma_c5.threshold_penalized",
            src,
            "adversarial training with eps >= 2 eta puts zero weight on x2..x_{d+1} "
            "(penalised (5))",
            pen[0.1].value,
            f"2 eta = {m.eta * 2:.6g}",
            "penalised: "
            + ", ".join(f"lam = {lam:g}: {t.value:.6g} ({t.regime})" for lam, t in pen.items())
            + f". Threshold = eta when lam > (2p-1-eta)(1-eta) = {kink_lam:.4g}; below "
            f"that the v = 0 optimum sits on the hinge kink w1 = 1/(1-eps) and the "
            f"threshold drops below eta",
        ),
        Check.boolean(
            "tsipras.lemma_c5.confirmed",
            src,
            "the exact thresholds are confirmed by the optimiser",
            confirmed and all(v == 0.0 for v in at_2eta),
            detail="v* = 0 at each threshold and at 2 eta; at 0.999 x threshold v* > 0 "
            "with objective lower than the best v = 0 point by "
            + ", ".join(f"{t.below_gain:.2g}" for t in (unit, *pen.values())),
        ),
        Check.note(
            "tsipras.lemma_c5.unit_condition",
            src,
            "the unit-norm adversarial optimum ignores x2.. for eps >= 2 eta",
            "inf (never)" if math.isinf(edge.value) else edge.value,
            f"<= 2 eta = {edge.paper_value:g}",
            f"the unit-norm threshold equals eta only when eta <= 2p - 1 (eta = 4/sqrt(d): "
            f"d >= 100). Otherwise the non-robust features are the more robust ones: "
            f"d = 1, eta = 0.5 gives threshold {edge.value} ({edge.regime}); the penalised "
            f"threshold is always <= eta",
        ),
    ]


def _proofs() -> list[Check]:
    from tradeoff.proofs_check import tsipras as proofs

    results = proofs.theorem_2_1_algebra() + proofs.svm_algebra() + proofs.lemma_constants()
    out = [replace(r, id=f"tsipras.proof.{r.id}", source=_src(r.source)) for r in results]
    opt = _svm(_D, 4.0)
    m = _model(_D, 4.0)
    mp_std = proofs.svm_accuracy_mp(opt.w1, opt.v, m.mu, m.p)
    mp_adv = proofs.svm_accuracy_mp(opt.w1, opt.v, m.mu, m.p, 2 * m.eta, math.sqrt(m.d))
    rel = max(
        abs(mp_std - opt.standard_accuracy) / mp_std,
        abs(mp_adv - opt.accuracy(2 * m.eta)) / mp_adv,
    )
    out.append(
        Check.close(
            "tsipras.proof.svm_accuracy_mp",
            _src("Lemmas C.3/C.4"),
            "the closed-form accuracies of the SVM optimum agree with 20-digit quadrature",
            rel,
            0.0,
            1e-12,
            detail=f"max relative difference (standard {mp_std:.12g}, adversarial {mp_adv:.6g})",
        )
    )
    return out


def checks() -> list[Check]:
    """All ``tsipras.*`` checks."""
    return [*_averaging(), *_theorem_2_1(), *_theorem_2_2(), *_lemmas(), *_proofs()]
