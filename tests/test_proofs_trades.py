"""Tests of tradeoff.proofs_check.trades: the sympy derivations, confirmed independently."""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from tradeoff import intervals as iv
from tradeoff.proofs_check import trades as proofs
from tradeoff.verify import Status


def _steps(loss):
    """The cached derivations of ``loss``, by step name."""
    prefix = loss + "."
    return {d.id[len(prefix) :]: d for d in proofs.derivations() if d.id.startswith(prefix)}


def test_every_derivation_is_confirmed():
    results = proofs.derivations()
    names = [d.id for d in results]
    assert len(names) == len(set(names)) == 12
    for d in results:
        assert d.status is Status.PASS, (d.id, d.detail)


@pytest.mark.parametrize("loss", ["exponential", "logistic"])
@given(eta=st.floats(0.02, 0.98))
@settings(max_examples=10)
def test_derived_minimiser_and_H_match_numerical_minimisation(loss, eta):
    steps = _steps(loss)
    q = sp.Symbol("q", positive=True)
    phi = {
        "exponential": lambda a: math.exp(-a),
        "logistic": lambda a: math.log1p(math.exp(-a)) / math.log(2),
    }[loss]
    res = optimize.minimize_scalar(
        lambda a: eta * phi(a) + (1 - eta) * phi(-a), bracket=(-1, 1), tol=1e-12
    )
    odds = eta / (1 - eta)
    alpha_star = float(steps["argmin"].data["alpha_star"].subs(q, odds))
    h = float(steps["H"].data["H"].subs(q, odds))
    assert alpha_star == pytest.approx(res.x, abs=1e-5)
    assert h == pytest.approx(res.fun, abs=1e-10)


@pytest.mark.parametrize("loss", ["exponential", "logistic"])
def test_derived_psi_tilde_matches_table2_at_high_precision(loss):
    steps = _steps(loss)
    t = sp.Symbol("t", positive=True)
    expr = steps["psi_tilde"].data["psi_tilde"]
    mpmath.mp.dps = 40
    for theta in (mpmath.mpf("0.01"), mpmath.mpf("0.3"), mpmath.mpf("0.77"), mpmath.mpf("0.999")):
        tv = 1 / theta - 1  # θ = 1/(1 + t)
        got = sp.N(expr.subs(t, sp.Float(tv, 40)), 35)
        if loss == "exponential":
            table = 1 - mpmath.sqrt(1 - theta**2)
        else:
            table = ((1 - theta) * mpmath.log(1 - theta) + (1 + theta) * mpmath.log(1 + theta)) / (
                2 * mpmath.log(2)
            )
        assert abs(mpmath.mpf(str(got)) - table) < mpmath.mpf(10) ** -30


def test_decomposition_method_detects_a_wrong_identity():
    """The same satisfiability argument finds a counterexample when the boundary set
    forgets the points with f(x) = 0 — so the PASS of the real identity is informative."""
    P, Z, N, Yp, bp, bz, bn = sp.symbols("P Z N Yp bp bz bn")
    Or, And, Not = sp.Or, sp.And, sp.Not
    cases = Or(And(P, Not(Z), Not(N)), And(Z, Not(P), Not(N)), And(N, Not(P), Not(Z)))
    ball = And(sp.Implies(P, bp), sp.Implies(Z, bz), sp.Implies(N, bn))
    rob = Or(And(Yp, Or(bz, bn)), And(Not(Yp), Or(bz, bp)))
    nat = Or(And(Yp, Or(Z, N)), And(Not(Yp), Or(Z, P)))
    wrong_bdy = And(Or(And(P, bn), And(N, bp)), Or(And(Yp, P), And(Not(Yp), N)))  # no bz
    claim = And(sp.Equivalent(rob, Or(nat, wrong_bdy)), Not(And(nat, wrong_bdy)))
    assert sp.satisfiable(And(cases, ball, Not(claim))) is not False
    assert proofs.decomposition().status is Status.PASS


@pytest.mark.parametrize(
    "eps", [Fraction(1, 5), Fraction(3, 10), Fraction(1, 7), Fraction(2, 9), Fraction(1, 4)]
)
def test_label_balance_formula_matches_exact_intervals(eps):
    d = proofs.label_balance()
    n_sym, e_sym, r_sym = (
        sp.Symbol("n", integer=True, nonnegative=True),
        sp.Symbol("epsilon", positive=True),
        sp.Symbol("r", positive=True),
    )
    n = math.floor(Fraction(1) / (2 * eps))
    r = 1 - 2 * n * eps
    subs = {n_sym: n, e_sym: sp.Rational(eps.numerator, eps.denominator)}
    subs[r_sym] = sp.Rational(r.numerator, r.denominator)
    p_neg = d.data["p_neg"].subs(subs)
    ex = iv.IntervalExample(eps)
    assert sp.Rational(ex.p_negative.numerator, ex.p_negative.denominator) == p_neg
    assert (ex.p_negative == Fraction(1, 2)) == (r == 0)


def test_bad_loss_name():
    with pytest.raises(ValueError, match="loss"):
        proofs.table2_psi("hinge")
