"""Tests of tradeoff.calibration: ψ-transforms (Zhang et al. 2019, Table 2; Bartlett et al.)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize
from scipy.spatial import ConvexHull

from tradeoff import calibration as cal

TABLE2 = {
    # Table 2 written out here, independently of the package's closed forms.
    "hinge": lambda t: t,
    "sigmoid": lambda t: t,
    "exponential": lambda t: 1 - np.sqrt(1 - t**2),
    "logistic": lambda t: (
        0.5 * (1 - t) * np.log2(np.where(t < 1, 1 - t, 1.0)) + 0.5 * (1 + t) * np.log2(1 + t)
    ),
}


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_numeric_psi_matches_table2_on_a_grid(name):
    theta = np.linspace(0, 1, 1001)
    numeric = cal.psi(cal.LOSSES[name], theta, method="numeric")
    assert np.max(np.abs(numeric - TABLE2[name](theta))) <= 1e-9


@pytest.mark.parametrize("name", sorted(TABLE2))
@given(theta=st.floats(0, 1))
@settings(max_examples=15)
def test_numeric_psi_matches_table2_off_grid(name, theta):
    got = float(cal.psi(name, theta, method="numeric"))
    assert abs(got - float(TABLE2[name](np.float64(theta)))) <= 1e-9


def test_psi_at_one_half():
    half = {n: float(cal.psi(n, 0.5, method="numeric")) for n in TABLE2}
    assert half["hinge"] == pytest.approx(0.5, abs=1e-12)
    assert half["sigmoid"] == pytest.approx(0.5, abs=1e-12)
    assert half["exponential"] == pytest.approx(1 - math.sqrt(3) / 2, abs=1e-12)
    assert half["logistic"] == pytest.approx(0.75 * math.log2(1.5) - 0.25, abs=1e-12)


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_H_and_H_minus_of_table2_losses(name):
    eta = np.linspace(0.5, 1, 11)
    # Closed forms of H (Bartlett et al. 2006, Table 1); H⁻ = φ(0) = 1 for all four.
    expected_h = {
        "hinge": 2 * np.minimum(eta, 1 - eta),
        "sigmoid": 1 - np.abs(2 * eta - 1),
        "exponential": 2 * np.sqrt(eta * (1 - eta)),
        "logistic": -(eta * np.log2(eta) + (1 - eta) * np.log2(np.where(eta < 1, 1 - eta, 1.0))),
    }[name]
    assert np.allclose(cal.H(name, eta), expected_h, atol=1e-12, rtol=0)
    assert np.allclose(cal.H_minus(name, eta), 1.0, atol=1e-12, rtol=0)
    # symmetry H(η) = H(1 − η)
    assert np.allclose(cal.H(name, 1 - eta), expected_h, atol=1e-12, rtol=0)


def test_conditional_risk_and_limits():
    assert cal.phi_limits(cal.exponential) == (math.inf, 0.0)
    assert cal.phi_limits(cal.hinge) == (math.inf, 0.0)
    assert cal.phi_limits(cal.sigmoid) == (2.0, 0.0)
    # 0·inf = 0 at η = 1, α = +inf: C_1(+inf) = φ(+inf) = 0
    assert float(cal.conditional_risk("exponential", 1.0, math.inf)) == 0.0
    assert float(cal.conditional_risk("exponential", 0.3, 0.0)) == 1.0
    c = cal.conditional_risk("hinge", np.array([0.2, 0.7]), np.array([[0.5], [-2.0]]))
    assert np.allclose(c, [[0.2 * 0.5 + 0.8 * 1.5, 0.7 * 0.5 + 0.3 * 1.5], [0.2 * 3, 0.7 * 3]])


@pytest.mark.parametrize("name", sorted(TABLE2))
def test_psi_inverse_is_the_inverse(name):
    theta = np.linspace(0.02, 1, 50)
    v = TABLE2[name](theta)
    for method in ("auto", "numeric"):
        # documented: error of psi divided by psi' (>= 0.02 here), i.e. ~1e-13 at worst
        assert np.allclose(cal.psi_inverse(name, v, method=method), theta, atol=1e-12, rtol=0)
    assert float(cal.psi_inverse(name, 0.0)) == pytest.approx(0.0, abs=1e-7)
    big = float(TABLE2[name](np.float64(1.0))) + 0.5
    assert float(cal.psi_inverse(name, big, saturate=True)) == 1.0


def test_calibration_verdicts():
    for loss in cal.LOSSES.values():
        assert cal.is_calibrated(loss)
    assert not cal.is_calibrated(lambda a: np.maximum(0.0, -a))  # perceptron
    assert not cal.is_calibrated(cal.perceptron)
    assert not cal.is_calibrated(lambda a: np.ones_like(a))  # constant loss
    # the 0-1 loss 1{α ≤ 0}: H = min(η, 1−η), H⁻ = max(η, 1−η), so ψ(θ) = θ
    zero_one = cal.MarginLoss("zero_one", lambda a: np.where(a > 0, 0.0, 1.0))
    assert cal.is_calibrated(zero_one)
    assert np.allclose(cal.psi(zero_one, np.linspace(0, 1, 21)), np.linspace(0, 1, 21))
    assert cal.is_calibrated(cal.kinked)
    assert cal.is_calibrated(cal.dip)
    rep = cal.calibration_report(cal.perceptron)
    assert rep.min_psi_tilde == 0.0


def test_dip_loss_psi_is_linear():
    theta = np.linspace(0, 1, 41)
    assert np.allclose(cal.psi(cal.dip, theta), 0.9 * theta, atol=1e-12)
    assert float(cal.dip(np.array(-1.5))) == 0.9
    assert float(cal.dip(np.array(0.0))) == 1.0


# --- random losses ------------------------------------------------------------------------------
def _convex_loss(a, b, c, d, e):
    """a·e^{−bα} + c·log(1 + e^{−dα}) + e·max(0, 1 − α)²: convex, φ'(0) < 0 ⇒ calibrated
    (Bartlett et al. 2006, Thm 6), and then ψ(θ) = φ(0) − H((1+θ)/2)."""

    def phi(x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore"):
            return (
                a * np.exp(-b * x)
                + c * np.logaddexp(0.0, -d * x)
                + e * np.maximum(0.0, 1.0 - x) ** 2
            )

    return cal.MarginLoss(f"convex_{a:.3g}_{b:.3g}_{c:.3g}_{d:.3g}_{e:.3g}", phi)


weights = st.floats(0.05, 2.0)
rates = st.floats(0.3, 3.0)


def _properties(loss, theta):
    psi = cal.psi(loss, theta)
    tilde = cal.psi_tilde(loss, theta)
    assert psi[0] == 0.0
    assert np.all(np.diff(psi) >= -1e-12)  # non-decreasing
    assert np.all(np.diff(psi, 2) >= -1e-10)  # convex (equally spaced θ)
    assert np.all(psi <= tilde + 1e-12)
    return psi, tilde


@pytest.mark.parametrize("loss", [*cal.LOSSES.values(), cal.kinked, cal.dip])
def test_lemma_2_1_properties_of_named_losses(loss):
    _properties(loss, np.linspace(0, 1, 257))


@given(a=weights, b=rates, c=weights, d=rates, e=weights)
@settings(max_examples=8)
def test_random_convex_calibrated_losses(a, b, c, d, e):
    loss = _convex_loss(a, b, c, d, e)
    theta = np.linspace(0, 1, 201)
    _properties(loss, theta)
    assert cal.is_calibrated(loss)
    # Independent: ψ(θ) = φ(0) − H((1+θ)/2), H by Brent on the convex, coercive C_η.
    phi0 = float(loss(0.0))
    for t in (0.1, 0.37, 0.8, 0.95):
        eta = (1 + t) / 2

        def c_eta(x, eta=eta):
            return float(eta * loss(x) + (1 - eta) * loss(-x))

        h = optimize.minimize_scalar(c_eta, bracket=(-1.0, 1.0), tol=1e-12).fun
        assert float(cal.psi(loss, t)) == pytest.approx(phi0 - h, abs=1e-8)
    # ψ⁻¹ inverts ψ
    ts = np.array([0.1, 0.5, 0.9, 1.0])
    assert np.allclose(cal.psi_inverse(loss, cal.psi(loss, ts)), ts, atol=1e-7)


@given(w1=weights, s=rates, w2=weights, b=rates)
@settings(max_examples=6)
def test_random_nonconvex_calibrated_losses(w1, s, w2, b):
    """w1·(1 − tanh(sα)) + w2·e^{−bα}: not convex, calibrated (on α ≤ 0, η > 1/2 each
    part of C_η is minimised at α = 0 and C_η'(0) < 0)."""

    def phi(x):
        x = np.asarray(x, dtype=np.float64)
        with np.errstate(over="ignore"):
            return w1 * 2.0 / (1.0 + np.exp(np.minimum(2 * s * x, 700))) + w2 * np.exp(-b * x)

    loss = cal.MarginLoss("mix", phi)
    theta = np.linspace(0, 1, 201)
    psi, tilde = _properties(loss, theta)
    assert cal.is_calibrated(loss)
    # H⁻ = φ(0) here, so ψ̃ = φ(0) − H is convex and ψ = ψ̃
    assert np.allclose(psi, tilde, atol=1e-10)
    v = psi[[20, 100, 200]]
    assert np.allclose(cal.psi(loss, cal.psi_inverse(loss, v)), v, atol=1e-12)


def _kinked_family(k):
    def phi(x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0, np.exp(-np.maximum(x, 0.0)), 1.0 - k * x)

    return cal.MarginLoss(f"kinked_{k:.4g}", phi)


def _kinked_tilde(k, theta):
    """ψ̃ for φ = e^{−α} (α ≥ 0), 1 − kα (α < 0), derived by hand: on α ≥ 0 the minimiser
    is log(η/(k(1−η))) (≥ 0 when η ≥ k/(1+k)), giving g(η) = (1−η)(1 + k + k log(η/(k(1−η))));
    H⁻(η) = g(1 − η) if 1 − η ≥ k/(1+k) else φ(0) = 1; H = min(g(η), H⁻(η))."""
    eta = 0.5 * (1 + theta)

    def g(e):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(e < 1, (1 - e) * (1 + k + k * np.log(e / (k * (1 - e)))), 0.0)

    h_minus = np.where(1 - eta >= k / (1 + k), g(1 - eta), 1.0)
    return h_minus - np.minimum(g(eta), h_minus)


@given(k=st.floats(0.3, 1.0))
@settings(max_examples=6)
def test_nonconvex_psi_tilde_and_envelope(k):
    loss = _kinked_family(k)
    theta = np.linspace(0, 0.999, 200)
    assert np.allclose(cal.psi_tilde(loss, theta), _kinked_tilde(k, theta), atol=1e-10)
    _properties(loss, np.linspace(0, 1, 201))
    # the envelope against Qhull on the closed form
    fine = np.linspace(0, 1, 20001)
    vals = _kinked_tilde(k, fine)
    hull = ConvexHull(np.column_stack([fine, vals]))
    lower = np.unique(hull.simplices[hull.equations[:, 1] < 0])
    query = np.linspace(0, 1, 101)
    j = np.clip(np.searchsorted(fine[lower], query, side="right") - 1, 0, lower.size - 2)
    i0, i1 = lower[j], lower[j + 1]
    chord = vals[i0] + (vals[i1] - vals[i0]) * (query - fine[i0]) / (fine[i1] - fine[i0])
    env = np.where(i1 - i0 > 1, chord, _kinked_tilde(k, query))
    assert np.max(np.abs(cal.psi(loss, query) - env)) <= 1e-8


def test_kinked_psi_is_strictly_below_psi_tilde_somewhere():
    theta = np.linspace(0, 1, 101)
    gap = cal.psi_tilde(cal.kinked, theta) - cal.psi(cal.kinked, theta)
    assert gap.max() > 1e-3  # ψ̃ is not convex: ψ̃** < ψ̃ on part of (0, 0.42)
    assert np.all(gap >= -1e-12)


def test_scalar_only_callable_is_accepted():
    def phi(x):
        return math.exp(-x) if x > -700 else math.inf

    loss = cal.MarginLoss("scalar_exp", phi)
    assert float(cal.psi(loss, 0.5)) == pytest.approx(1 - math.sqrt(0.75), abs=1e-9)


# --- bad inputs ---------------------------------------------------------------------------------
def test_bad_inputs_raise_naming_the_parameter():
    with pytest.raises(ValueError, match="theta"):
        cal.psi("hinge", 1.5)
    with pytest.raises(ValueError, match="theta"):
        cal.psi("hinge", np.array([0.2, -0.1]))
    with pytest.raises(ValueError, match="theta"):
        cal.psi("hinge", float("nan"))
    with pytest.raises(ValueError, match="value"):
        cal.psi_inverse("hinge", -0.1)
    with pytest.raises(ValueError, match="value"):
        cal.psi_inverse("exponential", 1.5)
    with pytest.raises(ValueError, match="method"):
        cal.psi("hinge", 0.5, method="exact")
    with pytest.raises(ValueError, match="closed"):
        cal.psi(cal.kinked, 0.5, method="closed")
    with pytest.raises(ValueError, match="loss"):
        cal.get_loss("square")
    with pytest.raises(ValueError, match="eta"):
        cal.H("hinge", 1.2)
    with pytest.raises(ValueError, match="eta"):
        cal.conditional_risk("hinge", -0.1, 0.0)
    with pytest.raises(TypeError, match="name"):
        cal.MarginLoss("", np.exp)
    with pytest.raises(TypeError, match="phi"):
        cal.MarginLoss("x", 3.0)
    with pytest.raises(TypeError, match="loss"):
        cal.psi(3.0, 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        cal.psi(lambda a: -np.abs(a), 0.5)
    with pytest.raises(ValueError, match="no limit"):
        cal.psi(lambda a: 1.0 + np.sin(a), 0.5)
    with pytest.raises(ValueError, match="theta_min"):
        cal.calibration_report("hinge", theta_min=0.0)
    # non-bool flags and non-string choices used to be truth-tested (NaN saturated)
    with pytest.raises(TypeError, match="saturate"):
        cal.psi_inverse("hinge", 0.3, saturate=float("nan"))
    with pytest.raises(TypeError, match="method"):
        cal.psi("hinge", 0.3, method=np.array(["auto", "closed"]))
    with pytest.raises(TypeError, match="loss"):
        cal.get_loss(np.array(["hinge", "logistic"]))
    with pytest.raises(TypeError, match="loss"):
        cal.phi_limits([0.1])
    # what a user's phi returns: complex values were cast (imaginary part dropped), a
    # wrong-length array was broadcast or raised IndexError
    with pytest.raises(TypeError, match="phi must return real"):
        cal.psi(lambda a: np.exp(-a) + 0j, 0.5)
    with pytest.raises(TypeError, match="phi must return real"):
        cal.psi(lambda a: "x", 0.5)
    with pytest.raises(ValueError, match="phi must return one value per alpha"):
        cal.psi(lambda a: np.exp(-a)[:1], 0.5)
    # a scalar-only phi is still accepted (vectorised here), e.g. math.exp
    scalar = cal.MarginLoss("exp_scalar", lambda a: math.exp(-a) if a > -700 else math.inf)
    assert float(cal.psi(scalar, 0.5)) == pytest.approx(1 - math.sqrt(0.75), abs=1e-12)
