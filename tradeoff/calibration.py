"""Classification-calibrated margin losses and their ψ-transforms (Zhang et al. 2019, §2.5).

For a margin loss φ: ℝ → [0, ∞) and η ∈ [0, 1] (Bartlett, Jordan & McAuliffe 2006, as used
by Zhang et al., Section 2.5):

* conditional φ-risk  C_η(α) = η φ(α) + (1 − η) φ(−α);
* H(η)  = inf_{α ∈ ℝ} C_η(α);
* H⁻(η) = inf_{α(2η − 1) ≤ 0} C_η(α)  (the score has the wrong sign, α = 0 included);
* ψ̃(θ) = H⁻((1 + θ)/2) − H((1 + θ)/2),  θ ∈ [0, 1];
* ψ = ψ̃**, the convex biconjugate of ψ̃ on [0, 1] (its lower convex envelope);
* Assumption 1 (classification calibration): H⁻(η) > H(η) for every η ≠ 1/2.

Table 2 of the paper lists ψ for four losses; :data:`LOSSES` holds them with their closed
forms. Any callable φ can be wrapped in a :class:`MarginLoss` and gets ψ, ψ⁻¹ and a
calibration verdict numerically. The vectorised functions return a numpy scalar for a
scalar argument and an array of the argument's shape otherwise.

How the numerics work (and their error)
---------------------------------------
*Infima over α.* α is reparametrised as α = tan(πu/2), u ∈ [−1, 1], so that u = ±1 are
the limits α → ±∞; φ(±∞) is taken as φ(±10³⁰⁰) after checking that φ(±10ᵏ) has settled
(k = 280…300; a limit of +∞ is allowed, an oscillating or negative φ is refused).
C_η is evaluated on a uniform grid of 1025 values of u (513 for the half-line of H⁻),
the best grid cell is then refined by 50 steps of vectorised golden-section search, and
the result is the smaller of the grid and refined values (so refinement never makes it
worse). For a loss whose C_η is unimodal near its minimum, the minimising α is located
to ~1e-8 relative and the value of H, H⁻ to ~1e-15 (the value error is quadratic in the
location error; for piecewise-linear C_η such as the hinge it is ≲ 1e-12). Measured
against Table 2's closed forms at 1025 grid and 3000 random values of θ ∈ [0, 1]:
max |ψ − ψ_Table 2| ≤ 2.5e-15 for all four losses (``tradeoff verify --only
trades.table2``; the tests require 1e-9). Features
of φ narrower than the u-grid spacing (2/1024, i.e. Δα ≈ 0.003 near α = 0) can be
missed.

*ψ = ψ̃**.* ψ̃ is computed on 1025 equally spaced θ; the lower convex hull of these
points is taken with a tolerance of 1e-11 (so numerical noise in ψ̃ does not create
spurious hull segments). Where the hull joins neighbouring grid points, ψ is convex
there and ψ(θ) = ψ̃(θ) is evaluated directly at the query θ. Where a hull segment skips
grid points (ψ̃ not convex), its two contact points are refined by alternating
golden-section searches for the supporting line and ψ is the chord between them; the
error there is the error of the contact points, O(h² max |ψ̃''|) with h = 1/1024 before
refinement and ≲ 1e-11 after it for smooth ψ̃.

*ψ⁻¹.* ψ is non-decreasing; ψ⁻¹(v) = sup{θ ∈ [0, 1] : ψ(θ) ≤ v} is found by bracketing on
the θ-grid and Illinois (regula falsi) steps to a bracket below 1e-14, or by
``scipy.optimize.brentq`` on a closed-form ψ when the loss has one. Its error is the error
of ψ divided by ψ'(θ): ~1e-13 where ψ' is of order 1, but near v = 0 for a loss with
ψ'(0) = 0 (exponential, logistic: ψ ≈ θ²/2 resp. θ²/(2 ln 2)) it is ~sqrt(2·1e-16) ≈ 1e-8.

Units: θ and ψ are dimensionless (θ = |2η − 1| is an excess-risk level).

Checks: arguments as everywhere (``ValueError`` / ``TypeError`` naming the parameter; a
loss's φ that returns NaN, negative, complex or wrongly shaped values is named by the
loss); results through :func:`tradeoff._validate.finite_output`: never NaN; ``+inf`` only
from :func:`phi_limits` (the limit of an unbounded φ) and :func:`conditional_risk` at
α = ±∞ (that limit); an H, ψ or C_η(α) at finite α that overflows float64 raises.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from scipy import optimize, special

from tradeoff._validate import check_array, check_choice, check_real, finite_output

__all__ = [
    "LOSSES",
    "CalibrationReport",
    "H",
    "H_minus",
    "MarginLoss",
    "calibration_report",
    "conditional_risk",
    "dip",
    "exponential",
    "get_loss",
    "hinge",
    "is_calibrated",
    "kinked",
    "logistic",
    "perceptron",
    "phi_limits",
    "psi",
    "psi_inverse",
    "psi_tilde",
    "sigmoid",
]

_LN2 = math.log(2.0)


# --- the loss type ------------------------------------------------------------------------
@dataclass(frozen=True)
class MarginLoss:
    """A margin loss φ(α) of the score-times-label α = f(x)·y.

    Parameters
    ----------
    name
        Short identifier (``"hinge"``).
    phi
        The loss, ℝ → [0, ∞). Called with a float64 numpy array; a callable that only
        accepts scalars is vectorised automatically. ±inf arguments never reach it.
    psi_closed
        Optional closed form of ψ on [0, 1] (Table 2), vectorised.
    psi_inverse_closed
        Optional closed form of ψ⁻¹ on [0, ψ(1)], vectorised.
    nonincreasing
        Whether φ is known to be non-increasing (true for the four losses of Table 2).
        Informational; nothing here relies on it.
    """

    name: str
    phi: Callable[[np.ndarray], np.ndarray]
    psi_closed: Callable[[np.ndarray], np.ndarray] | None = None
    psi_inverse_closed: Callable[[np.ndarray], np.ndarray] | None = None
    nonincreasing: bool = False
    formula: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"name must be a non-empty string, got {self.name!r}")
        if not callable(self.phi):
            raise TypeError(f"phi must be callable, got {self.phi!r}")
        for attr in ("psi_closed", "psi_inverse_closed"):
            value = getattr(self, attr)
            if value is not None and not callable(value):
                raise TypeError(f"{attr} must be callable or None, got {value!r}")

    def __call__(self, alpha: object) -> np.ndarray:
        """φ(α), vectorised, float64, for finite α (``alpha`` is checked like every array
        argument: real and finite). ``ValueError`` where φ is NaN, negative or not finite
        (a φ that overflows float64 there, e.g. ``exp(−α)`` at α = −1000)."""
        a = check_array("alpha", alpha)
        out = self._values(a)
        if not np.all(np.isfinite(out)):
            bad = a[~np.isfinite(out)].ravel()[:3]
            raise ValueError(
                f"loss {self.name!r}: phi is not finite at alpha = {bad.tolist()} (it overflows "
                "float64 there)"
            )
        return out

    def _values(self, alpha: object) -> np.ndarray:
        """φ(α) as float64, +inf kept (the numerics here take infima over grids where a
        steep φ may overflow); NaN and negative values raise."""
        return _call_phi(self.phi, np.asarray(alpha, dtype=np.float64), self.name)


def _as_real(value: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` (what φ returned) as float64 of ``shape``; a scalar is broadcast."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"loss {name!r}: phi must return real numbers, got {arr.dtype} values ({value!r:.60})"
        )
    arr = arr.astype(np.float64)
    if arr.shape != shape:
        if arr.shape != ():
            raise ValueError(
                f"loss {name!r}: phi must return one value per alpha (shape {shape}), got "
                f"shape {arr.shape}"
            )
        arr = np.broadcast_to(arr, shape).astype(np.float64)
    return arr


def _call_phi(phi: Callable, a: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        try:
            raw = phi(a)
        except (TypeError, ValueError):  # a callable that only accepts scalars
            flat = [_as_real(phi(float(t)), (), name) for t in a.ravel()]
            out = np.array(flat, dtype=np.float64).reshape(a.shape)
        else:
            out = _as_real(raw, a.shape, name)
    if np.any(np.isnan(out)):
        bad = a[np.isnan(out)].ravel()[:3]
        raise ValueError(
            f"loss {name!r}: phi returned NaN at alpha = {bad.tolist()}; phi must be real-valued"
        )
    if np.any(out < 0):
        bad = a[out < 0].ravel()[:3]
        raise ValueError(
            f"loss {name!r}: phi must be non-negative (a loss ℝ → [0, ∞)); phi < 0 at "
            f"alpha = {bad.tolist()}"
        )
    return out


def _as_loss(loss: object) -> MarginLoss:
    if isinstance(loss, MarginLoss):
        return loss
    if isinstance(loss, str):
        check_choice("loss", loss, sorted(LOSSES))
        return LOSSES[loss]
    if callable(loss):
        return MarginLoss(getattr(loss, "__name__", "custom"), loss)
    raise TypeError(
        f"loss must be a MarginLoss, a name in {sorted(LOSSES)} or a callable phi, got {loss!r}"
    )


# --- Table 2 --------------------------------------------------------------------------------
def _hinge(a: np.ndarray) -> np.ndarray:
    return np.maximum(1.0 - a, 0.0)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    # 1 − tanh(α) = 2·expit(−2α), without cancellation for large α.
    return 2.0 * special.expit(-2.0 * a)


def _exponential(a: np.ndarray) -> np.ndarray:
    return np.exp(-a)


def _logistic(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, -a) / _LN2


def _psi_identity(t: np.ndarray) -> np.ndarray:
    return np.asarray(t, dtype=np.float64).copy()


def _psi_exponential(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    # 1 − sqrt(1 − θ²) = θ² / (1 + sqrt(1 − θ²)), accurate for small θ.
    return t * t / (1.0 + np.sqrt((1.0 - t) * (1.0 + t)))


def _psi_inverse_exponential(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return np.sqrt(v * (2.0 - v))


def _psi_logistic(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    return 0.5 * (special.xlogy(1.0 - t, 1.0 - t) + special.xlogy(1.0 + t, 1.0 + t)) / _LN2


hinge = MarginLoss("hinge", _hinge, _psi_identity, _psi_identity, True, "max(1 − α, 0); ψ(θ) = θ")
sigmoid = MarginLoss(
    "sigmoid", _sigmoid, _psi_identity, _psi_identity, True, "1 − tanh(α); ψ(θ) = θ"
)
exponential = MarginLoss(
    "exponential",
    _exponential,
    _psi_exponential,
    _psi_inverse_exponential,
    True,
    "exp(−α); ψ(θ) = 1 − sqrt(1 − θ²)",
)
logistic = MarginLoss(
    "logistic",
    _logistic,
    _psi_logistic,
    None,
    True,
    "log2(1 + exp(−α)); ψ(θ) = ½(1−θ)log2(1−θ) + ½(1+θ)log2(1+θ)",
)

#: The four losses of Table 2 (Zhang et al. 2019), by name.
LOSSES: dict[str, MarginLoss] = {
    loss.name: loss for loss in (hinge, sigmoid, exponential, logistic)
}


# --- losses outside Table 2 that the checks use -----------------------------------------------
def _kinked(a: np.ndarray) -> np.ndarray:
    return np.where(a >= 0, np.exp(-np.maximum(a, 0.0)), 1.0 - 0.5 * a)


def _dip(a: np.ndarray) -> np.ndarray:
    inner = np.where(a > -1, 2.0, np.where(a >= -2, 0.9, 2.0))
    return np.where(a >= 1, 0.0, np.where(a >= 0, 1.0, inner))


def _perceptron(a: np.ndarray) -> np.ndarray:
    return np.maximum(-a, 0.0)


#: φ(α) = e^{−α} for α ≥ 0, 1 − α/2 for α < 0: calibrated, non-increasing, not convex
#: (a concave kink at 0), and its ψ̃ is not convex (ψ < ψ̃ on (0, 0.42)).
kinked = MarginLoss("kinked", _kinked, nonincreasing=True, formula="e^{−α} (α≥0), 1 − α/2 (α<0)")
#: A calibrated, non-negative loss with φ(0) = 1 and φ(α) → 0 as α → ∞ that dips below 1 on
#: α ∈ [−2, −1]: 0 (α ≥ 1), 1 ([0, 1)), 2 ((−1, 0)), 0.9 ([−2, −1]), 2 (α < −2). Its ψ(θ) =
#: 0.9θ. It meets every stated hypothesis of Theorem 3.1 and breaks the theorem's second
#: inequality for a discontinuous f (``trades.thm3_1.phi_condition``).
dip = MarginLoss("dip", _dip, formula="0 | 1 | 2 | 0.9 on [−2,−1] | 2")
#: The perceptron loss max(0, −α): H⁻ = H = 0, not classification-calibrated.
perceptron = MarginLoss("perceptron", _perceptron, nonincreasing=True, formula="max(0, −α)")


def get_loss(name: str) -> MarginLoss:
    """The Table 2 loss called ``name``."""
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of a loss (a string), got {name!r}")
    if name not in LOSSES:
        raise ValueError(
            f"name must be the name of a Table 2 loss, one of "
            f"{', '.join(map(repr, sorted(LOSSES)))}; got {name!r}"
        )
    return LOSSES[name]


# --- limits and the conditional risk --------------------------------------------------------
_LIMIT_EXPONENTS = np.arange(280, 301, dtype=np.float64)


@finite_output(allow_inf=("result[0]", "result[1]"))  # +inf: the limit of an unbounded phi
def phi_limits(loss: object) -> tuple[float, float]:
    """(φ(−∞), φ(+∞)) as limits; +inf where φ grows without bound.

    φ is evaluated at ±10ᵏ, k = 280…300. The limit is accepted when those values agree to
    1e-12 (relative) or all exceed 1e150 (then it is +inf). Otherwise ``ValueError``:
    the numerics of this module need φ to have limits at ±∞.
    """
    return _phi_limits(_as_loss(loss))


@functools.lru_cache(maxsize=256)
def _phi_limits(loss: MarginLoss) -> tuple[float, float]:
    out = []
    for sign in (-1.0, 1.0):
        vals = loss._values(sign * 10.0**_LIMIT_EXPONENTS)
        last = vals[-1]
        if np.all(vals > 1e150):
            out.append(math.inf)
        elif np.all(np.isfinite(vals)) and np.ptp(vals) <= 1e-12 * max(1.0, abs(last)):
            out.append(float(last))
        else:
            side = "+inf" if sign > 0 else "-inf"
            raise ValueError(
                f"phi of loss {loss.name!r} has no limit as alpha -> {side} "
                f"(phi(±1e280..1e300) spans [{vals.min():.6g}, {vals.max():.6g}]); "
                "the ψ-transform numerics need limits (possibly +inf) at ±inf"
            )
    return out[0], out[1]


def _weighted(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    """w·v with 0·inf = 0 (a zero-probability label contributes nothing)."""
    with np.errstate(invalid="ignore"):
        out = w * v
    return np.where(w == 0.0, 0.0, out)


def _c_at_u(loss: MarginLoss, eta: np.ndarray, u: np.ndarray) -> np.ndarray:
    """C_η(α(u)) with α(u) = tan(πu/2); u = ±1 use the limits φ(±∞)."""
    lo_lim, hi_lim = phi_limits(loss)
    inner = np.abs(u) < 1.0
    alpha = np.tan(0.5 * np.pi * np.where(inner, u, 0.0))
    phi_a = np.where(inner, loss._values(alpha), np.where(u > 0, hi_lim, lo_lim))
    phi_ma = np.where(inner, loss._values(-alpha), np.where(u > 0, lo_lim, hi_lim))
    return _weighted(eta, phi_a) + _weighted(1.0 - eta, phi_ma)


def _phi_extended(loss: MarginLoss, alpha: np.ndarray) -> np.ndarray:
    """φ(α) for α in [−inf, +inf]: φ itself at finite α (+inf kept where it overflows),
    its limits :func:`phi_limits` at ±inf."""
    alpha = np.asarray(alpha, dtype=np.float64)
    fin = np.isfinite(alpha)
    if fin.all():
        return loss._values(alpha)
    lo_lim, hi_lim = phi_limits(loss)
    return np.where(
        fin, loss._values(np.where(fin, alpha, 0.0)), np.where(alpha > 0, hi_lim, lo_lim)
    )


@finite_output(allow_inf=("result",))  # +inf only at alpha = ±inf (a limit), see below
def conditional_risk(loss: object, eta: object, alpha: object) -> np.ndarray:
    """C_η(α) = η φ(α) + (1 − η) φ(−α) (Zhang et al. §2.5), broadcast over η and α.

    α may be ±inf (the limits of φ are used; +inf where that limit is, the only infinite
    value returned); a zero weight times an infinite loss is 0. A C_η(α) that overflows
    float64 at a finite α raises ``ValueError``.
    """
    loss = _as_loss(loss)
    eta = check_array("eta", eta)
    if np.any((eta < 0) | (eta > 1)):
        raise ValueError(f"eta must be in [0, 1], got values in [{eta.min()}, {eta.max()}]")
    alpha = check_array("alpha", alpha, finite=False)
    if np.any(np.isnan(alpha)):
        raise ValueError("alpha must not contain NaN")
    try:
        eta, alpha = np.broadcast_arrays(eta, alpha)
    except ValueError:
        raise ValueError(
            f"eta and alpha must broadcast to one shape, got shapes {eta.shape} and {alpha.shape}"
        ) from None
    lo_lim, hi_lim = phi_limits(loss)
    fin = np.isfinite(alpha)
    safe = np.where(fin, alpha, 0.0)
    phi_a = np.where(fin, loss._values(safe), np.where(alpha > 0, hi_lim, lo_lim))
    phi_ma = np.where(fin, loss._values(-safe), np.where(alpha > 0, lo_lim, hi_lim))
    out = _weighted(eta, phi_a) + _weighted(1.0 - eta, phi_ma)
    overflow = ~np.isfinite(out) & fin
    if np.any(overflow):
        bad = alpha[overflow].ravel()[:3]
        raise ValueError(
            f"loss {loss.name!r}: C_eta(alpha) overflows float64 at alpha = {bad.tolist()} "
            "(phi is not finite there)"
        )
    return out


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _infimum(loss: MarginLoss, eta: np.ndarray, u_max: float, n_grid: int) -> np.ndarray:
    """inf over u ∈ [−1, u_max] of C_η(α(u)) for each η (vectorised grid + golden section)."""
    eta = np.asarray(eta, dtype=np.float64).ravel()
    grid = np.linspace(-1.0, u_max, n_grid)
    best = np.empty_like(eta)
    idx = np.empty(eta.shape, dtype=np.intp)
    # Grid stage in chunks to bound memory (n_eta × n_grid doubles).
    chunk = max(1, 2_000_000 // n_grid)
    phi_a, phi_ma = _grid_values(loss, u_max, n_grid)
    # Only the limit columns u = ±1 can hold +inf; they get the 0·inf = 0 treatment.
    fin = np.isfinite(phi_a) & np.isfinite(phi_ma)
    for start in range(0, eta.size, chunk):
        e = eta[start : start + chunk, None]
        base = np.where(fin, phi_ma, 0.0)
        c = base + e * (np.where(fin, phi_a, 0.0) - base)  # e·φ(α) + (1 − e)·φ(−α)
        if not fin.all():
            c[:, ~fin] = _weighted(e, phi_a[None, ~fin]) + _weighted(1.0 - e, phi_ma[None, ~fin])
        j = np.argmin(c, axis=1)
        idx[start : start + chunk] = j
        best[start : start + chunk] = c[np.arange(c.shape[0]), j]
    # Golden-section refinement on the bracket around the best grid point: one new
    # evaluation per step; 50 steps shrink the bracket (width 4/(n_grid − 1)) by 0.618⁵⁰,
    # to ~1e-13 in u.
    # Interior points have |u| < 1, so φ itself (no limits) is evaluated; a NaN from a
    # user φ is ignored (fmin) rather than propagated.
    raw = _raw_phi(loss)
    a = grid[np.maximum(idx - 1, 0)]
    b = grid[np.minimum(idx + 1, n_grid - 1)]
    w1, w0 = eta, 1.0 - eta
    z1, z0 = w1 == 0.0, w0 == 0.0

    any_zero = bool(np.any(z1) or np.any(z0))

    def c_of(u: np.ndarray) -> np.ndarray:
        al = np.tan(0.5 * np.pi * u)
        if not any_zero:
            return w1 * raw(al) + w0 * raw(-al)
        # 0·inf = 0: a label of probability zero contributes nothing
        return w1 * np.where(z1, 0.0, raw(al)) + w0 * np.where(z0, 0.0, raw(-al))

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        c_pt = b - _GOLDEN * (b - a)
        d_pt = a + _GOLDEN * (b - a)
        fc, fd = c_of(c_pt), c_of(d_pt)
        best = np.fmin(best, np.fmin(fc, fd))
        for _ in range(50):
            left = fc <= fd  # the minimum is in [a, d]
            a = np.where(left, a, c_pt)
            b = np.where(left, d_pt, b)
            new = np.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
            fnew = c_of(new)
            best = np.fmin(best, fnew)
            c_pt, fc, d_pt, fd = (
                np.where(left, new, d_pt),
                np.where(left, fnew, fd),
                np.where(left, c_pt, new),
                np.where(left, fc, fnew),
            )
    return best


@functools.lru_cache(maxsize=256)
def _grid_values(loss: MarginLoss, u_max: float, n_grid: int) -> tuple[np.ndarray, np.ndarray]:
    """φ(α(u)) and φ(−α(u)) on the u-grid (limits at u = ±1), validated once per loss."""
    grid = np.linspace(-1.0, u_max, n_grid)
    lo_lim, hi_lim = phi_limits(loss)
    inner = np.abs(grid) < 1.0
    alpha = np.tan(0.5 * np.pi * np.where(inner, grid, 0.0))
    phi_a = np.where(inner, loss._values(alpha), np.where(grid > 0, hi_lim, lo_lim))
    phi_ma = np.where(inner, loss._values(-alpha), np.where(grid > 0, lo_lim, hi_lim))
    phi_a.setflags(write=False)
    phi_ma.setflags(write=False)
    return phi_a, phi_ma


@functools.lru_cache(maxsize=256)
def _raw_phi(loss: MarginLoss) -> Callable[[np.ndarray], np.ndarray]:
    """φ on float arrays without the per-call checks (used in the inner loops, after the
    grid stage has validated φ); scalar-only callables are wrapped with np.vectorize."""
    probe = np.array([-1.0, 0.0, 1.0])
    try:
        with np.errstate(all="ignore"):
            ok = np.asarray(loss.phi(probe), dtype=np.float64).shape == probe.shape
    except (TypeError, ValueError):
        ok = False
    if ok:
        return lambda a: np.asarray(loss.phi(a), dtype=np.float64)
    scalar_phi = cast(Callable[[float], Any], loss.phi)  # φ that takes scalars only
    return np.vectorize(lambda t: float(scalar_phi(float(t))), otypes=[np.float64])


def _check_eta(eta: object) -> np.ndarray:
    e = check_array("eta", eta)
    if np.any((e < 0) | (e > 1)):
        raise ValueError(f"eta must be in [0, 1], got values in [{e.min()!r}, {e.max()!r}]")
    return e


@finite_output()
def H(loss: object, eta: object) -> np.ndarray:
    """H(η) = inf_α C_η(α), the optimal conditional φ-risk (Zhang et al. §2.5).

    Numerical (see the module docstring); vectorised over η ∈ [0, 1]. Uses H(η) = H(1 − η).
    """
    loss = _as_loss(loss)
    e = _check_eta(eta)
    sym = np.maximum(e, 1.0 - e)
    return _infimum(loss, sym, 1.0, 1025).reshape(e.shape)[()]


def _h_minus_sym(loss: MarginLoss, eta_hi: np.ndarray) -> np.ndarray:
    """inf_{α ≤ 0} C_η(α) for η ≥ 1/2."""
    return _infimum(loss, eta_hi, 0.0, 513)


@finite_output()
def H_minus(loss: object, eta: object) -> np.ndarray:
    """H⁻(η) = inf_{α(2η−1) ≤ 0} C_η(α), the risk with the wrong sign (Zhang et al. §2.5).

    Numerical; vectorised. Uses H⁻(η) = H⁻(1 − η); at η = 1/2 the constraint is void and
    H⁻ = H.
    """
    loss = _as_loss(loss)
    e = _check_eta(eta)
    sym = np.maximum(e, 1.0 - e)
    return _h_minus_sym(loss, sym).reshape(e.shape)[()]


def _psi_tilde_raw(loss: MarginLoss, theta: np.ndarray) -> np.ndarray:
    eta = 0.5 * (1.0 + theta)
    h = _infimum(loss, eta, 1.0, 1025)
    hm = _h_minus_sym(loss, eta)
    # H ≤ H⁻ by definition (an infimum over a superset); enforce it against rounding,
    # and ψ̃(0) = 0 exactly since at η = 1/2 both infima are over the same set.
    h = np.minimum(h, hm)
    out = hm - h
    return np.where(theta == 0.0, 0.0, out)


def _check_theta(theta: object, name: str = "theta") -> np.ndarray:
    t = check_array(name, theta)
    if np.any((t < 0) | (t > 1)):
        raise ValueError(f"{name} must be in [0, 1], got values in [{t.min()!r}, {t.max()!r}]")
    return t


@finite_output()
def psi_tilde(loss: object, theta: object) -> np.ndarray:
    """ψ̃(θ) = H⁻((1+θ)/2) − H((1+θ)/2) on θ ∈ [0, 1] (Zhang et al. §2.5), numerical."""
    loss = _as_loss(loss)
    t = _check_theta(theta)
    return _tilde_lookup(_envelope(loss), loss, t.ravel()).reshape(t.shape)[()]


# --- the convex envelope ψ = ψ̃** ------------------------------------------------------------
_N_THETA = 1025
_HULL_TOL = 1e-11


@dataclass(frozen=True)
class _Envelope:
    theta: np.ndarray  # grid
    tilde: np.ndarray  # ψ̃ on the grid
    hull: np.ndarray  # ψ on the grid (lower convex envelope)
    segments: tuple[tuple[float, float, float, float], ...]  # refined chords (a, b, ψ̃a, ψ̃b)


def _lower_hull(x: np.ndarray, y: np.ndarray, tol: float) -> list[int]:
    """Indices of the lower convex hull (monotone chain), dropping a point only when it
    lies above the chord of its neighbours by more than ``tol``."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            i0, i1 = hull[-2], hull[-1]
            chord = y[i0] + (y[i] - y[i0]) * (x[i1] - x[i0]) / (x[i] - x[i0])
            if y[i1] > chord + tol:
                hull.pop()
            else:
                break
        hull.append(i)
    return hull


def _golden_scalar(f: Callable[[float], float], lo: float, hi: float, maximise: bool) -> float:
    sign = -1.0 if maximise else 1.0
    res = optimize.minimize_scalar(
        lambda t: sign * f(t), bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}
    )
    return float(res.x)


@functools.lru_cache(maxsize=64)
def _envelope(loss: MarginLoss) -> _Envelope:
    theta = np.linspace(0.0, 1.0, _N_THETA)
    tilde = _psi_tilde_raw(loss, theta)
    scale = 1.0 + float(np.max(np.abs(tilde)))
    idx = _lower_hull(theta, tilde, _HULL_TOL * scale)
    hull = np.interp(theta, theta[idx], tilde[idx])
    h = theta[1] - theta[0]

    def pt(t: float) -> float:
        return float(_psi_tilde_raw(loss, np.array([t]))[0])

    segments = []
    for i0, i1 in itertools.pairwise(idx):
        if i1 - i0 <= 1:
            continue
        a, b = float(theta[i0]), float(theta[i1])
        fa, fb = float(tilde[i0]), float(tilde[i1])
        for _ in range(3):
            # Left contact given b: the point maximising the slope of the chord to b.
            lo_a, hi_a = max(0.0, a - h), min(a + h, b - h)
            if lo_a < hi_a and a > 0.0:

                def slope_to_b(t: float, b: float = b, fb: float = fb) -> float:
                    return (fb - pt(t)) / (b - t)

                a = _golden_scalar(slope_to_b, lo_a, hi_a, True)
                fa = pt(a)
            # Right contact given a: the point minimising the slope of the chord from a.
            lo_b, hi_b = max(b - h, a + h), min(1.0, b + h)
            if lo_b < hi_b and b < 1.0:

                def slope_from_a(t: float, a: float = a, fa: float = fa) -> float:
                    return (pt(t) - fa) / (t - a)

                b = _golden_scalar(slope_from_a, lo_b, hi_b, False)
                fb = pt(b)
        segments.append((a, b, fa, fb))
    hull_refined = hull.copy()
    for a, b, fa, fb in segments:
        inside = (theta > a) & (theta < b)
        hull_refined[inside] = fa + (fb - fa) * (theta[inside] - a) / (b - a)
    return _Envelope(theta, tilde, np.minimum(hull_refined, tilde), tuple(segments))


def _psi_numeric(loss: MarginLoss, t: np.ndarray) -> np.ndarray:
    env = _envelope(loss)
    flat = t.ravel()
    out = np.full(flat.shape, np.nan)
    in_seg = np.zeros(flat.shape, dtype=bool)
    for a, b, fa, fb in env.segments:
        m = (flat >= a) & (flat <= b)
        out[m] = fa + (fb - fa) * (flat[m] - a) / (b - a)
        in_seg |= m
    rest = ~in_seg
    if np.any(rest):
        out[rest] = _tilde_lookup(env, loss, flat[rest])
    return out.reshape(t.shape)


def _tilde_lookup(env: _Envelope, loss: MarginLoss, t: np.ndarray) -> np.ndarray:
    """ψ̃ at t, reusing the envelope grid's values where t is a grid point."""
    j = np.clip(np.searchsorted(env.theta, t), 0, env.theta.size - 1)
    on_grid = env.theta[j] == t
    out = np.empty(t.shape)
    out[on_grid] = env.tilde[j[on_grid]]
    if not np.all(on_grid):
        out[~on_grid] = _psi_tilde_raw(loss, t[~on_grid])
    return out


def _check_method(method: object) -> None:
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {method!r}")
    check_choice("method", method, ("auto", "closed", "numeric"))


@finite_output()
def psi(loss: object, theta: object, *, method: str = "auto") -> np.ndarray:
    """The ψ-transform ψ = ψ̃** on [0, 1] (Zhang et al. §2.5, Table 2; Bartlett et al. 2006).

    Parameters
    ----------
    loss
        A :class:`MarginLoss`, the name of a Table 2 loss, or a callable φ.
    theta
        Array of values in [0, 1] (vectorised).
    method
        ``"closed"`` (Table 2's formula; the loss must have one), ``"numeric"`` (the convex
        envelope computed as in the module docstring, error ≲ 1e-12 for the Table 2 losses)
        or ``"auto"`` (closed if available).
    """
    loss = _as_loss(loss)
    _check_method(method)
    t = _check_theta(theta)
    if method == "closed" and loss.psi_closed is None:
        raise ValueError(f"method='closed' needs a closed-form psi; loss {loss.name!r} has none")
    if method == "closed" or (method == "auto" and loss.psi_closed is not None):
        assert loss.psi_closed is not None  # method="closed" without one raised above
        return np.asarray(loss.psi_closed(t), dtype=np.float64).reshape(t.shape)[()]
    return np.asarray(_psi_numeric(loss, t))[()]


@finite_output()
def psi_inverse(
    loss: object, value: object, *, method: str = "auto", saturate: bool = False
) -> np.ndarray:
    """ψ⁻¹(v) = sup{θ ∈ [0, 1] : ψ(θ) ≤ v}, the inverse used in Theorem 3.1 of Zhang et al.

    ``value`` must lie in [0, ψ(1)]; with ``saturate=True`` values above ψ(1) are allowed and
    give 1 (the generalised inverse: the bound of Theorem 3.1 is then the trivial 1). For a
    calibrated loss ψ is strictly increasing and this is the ordinary inverse. Vectorised.
    """
    loss = _as_loss(loss)
    _check_method(method)
    if not isinstance(saturate, bool | np.bool_):
        raise TypeError(f"saturate must be a bool, got {saturate!r}")
    v = check_array("value", value)
    if np.any(v < 0):
        raise ValueError(f"value must be >= 0 (an excess φ-risk), got min {v.min()!r}")
    use_closed = loss.psi_closed is not None and method in ("auto", "closed")
    if method == "closed" and loss.psi_closed is None:
        raise ValueError(f"method='closed' needs a closed-form psi; loss {loss.name!r} has none")
    psi_one = float(psi(loss, 1.0, method="closed" if use_closed else "numeric"))
    above = v > psi_one
    if np.any(above) and not saturate:
        raise ValueError(
            f"value must be in [0, psi(1)] = [0, {psi_one:.17g}] for loss {loss.name!r}, got "
            f"max {v.max()!r}; pass saturate=True for the generalised inverse (= 1 above psi(1))"
        )
    flat = np.minimum(v.ravel(), psi_one)
    out = np.empty(flat.shape)
    if use_closed and loss.psi_inverse_closed is not None:
        out[:] = loss.psi_inverse_closed(flat)
    elif use_closed:
        f = loss.psi_closed
        assert f is not None  # use_closed says so
        for i, target in enumerate(flat):
            if target >= psi_one:
                out[i] = 1.0
            elif target <= 0.0:
                out[i] = _sup_level_closed(f, 0.0)
            else:
                out[i] = optimize.brentq(
                    lambda t, target=target: float(f(np.array(t))) - target,
                    0.0,
                    1.0,
                    xtol=1e-16,
                    rtol=4 * np.finfo(float).eps,
                )
    else:
        out[:] = _psi_inverse_numeric(loss, flat)
    out = np.where(v.ravel() >= psi_one, 1.0, out)
    return out.reshape(v.shape)[()]


def _sup_level_closed(f: Callable, target: float) -> float:
    lo, hi = 0.0, 1.0
    if float(f(np.array(1.0))) <= target:
        return 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if float(f(np.array(mid))) <= target:
            lo = mid
        else:
            hi = mid
    return lo


def _psi_inverse_numeric(loss: MarginLoss, v: np.ndarray) -> np.ndarray:
    """sup{θ : ψ(θ) ≤ v}: bracket on the θ-grid, then vectorised Illinois (regula falsi)
    steps on ψ(θ) − v, stopped when the bracket is below 1e-14 or after 40 steps."""
    env = _envelope(loss)
    k = np.searchsorted(env.hull, v, side="right") - 1
    k = np.clip(k, 0, env.theta.size - 1)
    at_end = k == env.theta.size - 1
    kk = np.minimum(k + 1, env.theta.size - 1)
    lo, hi = env.theta[k].copy(), env.theta[kk].copy()
    flo = _psi_numeric(loss, lo) - v
    fhi = _psi_numeric(loss, hi) - v
    side = np.zeros(v.shape, dtype=np.int8)
    for _ in range(40):
        active = (hi - lo > 1e-14) & (fhi > 0) & (flo <= 0)
        if not np.any(active):
            break
        denom = fhi - flo
        mid = np.where(denom > 0, lo - flo * (hi - lo) / np.where(denom > 0, denom, 1.0), lo)
        mid = np.clip(mid, lo, hi)
        mid = np.where((mid <= lo) | (mid >= hi), 0.5 * (lo + hi), mid)
        fm = _psi_numeric(loss, mid) - v
        # |ψ(mid) − v| at rounding level: mid is the answer (ψ strictly increasing there)
        done = active & (np.abs(fm) <= 4e-16 * np.maximum(1.0, v)) & (fm != 0)
        lo, hi = np.where(done, mid, lo), np.where(done, mid, hi)
        active &= ~done
        go_lo = active & (fm <= 0)  # ψ(mid) ≤ v: the sup is at or right of mid
        go_hi = active & ~go_lo
        lo, flo = np.where(go_lo, mid, lo), np.where(go_lo, fm, flo)
        hi, fhi = np.where(go_hi, mid, hi), np.where(go_hi, fm, fhi)
        # Illinois: halve the stale end's value when the same end moves twice
        fhi = np.where(go_lo & (side == 1), 0.5 * fhi, fhi)
        flo = np.where(go_hi & (side == -1), 0.5 * flo, flo)
        side = np.where(go_lo, 1, np.where(go_hi, -1, side)).astype(np.int8)
    return np.where(at_end, 1.0, lo)


# --- Assumption 1 -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationReport:
    """Verdict on Assumption 1 (H⁻(η) > H(η) for η ≠ 1/2) for one loss.

    ``min_psi_tilde`` is the smallest ψ̃(θ) over the checked grid θ ∈ [θ_min, 1] and
    ``argmin_theta`` where it occurs; ``calibrated`` is ``min_psi_tilde > tol``.
    """

    loss: str
    calibrated: bool
    min_psi_tilde: float
    argmin_theta: float
    theta_min: float
    tol: float


@finite_output()
def calibration_report(
    loss: object, *, theta_min: float = 2.0**-8, tol: float = 1e-12
) -> CalibrationReport:
    """Check Assumption 1 numerically: ψ̃(θ) > tol on the envelope grid θ ∈ [θ_min, 1].

    By the symmetry H(η) = H(1−η), H⁻(η) = H⁻(1−η) it suffices to look at η ≥ 1/2, i.e.
    θ = 2η − 1 ≥ 0. θ below ``theta_min`` is not decided numerically (ψ̃ → 0 as θ → 0 for
    every loss); a loss whose ψ̃ vanishes only on (0, θ_min) would be misreported.
    """
    loss = _as_loss(loss)
    theta_min = check_real("theta_min", theta_min, low=0.0, high=1.0, low_open=True)
    tol = check_real("tol", tol, low=0.0)
    env = _envelope(loss)
    mask = env.theta >= theta_min
    vals = env.tilde[mask]
    j = int(np.argmin(vals))
    return CalibrationReport(
        loss.name,
        bool(vals[j] > tol),
        float(vals[j]),
        float(env.theta[mask][j]),
        theta_min,
        tol,
    )


def is_calibrated(loss: object) -> bool:
    """Whether ``loss`` satisfies Assumption 1 of Zhang et al. (classification calibration).

    See :func:`calibration_report` for the numerical criterion and its limits.
    """
    return calibration_report(loss).calibrated
