"""The distributional hinge-SVM on model (3), standard and adversarial, solved exactly.

Tsipras et al., Section 2.2 (Theorem 2.2) and Appendix C (problem (5), Lemmas C.1–C.5).
The adversarial problem (Lemma C.5) is

    min_w  E[max(0, 1 - y w.x + eps ||w||_1)] + (lam/2) ||w||_2^2            (eps >= 0)

(``eps = 0``: problem (5)); ``eps`` is an l-inf radius in feature units and the inner
maximisation over ``||delta||_inf <= eps`` is solved in closed form (``-eps y sign(w)``),
so x1 is attacked too. ``lam = None`` is the paper's normalisation ``||w||_2 = 1``, read
as: minimise the expected hinge on the unit sphere.

Reduction (Lemma C.1). The objective is convex and invariant under permutations of
x2..x_{d+1}, and the penalty is strictly convex, so the optimum has equal weights
``v/sqrt(d)`` there: ``w.x = w1 x1 + v z`` with ``z = sum_{i>=2} x_i / sqrt(d)``,
``y z ~ N(mu, 1)``, ``mu = eta sqrt(d)``, ``||w||_2^2 = w1^2 + v^2`` and
``||w||_1 = |w1| + sqrt(d) |v|``. x1 and z are independent given y. With ``s = y x1`` and
``L_s = 1 - w1 s + eps (|w1| + sqrt(d)|v|) - v mu`` the expected hinge is the closed form

    H(w1, v) = sum_s P(s) |v| g(L_s / |v|),     g(t) = t Phi(t) + phi(t)

(``g(t) = E max(0, t - N(0, 1))``; ``max(0, L_s)`` when ``v = 0``). For the unit-sphere
problem the reduction is exact whenever the sphere optimum is also the optimum of the
penalised problem for some ``lam > 0`` (reported as ``lam_equivalent``); the tests also
optimise the full (d+1)-dimensional objective (:func:`objective`) for small d.

What the exact solution shows (``tradeoff verify --only 'tsipras.*'``):

* Standard training (Lemmas C.2–C.4): depends on ``eta, d`` only through ``mu``; at
  ``mu = 4``, p = 0.7 the unit-norm optimum is ``(w1, v) = (0.10549, 0.99442)``, standard
  accuracy 0.99997 and accuracy 3.9e-5 at ``eps = 2 eta`` (d = 10^4).
* Lemma C.5: the exact threshold is ``eta`` (unit norm, ``eta <= 2p - 1``), not ``2 eta``;
  with a penalty it is ``eta`` or lower (:func:`nonrobust_threshold`).

Error: the hinge is a closed form in ``ndtr`` (relative error ~1e-15); the optima come
from root finding on the analytic derivatives (``brentq``, ``rtol=1e-15``), so ``(w1, v)``
is exact to a few ulps where the objective is strongly curved and to ~1e-8 in flat
valleys (e.g. on the threshold). Inputs that float64 cannot resolve are refused:
``lam > 1e200``, ``eps > 1e100``, ``eta sqrt(d)`` outside ``[1e-100, 1e8]`` and a
unit-norm optimum whose hinge underflows (``eta sqrt(d)`` above ~35 at ``eps = 0``).
Every public function checks its arguments and its result
(:func:`tradeoff._validate.finite_output`): never NaN; ``NonrobustThreshold.value`` is
``inf`` exactly when the threshold is never reached (regime ``"never"``).

* "70 % / 70 % for any eps < 1" holds for the unit-norm problem. With a fixed penalty
  ``lam > 0`` the optimum has ``w1* = 0`` exactly when ``eps >= 2p - 1`` and is ``w = 0``
  (accuracy 0, sign(0) being an error) when ``eps >= max(2p - 1, eta)``; there the
  unconstrained optimum lies inside the unit ball, so no ``lam`` gives ``||w*|| = 1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from tradeoff._validate import check_array, check_real, finite_output
from tradeoff.gaussian import GaussianModel

__all__ = [
    "NonrobustThreshold",
    "SVMOptimum",
    "expected_hinge",
    "nonrobust_threshold",
    "objective",
    "reduced_hinge",
    "reduced_objective",
    "svm_optimum",
]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GRID = 2048  # cells of the global grid on the quarter circle (unit-norm problem)


def _phi(t: np.ndarray | float) -> np.ndarray:
    # |t| beyond 1e150 would overflow the square; the density there is exactly 0 anyway.
    t = np.minimum(np.abs(t), 1e150)
    return np.exp(-0.5 * np.square(t)) / _SQRT_2PI


def _g(t: np.ndarray | float) -> np.ndarray:
    """``E max(0, t - N(0,1)) = t Phi(t) + phi(t)``."""
    return t * ndtr(t) + _phi(t)


def _check_model(model: object) -> GaussianModel:
    if not isinstance(model, GaussianModel):
        raise TypeError(f"model must be a GaussianModel, got {type(model).__name__}")
    return model


#: the penalised optimum scales like 1/lam; beyond this it reaches the subnormal range
_LAM_MAX = 1e200
#: beyond this eta*sqrt(d) the penalised solver's root brackets lose float64 resolution
_MU_MAX_PENALIZED = 1e8
#: an optimal unit-norm hinge below this has underflowed: its minimiser is not determined
_HINGE_MIN = 1e-290
#: largest training radius the solvers accept (feature units: eps >= 1 already lets the
#: adversary flip x1; beyond ~1e150 the optimality margins sqrt(d)·eps overflow float64)
_EPS_MAX = 1e100


#: below this eta*sqrt(d) the optimal weight on z (of order eta*sqrt(d)) reaches the
#: subnormal range, where the root brackets and the angle search cannot resolve it
_MU_MIN = 1e-100


def _check_mu_small(model: GaussianModel) -> None:
    if not model.mu >= _MU_MIN:
        raise ValueError(
            f"model must have eta*sqrt(d) >= {_MU_MIN:g} for the SVM solvers (the optimal "
            f"weight on x2.. would be subnormal), got {model.mu:g} (eta={model.eta!r}, "
            f"d={model.d})"
        )


def _check_lam(lam: object) -> float | None:
    if lam is None:
        return None
    return check_real("lam", lam, low=0.0, high=_LAM_MAX, low_open=True)


def _finite(value: float, what: str) -> float:
    """``value`` if finite; else a ValueError naming the arguments that overflowed."""
    if not math.isfinite(value):
        raise ValueError(f"the expected hinge overflows float64 at {what}; use smaller weights")
    return value


# --- exact objectives ------------------------------------------------------------------------


def _reduced_hinge(
    model: GaussianModel, w1: np.ndarray | float, v: np.ndarray | float, eps: float
) -> np.ndarray:
    """Vectorised closed form of the expected adversarial hinge in (w1, v)."""
    w1 = np.asarray(w1, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    sd = math.sqrt(model.d)
    sigma = np.abs(v)
    safe = np.where(sigma > 0, sigma, 1.0)
    base = 1.0 + eps * (np.abs(w1) + sd * sigma) - v * model.mu
    total = np.zeros(np.broadcast(w1, v).shape)
    for s, ps in ((1.0, model.p), (-1.0, 1.0 - model.p)):
        lin = base - w1 * s
        total = total + ps * np.where(sigma > 0, safe * _g(lin / safe), np.maximum(lin, 0.0))
    return total


@finite_output()
def reduced_hinge(model: GaussianModel, w1: float, v: float, *, eps: float = 0.0) -> float:
    """Exact ``E[max(0, 1 - y w.x + eps ||w||_1)]`` at ``w = (w1, v/sqrt(d), ..., v/sqrt(d))``.

    Closed form of Appendix C's reduced problem (see the module docstring); ``eps`` is
    the l-inf radius in feature units (every coordinate, x1 included, is attacked).
    """
    model = _check_model(model)
    w1 = check_real("w1", w1)
    v = check_real("v", v)
    eps = check_real("eps", eps, low=0.0)
    with np.errstate(over="ignore", invalid="ignore"):  # reported by _finite
        h = float(_reduced_hinge(model, w1, v, eps))
    return _finite(h, f"model={model!r}, w1={w1!r}, v={v!r}, eps={eps!r}")


@finite_output()
def reduced_objective(
    model: GaussianModel, w1: float, v: float, *, eps: float = 0.0, lam: float | None = None
) -> float:
    """:func:`reduced_hinge` plus ``lam/2 (w1^2 + v^2)`` (just the hinge when ``lam`` is None)."""
    lam = _check_lam(lam)
    h = reduced_hinge(model, w1, v, eps=eps)
    return h if lam is None else h + 0.5 * lam * (w1 * w1 + v * v)


@finite_output()
def expected_hinge(model: GaussianModel, w: object, *, eps: float = 0.0) -> float:
    """Exact ``E[max(0, 1 - y w.x + eps ||w||_1)]`` for any ``w`` of shape ``(d + 1,)``.

    ``y w.x = w1 s + G`` with ``G ~ N(eta sum(w_2:), ||w_2:||^2)`` independent of
    ``s = y x1``, so the expectation is ``sum_s P(s) sigma g((1 - w1 s + eps||w||_1 - m)/sigma)``.
    This is the full (d+1)-dimensional objective behind Lemma C.1; ``eps`` is the l-inf
    radius in feature units.
    """
    model = _check_model(model)
    w = check_array("w", w, shape=(model.dim,))
    eps = check_real("eps", eps, low=0.0)
    u = w[1:]
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by _finite
        sigma = float(np.linalg.norm(u))
        m = model.eta * float(u.sum())
        l1 = float(np.abs(w).sum())
        total = 0.0
        for s, ps in ((1.0, model.p), (-1.0, 1.0 - model.p)):
            lin = 1.0 - w[0] * s + eps * l1 - m
            total += ps * (sigma * float(_g(lin / sigma)) if sigma > 0 else max(lin, 0.0))
    return _finite(
        total, f"model={model!r}, w with max |w_i| = {float(np.max(np.abs(w))):g}, eps={eps!r}"
    )


@finite_output()
def objective(
    model: GaussianModel, w: object, *, eps: float = 0.0, lam: float | None = None
) -> float:
    """:func:`expected_hinge` plus ``lam/2 ||w||^2`` (just the hinge when ``lam`` is None)."""
    lam = _check_lam(lam)
    h = expected_hinge(model, w, eps=eps)
    if lam is None:
        return h
    w = np.asarray(w, dtype=np.float64)
    return h + 0.5 * lam * float(w @ w)


def _grad(model: GaussianModel, w1: float, v: float, eps: float) -> np.ndarray:
    """Gradient of the reduced hinge at ``w1 >= 0`` (right derivative at 0), ``v > 0``.

    ``d/dL [v g(L/v)] = Phi(t)`` and ``d/dv [v g(L/v)]`` at fixed ``L`` is ``phi(t)``,
    ``t = L/v``, with ``dL/dw1 = eps - s`` and ``dL/dv = eps sqrt(d) - mu``.
    """
    sd = math.sqrt(model.d)
    grad = np.zeros(2)
    for s, ps in ((1.0, model.p), (-1.0, 1.0 - model.p)):
        lin = 1.0 - w1 * s + eps * (w1 + sd * v) - v * model.mu
        t = lin / v
        grad += ps * (
            float(ndtr(t)) * np.array([eps - s, eps * sd - model.mu])
            + np.array([0.0, float(_phi(t))])
        )
    return grad


# --- optimality at v = 0 ---------------------------------------------------------------------


def _penalized_w1(model: GaussianModel, eps: float, lam: float) -> float:
    """Optimal ``w1`` of the penalised problem restricted to ``v = 0`` (closed form).

    ``F(w1, 0) = p max(0, 1 - (1-eps) w1) + (1-p)(1 + (1+eps) w1) + lam w1^2/2`` for
    ``w1 >= 0``; its slope below the kink ``1/(1-eps)`` is ``eps - (2p-1) + lam w1``.
    """
    r = 2.0 * model.p - 1.0
    if eps >= r:
        return 0.0
    return min((r - eps) / lam, 1.0 / (1.0 - eps))


def _kink_active(model: GaussianModel, eps: float, lam: float) -> bool:
    """Whether the v = 0 optimum sits on the hinge kink ``w1 = 1/(1-eps)``."""
    r = 2.0 * model.p - 1.0
    return eps < r and lam <= (r - eps) * (1.0 - eps)


def _psi(model: GaussianModel, eps: np.ndarray | float, lam: float) -> np.ndarray:
    """Optimality margin in v at ``(w1*, 0)`` of the penalised problem (>= 0 iff v* = 0).

    The minimum over ``a`` of the directional derivative of ``F`` at ``(w1*, 0)`` in the
    direction ``(a, 1)``. Off the kink every hinge is active, z is independent of x1, and
    the margin is ``sqrt(d) (eps - eta)``. On the kink (``w1* = 1/(1-eps)``, the examples
    with ``y x1 = +1`` sit exactly on margin 1) it is
    ``sqrt(d)(eps - eta)(1 - p + p Phi(t*)) + p phi(t*)`` with
    ``Phi(t*) = ((1-p)(1+eps) + lam/(1-eps)) / (p (1-eps))``: moving v off 0 pushes only
    part of those examples into the hinge, so v = 0 stays optimal somewhat below eta.
    """
    eps = np.asarray(eps, dtype=np.float64)
    sd = math.sqrt(model.d)
    p, q, r = model.p, 1.0 - model.p, 2.0 * model.p - 1.0
    base = sd * (eps - model.eta)
    kink = (eps < r) & (lam <= (r - eps) * (1.0 - eps))
    one_minus = np.where(kink, 1.0 - eps, 1.0)
    u = np.where(kink, (q * (1.0 + eps) + lam / one_minus) / (p * one_minus), 0.5)
    u = np.minimum(u, 1.0)  # u <= 1 on the kink by construction; guards rounding only
    t = ndtri(u)
    dens = np.where(np.isfinite(t), _phi(np.where(np.isfinite(t), t, 0.0)), 0.0)
    return np.where(kink, base * (q + p * u) + p * dens, base)


def _kink_lambda(model: GaussianModel) -> float | None:
    """A ``lam`` whose penalised standard (eps = 0) optimum is ``w = (1, 0)``, or None.

    At eps = 0, ``w1 = 1`` is the kink for every ``lam <= 2p - 1``; ``(1, 0)`` is then
    optimal iff the kink margin :func:`_psi` is >= 0. Returns the ``lam`` on a fine grid
    of ``(0, 2p - 1]`` that maximises the margin, if that margin is >= 0.
    """
    r = 2.0 * model.p - 1.0
    lams = r * np.linspace(1e-6, 1.0, 4001)
    margins = np.array([float(_psi(model, 0.0, lam)) for lam in lams])
    k = int(np.argmax(margins))
    return float(lams[k]) if margins[k] >= 0 else None


def _unit_d_plus(model: GaussianModel, eps: float) -> float:
    """One-sided derivative in theta at theta = 0 on the unit circle (w = (1, 0)).

    At ``w1 = 1`` the margins are ``eps`` (``y x1 = +1``) and ``2 + eps``; where both are
    active it is ``sqrt(d)(eps - eta)``, because z is independent of x1.
    """
    sd = math.sqrt(model.d)
    slope = eps * sd - model.mu
    plus = slope if eps > 0 else float(_g(slope))
    return model.p * plus + (1.0 - model.p) * slope


# --- solvers -----------------------------------------------------------------------------


def _partials(
    model: GaussianModel, w1: float, v: float, eps: float, lam: float
) -> tuple[float, float]:
    """``(dF/dw1, dF/dv)`` of the penalised objective at ``w1 >= 0`` (right derivative at
    0), ``v > 0``."""
    grad = _grad(model, w1, v, eps)
    return float(grad[0]) + lam * w1, float(grad[1]) + lam * v


def _inner_w1(model: GaussianModel, v: float, eps: float, lam: float) -> float:
    """``argmin_{w1 >= 0} F(w1, v)`` for fixed ``v > 0`` (smooth, strictly convex in w1)."""
    from scipy.optimize import brentq

    if _partials(model, 0.0, v, eps, lam)[0] >= 0.0:
        return 0.0
    hi = 1.0
    while _partials(model, hi, v, eps, lam)[0] < 0.0:
        hi *= 2.0
    return brentq(
        lambda a: _partials(model, a, v, eps, lam)[0],
        0.0,
        hi,
        xtol=1e-300,
        rtol=1e-15,
        maxiter=2000,
    )


def _solve_penalized(model: GaussianModel, eps: float, lam: float) -> tuple[float, float]:
    """Exact optimum of the penalised problem.

    The candidate ``v = 0`` is accepted by its exact optimality condition (:func:`_psi`).
    Otherwise ``v* > 0`` and, F being jointly convex, ``F*(v) = min_{w1 >= 0} F(w1, v)`` is
    convex with derivative ``dF/dv`` at the inner minimiser (envelope theorem): nested
    root finding on analytic derivatives gives ``(w1*, v*)`` to machine precision.
    """
    from scipy.optimize import brentq

    w1c = _penalized_w1(model, eps, lam)
    if float(_psi(model, eps, lam)) >= 0.0:
        return w1c, 0.0

    def envelope(v: float) -> float:
        return _partials(model, _inner_w1(model, v, eps, lam), v, eps, lam)[1]

    lo, hi = 0.0, 1.0
    while envelope(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
    if lo == 0.0:
        lo = hi
        while envelope(lo) >= 0.0 and lo > 1e-300:
            lo *= 0.5
    v = brentq(envelope, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=2000)
    return _inner_w1(model, v, eps, lam), v


def _unit_h(model: GaussianModel, theta: np.ndarray | float, eps: float) -> np.ndarray:
    return _reduced_hinge(model, np.cos(theta), np.sin(theta), eps)


def _unit_dh(model: GaussianModel, theta: float, eps: float) -> float:
    """d/dtheta of the hinge on the circle, ``0 < theta <= pi/2`` (left derivative at pi/2)."""
    c, s = math.cos(theta), math.sin(theta)
    grad = _grad(model, max(c, 0.0), s, eps)
    return float(grad @ np.array([-s, c]))


def _solve_unit(model: GaussianModel, eps: float) -> tuple[float, float]:
    """Global minimum of the hinge on the quarter circle ``w1, v >= 0`` (the other
    quadrants are never better: flipping a negative w1 or v to positive lowers the hinge).

    A grid of 2049 angles, Brent refinement of the best local minima, then the root of the
    analytic derivative to machine precision; theta = 0 is chosen exactly when its
    one-sided derivative is >= 0 and no refined interior point is lower.
    """
    from scipy.optimize import brentq, minimize_scalar

    half = 0.5 * math.pi
    grid = np.linspace(0.0, half, _GRID + 1)
    vals = _unit_h(model, grid, eps)
    h0 = float(vals[0])
    d_plus = _unit_d_plus(model, eps)
    cand = [
        k
        for k in range(1, _GRID + 1)
        if vals[k] <= vals[k - 1] and (k == _GRID or vals[k] <= vals[k + 1])
    ]
    cand = sorted(cand, key=lambda k: vals[k])[:3]
    if d_plus < 0 and 1 not in cand:
        cand.append(1)
    best_t, best_h = 0.0, math.inf
    for k in cand:
        lo, hi = grid[k - 1], grid[min(k + 1, _GRID)]
        lo = max(lo, 1e-300)
        res = minimize_scalar(
            lambda t: float(_unit_h(model, t, eps)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-13},
        )
        t = float(res.x)
        # Polish: the root of the analytic derivative near t.
        width = max(1e-9, 4 * (hi - lo) / _GRID)
        a, b = max(lo, t - width), min(hi, t + width)
        if a < b and _unit_dh(model, a, eps) < 0 < _unit_dh(model, b, eps):
            t = brentq(lambda x: _unit_dh(model, x, eps), a, b, xtol=1e-16, rtol=1e-15)
        elif hi == half and _unit_dh(model, half, eps) <= 0:
            t = half
        h = float(_unit_h(model, t, eps))
        if h < best_h:
            best_t, best_h = t, h
    # theta = 0 wins ties at rounding level: where the exact local condition holds and no
    # point is lower by more than 1e-15 (relative), v = 0 is the optimum up to rounding.
    if d_plus >= 0 and h0 <= best_h + 1e-15 * max(1.0, abs(h0)):
        return 1.0, 0.0
    return math.cos(best_t), math.sin(best_t)


# --- public API --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SVMOptimum:
    """Exact optimum of the (adversarial) distributional hinge-SVM on model (3).

    Attributes
    ----------
    model : GaussianModel
    lam : float or None
        Penalty weight; None for the unit-norm problem.
    eps : float
        Training l-inf radius (feature units).
    w1, v : float
        Weight on x1 and on ``z = sum_{i>=2} x_i/sqrt(d)`` (each x_i gets ``v/sqrt(d)``).
    hinge : float
        Expected adversarial hinge at the optimum.
    objective : float
        ``hinge`` (+ ``lam/2 (w1^2 + v^2)`` when penalised).
    multiplier : float
        Unit norm: the Lagrange multiplier of ``||w|| = 1``, minus the radial derivative of
        the hinge (from the left where the hinge has a kink); ``2p - 1 - eps`` at
        ``w = (1, 0)``. Penalised: ``lam``.
    lam_equivalent : float or None
        A ``lam > 0`` whose penalised optimum is this ``w`` (the paper's "tune lam such that
        ||w*||_2 = 1"), verified from the optimality conditions and (where v > 0) by
        solving the penalised problem again (agreement to 1e-9); None when there is none
        (e.g. ``multiplier <= 0``: the unconstrained optimum lies inside the ball) or when
        float64 cannot confirm it (``v*`` below ~1e-8 at ``0 < eps``, next to a kink).
        Penalised: ``lam``.
    v_margin : float
        When ``v = 0``: the optimality margin in v (>= 0; 0 means "just at the threshold").
        When ``v > 0``: 0.
    """

    model: GaussianModel
    lam: float | None
    eps: float
    w1: float
    v: float
    hinge: float
    objective: float
    multiplier: float
    lam_equivalent: float | None
    v_margin: float

    @property
    def w(self) -> np.ndarray:
        """The full weight vector ``(w1, v/sqrt(d), ..., v/sqrt(d))``, shape ``(d + 1,)``."""
        w = np.full(self.model.dim, self.v / math.sqrt(self.model.d))
        w[0] = self.w1
        return w

    @finite_output()
    def accuracy(self, eps: float = 0.0) -> float:
        """Exact accuracy of ``sign(w.x)`` against ``||delta||_inf <= eps`` (x1 attacked too).

        ``sum_s P(s) Phi((w1 s + v mu - eps(|w1| + sqrt(d)|v|)) / |v|)``; sign(0) is an error.
        """
        eps = check_real("eps", eps, low=0.0)
        m = self.model
        l1 = abs(self.w1) + math.sqrt(m.d) * abs(self.v)
        acc = 0.0
        for s, ps in ((1.0, m.p), (-1.0, 1.0 - m.p)):
            num = self.w1 * s + self.v * m.mu - eps * l1
            if self.v == 0.0:
                acc += ps * (num > 0)
            else:
                acc += ps * float(ndtr(num / abs(self.v)))
        return acc

    @property
    def standard_accuracy(self) -> float:
        """Exact accuracy without perturbation (``accuracy(0)``)."""
        return self.accuracy(0.0)

    @property
    def adversarial_accuracy(self) -> float:
        """Accuracy against the training radius ``eps``."""
        return self.accuracy(self.eps)


@finite_output()
def svm_optimum(model: GaussianModel, *, lam: float | None = None, eps: float = 0.0) -> SVMOptimum:
    """Exact minimiser of ``E[max(0, 1 - y w.x + eps ||w||_1)] + lam/2 ||w||^2``.

    Problem (5) of Tsipras et al. (``eps = 0``) and its adversarial variant (Lemma C.5),
    reduced by Lemma C.1 to ``(w1, v)``; see the module docstring.

    ``lam > 0`` (penalised, strongly convex): ``w1 >= 0``, ``v >= 0`` at the optimum;
    ``w1* = 0`` exactly when ``eps >= 2p - 1`` (at ``w1 = 0`` the set of examples inside
    the hinge does not depend on x1, so the slope in ``w1`` is ``eps - (2p - 1)`` times its
    probability, whatever ``v`` is). The candidate ``v = 0`` (``w1*`` in closed form) is
    accepted by its exact optimality condition; otherwise nested root finding on the
    analytic derivatives (inner ``w1``, outer ``v`` by the envelope theorem) converges to
    machine precision.

    ``lam = None`` (the paper's ``||w||_2 = 1``, i.e. minimise the hinge on the unit
    sphere): a global search over the angle ``theta`` of ``(w1, v) = (cos, sin) theta``
    refined to the root of the analytic derivative.

    Parameters
    ----------
    model : GaussianModel
    lam : float > 0 or None
    eps : float in [0, 1e100]
        Training l-inf radius in feature units; the adversary moves every coordinate.

    Checked: the arguments (finite; ``lam <= 1e200``, ``eps <= 1e100``,
    ``1e-100 <= eta*sqrt(d) <= 1e8``) and the result (``ValueError`` where the optimal hinge
    underflows, see the module docstring); never NaN or inf.
    """
    model = _check_model(model)
    lam = _check_lam(lam)
    eps = check_real("eps", eps, low=0.0, high=_EPS_MAX)
    _check_mu_small(model)
    r = 2.0 * model.p - 1.0
    if lam is None:
        too_large = (
            f"model has eta*sqrt(d) = {model.mu:g} (eta={model.eta!r}, d={model.d}), too large "
            f"for the unit-norm SVM at eps={eps!r}: the minimal expected hinge "
        )
        if not model.mu <= _MU_MAX_PENALIZED:  # inf too (eta = 1e308)
            raise ValueError(
                too_large + "underflows float64 (eta*sqrt(d) <= 35 is safe at eps = 0)"
            )
        w1, v = _solve_unit(model, eps)
        hinge = float(_reduced_hinge(model, w1, v, eps))
        if not hinge >= _HINGE_MIN:
            raise ValueError(
                too_large + f"({hinge:.3g}) underflows float64, so its minimiser is not "
                "determined (eta*sqrt(d) <= 35 is safe at eps = 0)"
            )
        if v == 0.0:
            mult = r - eps
            margin = _unit_d_plus(model, eps)
            # eps > 0: smooth in w1 at (1, 0), interior of the kink 1/(1-eps), so this is the
            # penalised optimum for lam = mult exactly when mult > 0 (its v-condition is the
            # sphere's, eps >= eta). eps = 0: w1 = 1 is the kink; search lam.
            lam_eq = (mult if mult > 0 else None) if eps > 0 else _kink_lambda(model)
        else:
            grad = _grad(model, max(w1, 0.0), v, eps)
            mult = -float(grad @ np.array([w1, v]))
            margin = 0.0
            # Smooth point, convex problem: KKT with lam = mult > 0 is global optimality.
            # Confirm it by solving the penalised problem: near a kink (eps -> 0+, v* ~ eps)
            # the hinge varies on a scale below the float resolution of w1 ~ 1, mult is
            # then not accurate, and that lam gives a different optimum (d = 1, eta =
            # 0.3125, p = 0.625, eps = 3e-14: v = 9.3e-6 instead of 5e-14).
            lam_eq = mult if mult > 0 else None
            if lam_eq is not None and lam_eq <= _LAM_MAX:
                pw1, pv = _solve_penalized(model, eps, lam_eq)
                if max(abs(pw1 - w1), abs(pv - v)) > 1e-9:
                    lam_eq = None
        return SVMOptimum(model, None, eps, w1, v, hinge, hinge, mult, lam_eq, margin)
    if not model.mu <= _MU_MAX_PENALIZED:
        raise ValueError(
            f"eta*sqrt(d) must be <= {_MU_MAX_PENALIZED:g} for the penalised SVM, got "
            f"{model.mu:g} (model={model!r})"
        )
    w1, v = _solve_penalized(model, eps, lam)
    hinge = float(_reduced_hinge(model, w1, v, eps))
    margin = float(_psi(model, eps, lam)) if v == 0.0 else 0.0
    if v == 0.0 and w1 == 0.0:
        margin = math.sqrt(model.d) * (eps - model.eta)
    return SVMOptimum(
        model, lam, eps, w1, v, hinge, hinge + 0.5 * lam * (w1 * w1 + v * v), lam, lam, margin
    )


# --- the threshold of Lemma C.5 ----------------------------------------------------------------


@dataclass(frozen=True)
class NonrobustThreshold:
    """The smallest training radius from which the SVM puts no weight on x2..x_{d+1}.

    Attributes
    ----------
    value : float
        ``inf{eps >= 0 : v*(eps') = 0 for every eps' >= eps}`` (``inf`` if never).
    paper_value : float
        Lemma C.5's sufficient radius ``2 eta``.
    regime : str
        ``"eta"`` (value = eta exactly), ``"kink"`` (penalised, below eta), ``"zero"``,
        ``"numerical"`` (unit norm with eta > 2p-1) or ``"never"``.
    below_gain : float
        Confirmation by the optimiser: how much lower the optimum's objective is than the
        best ``v = 0`` point at ``eps = value (1 - 1e-3)`` (> 0 means v* > 0 there; 0 when
        ``value`` is 0 or inf).
    v_below : float
        ``v*`` found by :func:`svm_optimum` at that radius.
    v_at : float or None
        ``v*`` found by :func:`svm_optimum` at ``eps = value`` (0 confirms; None if
        ``value`` is inf).
    """

    model: GaussianModel
    lam: float | None
    value: float
    paper_value: float
    regime: str
    below_gain: float
    v_below: float
    v_at: float | None


def _unit_threshold(model: GaussianModel) -> tuple[float, str]:
    r = 2.0 * model.p - 1.0
    # eta = 2p - 1 up to rounding (e.g. 4/sqrt(100) vs 2*0.7 - 1) belongs to the exact case.
    if model.eta <= r * (1.0 + 1e-12):
        return model.eta, "eta"
    if model.d == 1:
        return math.inf, "never"
    sd = math.sqrt(model.d)
    # For eps >= eps_b, Jensen's bound H >= 1 + w1 (eps - r) + v sqrt(d)(eps - eta) is
    # minimised on the quarter circle at (1, 0), where it is attained: v* = 0.
    eps_b = (sd * model.eta - r) / (sd - 1.0)
    grid = np.linspace(model.eta, eps_b, 17)
    zero = [_solve_unit(model, float(e))[1] == 0.0 for e in grid[:-1]]
    if all(zero):
        return model.eta, "eta"
    k = max(i for i, z in enumerate(zero) if not z)
    lo, hi = float(grid[k]), float(grid[k + 1])
    while hi - lo > 1e-13 * hi:
        mid = 0.5 * (lo + hi)
        if _solve_unit(model, mid)[1] == 0.0:
            hi = mid
        else:
            lo = mid
    return hi, "numerical"


def _penalized_threshold(model: GaussianModel, lam: float) -> tuple[float, str]:
    from scipy.optimize import brentq

    if not _kink_active(model, model.eta, lam):
        return model.eta, "eta"
    grid = np.linspace(0.0, model.eta, 257)
    vals = _psi(model, grid, lam)
    neg = np.flatnonzero(vals < 0)
    if neg.size == 0:
        return 0.0, "zero"
    k = int(neg[-1])
    root = brentq(
        lambda e: float(_psi(model, e, lam)),
        grid[k],
        grid[k + 1],
        xtol=1e-300,
        rtol=1e-15,
        maxiter=2000,
    )
    # The smallest float at which the condition holds (rounding may leave psi < 0 by ulps).
    while float(_psi(model, root, lam)) < 0.0:
        root = float(np.nextafter(root, math.inf))
    return float(root), "kink"


@finite_output(allow_inf=("result.value",))
def nonrobust_threshold(model: GaussianModel, *, lam: float | None = None) -> NonrobustThreshold:
    """Exact smallest training radius at which adversarial training drops x2..x_{d+1}.

    Lemma C.5 of Tsipras et al. states that ``eps >= 2 eta`` suffices. The exact threshold
    is smaller, because what matters is the *first-order* effect of putting weight on z,
    not whether the adversary can flip z's distribution:

    * At ``v = 0`` the one-sided derivative of the adversarial hinge in ``v`` is
      ``E[1{hinge active} (eps sqrt(d) - y z)]``. Since z is independent of x1 (given y)
      the active set does not depend on z, and this is ``sqrt(d) (eps - eta)`` times the
      active probability: weight on z stops paying as soon as the perturbed features are
      *uncorrelated* with y (``eps = eta``), not anti-correlated (``eps = 2 eta``). For
      ``eps >= eta`` the contribution ``-y v z + eps sqrt(d)|v|`` has non-negative mean
      and is independent of the rest, so by Jensen zeroing it never raises the hinge
      (this is the proof of Lemma C.5, whose stated mean ``2 eta - eps`` should read
      ``(eps - eta) |w_i|``).
    * Unit norm (``lam=None``): at ``w = (1, 0)`` every hinge is active (margins ``eps``
      and ``2 + eps``), so ``v* = 0`` iff ``eps >= eta``: the threshold is exactly
      ``eta`` whenever ``eta <= 2p - 1`` (the paper's regime). For ``eta > 2p - 1`` the
      robust and non-robust features trade places: the threshold is found numerically
      (above eta), and for ``d = 1`` it is infinite.
    * Penalised (``lam > 0``): ``w1*(v=0) = min((2p-1-eps)/lam, 1/(1-eps))``. Off the kink
      the threshold is ``eta``. If ``lam <= (2p-1-eta)(1-eta)`` the v = 0 optimum sits on
      the kink ``w1 = 1/(1-eps)`` where the ``y x1 = +1`` examples have margin exactly 1;
      moving v off 0 then pushes only part of them into the hinge (a first-order cost
      ``p E max(0, eps sqrt(d) - y z)``) and the threshold is the root below eta of the
      margin in :func:`_psi` (possibly 0).

    The result is confirmed by :func:`svm_optimum`: ``v* = 0`` at the threshold, and just
    below it the optimiser finds ``v* > 0`` with a strictly lower objective.
    """
    model = _check_model(model)
    lam = _check_lam(lam)
    _check_mu_small(model)
    if not model.mu <= _MU_MAX_PENALIZED:  # svm_optimum, which confirms it, refuses these
        raise ValueError(
            f"model must have eta*sqrt(d) <= {_MU_MAX_PENALIZED:g} for the threshold, got "
            f"{model.mu:g} (eta={model.eta!r}, d={model.d})"
        )
    value, regime = _unit_threshold(model) if lam is None else _penalized_threshold(model, lam)
    v_at = svm_optimum(model, lam=lam, eps=value).v if math.isfinite(value) else None
    gain, v_below = 0.0, 0.0
    if math.isfinite(value) and value > 0:
        below = value * (1.0 - 1e-3)
        opt = svm_optimum(model, lam=lam, eps=below)
        v_below = opt.v
        if lam is None:
            zero_obj = float(_reduced_hinge(model, 1.0, 0.0, below))
        else:
            w1c = _penalized_w1(model, below, lam)
            zero_obj = float(_reduced_hinge(model, w1c, 0.0, below)) + 0.5 * lam * w1c**2
        gain = zero_obj - opt.objective
    return NonrobustThreshold(model, lam, value, 2.0 * model.eta, regime, gain, v_below, v_at)
