"""Tests of tradeoff.gaussian: model (3), exact accuracies, the Theorem 2.1 frontier."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import norm

from tradeoff.gaussian import (
    GaussianModel,
    averaging_weights,
    frontier,
    frontier_bound,
)

# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"d": 0, "eta": 0.1}, ValueError, "d"),
        ({"d": -3, "eta": 0.1}, ValueError, "d"),
        ({"d": 2.5, "eta": 0.1}, TypeError, "d"),
        ({"d": True, "eta": 0.1}, TypeError, "d"),
        ({"d": 10, "eta": 0.0}, ValueError, "eta"),
        ({"d": 10, "eta": -1.0}, ValueError, "eta"),
        ({"d": 10, "eta": math.nan}, ValueError, "eta"),
        ({"d": 10, "eta": math.inf}, ValueError, "eta"),
        ({"d": 10, "eta": "0.1"}, TypeError, "eta"),
        ({"d": 10, "eta": 0.1, "p": 0.5}, ValueError, "p"),
        ({"d": 10, "eta": 0.1, "p": 1.0}, ValueError, "p"),
        ({"d": 10, "eta": 0.1, "p": 0.2}, ValueError, "p"),
    ],
)
def test_model_rejects_bad_parameters(kwargs, exc, name):
    with pytest.raises(exc, match=rf"^{name} "):
        GaussianModel(**kwargs)


def test_model_is_frozen_and_normalises_types():
    m = GaussianModel(np.int64(5), np.float32(0.25), 0.6)
    assert type(m.d) is int and type(m.eta) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.d = 3  # type: ignore[misc]


def test_method_arguments_are_validated():
    m = GaussianModel(3, 0.2)
    with pytest.raises(ValueError, match=r"^w "):
        m.accuracy(np.ones(3))
    with pytest.raises(ValueError, match=r"^w "):
        m.accuracy([1.0, math.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"^eps "):
        m.accuracy(np.ones(4), eps=-0.1)
    with pytest.raises(ValueError, match=r"^b "):
        m.accuracy(np.ones(4), b=math.inf)
    with pytest.raises(ValueError, match=r"^eps "):
        m.averaging_accuracy(-1.0)
    with pytest.raises(ValueError, match=r"^n "):
        m.sample(0, 1)
    with pytest.raises(TypeError, match=r"^rng "):
        m.sample(10, None)
    with pytest.raises(ValueError, match=r"^d "):
        averaging_weights(0)
    with pytest.raises(ValueError, match=r"^p "):
        frontier(0.5, 0.1)
    with pytest.raises(ValueError, match=r"^delta "):
        frontier(0.7, 1.5)
    with pytest.raises(ValueError, match=r"^delta "):
        frontier_bound(0.7, -0.1)


# --- sampling --------------------------------------------------------------------------------


def test_sample_shapes_reproducibility_and_moments():
    m = GaussianModel(4, 0.3, 0.7)
    X, y = m.sample(200_000, 7)
    X2, y2 = m.sample(200_000, np.random.default_rng(7))
    assert X.shape == (200_000, 5) and X.dtype == np.float64 and y.dtype == np.int64
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    assert set(np.unique(y)) == {-1, 1}
    assert set(np.unique(X[:, 0])) == {-1.0, 1.0}
    n = len(y)
    # y x1 = +1 w.p. p; y x_i ~ N(eta, 1); y uniform: each within 5 standard errors.
    agree = np.mean(y * X[:, 0] == 1)
    assert abs(agree - 0.7) <= 5 * math.sqrt(0.21 / n)
    assert abs(np.mean(y == 1) - 0.5) <= 5 * math.sqrt(0.25 / n)
    yx = y[:, None] * X[:, 1:]
    assert np.all(np.abs(yx.mean(axis=0) - 0.3) <= 5 / math.sqrt(n))
    assert np.all(np.abs(yx.std(axis=0) - 1.0) <= 5 * math.sqrt(0.5 / n))


# --- exact accuracy --------------------------------------------------------------------------


def _mc_accuracy(m: GaussianModel, w, eps, b, n, seed):
    """Empirical accuracy under the explicit worst perturbation -eps*y*sign(w)."""
    X, y = m.sample(n, seed)
    x_adv = X - eps * y[:, None] * np.sign(w)[None, :]
    score = x_adv @ w + b
    return float(np.mean(np.sign(score) == y))


@pytest.mark.parametrize(
    ("d", "eta", "p", "eps", "b", "seed"),
    [
        (3, 0.4, 0.7, 0.0, 0.0, 1),
        (3, 0.4, 0.7, 0.3, 0.2, 2),
        (5, 0.2, 0.6, 0.15, -0.3, 3),
        (1, 1.0, 0.9, 0.5, 0.0, 4),
        (8, 0.1, 0.55, 0.05, 0.1, 5),
    ],
)
def test_accuracy_matches_monte_carlo(d, eta, p, eps, b, seed):
    m = GaussianModel(d, eta, p)
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d + 1)
    exact = m.accuracy(w, eps, b)
    n = 400_000
    mc = _mc_accuracy(m, w, eps, b, n, seed + 100)
    assert abs(mc - exact) <= 5 * math.sqrt(exact * (1 - exact) / n) + 1e-12


def test_worst_perturbation_is_worst():
    """No random perturbation in the ball does better for the adversary than -eps y sign(w)."""
    m = GaussianModel(3, 0.3)
    rng = np.random.default_rng(0)
    w = rng.normal(size=4)
    X, y = m.sample(2000, 1)
    eps = 0.2
    worst = y * ((X - eps * y[:, None] * np.sign(w)) @ w)
    for _ in range(50):
        delta = rng.uniform(-eps, eps, size=X.shape)
        assert np.all(y * ((X + delta) @ w) >= worst - 1e-12)


def _quad_accuracy(m: GaussianModel, w, eps, b):
    """Accuracy by integrating the normal density numerically (no ndtr)."""
    w = np.asarray(w, float)
    sigma = np.linalg.norm(w[1:])
    mean = m.eta * w[1:].sum()
    l1 = np.abs(w).sum()
    total = 0.0
    for yy, s in itertools.product((1.0, -1.0), (1.0, -1.0)):
        ps = m.p if s == 1 else 1 - m.p
        cut = eps * l1 - w[0] * s - yy * b  # correct iff G > cut, G ~ N(mean, sigma^2)

        def dens(g, mean=mean, sigma=sigma):
            return math.exp(-0.5 * ((g - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

        mass, _ = integrate.quad(dens, cut, math.inf, epsabs=1e-14, epsrel=1e-12)
        total += 0.5 * ps * mass
    return total


@pytest.mark.parametrize("seed", range(6))
def test_accuracy_matches_quadrature(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 6))
    m = GaussianModel(d, float(rng.uniform(0.05, 1.0)), float(rng.uniform(0.55, 0.95)))
    w = rng.normal(size=d + 1)
    eps, b = float(rng.uniform(0, 0.5)), float(rng.normal())
    assert m.accuracy(w, eps, b) == pytest.approx(_quad_accuracy(m, w, eps, b), abs=1e-10)


def test_degenerate_weights_and_sign_zero():
    m = GaussianModel(4, 0.2, 0.7)
    e1 = np.zeros(5)
    e1[0] = 1.0
    assert m.accuracy(e1) == pytest.approx(0.7, abs=1e-15)
    assert m.accuracy(e1, eps=0.999) == pytest.approx(0.7, abs=1e-15)
    # At eps = 1 the adversary zeroes x1 for the agreeing examples: sign(0) is an error.
    assert m.accuracy(e1, eps=1.0) == 0.0
    assert m.accuracy(np.zeros(5)) == 0.0
    # w = 0, b = 1 predicts +1 always: right exactly when y = +1.
    assert m.accuracy(np.zeros(5), eps=0.3, b=1.0) == 0.5
    assert m.error(e1, eps=1.0) == 1.0
    assert m.log_accuracy(e1, eps=1.0) == -math.inf
    assert m.log_accuracy(e1) == pytest.approx(math.log(0.7), rel=1e-15)


@pytest.mark.parametrize("scale", [1e-200, 1e-300, 1e300])
def test_accuracy_of_tiny_and_huge_weights(scale):
    # sign(w.x + b) does not depend on the scale of (w, b). Unscaled, ||w_2:|| underflowed
    # to 0 for 1e-200 (accuracy 1.0 instead of Phi(eta sqrt(d))) and overflowed to NaN.
    m = GaussianModel(10, 0.3, 0.7)
    w = m.averaging_weights() * scale
    for eps in (0.0, 0.1):
        closed = 0.5 * math.erfc(-(m.eta - eps) * math.sqrt(m.d) / math.sqrt(2))
        assert m.accuracy(w, eps) == pytest.approx(closed, rel=1e-13)
        assert m.error(w, eps) == pytest.approx(1 - closed, rel=1e-12)
    w2 = np.linspace(-1.0, 1.0, 11)
    assert m.accuracy(w2 * scale, 0.05, 0.3 * scale) == pytest.approx(
        m.accuracy(w2, 0.05, 0.3), rel=1e-13
    )


def test_error_and_log_accuracy_in_the_tails():
    d = 10_000
    m = GaussianModel(d, 30 / math.sqrt(d))
    w = m.averaging_weights()
    # Mills-ratio asymptotics of Phi(-30) (independent of scipy.special).
    log_tail = -450 - math.log(30 * math.sqrt(2 * math.pi)) + math.log(1 - 1 / 900 + 3 / 810_000)
    assert math.log(m.error(w)) == pytest.approx(log_tail, rel=1e-9)
    assert m.accuracy(w) == 1.0
    assert m.log_accuracy(w, eps=2 * m.eta) == pytest.approx(log_tail, rel=1e-9)
    assert m.accuracy(w, eps=0.5) + m.error(w, eps=0.5) == pytest.approx(1.0, abs=1e-15)


def test_averaging_classifier():
    for d in (1, 100, 10_000):
        m = GaussianModel(d, 3 / math.sqrt(d))
        w = averaging_weights(d)
        assert w[0] == 0.0 and np.allclose(w[1:], 1 / d)
        for eps in (0.0, m.eta, 2 * m.eta, 0.3):
            closed = norm.cdf((m.eta - eps) * math.sqrt(d))
            assert m.averaging_accuracy(eps) == pytest.approx(closed, rel=1e-12)
            assert m.accuracy(w, eps) == pytest.approx(closed, rel=1e-10, abs=1e-300)
        assert m.averaging_accuracy() > 0.99
        assert m.averaging_accuracy(2 * m.eta) < 0.01


@given(
    d=st.integers(1, 50),
    eta=st.floats(0.01, 2.0),
    p=st.floats(0.51, 0.99),
    seed=st.integers(0, 2**32 - 1),
    eps1=st.floats(0.0, 2.0),
    eps2=st.floats(0.0, 2.0),
    b=st.floats(-2.0, 2.0),
)
def test_accuracy_is_a_probability_and_non_increasing_in_eps(d, eta, p, seed, eps1, eps2, b):
    m = GaussianModel(d, eta, p)
    w = np.random.default_rng(seed).normal(size=d + 1)
    lo, hi = sorted((eps1, eps2))
    a_lo, a_hi = m.accuracy(w, lo, b), m.accuracy(w, hi, b)
    assert 0.0 <= a_hi <= 1.0 and 0.0 <= a_lo <= 1.0
    assert a_hi <= a_lo + 1e-15
    assert m.accuracy(w, lo, b) + m.error(w, lo, b) == pytest.approx(1.0, abs=1e-14)


# --- Theorem 2.1 -----------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.51, 0.6, 0.7, 0.8, 0.95, 0.999])
def test_frontier_lp_matches_closed_form_and_bound(p):
    for delta in np.linspace(0, 1, 21):
        f = frontier(p, float(delta))
        q = 1 - p
        assert f.value == pytest.approx(p * min(delta / q, 1.0), abs=1e-9)
        assert f.value == pytest.approx(f.closed_form, abs=1e-9)
        assert f.shift_value == pytest.approx(f.shift_closed_form, abs=1e-9)
        assert f.value <= f.bound + 1e-9
        assert f.bound == pytest.approx(frontier_bound(p, float(delta)))
        assert f.tight == (delta <= q + 1e-12)
        assert f.value <= f.shift_value + 1e-9
        # The reported optimum is feasible.
        assert all(-1e-9 <= x <= 1 + 1e-9 for x in f.probabilities)
        assert f.standard >= 1 - delta - 1e-9
        assert f.value <= f.standard + 1e-9


def test_frontier_at_paper_values():
    f = frontier(0.7, 0.3)
    assert f.value == pytest.approx(0.7, abs=1e-9) and f.bound == pytest.approx(0.7)
    assert frontier_bound(0.7, 0.3) == pytest.approx(7 / 3 * 0.3)
    assert frontier(0.7, 1.0).shift_value == pytest.approx(1.0, abs=1e-9)
    assert frontier(0.7, 0.0).value == pytest.approx(0.0, abs=1e-12)


def _accuracies(p, probs):
    """Appendix B's standard and shift-adversarial accuracy, written from the definitions."""
    ppp, ppm, pmp, pmm = probs
    q = 1 - p
    std = 0.5 * (p * ppp + q * pmp) + 0.5 * (p * (1 - pmm) + q * (1 - ppm))
    adv = 0.5 * (p * ppm + q * pmm) + 0.5 * (p * (1 - pmp) + q * (1 - ppp))
    return std, adv


@pytest.mark.parametrize("p", [0.6, 0.7, 0.9])
def test_frontier_against_enumeration(p):
    """Enumerate (p_ij) on a lattice: no lattice point beats the LP; vertices attain it."""
    grid = np.linspace(0, 1, 5)
    pts = [(probs, *_accuracies(p, probs)) for probs in itertools.product(grid, repeat=4)]
    for delta in (0.0, 0.05, 1 - p, 0.5, 0.8, 1.0):
        best = max((min(adv, std) for _, std, adv in pts if std >= 1 - delta - 1e-12), default=0.0)
        best_shift = max(adv for _, std, adv in pts if std >= 1 - delta - 1e-12)
        f = frontier(p, delta)
        assert best <= f.value + 1e-12
        assert best_shift <= f.shift_value + 1e-12
        if delta in (0.0, 1 - p, 1.0):  # optima at lattice vertices
            assert best == pytest.approx(f.value, abs=1e-12)
            assert best_shift == pytest.approx(f.shift_value, abs=1e-12)
        std, adv = _accuracies(p, f.probabilities)
        assert std == pytest.approx(f.standard, abs=1e-9)
        assert min(std, adv) == pytest.approx(f.value, abs=1e-9)


def test_x1_classifier_attains_the_bound_exactly():
    for d in (1, 10, 10_000):
        m = GaussianModel(d, 4 / math.sqrt(d), 0.7)
        e1 = np.zeros(d + 1)
        e1[0] = 1
        f = frontier(0.7, 0.3)
        assert m.accuracy(e1) == pytest.approx(f.value, abs=1e-9)
        assert m.accuracy(e1, 2 * m.eta if 2 * m.eta < 1 else 0.9) == pytest.approx(
            f.bound, abs=1e-9
        )


@given(
    p=st.floats(0.51, 0.99),
    d1=st.floats(0.0, 1.0),
    d2=st.floats(0.0, 1.0),
    t=st.floats(0.0, 1.0),
)
def test_frontier_non_decreasing_and_concave(p, d1, d2, t):
    lo, hi = sorted((d1, d2))
    assume(hi - lo > 1e-6)
    mid = lo + t * (hi - lo)
    f_lo, f_mid, f_hi = (frontier(p, x) for x in (lo, mid, hi))
    for attr in ("value", "shift_value"):
        a, m_, b = getattr(f_lo, attr), getattr(f_mid, attr), getattr(f_hi, attr)
        assert a <= m_ + 1e-9 <= b + 2e-9
        assert m_ >= (1 - t) * a + t * b - 1e-9


@pytest.mark.parametrize("p", [0.6, 0.7, 0.9])
def test_frontier_is_approached_by_mixing_x1_and_averaging(p):
    """Below delta = 1 - p the LP optimum is attained in the limit eta sqrt(d) -> inf by the
    randomised classifier sign(x1) w.p. theta = delta/(1-p), else classifier (4). An eps < 1
    cannot flip sign(x1), so the adversary's best response is the one against (4)."""
    d = 10_000
    e1 = np.zeros(d + 1)
    e1[0] = 1.0
    for mu in (1.0, 12.0):
        m = GaussianModel(d, mu / math.sqrt(d), p)
        w = m.averaging_weights()
        for delta in (0.05, (1 - p) / 2, 1 - p):
            theta = delta / (1 - p)
            std = theta * m.accuracy(e1) + (1 - theta) * m.accuracy(w)
            adv = theta * m.accuracy(e1, 2 * m.eta) + (1 - theta) * m.accuracy(w, 2 * m.eta)
            # Theorem 2.1 for this actual classifier, at its own standard error.
            assert adv <= frontier(p, min(1.0, 1 - std)).value + 1e-12
            f = frontier(p, delta)
            if mu == 12.0:
                assert std == pytest.approx(1 - delta, abs=1e-12)
                assert adv == pytest.approx(f.value, abs=1e-12)
            elif delta < 1 - p:
                assert std < 1 - delta - 1e-3  # overlapping G+/G-: strictly inside
