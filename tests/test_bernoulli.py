"""Collins et al. modified Bernoulli model: exact accuracy, expectations, optimum, τ*.

Every exact result is compared with an independent computation: brute-force enumeration
of all 2^d sign patterns, seeded Monte Carlo with a 5-sigma bound, closed forms (Bayes
log-odds, τ* = ε/2), scipy's L-BFGS-B on the finite objective, and the defining
inequality of Vaaler's polynomial.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize

from tradeoff import bernoulli as B
from tradeoff.bernoulli import (
    BernoulliModel,
    collins_procedure,
    empirical_robust_logistic,
    expected_logistic,
    population_loss,
    robust_logistic,
    theorem1_bound,
    theorem1_error,
    theorem1_estimator,
    threshold_at,
    weight_threshold,
)


# ----------------------------------------------------------------------------- helpers
def _patterns(d: int) -> np.ndarray:
    return np.array(list(itertools.product([1.0, -1.0], repeat=d)))


def _probs(tau: np.ndarray, s: np.ndarray) -> np.ndarray:
    return np.prod(np.where(s > 0, 0.5 + tau, 0.5 - tau), axis=1)


def enum_accuracy(model: BernoulliModel, w, eps=0.0, b=0.0) -> float:
    """Brute force: average over y of P(y(wᵀx + b) − ε‖w‖₁ > 0), via s = yθx."""
    s = _patterns(model.d)
    pr = _probs(model.tau, s)
    m = s @ (np.asarray(w) * model.theta)
    c = eps * float(np.abs(w).sum())
    return 0.5 * (pr[m + b - c > 0].sum() + pr[m - b - c > 0].sum())


def _ell(z):
    return np.logaddexp(0.0, -z)


def _ell1(z):
    return -np.exp(-np.logaddexp(0.0, z))


def _ell2(z):
    return np.exp(-np.logaddexp(0.0, z) - np.logaddexp(0.0, -z))


def _random_model(rng, d, lo=0.0, hi=0.5):
    return BernoulliModel(rng.uniform(lo, hi, d), rng.choice([-1.0, 1.0], d))


# ----------------------------------------------------------------------------- model
def test_sample_matches_definition_1():
    model = BernoulliModel([0.0, 0.2, 0.45], [1.0, -1.0, 1.0])
    x, y = model.sample(200_000, np.random.default_rng(0))
    assert set(np.unique(x)) == {-1.0, 1.0} and set(np.unique(y)) == {-1.0, 1.0}
    agree = (x * y[:, None] * model.theta == 1).mean(axis=0)
    n = x.shape[0]
    for j in range(3):
        p = 0.5 + model.tau[j]
        assert abs(agree[j] - p) <= 5 * math.sqrt(p * (1 - p) / n)
    assert abs((y == 1).mean() - 0.5) <= 5 * math.sqrt(0.25 / n)


def test_model_is_frozen_and_read_only():
    model = BernoulliModel([0.1, 0.2])
    with pytest.raises(AttributeError):
        model.tau = np.zeros(2)
    with pytest.raises(ValueError):
        model.tau[0] = 0.3
    assert np.array_equal(model.theta, [1.0, 1.0])


# ----------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("d", [1, 3, 8, 14])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_bracket_contains_enumeration(d, seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, d)
    w = rng.normal(size=d)
    eps = float(rng.uniform(0, 0.4))
    b = float(rng.normal(scale=0.5))
    exact = enum_accuracy(model, w, eps, b)
    br = model.accuracy_bracket(w, eps, b, tol=1e-4)
    assert br.lower <= exact <= br.upper
    assert br.width <= 1e-4
    assert abs(model.accuracy(w, eps, b, tol=1e-4) - exact) <= 0.5e-4


@pytest.mark.parametrize("seed", [3, 4])
def test_accuracy_tight_tolerance(seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, 10, 0.0, 0.3)
    w = rng.normal(size=10)
    exact = enum_accuracy(model, w, 0.1)
    br = model.accuracy_bracket(w, 0.1, tol=1e-7)
    assert br.lower <= exact <= br.upper and br.width <= 1e-7


@pytest.mark.parametrize("seed", range(4))
def test_integer_weights_exact(seed):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, 12)
    w = rng.integers(-3, 4, 12).astype(float)
    for eps, b in [(0.0, 0.0), (0.25, 0.0), (0.1, 0.7)]:
        br = model.accuracy_bracket(w, eps, b)
        assert br.method == "lattice"
        assert abs(br.mid - enum_accuracy(model, w, eps, b)) <= 1e-13


def test_ties_count_as_errors():
    # equal weights, even d: the margin has an atom at 0, and sign(0) is an error
    model = BernoulliModel(np.full(4, 0.1))
    w = np.ones(4)
    exact = enum_accuracy(model, w)
    assert abs(model.accuracy(w) - exact) <= 1e-13
    p_tie = math.comb(4, 2) * 0.6**2 * 0.4**2
    p_pos = 0.6**4 + 4 * 0.6**3 * 0.4
    assert abs(exact - p_pos) <= 1e-15 and p_tie > 0
    # the zero classifier is always wrong; so is w when eps‖w‖₁ exceeds every margin
    assert model.accuracy(np.zeros(4)) == 0.0
    assert model.accuracy(w, eps=1.0) == 0.0


def test_deterministic_features():
    model = BernoulliModel([0.5, 0.1, 0.2])
    w = np.array([2.0, 0.7, -1.3])
    assert abs(model.accuracy(w, 0.1, tol=1e-6) - enum_accuracy(model, w, 0.1)) <= 1e-6


def _rational_accuracy(model: BernoulliModel, w, eps, b) -> Fraction:
    """Enumeration in exact rational arithmetic (floats converted exactly)."""
    tau = [Fraction(t) for t in model.tau]
    v = [Fraction(wj) * int(tj) for wj, tj in zip(w, model.theta)]
    eps, b = Fraction(eps), Fraction(b)
    c = eps * sum(abs(x) for x in v)
    acc = Fraction(0)
    for s in itertools.product([1, -1], repeat=model.d):
        pr = math.prod(
            Fraction(1, 2) + t if sj > 0 else Fraction(1, 2) - t for sj, t in zip(s, tau)
        )
        m = sum(sj * x for sj, x in zip(s, v))
        acc += pr * ((m + b - c > 0) + (m - b - c > 0))
    return acc / 2


@pytest.mark.parametrize("seed", range(3))
def test_threshold_on_an_extreme_atom(seed):
    # Real (non-lattice) weights whose threshold falls on the top or bottom atom of the
    # margin: eps = 1 (no margin can be positive), b = ±‖w‖₁ (all but the bottom atom),
    # eps just below 1 (only the top atom). Dyadic weights keep ‖w‖₁ exact in floats.
    # These used to stall the Fourier bracket (~10 s, then ValueError).
    rng = np.random.default_rng(seed)
    model = _random_model(rng, 6)
    w = rng.integers(1, 2**20, 6) * rng.choice([-1.0, 1.0], 6) * 2.0**-20
    assert B._lattice(w * model.theta) is None
    l1 = float(np.abs(w).sum())
    for eps, b in [(1.0, 0.0), (0.0, l1), (0.0, -l1), (1.0 - 2.0**-30, 0.0), (2.0, l1)]:
        exact = float(_rational_accuracy(model, w, eps, b))
        br = model.accuracy_bracket(w, eps, b)
        assert br.lower <= exact * (1 + 1e-14) and exact * (1 - 1e-14) <= br.upper
        assert br.width <= 1e-14


def test_unreachable_tol_fails_fast():
    # the bracket width falls like 1/K: tol = 1e-9 at d = 50 needs ~5e9 Fourier terms,
    # far above the cap; this used to take ~8 s to find out
    rng = np.random.default_rng(0)
    model = BernoulliModel(rng.uniform(0, 0.3, 50))
    with pytest.raises(ValueError, match=r"tol=1e-09 not reached"):
        model.accuracy_bracket(rng.normal(size=50), 0.05, tol=1e-9)


def test_lattice_ties_are_decided_exactly():
    # Integer weights: the margin sits on a lattice and a threshold on a lattice point is a
    # tie (an error). A bias of 1e-10 or 1e-12 breaks it; these used to be swallowed by a
    # 1e-9 tie tolerance (0.4752 instead of 0.648). Truth: rational enumeration.
    model = BernoulliModel(np.full(4, 0.1))
    w = np.ones(4)
    for eps, b in [(0.0, 0.0), (0.0, 1e-10), (0.25, 0.0), (0.1, 0.4), (0.1, 0.4 + 1e-12)]:
        exact = float(_rational_accuracy(model, w, eps, b))
        br = model.accuracy_bracket(w, eps, b)
        assert br.method == "lattice" and br.lower <= exact <= br.upper, (eps, b)
        assert br.width <= 1e-13
    assert model.accuracy(w, 0.0, 1e-10) == pytest.approx(0.648, abs=1e-14)
    # weights within 1e-12 of a lattice are read as on it: tenths tie like integers
    ints = model.accuracy_bracket([1.0, 2.0, 3.0, 4.0]).mid
    assert model.accuracy_bracket([0.1, 0.2, 0.3, 0.4]).mid == pytest.approx(ints, abs=1e-15)


def test_accuracy_monte_carlo_d784():
    rng = np.random.default_rng(11)
    d = 784
    model = _random_model(rng, d, 0.0, 0.1)
    w = rng.normal(size=d)
    eps = 0.02
    exact = model.accuracy(w, eps, tol=1e-4)
    n, hits = 0, 0
    c = eps * np.abs(w).sum()
    for _ in range(10):
        x, y = model.sample(10_000, rng)
        hits += int(np.sum(y * (x @ w) - c > 0))
        n += 10_000
    p = exact
    assert abs(hits / n - p) <= 5 * math.sqrt(p * (1 - p) / n)


def test_vaaler_inequality():
    # |ψ(x) − V_K(x)| <= Δ_{K+1}(x)/(2K+2): the defining property of the coefficients
    for K in (1, 4, 17, 64):
        a, fejer = B._vaaler_coefficients(K)
        x = np.concatenate([np.linspace(0.0005, 0.9995, 4001), [1e-9, 1 - 1e-9]])
        k = np.arange(1, K + 1)
        V = np.sin(2 * np.pi * np.outer(x, k)) @ a
        psi = x - np.floor(x) - 0.5
        # Fejér kernel Δ_{K+1} from the returned weights, checked against its closed form
        fej = 1 + 2 * np.cos(2 * np.pi * np.outer(x, k)) @ fejer
        N = K + 1
        inner = x[(x > 0.01) & (x < 0.99)]
        closed = (np.sin(np.pi * N * inner) / np.sin(np.pi * inner)) ** 2 / N
        assert np.allclose(1 + 2 * np.cos(2 * np.pi * np.outer(inner, k)) @ fejer, closed)
        assert np.all(np.abs(psi - V) <= fej / (2 * K + 2) + 1e-12)


# ----------------------------------------------------------------------------- properties
_tau = st.lists(st.floats(0.0, 0.5), min_size=1, max_size=9)


@given(
    tau=_tau,
    data=st.data(),
)
def test_accuracy_properties(tau, data):
    d = len(tau)
    w = np.array(data.draw(st.lists(st.floats(-3, 3), min_size=d, max_size=d)))
    theta = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=d, max_size=d)))
    e1 = data.draw(st.floats(0.0, 0.5))
    e2 = data.draw(st.floats(0.0, 0.5))
    e1, e2 = min(e1, e2), max(e1, e2)
    model = BernoulliModel(tau, theta)
    tol = 1e-3
    b1 = model.accuracy_bracket(w, e1, tol=tol)
    b2 = model.accuracy_bracket(w, e2, tol=tol)
    assert 0.0 <= b1.lower <= b1.upper <= 1.0
    # non-increasing in eps: the brackets must be consistent with acc(e1) >= acc(e2)
    assert b1.upper >= b2.lower - 1e-12
    # flipping θ*_j together with w_j leaves the classifier's accuracy unchanged
    j = data.draw(st.integers(0, d - 1))
    theta2, w2 = theta.copy(), w.copy()
    theta2[j] *= -1
    w2[j] *= -1
    b3 = BernoulliModel(tau, theta2).accuracy_bracket(w2, e1, tol=tol)
    assert max(b1.lower, b3.lower) <= min(b1.upper, b3.upper) + 1e-12


@given(tau=_tau, data=st.data())
def test_integer_accuracy_monotone_in_eps(tau, data):
    d = len(tau)
    w = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=d, max_size=d)), float)
    model = BernoulliModel(tau)
    accs = [model.accuracy(w, e) for e in (0.0, 0.05, 0.2, 0.5)]
    assert all(a >= b - 1e-13 for a, b in itertools.pairwise(accs))


# ----------------------------------------------------------------------------- expectations
def _enum_moments(tau, v, c, g):
    s = _patterns(tau.size)
    pr = _probs(tau, s)
    gz = g(s @ v - c) * pr
    return gz.sum(), s.T @ gz, (s.T * gz) @ s


@pytest.mark.parametrize("seed", range(4))
def test_moments_match_enumeration(seed):
    rng = np.random.default_rng(seed)
    d = 9
    tau = rng.uniform(0, 0.5, d)
    v = rng.normal(size=d) * rng.uniform(0.3, 3)
    c = float(rng.uniform(-2, 4))
    got = B._moments(v, tau, c, {0: 2, 1: 2, 2: 2})
    for order, g in enumerate((_ell, _ell1, _ell2)):
        val, lin, quad = _enum_moments(tau, v, c, g)
        m = got[order]
        assert m.err <= 1e-11
        slack = m.err + 1e-13
        assert abs(m.value - val) <= slack
        assert np.max(np.abs(m.lin - lin)) <= slack
        assert np.max(np.abs(m.quad - quad)) <= slack


def test_population_loss_matches_enumeration_and_gradient():
    rng = np.random.default_rng(5)
    model = _random_model(rng, 8, 0.0, 0.4)
    w = rng.normal(size=8)
    eps, a = 0.2, 0.4
    s = _patterns(8)
    pr = _probs(model.tau, s)
    m = s @ (w * model.theta)
    c = eps * np.abs(w).sum()
    exact = (1 - a) * (pr * _ell(m)).sum() + a * (pr * _ell(m - c)).sum()
    val, err = population_loss(model, w, eps, adversarial_fraction=a)
    assert abs(val - exact) <= err + 1e-13 and err < 1e-12
    ev, eerr = expected_logistic(model, w, shift=0.3, order=1)
    assert abs(ev - (pr * _ell1(m - 0.3)).sum()) <= eerr + 1e-13


def test_expected_logistic_monte_carlo_d100():
    rng = np.random.default_rng(6)
    model = _random_model(rng, 100, 0.0, 0.25)
    w = rng.normal(size=100) * 0.3
    val, err = expected_logistic(model, w)
    x, y = model.sample(200_000, rng)
    samples = _ell(y * (x @ w))
    sd = samples.std()
    assert abs(samples.mean() - val) <= 5 * sd / math.sqrt(samples.size)
    assert err < 1e-12


# ----------------------------------------------------------------------------- optimum, τ*
def test_standard_optimum_is_bayes_log_odds():
    rng = np.random.default_rng(7)
    model = _random_model(rng, 30, 0.0, 0.3)
    res = robust_logistic(model, 0.0, adversarial_fraction=0.0)
    assert np.max(np.abs(res.w - model.bayes_weights())) <= 1e-8
    assert res.kkt_residual <= 1e-10


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("a", [0.3, 0.5, 1.0])
@pytest.mark.parametrize("eps", [0.1, 0.3])
def test_threshold_matches_optimiser(seed, a, eps):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, 20, 0.0, 0.3)
    res = robust_logistic(model, eps, adversarial_fraction=a)
    t = weight_threshold(model, eps, adversarial_fraction=a)
    assert res.kkt_residual <= 1e-10
    assert np.array_equal(res.w == 0, model.tau <= t)
    # signs: the optimum is θ*-aligned
    assert np.all(res.w * model.theta >= 0)
    if a == 1.0:
        assert t == eps / 2
    else:
        assert a * eps / 2 <= t < eps / 2
        assert abs(t - threshold_at(model, res.w, eps, a)) <= 1e-14


def test_optimum_beats_perturbations():
    # an independent check of optimality: random feasible perturbations never improve
    rng = np.random.default_rng(8)
    model = _random_model(rng, 12, 0.0, 0.3)
    eps, a = 0.3, 0.5
    res = robust_logistic(model, eps, adversarial_fraction=a)
    f0, err = population_loss(model, res.w, eps, adversarial_fraction=a)
    assert abs(f0 - res.objective) <= 1e-13
    for _ in range(30):
        w = res.w + rng.normal(scale=rng.choice([1e-4, 1e-2, 0.3]), size=12)
        f, _ = population_loss(model, w, eps, adversarial_fraction=a)
        assert f >= f0 - 2 * err - 1e-14


def test_pure_threshold_free_of_d():
    for d in (5, 40):
        model = BernoulliModel(np.linspace(0, 0.3, d))
        res = robust_logistic(model, 0.2, adversarial_fraction=1.0)
        assert np.array_equal(res.w == 0, model.tau <= 0.1 + 1e-15)


@pytest.mark.parametrize("a", [0.5, 1.0])
@pytest.mark.parametrize("eps", [2.0, 100.0, 1e10])
def test_large_eps_gives_zero_weights(a, eps):
    # tau* >= a*eps/2 >= 0.5 >= every tau_j, so the optimum is w = 0 (weight_threshold's
    # derivation): F_a(0) = log 2, gradient (a eps - 2 tau_j)/2 >= 0 on the orthant.
    # The solver used to start at half the Bayes weights, overflow there, and return a
    # non-optimal point (KKT residual ~1e7) without complaint.
    model = BernoulliModel(np.linspace(0.0, 0.25, 20))
    res = robust_logistic(model, eps, adversarial_fraction=a)
    assert np.all(res.w == 0.0) and res.kkt_residual == 0.0
    assert res.objective == pytest.approx(math.log(2.0), rel=1e-14)
    assert np.allclose(res.gradient, 0.5 * (a * eps - 2 * model.tau), rtol=1e-12)


def test_pure_eps_half_gives_zero():
    model = BernoulliModel(np.linspace(0, 0.25, 40))
    res = robust_logistic(model, 0.5, adversarial_fraction=1.0)
    assert np.all(res.w == 0)
    assert abs(res.objective - math.log(2)) <= 1e-14


# ----------------------------------------------------------------------------- finite samples
def test_empirical_optimum_matches_lbfgsb():
    rng = np.random.default_rng(9)
    model = _random_model(rng, 8, 0.0, 0.3)
    x, y = model.sample(3000, rng)
    eps, a = 0.3, 0.5
    emp = empirical_robust_logistic(x, y, eps, adversarial_fraction=a, theta=model.theta)
    u = x * y[:, None]

    def obj(wpm):
        w = wpm[:8] - wpm[8:]
        z = u @ w
        c = eps * np.abs(w).sum()
        return (1 - a) * _ell(z).mean() + a * _ell(z - c).mean()

    ref = minimize(
        obj,
        np.full(16, 0.1),
        method="L-BFGS-B",
        bounds=[(0, None)] * 16,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 5000},
    )
    assert emp.objective <= ref.fun + 1e-12
    assert (
        abs(emp.objective - obj(np.concatenate([np.maximum(emp.w, 0), np.maximum(-emp.w, 0)])))
        <= 1e-14
    )
    assert emp.kkt_residual <= 1e-10
    # KKT: |τ̂_j| <= τ*_N where w_j = 0 and |τ̂_j| = τ*_N (stationarity) elsewhere
    zero = emp.w == 0
    assert np.all(np.abs(emp.tau_hat[zero]) <= emp.threshold + 1e-12)
    assert np.allclose(np.abs(emp.tau_hat[~zero]), emp.threshold, rtol=0, atol=1e-10)


def test_separable_data_have_no_empirical_minimiser():
    # x_1 = y: every margin grows along w = e_1 (adversarial margins too for eps < 1), so
    # the loss tends to 0 as ||w|| -> inf. The solver used to stop at w_1 ~ 30 and report
    # a KKT residual of 1e-13 as if it had found the minimiser.
    y = np.array([1.0, -1.0, 1.0, -1.0])
    x = np.c_[y, [1.0, 1.0, -1.0, -1.0]]
    for a, eps in [(0.0, 0.0), (0.5, 0.1), (1.0, 0.1), (0.5, 1.0)]:
        with pytest.raises(ValueError, match="separable"):
            empirical_robust_logistic(x, y, eps, adversarial_fraction=a)
    # eps = 1, pure adversarial: every adversarial margin along e_1 is 0, the loss is flat
    # (log 2): a minimiser exists
    res = empirical_robust_logistic(x, y, 1.0, adversarial_fraction=1.0)
    assert res.objective == pytest.approx(math.log(2.0), rel=1e-14)
    # N < d Bernoulli samples are separable
    xs, ys = BernoulliModel(np.full(40, 0.1)).sample(20, 0)
    with pytest.raises(ValueError, match="separable"):
        empirical_robust_logistic(xs, ys, 0.0, adversarial_fraction=0.0)


def test_collins_procedure_first_steps():
    rng = np.random.default_rng(10)
    model = _random_model(rng, 6, 0.05, 0.3)
    x, y = model.sample(500, rng)
    # Adam's first step from 0 is lr·sign(−g), g = mean ℓ'(0) y x = −mean(y x)/2
    w1 = collins_procedure(model, 0, iterations=1, data=(x, y))
    assert np.allclose(w1, 0.01 * np.sign((x * y[:, None]).mean(axis=0)), rtol=1e-6)
    # second step with FGSM examples written out explicitly
    eps = 0.3
    w2 = collins_procedure(model, 0, eps=eps, robust=True, iterations=2, data=(x, y))
    xa = x - eps * y[:, None] * np.sign(w1)
    g1 = (x * (_ell1(y * (x @ np.zeros(6))) * y)[:, None]).mean(axis=0)
    g2 = (xa * (_ell1(y * (xa @ w1)) * y)[:, None]).mean(axis=0)
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    expect = w1 - 0.01 * (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
    assert np.allclose(w2, expect, rtol=1e-12, atol=1e-15)


def test_collins_procedure_seeded():
    model = BernoulliModel(np.linspace(0, 0.25, 20))
    a = collins_procedure(model, 3, n=500, eps=0.2, robust=True)
    b = collins_procedure(model, np.random.default_rng(3), n=500, eps=0.2, robust=True)
    assert np.array_equal(a, b)
    c = collins_procedure(model, 3, n=500, init="torch")
    assert c.shape == (20,) and np.all(np.isfinite(c))


# ----------------------------------------------------------------------------- Theorem 1
def test_theorem1_error_matches_enumeration():
    rng = np.random.default_rng(12)
    model = _random_model(rng, 9, 0.02, 0.3)
    for n in (1, 4, 7):
        x, y = model.sample(n, rng)
        w_hat = theorem1_estimator(x, y)
        assert abs(np.linalg.norm(w_hat) - 1) <= 1e-12 or not np.any(w_hat)
        # enumerate with the integer vector n·z ∝ ŵ: exact ties (margin 0 = error)
        k = (x * y[:, None]).sum(axis=0)
        assert np.allclose(w_hat * np.linalg.norm(k), k)
        exact_acc = enum_accuracy(model, k)
        assert abs(theorem1_error(model, x, y) - (1 - exact_acc)) <= 1e-13
        assert abs(model.accuracy(w_hat) - exact_acc) <= 1e-13  # lattice detected


def test_theorem1_bound_formula():
    model = BernoulliModel(np.array([0.1, 0.2, 0.3]))
    bound, prob = theorem1_bound(model, 10)
    assert bound == pytest.approx(math.exp(-2 * 0.01 * 0.36 / 3), rel=1e-15)
    assert prob == pytest.approx(1 - math.exp(-0.36 * 10 / 6), rel=1e-15)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: BernoulliModel([0.1, 0.6]), "tau"),
        (lambda: BernoulliModel([-0.1]), "tau"),
        (lambda: BernoulliModel([]), "tau"),
        (lambda: BernoulliModel([0.1, np.nan]), "tau"),
        (lambda: BernoulliModel([0.1, 0.2], [1.0, 0.0]), "theta"),
        (lambda: BernoulliModel([0.1, 0.2], [1.0]), "theta"),
        (lambda: BernoulliModel([0.1]).accuracy([1.0, 2.0]), "w"),
        (lambda: BernoulliModel([0.1]).accuracy([1.0], eps=-0.1), "eps"),
        (lambda: BernoulliModel([0.1]).accuracy([1.0], tol=0.0), "tol"),
        (lambda: BernoulliModel([0.1]).sample(0, 0), "n"),
        (
            lambda: robust_logistic(BernoulliModel([0.1]), 0.1, adversarial_fraction=1.5),
            "adversarial_fraction",
        ),
        (lambda: weight_threshold(BernoulliModel([0.1]), -1.0), "eps"),
        (lambda: robust_logistic(BernoulliModel([0.1, 0.5]), 0.3), "tau"),
        (lambda: collins_procedure(BernoulliModel([0.1]), 0, init="normal"), "init"),
        (lambda: collins_procedure(BernoulliModel([0.1]), 0, lr=0.0), "lr"),
        (lambda: theorem1_bound(BernoulliModel([0.1]), 0), "n"),
        (lambda: expected_logistic(BernoulliModel([0.1]), [1.0], order=3), "order"),
        (lambda: robust_logistic(BernoulliModel([0.1]), 1e300), "eps"),
        (lambda: collins_procedure(BernoulliModel([0.1]), 0, eps=1e300), "eps"),
        (lambda: population_loss(BernoulliModel([0.1]), [1.0], 1e300), "eps"),
        (lambda: expected_logistic(BernoulliModel([0.1]), [1.0], shift=1e300), "shift"),
        # Theorem 1's exact error needs ±1 data (n z_j on a lattice); it used to round
        (lambda: theorem1_error(BernoulliModel([0.1]), [[0.5], [1.0]], [1.0, -1.0]), "x"),
        (lambda: theorem1_error(BernoulliModel([0.1]), [[1.0], [1.0]], [1.0, 0.0]), "y"),
        (lambda: empirical_robust_logistic([[1.0], [-1.0]], [1.0, 2.0], 0.1), "y"),
    ],
)
def test_bad_inputs_raise_value_error(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_bad_types_raise_type_error():
    model = BernoulliModel([0.1])
    for call in (
        lambda m: robust_logistic(m, 0.1),
        lambda m: weight_threshold(m, 0.1, adversarial_fraction=0.5),
        lambda m: population_loss(m, [1.0], 0.1),
        lambda m: expected_logistic(m, [1.0]),
        lambda m: threshold_at(m, [1.0], 0.1, 0.5),
        lambda m: collins_procedure(m, 0, iterations=1),
        lambda m: theorem1_bound(m, 10),
        lambda m: theorem1_error(m, np.ones((2, 1)), np.ones(2)),
    ):
        with pytest.raises(TypeError, match="model"):
            call([0.1])
    with pytest.raises(TypeError, match="robust"):
        collins_procedure(model, 0, robust=float("nan"), eps=0.1, iterations=1)
    with pytest.raises(TypeError, match="data"):
        collins_procedure(model, 0, data=0.5, iterations=1)
    with pytest.raises(TypeError, match="rng"):
        BernoulliModel([0.1]).sample(3, None)
    with pytest.raises(TypeError, match="eps"):
        BernoulliModel([0.1]).accuracy([1.0], eps="big")
