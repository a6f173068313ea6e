"""Tests of tradeoff.intervals: Zhang et al. (2019)'s example (2), exact risks."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeoff import calibration as cal
from tradeoff import intervals as iv

F = Fraction


# --- Table 1 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [F(1, 4), F(1, 10), F(1, 2), F(1, 6)])
def test_table1_when_one_over_two_eps_is_an_integer(eps):
    t = iv.table1(eps)
    assert (t.bayes.natural, t.bayes.boundary, t.bayes.robust) == (0, 1, 1)
    assert (t.all_one.natural, t.all_one.boundary, t.all_one.robust) == (F(1, 2), 0, F(1, 2))
    assert t.integer_periods


def test_table1_at_eps_0_2():
    # η = 0 on [0, .2) ∪ [.4, .6) ∪ [.8, 1): P(Y = −1) = 3/5 by hand.
    t = iv.table1(F(1, 5))
    assert not t.integer_periods
    assert (t.bayes.natural, t.bayes.boundary, t.bayes.robust) == (0, 1, 1)
    assert (t.all_one.natural, t.all_one.boundary, t.all_one.robust) == (F(3, 5), 0, F(3, 5))
    assert t.all_minus_one.robust == F(2, 5)
    # floats give the same numbers up to rounding
    tf = iv.table1(0.2)
    assert float(tf.all_one.robust) == pytest.approx(0.6, abs=1e-15)


def test_table1_at_eps_0_3_last_interval_cut():
    ex = iv.IntervalExample(F(3, 10))
    assert ex.label_intervals == (
        (0, F(3, 10), -1),
        (F(3, 10), F(3, 5), 1),
        (F(3, 5), F(9, 10), -1),
        (F(9, 10), 1, 1),
    )
    t = iv.table1(F(3, 10))
    assert (t.all_one.natural, t.all_one.robust) == (F(3, 5), F(3, 5))


def _sign_patterns(ex, n_cells):
    cells = [F(i, n_cells) for i in range(n_cells + 1)]
    for signs in itertools.product((-1, 1), repeat=n_cells):
        yield iv.PiecewiseAffine.constant(cells, signs)


@pytest.mark.parametrize("eps", [F(1, 5), F(3, 10), F(1, 4)])
def test_robust_optimum_by_enumeration(eps):
    """min R_rob over all ±1 step functions on a lattice of width 1/10 (1024 of them) equals
    min(P(Y=−1), P(Y=+1)), the value the module states (a constant classifier)."""
    ex = iv.IntervalExample(eps)
    best = min(ex.robust_error(f) for f in _sign_patterns(ex, 10))
    assert best == iv.table1(eps).robust_optimum == min(ex.p_negative, ex.p_positive)


# --- Monte Carlo cross-checks ----------------------------------------------------------------
def _window_candidates(f, x, eps):
    """(n, K) array of the values f takes on [x − ε, x + ε] ∩ [0, 1] that decide sign and
    extreme questions (NaN where a candidate is not in the window): f at the window's two
    ends, and at every break strictly inside it the value there and both one-sided limits
    (an affine piece's extremes on a sub-interval are at its ends). Computed pointwise,
    independently of the module's set arithmetic."""
    lo, hi = np.maximum(x - eps, 0.0), np.minimum(x + eps, 1.0)
    cols = [f(lo), f(hi)]
    t = [float(v) for v in f.breaks]
    for i, ti in enumerate(t):
        inside = (lo < ti) & (ti < hi)
        cands = [float(f.at[i])]
        if i > 0:
            cands.append(float(f.end[i - 1]))
        if i < len(t) - 1:
            cands.append(float(f.start[i]))
        cols.extend(np.where(inside, c, np.nan) for c in cands)
    return np.column_stack(cols)


def _mc_risks(ex, f, n, rng):
    x = rng.random(n)
    y = np.where(rng.random(n) < ex.eta(x), 1.0, -1.0)
    fx = f(x)
    w = _window_candidates(f, x, float(ex.eps))
    wmin, wmax = np.nanmin(w, axis=1), np.nanmax(w, axis=1)
    nat = fx * y <= 0
    rob = np.where(y > 0, wmin <= 0, wmax >= 0)
    bdy = (fx * y > 0) & np.where(fx > 0, wmin <= 0, wmax >= 0)
    return nat.mean(), bdy.mean(), rob.mean()


def _close(mc, exact, n):
    p = float(exact)
    return abs(mc - p) <= 5 * math.sqrt(max(p * (1 - p), 1e-4) / n)


@given(
    seed=st.integers(0, 2**31 - 1),
    eps=st.sampled_from([0.2, 0.15, 0.25, 0.3, 0.07]),
    m=st.integers(1, 6),
    affine=st.booleans(),
)
@settings(max_examples=25)
def test_exact_risks_against_monte_carlo(seed, eps, m, affine):
    rng = np.random.default_rng(seed)
    breaks = np.concatenate([[0.0], np.sort(rng.random(m - 1)), [1.0]])
    if affine:
        f = iv.PiecewiseAffine.continuous(tuple(breaks), tuple(rng.normal(size=m + 1)))
    else:
        f = iv.PiecewiseAffine.constant(tuple(breaks), tuple(rng.normal(size=m)))
    ex = iv.IntervalExample(eps)
    r = ex.risks(f)
    assert float(r.robust) == pytest.approx(float(r.natural) + float(r.boundary), abs=1e-12)
    n = 20000
    nat, bdy, rob = _mc_risks(ex, f, n, rng)
    assert _close(nat, r.natural, n)
    assert _close(bdy, r.boundary, n)
    assert _close(rob, r.robust, n)


@given(seed=st.integers(0, 2**31 - 1), lam=st.sampled_from([0.5, 1.0, 3.0]))
@settings(max_examples=15)
def test_surrogate_terms_against_monte_carlo(seed, lam):
    rng = np.random.default_rng(seed)
    ex = iv.IntervalExample(0.2)
    m = 5
    breaks = tuple(np.concatenate([[0.0], np.sort(rng.random(m - 1)), [1.0]]))
    f = iv.PiecewiseAffine.constant(breaks, tuple(rng.normal(size=m)))
    loss = cal.LOSSES[rng.choice(sorted(cal.LOSSES))]
    n = 20000
    x = rng.random(n)
    y = np.where(rng.random(n) < ex.eta(x), 1.0, -1.0)
    fx = f(x)
    # R_φ
    phi_vals = loss(fx * y)
    mc = phi_vals.mean()
    assert abs(mc - ex.surrogate_risk(f, loss)) <= 5 * phi_vals.std() / math.sqrt(n) + 1e-12
    # E max φ(f(X')f(X)/λ): for a step function the window's values are the pieces it meets
    w = _window_candidates(f, x, 0.2) * fx[:, None] / lam
    reg = np.nanmax(np.where(np.isnan(w), np.nan, loss(np.nan_to_num(w))), axis=1)
    exact = ex.boundary_surrogate(f, loss, lam)
    assert abs(reg.mean() - exact) <= 5 * reg.std() / math.sqrt(n) + 1e-12


def test_surrogate_risk_affine_pieces_by_quadrature():
    ex = iv.IntervalExample(0.25)
    f = iv.PiecewiseAffine.continuous((0, 0.5, 1), (-1.0, 2.0, 0.5))
    got = ex.surrogate_risk(f, "exponential")

    # closed form: ∫ exp(−y f(x)) dx over the label pieces, f(x) = −1 + 6x on [0, .5],
    # 2 − 3(x − .5) on [.5, 1]; labels −1 on [0,.25)∪[.5,.75), +1 elsewhere.
    def seg(a, b, c0, c1, y):  # ∫_a^b exp(−y(c0 + c1 x)) dx
        k = -y * c1
        return math.exp(-y * c0) * (math.exp(k * b) - math.exp(k * a)) / k

    expected = (
        seg(0, 0.25, -1, 6, -1)
        + seg(0.25, 0.5, -1, 6, 1)
        + seg(0.5, 0.75, 3.5, -3, -1)
        + seg(0.75, 1, 3.5, -3, 1)
    )
    assert got == pytest.approx(expected, abs=1e-11)


# --- exactness and the decomposition -------------------------------------------------------------
fractions_01 = st.fractions(min_value=0, max_value=1, max_denominator=40)


@given(
    cuts=st.lists(fractions_01, min_size=0, max_size=5, unique=True),
    values=st.lists(st.integers(-3, 3), min_size=7, max_size=7),
    eps=st.sampled_from([F(1, 5), F(1, 4), F(3, 20), F(2, 7)]),
    affine=st.booleans(),
)
def test_decomposition_holds_exactly(cuts, values, eps, affine):
    breaks = tuple(sorted({F(0), F(1), *cuts}))
    m = len(breaks) - 1
    if affine:
        f = iv.PiecewiseAffine.continuous(breaks, tuple(values[: m + 1]))
    else:
        at = tuple(values[-(m + 1) :])  # arbitrary values at the breaks, isolated points
        f = iv.PiecewiseAffine.constant(breaks, tuple(values[:m]), at=at)
    ex = iv.IntervalExample(eps)
    r = ex.risks(f)
    assert r.robust == r.natural + r.boundary
    assert 0 <= r.natural <= r.robust <= 1
    assert isinstance(r.robust, Fraction | int)


def test_isolated_point_is_seen_by_the_closed_ball():
    ex = iv.IntervalExample(F(1, 4))
    # f = +1 everywhere except f(1/2) = −1: every positive x within 1/4 of 1/2 is attacked
    f = iv.PiecewiseAffine.constant((0, F(1, 2), 1), (1, 1), at=(1, -1, 1))
    r = ex.risks(f)
    assert r.natural == F(1, 2)  # all negatives
    assert r.boundary == F(1, 4)  # positives in [1/4, 3/4]: (1/4, 1/2] and [1/2, 3/4) ∩ η=1
    assert r.robust == F(3, 4)


def test_zero_score_counts_as_error_for_both_labels():
    ex = iv.IntervalExample(F(1, 4))
    r = ex.risks(ex.constant_score(0))
    assert (r.natural, r.boundary, r.robust) == (1, 0, 1)


def test_mixed_classifier_path():
    ex = iv.IntervalExample(F(1, 4))
    assert ex.risks(iv.mixed_classifier(ex, 1)) == ex.risks(ex.bayes())
    assert ex.risks(iv.mixed_classifier(ex, 0)) == ex.risks(ex.all_one())
    nat = [ex.natural_error(iv.mixed_classifier(ex, F(k, 8))) for k in range(9)]
    assert nat == sorted(nat, reverse=True)  # natural error falls towards Bayes


# --- Theorems 3.1 and 3.2 ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(cal.LOSSES))
def test_theorem_3_1_on_the_family(name):
    ex = iv.IntervalExample(F(1, 5))
    for c in (F(k, 4) for k in range(5)):
        for lam in (0.25, 1.0, 5.0):
            t = iv.theorem_3_1_terms(ex, iv.mixed_classifier(ex, c, 2), name, lam)
            assert t.first_holds and t.second_holds
            assert t.lhs == float(ex.robust_error(iv.mixed_classifier(ex, c, 2)))


def test_theorem_3_1_terms_at_bayes_hinge_by_hand():
    ex = iv.IntervalExample(F(1, 4))
    t = iv.theorem_3_1_terms(ex, ex.bayes(), "hinge", 2.0)
    # R_φ(Bayes) = φ(1) = 0 = R*_φ; every ball holds both signs: max(φ(1/2), φ(−1/2)) = 1.5
    assert (t.lhs, t.excess_phi, t.psi_inv, t.boundary) == (1.0, 0.0, 0.0, 1.0)
    assert t.regulariser == pytest.approx(1.5, abs=1e-15)


@pytest.mark.parametrize("eps", [0.2, 0.3, 0.1, F(1, 5)])
@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_boundary_surrogate_of_bayes_with_float_eps(eps, lam):
    # Every closed ball of radius eps around x meets both signs of the Bayes classifier
    # (the label intervals have length eps), so max phi(f(x')f(x)/lam) = phi(-1/lam)
    # = 1 + 1/lam for the hinge, everywhere. Float eps used to raise StopIteration: the
    # cut points t_i ± eps produced a one-ulp cell whose midpoint is a break point.
    ex = iv.IntervalExample(eps)
    assert ex.boundary_surrogate(ex.bayes(), "hinge", lam) == pytest.approx(1 + 1 / lam, rel=1e-14)
    t = iv.theorem_3_1_terms(ex, ex.bayes(), "hinge", lam)
    assert t.regulariser == pytest.approx(1 + 1 / lam, rel=1e-14) and t.first_holds


def test_dip_loss_breaks_the_second_inequality():
    ex = iv.IntervalExample(F(1, 4))
    t = iv.theorem_3_1_terms(ex, ex.bayes(), cal.dip, 2 / 3)
    assert t.lhs == 1.0 and t.boundary == 1.0
    assert t.regulariser == pytest.approx(0.9, abs=1e-15)
    assert t.first_holds and not t.second_holds


@pytest.mark.parametrize("loss", [*cal.LOSSES.values(), cal.kinked])
@pytest.mark.parametrize("theta", [0.05, 0.3, 0.6, 1.0])
def test_theorem_3_2_construction(loss, theta):
    xi = 1e-3
    c = iv.theorem_3_2_construction(loss, theta, xi)
    assert c.rob_minus_nat_star == pytest.approx(theta, abs=1e-12)
    assert c.lower_holds and c.upper_holds
    assert c.gamma * c.alpha[0] + (1 - c.gamma) * c.alpha[1] == pytest.approx(theta, abs=1e-12)
    assert all(s < 0 for s in c.scores)


@pytest.mark.parametrize("loss", ["logistic", "hinge", cal.kinked])
def test_theorem_3_2_construction_with_tiny_xi(loss):
    # theta = 1: H^-(1) = phi(0) is only approached as alpha -> 0-; the scores used to stop
    # at -1e-12 and the construction raised for xi = 1e-12. kinked at eta = 1/2: H^- is
    # attained inside, at alpha = -ln 2 (C' = (e^alpha - 1/2)/2 = 0), off the score grid.
    for theta in (0.0, 1.0):
        c = iv.theorem_3_2_construction(loss, theta, 1e-12)
        assert c.lower_holds and c.upper_holds and all(x < 0 for x in c.scores)
    if loss is cal.kinked:
        c = iv.theorem_3_2_construction(loss, 0.0, 1e-12)
        assert c.scores[0] == pytest.approx(-math.log(2.0), abs=1e-6)


def test_theorem_3_2_fails_without_phi_vanishing_at_infinity():
    shifted = cal.MarginLoss("hinge_plus", lambda a: np.maximum(1.0 - a, 0.0) + 0.5)
    with pytest.raises(ValueError, match="phi"):
        iv.theorem_3_2_construction(shifted, 0.3, 1e-3)


# --- bad inputs ---------------------------------------------------------------------------------
def test_bad_inputs_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="eps"):
        iv.IntervalExample(0)
    with pytest.raises(ValueError, match="eps"):
        iv.IntervalExample(float("nan"))
    with pytest.raises(TypeError, match="eps"):
        iv.IntervalExample("0.2")
    with pytest.raises(ValueError, match="breaks"):
        iv.PiecewiseAffine.constant((0.1, 1), (1,))
    with pytest.raises(ValueError, match="breaks"):
        iv.PiecewiseAffine.constant((0, 0.5, 0.5, 1), (1, 1, 1))
    with pytest.raises(ValueError, match="start and end"):
        iv.PiecewiseAffine((0, 1), (1, 2), (1, 2), (1, 1))
    with pytest.raises(ValueError, match="at"):
        iv.PiecewiseAffine.constant((0, 1), (1,), at=(1,))
    with pytest.raises(ValueError, match="c"):
        iv.mixed_classifier(iv.IntervalExample(0.2), 2)
    ex = iv.IntervalExample(0.2)
    with pytest.raises(ValueError, match="f must be piecewise constant"):
        ex.boundary_surrogate(iv.PiecewiseAffine.continuous((0, 1), (0, 1)), "hinge", 1.0)
    with pytest.raises(ValueError, match="lam"):
        ex.boundary_surrogate(ex.bayes(), "hinge", 0.0)
    with pytest.raises(TypeError, match="f must be"):
        ex.risks(lambda x: x)
    with pytest.raises(ValueError, match="theta"):
        iv.theorem_3_2_construction("hinge", 1.5, 1e-3)
    with pytest.raises(ValueError, match="xi"):
        iv.theorem_3_2_construction("hinge", 0.5, 0.0)
    with pytest.raises(ValueError, match="scale"):
        ex.bayes(scale=-1)
    with pytest.raises(TypeError, match="example"):
        iv.theorem_3_1_terms(0.2, ex.bayes(), "hinge", 1.0)
    with pytest.raises(TypeError, match="x"):
        ex.bayes()("abc")
    with pytest.raises(ValueError, match="x"):
        ex.bayes()([0.5, 1.5])
