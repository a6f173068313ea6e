"""Zhang et al. 2019 (TRADES): Table 1, Table 2, decomposition (1), Theorems 3.1 and 3.2.

Everything is computed exactly (interval arithmetic with ``Fraction`` for example (2)),
by sympy (``tradeoff.proofs_check.trades``) or by the ψ-transform numerics of
:mod:`tradeoff.calibration` with a stated error. NOTEs mark where the paper's statement
needs a condition; each gives the exact numbers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np

from tradeoff import calibration as cal
from tradeoff import intervals as iv
from tradeoff.verify import Check

PREFIX = "trades"

SRC_T1 = "Zhang et al. 2019, Table 1 / Eq. (2)"
SRC_T2 = "Zhang et al. 2019, Table 2 / §2.5"
SRC_D = "Zhang et al. 2019, Eq. (1)"
SRC_31 = "Zhang et al. 2019, Theorem 3.1"
SRC_32 = "Zhang et al. 2019, Theorem 3.2"

# ψ(1/2) from Table 2's formulas, written out independently of tradeoff.calibration.
PSI_HALF = {
    "hinge": 0.5,
    "sigmoid": 0.5,
    "exponential": 1.0 - math.sqrt(0.75),
    "logistic": 0.25 * math.log2(0.5) + 0.75 * math.log2(1.5),
}


def _table2() -> list[Check]:
    out = []
    grid = np.linspace(0.0, 1.0, 1025)  # the envelope grid: ψ̃ there is cached
    for name, loss in cal.LOSSES.items():
        numeric = cal.psi(loss, grid, method="numeric")
        closed = cal.psi(loss, grid, method="closed")
        err = float(np.max(np.abs(numeric - closed)))
        out.append(
            Check.close(
                f"trades.table2.{name}.psi",
                SRC_T2,
                f"numerical ψ = ψ̃** of {loss.formula.split(';')[0]} equals Table 2 "
                "(max over 1025 θ in [0, 1])",
                err,
                0.0,
                1e-9,
                detail=f"max |ψ_num − ψ_Table2| = {err:.2e}",
            )
        )
        half = float(cal.psi(loss, 0.5, method="numeric"))
        out.append(
            Check.close(
                f"trades.table2.{name}.psi_half",
                SRC_T2,
                f"ψ(1/2) for the {name} loss",
                half,
                PSI_HALF[name],
                1e-9,
            )
        )
        values = closed[::64]
        inv = cal.psi_inverse(loss, values, method="numeric")
        inv_err = float(np.max(np.abs(inv - grid[::64])[1:]))  # θ = 0: see psi_inverse
        out.append(
            Check.close(
                f"trades.table2.{name}.psi_inverse",
                SRC_T2,
                "numerical ψ⁻¹(ψ(θ)) = θ on θ = 1/16, 2/16, …, 1",
                inv_err,
                0.0,
                1e-7,
                detail=f"max |ψ⁻¹(ψ(θ)) − θ| = {inv_err:.2e}",
            )
        )
        rep = cal.calibration_report(loss)
        out.append(
            Check.boolean(
                f"trades.table2.{name}.calibrated",
                SRC_T2,
                f"the {name} loss satisfies Assumption 1 (H⁻ > H for η ≠ 1/2)",
                rep.calibrated,
                detail=f"min ψ̃ on θ ∈ [2⁻⁸, 1] = {rep.min_psi_tilde:.3g} at θ = "
                f"{rep.argmin_theta:.4g}",
            )
        )
    rep = cal.calibration_report(cal.perceptron)
    out.append(
        Check.boolean(
            "trades.table2.perceptron_not_calibrated",
            SRC_T2,
            "φ(α) = max(0, −α) is reported as not classification-calibrated",
            not rep.calibrated,
            detail=f"max over θ of ψ̃ = 0; min ψ̃ = {rep.min_psi_tilde:.3g}",
        )
    )
    # Lemma 2.1 on every loss, including one whose ψ̃ is not convex.
    losses = [*cal.LOSSES.values(), cal.kinked, cal.dip]
    bad = []
    for loss in losses:
        p = cal.psi(loss, grid, method="numeric")
        pt = cal.psi_tilde(loss, grid)
        d1, d2 = np.diff(p), np.diff(p, 2)
        if not (
            p[0] == 0 and d1.min() >= -1e-12 and d2.min() >= -1e-11 and np.all(p <= pt + 1e-12)
        ):
            bad.append(loss.name)
    out.append(
        Check.boolean(
            "trades.table2.lemma2_1",
            "Zhang et al. 2019, Lemma 2.1 (Bartlett et al. 2006)",
            "ψ(0) = 0, ψ non-decreasing, convex and ≤ ψ̃ (1025 θ; 6 losses incl. a non-convex ψ̃)",
            not bad,
            detail="failed: " + ", ".join(bad)
            if bad
            else "hinge, sigmoid, exponential, logistic, kinked, dip",
        )
    )
    # The envelope where ψ̃ is not convex, against ψ̃'s closed form and an independent hull.
    gap = _kinked_envelope_error()
    out.append(
        Check.close(
            "trades.table2.nonconvex_envelope",
            "Bartlett et al. 2006, ψ = ψ̃**",
            "for the kinked loss (ψ̃ not convex) numerical ψ equals the convex hull of the "
            "closed-form ψ̃ (Qhull, 20001 points), at 401 θ",
            gap,
            0.0,
            1e-7,
            detail=f"max |ψ − hull| = {gap:.2e}; hull is itself exact to ~1e-10",
        )
    )
    return out


def kinked_psi_tilde_closed(theta: np.ndarray) -> np.ndarray:
    """Closed-form ψ̃ of :data:`tradeoff.calibration.kinked` (derived by hand, independent of
    the numerics): for η = (1+θ)/2, H = (1−η)(3/2 + ½ log(2η/(1−η))) (minimiser
    α* = log(2η/(1−η)) ≥ 0), H⁻ = η(3/2 − ½ log(η/(2(1−η)))) for η ≤ 2/3, else 1."""
    eta = 0.5 * (1.0 + np.asarray(theta, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(eta < 1, (1 - eta) * (1.5 + 0.5 * np.log(2 * eta / (1 - eta))), 0.0)
        hm = np.where(eta <= 2 / 3, eta * (1.5 - 0.5 * np.log(eta / (2 * (1 - eta)))), 1.0)
    return hm - h


def _kinked_envelope_error() -> float:
    """max |ψ − ψ̃**| for the kinked loss, with ψ̃** built independently: the lower hull of
    the closed-form ψ̃ on 20001 points (scipy's Qhull); where the hull skips points ψ is
    the chord between its vertices, elsewhere ψ = ψ̃ (closed form, at the query point)."""
    from scipy.spatial import ConvexHull

    fine = np.linspace(0.0, 1.0, 20_001)
    vals = kinked_psi_tilde_closed(fine)
    hull = ConvexHull(np.column_stack([fine, vals]))
    lower = np.unique(hull.simplices[hull.equations[:, 1] < 0])
    query = np.linspace(0.0, 1.0, 401)
    k = np.clip(np.searchsorted(fine[lower], query, side="right") - 1, 0, lower.size - 2)
    i0, i1 = lower[k], lower[k + 1]
    chord = vals[i0] + (vals[i1] - vals[i0]) * (query - fine[i0]) / (fine[i1] - fine[i0])
    env = np.where(i1 - i0 > 1, chord, kinked_psi_tilde_closed(query))
    return float(np.max(np.abs(cal.psi(cal.kinked, query) - env)))


def _table1() -> list[Check]:
    out = []
    # Integer 1/(2ε): the paper's values hold exactly.
    for eps in (Fraction(1, 4), Fraction(1, 10)):
        t = iv.table1(eps)
        for who, risks, expected in (
            ("bayes", t.bayes, (0, 1, 1)),
            ("all_one", t.all_one, (Fraction(1, 2), 0, Fraction(1, 2))),
        ):
            got = (risks.natural, risks.boundary, risks.robust)
            out.append(
                Check.boolean(
                    f"trades.table1.eps_{eps.numerator}_{eps.denominator}.{who}",
                    SRC_T1,
                    f"ε = {eps}: {who} (R_nat, R_bdy, R_rob) = {_fmt(expected)}",
                    got == expected,
                    detail=f"exact: {_fmt(got)}",
                )
            )
    # ε = 0.2: 1/(2ε) = 2.5 is not an integer, the last interval [0.8, 1) is cut.
    eps = Fraction(1, 5)
    t = iv.table1(eps)
    got = (t.bayes.natural, t.bayes.boundary, t.bayes.robust)
    out.append(
        Check.boolean(
            "trades.table1.eps_0_2.bayes",
            SRC_T1,
            "ε = 0.2: Bayes (R_nat, R_bdy, R_rob) = (0, 1, 1)",
            got == (0, 1, 1),
            detail=f"exact: {_fmt(got)}",
        )
    )
    ao = (t.all_one.natural, t.all_one.boundary, t.all_one.robust)
    out.append(
        Check.note(
            "trades.table1.eps_0_2.all_one",
            SRC_T1,
            "Table 1: the all-one classifier has R_nat = R_rob = 1/2",
            float(t.all_one.robust),
            "= 0.5",
            f"ε = 0.2 (1/(2ε) = 5/2 not an integer): P(Y=−1) = 3/5, so all-one has "
            f"(R_nat, R_bdy, R_rob) = {_fmt(ao)}; Table 1 needs 1/(2ε) ∈ ℕ",
        )
    )
    out.append(
        Check.note(
            "trades.table1.robust_optimal",
            SRC_T1,
            "the all-one classifier has the optimal robust error",
            float(t.all_one.robust),
            f"= min_f R_rob = {float(t.robust_optimum):g}",
            f"ε = 0.2: R_rob(all-one) = 3/5 but R_rob(all-minus-one) = "
            f"{t.all_minus_one.robust} = min_f R_rob; for every ε with 1/(2ε) ∉ ℕ, "
            "P(Y=−1) > 1/2 > P(Y=+1) (sympy: trades.proof.label_balance) and all-one is "
            "not robust-optimal",
        )
    )
    # A sweep: Bayes (0, 1, 1) and all-one (P(Y=−1), 0, P(Y=−1)) with the closed form.
    sweep = [Fraction(1, n) for n in range(2, 12)] + [
        Fraction(3, 10),
        Fraction(3, 20),
        Fraction(1, 7),
        Fraction(2, 9),
        Fraction(2, 3),
    ]
    bad = []
    for e in sweep:
        t = iv.table1(e)
        n = math.floor(Fraction(1) / (2 * e))
        r = 1 - 2 * n * e
        p_neg = n * e + min(r, e)
        ok = (
            (t.bayes.natural, t.bayes.boundary, t.bayes.robust) == (0, 1, 1)
            and (t.all_one.natural, t.all_one.boundary, t.all_one.robust) == (p_neg, 0, p_neg)
            and t.robust_optimum == 1 - p_neg
        )
        if not ok:
            bad.append(str(e))
    out.append(
        Check.boolean(
            "trades.table1.sweep",
            SRC_T1,
            "for 15 ε ∈ (0, 2/3]: Bayes (0, 1, 1); all-one (p, 0, p) with p = nε + "
            "min(1 − 2nε, ε), n = ⌊1/(2ε)⌋",
            not bad,
            detail=f"failed at ε = {', '.join(bad)}" if bad else "exact rationals",
        )
    )
    return out


def _fmt(triple) -> str:
    return "(" + ", ".join(str(v) for v in triple) + ")"


def _decomposition() -> list[Check]:
    scores = []
    for eps in (Fraction(1, 4), Fraction(1, 5), Fraction(3, 20)):
        ex = iv.IntervalExample(eps)
        for c in (Fraction(k, 10) for k in range(11)):
            scores.append((ex, iv.mixed_classifier(ex, c)))
        half = Fraction(1, 2)
        scores.append(
            (
                ex,
                iv.PiecewiseAffine.continuous(
                    (0, Fraction(1, 3), Fraction(3, 4), 1), (-1, 1, 0, 2)
                ),
            )
        )
        scores.append(
            (
                ex,
                iv.PiecewiseAffine.constant((0, half, 1), (1, 1), at=(1, -1, 1)),
            )
        )  # an isolated negative point at 1/2
        scores.append((ex, iv.PiecewiseAffine.constant((0, 1), (0,))))
    bad = 0
    for ex, f in scores:
        r = ex.risks(f)
        if r.robust != r.natural + r.boundary:
            bad += 1
    return [
        Check.boolean(
            "trades.decomposition.exact",
            SRC_D,
            f"R_rob = R_nat + R_bdy exactly for {len(scores)} score functions (steps, "
            "ramps, an isolated point, f ≡ 0) at ε ∈ {1/4, 1/5, 3/20}",
            bad == 0,
            detail=f"{bad} mismatches (exact rational arithmetic)",
        )
    ]


def _theorem_3_1() -> list[Check]:
    out = []
    worst1, worst2, n = math.inf, math.inf, 0
    for eps in (Fraction(1, 4), Fraction(1, 5)):
        ex = iv.IntervalExample(eps)
        for c in (Fraction(k, 5) for k in range(6)):
            for scale in (Fraction(1, 2), 1, 2):
                f = iv.mixed_classifier(ex, c, scale)
                for name in cal.LOSSES:
                    for lam in (0.5, 1.0, 2.0, 4.0):
                        t = iv.theorem_3_1_terms(ex, f, name, lam)
                        worst1 = min(worst1, t.middle - t.lhs)
                        worst2 = min(worst2, t.rhs - t.middle)
                        n += 1
    out.append(
        Check.bound(
            "trades.thm3_1.first",
            SRC_31,
            f"R_rob − R*_nat ≤ ψ⁻¹(R_φ − R*_φ) + R_bdy on example (2): {n} cases (ε ∈ "
            "{1/4, 1/5}, 6 classifiers Bayes→all-one, 3 scales, 4 losses, 4 λ)",
            worst1,
            ">=",
            0.0,
            tol=1e-12,
            detail=f"smallest slack {worst1:.6g}",
        )
    )
    out.append(
        Check.bound(
            "trades.thm3_1.second",
            SRC_31,
            f"R_bdy ≤ E max_{{X'∈B(X,ε)}} φ(f(X')f(X)/λ) on the same {n} cases",
            worst2,
            ">=",
            0.0,
            tol=1e-12,
            detail=f"smallest slack {worst2:.6g}",
        )
    )
    ex = iv.IntervalExample(Fraction(1, 4))
    t = iv.theorem_3_1_terms(ex, ex.bayes(), "hinge", 1.0)
    out.append(
        Check.close(
            "trades.thm3_1.tight_at_bayes",
            SRC_31,
            "the first inequality is an equality at the Bayes classifier (hinge): "
            "R_rob − R*_nat = 1 = ψ⁻¹(0) + R_bdy",
            t.middle - t.lhs,
            0.0,
            1e-15,
            detail=f"LHS {t.lhs:g}, ψ⁻¹ {t.psi_inv:g}, R_bdy {t.boundary:g}, "
            f"E max φ {t.regulariser:g} (λ = 1)",
        )
    )
    # NOTE 1: φ(0) ≥ 1 is not enough when f is discontinuous.
    lam = 2.0 / 3.0  # f = ±1, so the products f(x')f(x)/λ are ±1.5
    t = iv.theorem_3_1_terms(ex, ex.bayes(), cal.dip, lam)
    rep = cal.calibration_report(cal.dip)
    out.append(
        Check.note(
            "trades.thm3_1.phi_condition",
            SRC_31,
            "for any non-negative calibrated φ with φ(0) ≥ 1, R_rob − R*_nat ≤ ψ⁻¹(R_φ − "
            "R*_φ) + E max φ(f(X')f(X)/λ)",
            t.rhs,
            f">= {t.lhs:g}",
            f"fails for the calibrated 'dip' loss (φ ≥ 0, φ(0) = 1, φ(−1.5) = 0.9, ψ(θ) = "
            f"0.9θ, min ψ̃ = {rep.min_psi_tilde:.3g} > 0) with f = Bayes (±1), λ = 2/3, "
            f"ε = 1/4: LHS = {t.lhs:g}, R_bdy = {t.boundary:g}, ψ⁻¹(R_φ − R*_φ) = "
            f"{t.psi_inv:g}, E max φ = {t.regulariser:g}, RHS = {t.rhs:g}. The second "
            "inequality needs φ(α) ≥ 1 for all α ≤ 0 (e.g. φ non-increasing, true for "
            "Table 2), or f continuous on a convex X (then φ(0) ≥ 1 suffices)",
        )
    )
    # NOTE 2: R_nat counts f(X) = 0 as an error for both labels.
    eta = 0.8
    h = float(cal.H("hinge", eta))
    excess = 1.0 - h  # f ≡ 0: C_η(0) = φ(0) = 1
    lhs = 1.0 - min(eta, 1 - eta)  # R_rob(f ≡ 0) = 1 since f(X)Y = 0 ≤ 0 always
    rhs = float(cal.psi_inverse("hinge", excess)) + 0.0  # R_bdy = 0: f(X)Y > 0 never
    out.append(
        Check.note(
            "trades.thm3_1.zero_score",
            SRC_31,
            "Theorem 3.1 for any measurable f, with R_nat(f) = E 1{f(X)Y ≤ 0}",
            rhs,
            f">= {lhs:g}",
            f"f ≡ 0, η ≡ 0.8, hinge: R_rob − R*_nat = 1 − 0.2 = {lhs:g} but ψ⁻¹(R_φ − "
            f"R*_φ) + R_bdy = ψ⁻¹({excess:g}) + 0 = {rhs:g}. The paper's R_nat counts "
            "f(X) = 0 as an error for both labels while sign(0) = +1; the theorem needs "
            "P(f(X) = 0, 0 < η(X) < 1) = 0 or the error 1{sign f(X) ≠ Y}. Example (2) has "
            "η ∈ {0, 1}, where it holds",
        )
    )
    return out


def _theorem_3_2() -> list[Check]:
    out = []
    xi = 1e-3
    for loss in [*cal.LOSSES.values(), cal.kinked]:
        bad, worst = [], math.inf
        gammas = []
        for theta in (0.1, 0.25, 0.5, 0.75, 1.0):
            c = iv.theorem_3_2_construction(loss, theta, xi)
            gammas.append(c.gamma)
            ok = abs(c.rob_minus_nat_star - theta) <= 1e-12 and c.lower_holds and c.upper_holds
            worst = min(worst, c.psi_lower + xi - c.excess_phi, c.excess_phi - c.psi_lower)
            if not ok:
                bad.append(theta)
        out.append(
            Check.boolean(
                f"trades.thm3_2.{loss.name}",
                SRC_32,
                f"{loss.name}: the proof's two-point construction gives R_rob − R*_nat = θ "
                f"and ψ(θ − E max φ) ≤ R_φ − R*_φ ≤ ψ(θ − E max φ) + ξ, ξ = {xi:g}, "
                "θ ∈ {0.1, 0.25, 0.5, 0.75, 1}",
                not bad,
                detail=(f"failed at θ = {bad}; " if bad else "")
                + f"smallest slack {worst:.3g}; γ = {', '.join(f'{g:.3g}' for g in gammas)}",
            )
        )
    c = iv.theorem_3_2_construction(cal.exponential, 0.0, xi)
    out.append(
        Check.note(
            "trades.thm3_2.domain",
            SRC_32,
            "ψ(θ − E max φ(f(X')f(X)/λ)) with ψ defined on [0, 1]",
            0.0 - c.regulariser,
            ">= 0",
            f"at θ = 0 the argument θ − E max φ is negative for every f and λ when φ > 0 "
            f"everywhere (exponential, logistic, sigmoid): in the construction it is "
            f"{-c.regulariser:.3g} (λ = {c.lam:.3g}). The statement needs ψ extended below "
            "0 (by 0, which keeps both inequalities; the checks use that); R*_φ is an "
            "infimum, not a minimum, for those losses",
        )
    )
    return out


def _proofs() -> list[Check]:
    from tradeoff.proofs_check import trades as proofs

    return [
        replace(
            d,
            id=f"trades.proof.{d.id}",
            source=f"Zhang et al. 2019, {d.source}",
            claim=d.claim + " (sympy)",
        )
        for d in proofs.derivations()
    ]


def checks() -> list[Check]:
    """All ``trades.*`` checks: Tables 1–2, decomposition (1), Theorems 3.1–3.2, sympy."""
    return [*_table2(), *_table1(), *_decomposition(), *_theorem_3_1(), *_theorem_3_2(), *_proofs()]
