"""Zhang et al. (2019)'s interval example (2), exactly.

X is uniform on [0, 1] and, for k = 0, 1, …, ⌈1/(2ε) − 1⌉,

    η(x) = P(Y = 1 | X = x) = 0 on [2kε, (2k+1)ε),   1 on ((2k+1)ε, (2k+2)ε],

cut at 1 (when 1/(2ε) is not an integer the last interval is shorter). ε is the radius of
the closed one-dimensional ball B(x, ε) = {x' ∈ [0, 1] : |x' − x| ≤ ε}, in the same units
as x (the unit interval).

For a score function f that is piecewise affine (or piecewise constant) on [0, 1], with
its own values at its break points, this module computes by exact interval arithmetic
(no sampling, no grid) the paper's

* natural error  R_nat(f) = E 1{f(X)Y ≤ 0}   (§2.2; note f(X) = 0 counts as an error for
  both labels, exactly as the paper's definition says),
* robust error   R_rob(f) = E 1{∃X' ∈ B(X, ε): f(X')Y ≤ 0}   (§2.2),
* boundary error R_bdy(f) = E 1{X ∈ B(DB(f), ε), f(X)Y > 0}   (§2.3), where
  B(DB(f), ε) = {x : ∃x' ∈ B(x, ε), f(x)f(x') ≤ 0},

each from its own set construction, so that the decomposition (1) R_rob = R_nat + R_bdy is
a check rather than a definition. Sets are finite unions of intervals; the ε-dilation of a
set, intersections and Lebesgue measures are computed on interval end points. With
``fractions.Fraction`` break points, values and ε the results are exact rationals; with
floats they are exact up to rounding of the end points.

The surrogate terms of Theorem 3.1 are computed here too: R_φ(f) = E φ(f(X)Y) (exact for
piecewise-constant f, adaptive quadrature with |error| ≤ 1e-12 per piece for affine
pieces), R*_φ = E H(η(X)) and E max_{X'∈B(X,ε)} φ(f(X')f(X)/λ) (exact cell decomposition
for piecewise-constant f). Theorem 3.2's tightness construction (on a two-point space)
is :func:`theorem_3_2_construction`.

Checks: ε must be at least :data:`EPS_MIN` = 1e-4 (every exact computation walks the
⌈1/(2ε)⌉ label periods, so a smaller ε is refused at once instead of running for hours);
arguments as everywhere (``ValueError`` / ``TypeError`` naming the parameter); results
through :func:`tradeoff._validate.finite_output` (never NaN or inf: a surrogate term that
overflows float64, e.g. f = 1e308, raises). :meth:`IntervalExample.boundary_surrogate`
takes O(u·m log m) for m pieces of f with u distinct values.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import integrate

from tradeoff import calibration as cal
from tradeoff._validate import check_array, check_real, finite_output

__all__ = [
    "IntervalExample",
    "PiecewiseAffine",
    "Risks",
    "Table1",
    "Theorem31Terms",
    "Theorem32Construction",
    "mixed_classifier",
    "table1",
    "theorem_3_1_terms",
    "theorem_3_2_construction",
]

Interval = tuple  # (lo, hi), closed, lo <= hi

#: smallest ε accepted: every exact computation here walks the ⌈1/(2ε)⌉ label periods of
#: example (2) (time and memory grow as 1/ε; ε = 1e-4 takes ~0.5 s for Table 1 in floats,
#: ~2 s in Fractions on a 2-core CPU), so a tiny ε is refused at once instead of running
#: for hours
EPS_MIN = Fraction(1, 10_000)


def _exact_real(name: str, value: object) -> int | float | Fraction:
    """A finite real kept in its own type (int, Fraction or float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, np.generic) and np.issubdtype(type(value), np.number):
            value = value.item()
        else:
            raise TypeError(
                f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
            )
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not isinstance(value, (float, Fraction)):  # e.g. decimal.Decimal: not exact here
        raise TypeError(
            f"{name} must be an int, a float or a Fraction, got {value!r} of type "
            f"{type(value).__name__}"
        )
    return value


def _exact_sequence(name: str, seq: object) -> tuple:
    """``seq`` (a tuple, list or 1-D array of reals) as a tuple of exact reals."""
    if isinstance(seq, np.ndarray):
        seq = seq.tolist() if seq.ndim == 1 else seq
    if not isinstance(seq, (tuple, list)):
        raise TypeError(
            f"{name} must be a sequence (tuple or list) of reals, got {type(seq).__name__}"
        )
    return tuple(_exact_real(f"{name}[{i}]", v) for i, v in enumerate(seq))


# --- score functions --------------------------------------------------------------------------
@dataclass(frozen=True)
class PiecewiseAffine:
    """A score function f on [0, 1], affine on each open piece between break points.

    Use :meth:`constant` or :meth:`continuous` to build one. Values may be ints, floats
    or ``Fraction`` (exact arithmetic).

    Parameters
    ----------
    breaks
        0 = t_0 < t_1 < … < t_m = 1.
    start, end
        Length m: the limits f(t_i+) and f(t_{i+1}−) on piece i (f is affine in between).
    at
        Length m + 1: the values f(t_i) at the break points (they matter for the closed
        ε-ball only when they differ from both one-sided limits).
    """

    breaks: tuple
    start: tuple
    end: tuple
    at: tuple

    def __post_init__(self) -> None:
        for name in ("breaks", "start", "end", "at"):
            seq = getattr(self, name)
            if not isinstance(seq, tuple):
                raise TypeError(f"{name} must be a tuple, got {type(seq).__name__}")
            object.__setattr__(
                self, name, tuple(_exact_real(f"{name}[{i}]", v) for i, v in enumerate(seq))
            )
        t = self.breaks
        if len(t) < 2:
            raise ValueError(f"breaks must have at least 2 points (0 and 1), got {t!r}")
        if t[0] != 0 or t[-1] != 1:
            raise ValueError(f"breaks must start at 0 and end at 1, got {t[0]!r} … {t[-1]!r}")
        if any(b <= a for a, b in itertools.pairwise(t)):
            raise ValueError(f"breaks must be strictly increasing, got {t!r}")
        m = len(t) - 1
        if len(self.start) != m or len(self.end) != m:
            raise ValueError(
                f"start and end must have len(breaks) - 1 = {m} values, got "
                f"{len(self.start)} and {len(self.end)}"
            )
        if len(self.at) != m + 1:
            raise ValueError(f"at must have len(breaks) = {m + 1} values, got {len(self.at)}")

    @classmethod
    def constant(cls, breaks, values, at=None) -> PiecewiseAffine:
        """f = values[i] on (t_i, t_{i+1}); at the break points ``at`` (default: right-
        continuous, f(t_i) = values[i] and f(1) = values[-1])."""
        breaks, values = _exact_sequence("breaks", breaks), _exact_sequence("values", values)
        if len(values) != len(breaks) - 1:
            raise ValueError(
                f"values must have len(breaks) - 1 = {len(breaks) - 1} entries, got {len(values)}"
            )
        if at is None:
            at = (*values, values[-1]) if values else ()
        return cls(breaks, values, values, _exact_sequence("at", at))

    @classmethod
    def continuous(cls, breaks, values) -> PiecewiseAffine:
        """The continuous piecewise-linear interpolant of ``values`` at ``breaks``."""
        breaks, values = _exact_sequence("breaks", breaks), _exact_sequence("values", values)
        if len(values) != len(breaks):
            raise ValueError(
                f"values must have len(breaks) = {len(breaks)} entries, got {len(values)}"
            )
        return cls(breaks, values[:-1], values[1:], values)

    @property
    def is_piecewise_constant(self) -> bool:
        """Whether every piece has zero slope."""
        return all(s == e for s, e in zip(self.start, self.end))

    def scaled(self, factor) -> PiecewiseAffine:
        """c·f."""
        c = _exact_real("factor", factor)
        return PiecewiseAffine(
            self.breaks,
            tuple(c * v for v in self.start),
            tuple(c * v for v in self.end),
            tuple(c * v for v in self.at),
        )

    @finite_output()
    def __call__(self, x: object) -> np.ndarray:
        """f(x) in float64 (for Monte Carlo cross-checks); x in [0, 1]."""
        x = check_array("x", x)
        if np.any((x < 0) | (x > 1)):
            raise ValueError(f"x must be in [0, 1], got values in [{x.min()!r}, {x.max()!r}]")
        t = np.array([float(v) for v in self.breaks])
        s = np.array([float(v) for v in self.start])
        e = np.array([float(v) for v in self.end])
        at = np.array([float(v) for v in self.at])
        i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, len(s) - 1)
        frac = (x - t[i]) / (t[i + 1] - t[i])
        out = s[i] + (e[i] - s[i]) * frac
        on_break = np.isin(x, t)
        j = np.searchsorted(t, x)
        j = np.clip(j, 0, len(t) - 1)
        return np.where(on_break, at[j], out)


def _pieces_where(f: PiecewiseAffine, sign: int, strict: bool) -> list[Interval]:
    """Closures of the pieces of {x : sign·f(x) ≤ 0} (strict=False) or {sign·f(x) > 0}
    (strict=True), as closed intervals, degenerate ones included for break points."""
    out: list[Interval] = []
    t = f.breaks
    for i in range(len(t) - 1):
        a, b = t[i], t[i + 1]
        u, v = sign * f.start[i], sign * f.end[i]
        if not strict:  # {g <= 0} on the open piece (a, b)
            if u <= 0 and v <= 0:
                out.append((a, b))
            elif u <= 0 < v:
                if u < 0:
                    out.append((a, a + (b - a) * (-u) / (v - u)))
            elif v <= 0 < u:
                if v < 0:
                    out.append((a + (b - a) * u / (u - v), b))
        else:  # {g > 0}
            if u > 0 and v > 0:
                out.append((a, b))
            elif u <= 0 < v:
                out.append((a + (b - a) * (-u) / (v - u), b))
            elif v <= 0 < u:
                out.append((a, a + (b - a) * u / (u - v)))
    for ti, val in zip(t, f.at):
        g = sign * val
        if (g > 0) if strict else (g <= 0):
            out.append((ti, ti))
    return out


def _union(intervals: list[Interval]) -> list[Interval]:
    """Disjoint sorted union (touching intervals merged)."""
    merged: list[list] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1][1] = hi
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Intersection of two unions; degenerate pieces are dropped (measure zero)."""
    a, b = _union(a), _union(b)
    out = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _measure(a: list[Interval]):
    return sum((hi - lo for lo, hi in _union(a)), 0)


def _dilate(a: list[Interval], eps) -> list[Interval]:
    """{x ∈ [0, 1] : dist(x, A) ≤ ε} (up to end points, which have measure zero)."""
    return _union([(max(lo - eps, 0), min(hi + eps, 1)) for lo, hi in a])


# --- the example ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Risks:
    """R_nat, R_bdy and R_rob of one score function (exact)."""

    natural: int | float | Fraction
    boundary: int | float | Fraction
    robust: int | float | Fraction


@dataclass(frozen=True)
class IntervalExample:
    """Example (2) of Zhang et al.: X ~ U[0, 1], η alternating 0/1 on intervals of length ε.

    ``eps`` > 0 is both the interval length and the radius of the closed ℓ-ball (one
    dimension, units of x). An int, float or ``Fraction`` (exact results). ``eps`` below
    :data:`EPS_MIN` = 1e-4 is refused (``ValueError``): the exact computations walk all
    ⌈1/(2ε)⌉ label periods.
    """

    eps: int | float | Fraction

    def __post_init__(self) -> None:
        e = _exact_real("eps", self.eps)
        if not e > 0:
            raise ValueError(f"eps must be > 0, got {self.eps!r}")
        if Fraction(e) < EPS_MIN:
            raise ValueError(
                f"eps must be >= {float(EPS_MIN):g} (the exact computations walk all "
                f"ceil(1/(2 eps)) label periods, at most {int(1 / (2 * EPS_MIN))}), got "
                f"{self.eps!r}"
            )
        object.__setattr__(self, "eps", e)

    @property
    def n_intervals(self) -> int:
        """Number of k in the paper's range k = 0, …, ⌈1/(2ε) − 1⌉."""
        return math.ceil(Fraction(1) / (2 * Fraction(self.eps)) - 1) + 1

    @functools.cached_property
    def label_intervals(self) -> tuple[tuple, ...]:
        """(lo, hi, y) with y = −1 on [2kε, (2k+1)ε) and +1 on ((2k+1)ε, (2k+2)ε], cut at 1."""
        e = self.eps
        out = []
        for k in range(self.n_intervals):
            for lo, hi, y in (
                (2 * k * e, (2 * k + 1) * e, -1),
                ((2 * k + 1) * e, (2 * k + 2) * e, 1),
            ):
                lo, hi = min(lo, 1), min(hi, 1)
                if lo < hi:
                    out.append((lo, hi, y))
        return tuple(out)

    def _labelled(self, y: int) -> list[Interval]:
        return [(lo, hi) for lo, hi, lab in self.label_intervals if lab == y]

    @property
    def p_negative(self):
        """P(Y = −1) = |{η = 0}|; 1/2 exactly when 1/(2ε) is an integer."""
        return _measure(self._labelled(-1))

    @property
    def p_positive(self):
        """P(Y = +1) = |{η = 1}|."""
        return _measure(self._labelled(1))

    @finite_output()
    def eta(self, x: object) -> np.ndarray:
        """η(x) in float64 (for Monte Carlo); the measure-zero end points (2k+1)ε, whose η
        the paper leaves undefined, get the label of the interval to their right."""
        x = check_array("x", x)
        if np.any((x < 0) | (x > 1)):
            raise ValueError(f"x must be in [0, 1], got values in [{x.min()!r}, {x.max()!r}]")
        out = np.zeros(x.shape)
        for lo, hi, y in self.label_intervals:
            m = (x >= float(lo)) & (x < float(hi))
            out[m] = 1.0 if y == 1 else 0.0
        out[x == 1.0] = 1.0 if self.label_intervals[-1][2] == 1 else 0.0
        return out

    # classifiers of Table 1
    def bayes(self, scale=1) -> PiecewiseAffine:
        """The Bayes classifier sign(2η − 1) as the score ±scale (right-continuous at the
        label changes; the value at a change point does not affect any risk here)."""
        scale = _exact_real("scale", scale)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        labs = self.label_intervals
        breaks = (0, *[hi for _, hi, _ in labs])
        return PiecewiseAffine.constant(breaks, [y * scale for _, _, y in labs])

    def all_one(self, scale=1) -> PiecewiseAffine:
        """The all-one classifier f ≡ scale (> 0)."""
        scale = _exact_real("scale", scale)
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        return PiecewiseAffine.constant((0, 1), (scale,))

    def constant_score(self, value) -> PiecewiseAffine:
        """The constant score f ≡ ``value`` (f ≡ −1 is Table 1's all-minus-one)."""
        return PiecewiseAffine.constant((0, 1), (_exact_real("value", value),))

    # the three errors
    @finite_output()
    def natural_error(self, f: PiecewiseAffine):
        """R_nat(f) = P(f(X)Y ≤ 0), exact."""
        _check_f(f)
        return _measure(_intersect(_pieces_where(f, 1, False), self._labelled(1))) + _measure(
            _intersect(_pieces_where(f, -1, False), self._labelled(-1))
        )

    @finite_output()
    def robust_error(self, f: PiecewiseAffine):
        """R_rob(f) = P(∃X' ∈ B(X, ε): f(X')Y ≤ 0), exact (closed ball in [0, 1])."""
        _check_f(f)
        e = self.eps
        pos = _intersect(_dilate(_pieces_where(f, 1, False), e), self._labelled(1))
        neg = _intersect(_dilate(_pieces_where(f, -1, False), e), self._labelled(-1))
        return _measure(pos) + _measure(neg)

    @finite_output()
    def boundary_error(self, f: PiecewiseAffine):
        """R_bdy(f) = P(X ∈ B(DB(f), ε), f(X)Y > 0), exact.

        For f(x) > 0, x ∈ B(DB(f), ε) iff the ball reaches {f ≤ 0}; for f(x) < 0 iff it
        reaches {f ≥ 0}; and f(X)Y > 0 means f(x) > 0 with Y = 1 or f(x) < 0 with Y = −1.
        """
        _check_f(f)
        e = self.eps
        pos = _intersect(
            _intersect(_pieces_where(f, 1, True), _dilate(_pieces_where(f, 1, False), e)),
            self._labelled(1),
        )
        neg = _intersect(
            _intersect(_pieces_where(f, -1, True), _dilate(_pieces_where(f, -1, False), e)),
            self._labelled(-1),
        )
        return _measure(pos) + _measure(neg)

    @finite_output()
    def risks(self, f: PiecewiseAffine) -> Risks:
        """(R_nat, R_bdy, R_rob) of ``f`` (Zhang et al. §2.2–2.3), each computed exactly."""
        return Risks(self.natural_error(f), self.boundary_error(f), self.robust_error(f))

    @property
    def bayes_natural_error(self):
        """R*_nat = E min(η, 1 − η) = 0 (the labels are deterministic)."""
        return 0

    # surrogate terms of Theorem 3.1
    @finite_output()
    def surrogate_risk(self, f: PiecewiseAffine, loss: object) -> float:
        """R_φ(f) = E φ(f(X)Y): exact sum for constant pieces, adaptive quadrature
        (``scipy.integrate.quad``, epsabs 1e-13) on affine pieces."""
        _check_f(f)
        loss = cal._as_loss(loss)
        total = 0.0
        t = f.breaks
        for lo, hi, y in self.label_intervals:
            for i in range(len(t) - 1):
                a, b = max(lo, t[i]), min(hi, t[i + 1])
                if not a < b:
                    continue
                s, e = f.start[i], f.end[i]
                if s == e:
                    total += float(b - a) * float(loss._values(float(y * s)))
                else:
                    ta, tb = float(t[i]), float(t[i + 1])
                    fs, fe = float(s), float(e)

                    def integrand(x, fs=fs, fe=fe, ta=ta, tb=tb, y=y):
                        return float(loss._values(y * (fs + (fe - fs) * (x - ta) / (tb - ta))))

                    val, _ = integrate.quad(
                        integrand, float(a), float(b), epsabs=1e-13, epsrel=1e-12, limit=200
                    )
                    total += val
        return total

    @finite_output()
    def optimal_surrogate_risk(self, loss: object) -> float:
        """R*_φ = inf_f R_φ(f) = E H(η(X)) = P(Y=−1)·H(0) + P(Y=+1)·H(1) (an infimum: for
        losses with φ > 0 everywhere, e.g. exponential, it is not attained)."""
        h0, h1 = _h_at_labels(cal._as_loss(loss))
        return float(self.p_negative) * float(h0) + float(self.p_positive) * float(h1)

    @finite_output()
    def boundary_surrogate(self, f: PiecewiseAffine, loss: object, lam: float) -> float:
        """E max_{X' ∈ B(X, ε)} φ(f(X')f(X)/λ) for piecewise-constant f, exactly.

        [0, 1] is cut at every t_i and t_i ± ε; on each cell the own value f(x) and the set
        of values the closed ball reaches (open pieces with x ∈ (t_j − ε, t_{j+1} + ε),
        break values with |x − t_i| ≤ ε) are constant, so the integral is a finite sum.
        """
        _check_f(f)
        if not f.is_piecewise_constant:
            raise ValueError(
                "f must be piecewise constant for the exact E max φ(f(X')f(X)/λ) "
                "(got a piecewise-affine f with a non-zero slope)"
            )
        loss = cal._as_loss(loss)
        lam = check_real("lam", lam, low=0.0, low_open=True)
        lengths, own, piece_lo, piece_hi, at_lo, at_hi = _ball_cells(self, f)
        pieces = np.array([float(v) for v in f.start])
        at = np.array([float(v) for v in f.at])
        best = np.empty(lengths.shape)
        # per distinct own value o: max over the ball's pieces and break values of
        # phi(v·o/lam), a range maximum (sparse table) per cell; a tiny lam sends the
        # argument to ±inf, where phi's limits are used (as for C_eta)
        for o in np.unique(own):
            sel = own == o
            g_pieces = cal._phi_extended(loss, (pieces * o) / lam)
            g_at = cal._phi_extended(loss, (at * o) / lam)
            best[sel] = np.maximum(
                _range_max(g_pieces, piece_lo[sel], piece_hi[sel]),
                _range_max(g_at, at_lo[sel], at_hi[sel]),
            )
        return float(np.dot(lengths, best))

    @finite_output()
    def risks_cached(self, f: PiecewiseAffine) -> Risks:
        """:meth:`risks`, memoised on (example, f) — both are immutable."""
        _check_f(f)
        return _risks_cached(self, f)


@functools.lru_cache(maxsize=4096)
def _risks_cached(example: IntervalExample, f: PiecewiseAffine) -> Risks:
    return example.risks(f)


@functools.lru_cache(maxsize=256)
def _ball_cells(example: IntervalExample, f: PiecewiseAffine):
    """Cells of [0, 1] on which f(x) and the set of values of f on B(x, ε) are constant.

    Returns float arrays (cell lengths, f's own value on each cell) and, per cell, the
    index ranges ``[lo, hi)`` of the open pieces (into ``f.start``) and of the break
    points (into ``f.at``) that the closed ball reaches: both are contiguous because
    the break points are sorted. O(m log m) for m pieces (exact end points).
    """
    e = example.eps
    t = f.breaks
    m = len(t) - 1
    cuts: set[int | float | Fraction] = {0, 1}
    for ti in t:
        for c in (ti - e, ti, ti + e):
            if 0 < c < 1:
                cuts.add(c)
    lengths, own, piece_lo, piece_hi, at_lo, at_hi = [], [], [], [], [], []
    for p, q in itertools.pairwise(sorted(cuts)):
        mid = (p + q) / 2
        # the piece holding the cell; with float end points a cell can be one ulp wide
        # and its midpoint then equals a break point (measure ~1e-16, either side will do)
        i = min(max(bisect.bisect_right(t, mid) - 1, 0), m - 1)
        own.append(float(f.start[i]))
        lengths.append(float(q - p))
        # open pieces j with t_j − ε < mid < t_{j+1} + ε
        piece_lo.append(max(bisect.bisect_right(t, mid - e) - 1, 0))
        piece_hi.append(min(bisect.bisect_left(t, mid + e), m))
        # break points i with |t_i − mid| <= ε
        at_lo.append(bisect.bisect_left(t, mid - e))
        at_hi.append(bisect.bisect_right(t, mid + e))
    ints = [np.array(a, dtype=np.intp) for a in (piece_lo, piece_hi, at_lo, at_hi)]
    return (np.array(lengths), np.array(own), *ints)


def _range_max(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``max(values[lo_k:hi_k])`` for every k (``-inf`` for an empty range): a sparse
    table, O(n log n) to build and O(1) per range."""
    out = np.full(lo.shape, -np.inf)
    n = values.size
    if n == 0:
        return out
    table = [values]
    while 2 ** len(table) <= n:
        prev, half = table[-1], 2 ** (len(table) - 1)
        table.append(np.maximum(prev[:-half], prev[half:]))
    length = hi - lo
    ok = length > 0
    k = np.zeros(lo.shape, dtype=np.intp)
    k[ok] = np.frexp(length[ok].astype(np.float64))[1] - 1  # floor(log2), exact
    for level in np.unique(k[ok]):
        sel = ok & (k == level)
        row = table[level]
        out[sel] = np.maximum(row[lo[sel]], row[hi[sel] - 2**level])
    return out


@functools.lru_cache(maxsize=64)
def _h_at_labels(loss: cal.MarginLoss) -> tuple[float, float]:
    """(H(0), H(1)) — the optimal conditional risks of the two deterministic labels."""
    h = cal.H(loss, np.array([0.0, 1.0]))
    return float(h[0]), float(h[1])


def _check_f(f: object) -> None:
    if not isinstance(f, PiecewiseAffine):
        raise TypeError(f"f must be a PiecewiseAffine score function, got {type(f).__name__}")


def mixed_classifier(example: IntervalExample, c, scale=1) -> PiecewiseAffine:
    """Between Bayes (c = 1) and all-one (c = 0): scale·(2η − 1) on [0, c), scale on [c, 1].

    A piecewise-constant path along which R_nat grows and R_bdy shrinks as c decreases.
    """
    if not isinstance(example, IntervalExample):
        raise TypeError(f"example must be an IntervalExample, got {example!r}")
    c = _exact_real("c", c)
    if not 0 <= c <= 1:
        raise ValueError(f"c must be in [0, 1], got {c!r}")
    scale = _exact_real("scale", scale)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    breaks, values = [0], []
    for lo, hi, y in example.label_intervals:
        if lo >= c:
            break
        hi_c = min(hi, c)
        breaks.append(hi_c)
        values.append(y * scale)
    if breaks[-1] < 1:
        breaks.append(1)
        values.append(scale)
    return PiecewiseAffine.constant(breaks, values)


# --- Table 1 ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Table1:
    """Table 1 of Zhang et al. at one ε, plus what the table leaves out.

    ``robust_optimum`` is min_f R_rob(f) = min(P(Y=−1), P(Y=+1)) for this example (a
    constant classifier attains it; any sign change costs a window of length 2ε that
    holds mass ε of each label, while a tail of the alternating pattern changes the
    label balance by at most ε, so no classifier does better).
    """

    eps: int | float | Fraction
    bayes: Risks
    all_one: Risks
    all_minus_one: Risks
    p_negative: int | float | Fraction
    p_positive: int | float | Fraction
    robust_optimum: int | float | Fraction
    integer_periods: bool


@finite_output()
def table1(eps) -> Table1:
    """Exact Table 1 at ``eps`` (Bayes and all-one classifiers, plus the all-minus-one)."""
    ex = IntervalExample(eps)
    p0, p1 = ex.p_negative, ex.p_positive
    periods = Fraction(1) / (2 * Fraction(ex.eps))
    return Table1(
        ex.eps,
        ex.risks(ex.bayes()),
        ex.risks(ex.all_one()),
        ex.risks(ex.constant_score(-1)),
        p0,
        p1,
        min(p0, p1),
        periods.denominator == 1,
    )


# --- Theorem 3.1 ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Theorem31Terms:
    """Every term of Theorem 3.1 for one (f, φ, λ) on the example, and the two inequalities:

    lhs = R_rob(f) − R*_nat ≤ middle = ψ⁻¹(R_φ(f) − R*_φ) + R_bdy(f)
        ≤ rhs = ψ⁻¹(R_φ(f) − R*_φ) + E max φ(f(X')f(X)/λ).

    ψ⁻¹ is the generalised inverse (1 above ψ(1)).
    """

    lhs: float
    excess_phi: float
    psi_inv: float
    boundary: float
    regulariser: float
    middle: float
    rhs: float

    @property
    def first_holds(self) -> bool:
        """``lhs <= middle`` (up to 1e-12): Theorem 3.1's first inequality."""
        return self.lhs <= self.middle + 1e-12

    @property
    def second_holds(self) -> bool:
        """``middle <= rhs`` (up to 1e-12): Theorem 3.1's second inequality."""
        return self.middle <= self.rhs + 1e-12


@finite_output()
def theorem_3_1_terms(
    example: IntervalExample, f: PiecewiseAffine, loss: object, lam: float
) -> Theorem31Terms:
    """The terms of Theorem 3.1 (Zhang et al.) for piecewise-constant f on example (2)."""
    if not isinstance(example, IntervalExample):
        raise TypeError(f"example must be an IntervalExample, got {example!r}")
    loss = cal._as_loss(loss)
    r = example.risks_cached(f)
    lhs = float(r.robust) - float(example.bayes_natural_error)
    excess = example.surrogate_risk(f, loss) - example.optimal_surrogate_risk(loss)
    excess = max(excess, 0.0) if excess > -1e-12 else excess
    if excess < 0:
        raise ValueError(f"R_phi(f) - R*_phi = {excess} < 0: R*_phi was not the infimum")
    psi_inv = float(cal.psi_inverse(loss, excess, saturate=True))
    reg = example.boundary_surrogate(f, loss, lam)
    bdy = float(r.boundary)
    return Theorem31Terms(lhs, excess, psi_inv, bdy, reg, psi_inv + bdy, psi_inv + reg)


# --- Theorem 3.2 ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Theorem32Construction:
    """The distribution, score and λ of the proof of Theorem 3.2 and the resulting terms.

    Two points x₁ = 0, x₂ = 1 with P(X = x₁) = γ, η(x_i) = (1 + α_i)/2, γα₁ + (1 − γ)α₂ = θ,
    f(x_i) < 0 (so R_bdy = 0), ε < 1 (each ball is one point). ``psi_lower`` is
    ψ(max(θ − reg, 0)) — ψ extended by 0 below 0, see the NOTE ``trades.thm3_2.domain``.
    """

    theta: float
    xi: float
    gamma: float
    alpha: tuple[float, float]
    eta: tuple[float, float]
    scores: tuple[float, float]
    lam: float
    rob_minus_nat_star: float
    excess_phi: float
    regulariser: float
    psi_lower: float

    @property
    def lower_holds(self) -> bool:
        """Theorem 3.2's lower bound ψ(θ − E max φ) <= R_φ − R*_φ (up to 1e-12)."""
        return self.psi_lower <= self.excess_phi + 1e-12

    @property
    def upper_holds(self) -> bool:
        """Theorem 3.2's upper bound R_φ − R*_φ <= ψ(θ − E max φ) + ξ (up to 1e-12)."""
        return self.excess_phi <= self.psi_lower + self.xi + 1e-12


def _contact_points(loss: cal.MarginLoss, theta: float) -> tuple[float, float, float]:
    """(γ, α₁, α₂) with γψ̃(α₁) + (1−γ)ψ̃(α₂) = ψ(θ): the refined chord if θ lies under a
    non-convex stretch of ψ̃, else (1, θ, θ)."""
    for a, b, _, _ in cal._envelope(loss).segments:
        if a < theta < b:
            return (b - theta) / (b - a), a, b
    return 1.0, theta, theta


@finite_output()
def theorem_3_2_construction(
    loss: object, theta: float, xi: float, *, eps: float = 0.5
) -> Theorem32Construction:
    """Build the tightness instance of Theorem 3.2 (Zhang et al.) for ``loss``.

    Follows the proof: choose γ, α₁, α₂ with γψ̃(α₁) + (1−γ)ψ̃(α₂) ≤ ψ(θ) + ξ/3; scores
    f(x_i) < 0 with C_{η_i}(f(x_i)) ≤ H⁻(η_i) + ξ/3; then λ small enough that
    ψ(θ) ≤ ψ(θ − E max φ(f(X')f(X)/λ)) + ξ/3 (possible because φ(α) → 0 as α → +∞).
    Raises ``ValueError`` where a step is impossible (the condition the proof needs fails).
    """
    loss = cal._as_loss(loss)
    theta = check_real("theta", theta, low=0.0, high=1.0)
    xi = check_real("xi", xi, low=0.0, low_open=True)
    eps = check_real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
    gamma, a1, a2 = _contact_points(loss, theta)
    alphas = (a1, a2)
    etas = (0.5 * (1 + a1), 0.5 * (1 + a2))
    h_minus = cal.H_minus(loss, np.array(etas))
    h = cal.H(loss, np.array(etas))
    # Negative scores close to the constrained infimum H⁻ (over α ≤ 0 since η ≥ 1/2).
    # Scores down to -1e-150 (H^- may only be approached as alpha -> 0-, e.g. at eta = 1;
    # f^2 must stay representable for the lambda step); the first (largest |alpha|)
    # candidate within xi/3 of H^- is taken, else the best one must be close enough.
    cand = -np.concatenate([np.geomspace(50, 0.1, 400), 10.0 ** -np.arange(1.0, 151.0), [0.0]])[:-1]
    scores = []
    for eta, hm in zip(etas, h_minus):
        c = cal.conditional_risk(loss, np.full(cand.shape, eta), cand)
        ok = np.flatnonzero(c <= hm + xi / 3)
        if ok.size == 0:  # H^- attained inside: refine the best grid cell
            from scipy.optimize import minimize_scalar

            j = int(np.argmin(c))
            lo, hi = cand[min(j + 1, cand.size - 1)], cand[max(j - 1, 0)]
            res = minimize_scalar(
                lambda a, eta=eta: float(cal.conditional_risk(loss, eta, a)),
                bounds=(min(lo, hi), max(lo, hi)),
                method="bounded",
                options={"xatol": 1e-14},
            )
            if float(res.fun) <= hm + xi / 3 and float(res.x) < 0:
                scores.append(float(res.x))
                continue
        if ok.size == 0:
            raise ValueError(
                f"no negative score reaches H^-(eta={eta}) + xi/3 for loss {loss.name!r} "
                f"(best {float(c.min()) - hm:.3g} above H^- over alpha in [-50, -1e-150]): "
                "phi's constrained infimum is not approached from alpha < 0"
            )
        scores.append(float(cand[ok[0]]))
    weights = np.array([gamma, 1 - gamma])
    f = np.array(scores)
    psi_theta = float(cal.psi(loss, theta))
    lam = 1.0
    for _ in range(200):
        reg = float(np.sum(weights * loss._values(f * f / lam)))  # balls are single points
        arg = max(theta - reg, 0.0)
        if psi_theta <= float(cal.psi(loss, arg)) + xi / 3:
            break
        lam /= 2
    else:
        raise ValueError(
            f"E max phi(f f'/lambda) does not vanish as lambda -> 0 for loss {loss.name!r}: "
            "Theorem 3.2 needs phi(alpha) -> 0 as alpha -> +inf"
        )
    c_vals = cal.conditional_risk(loss, np.array(etas), f)
    excess = float(np.sum(weights * (c_vals - h)))
    r_nat = float(np.sum(weights * np.array(etas)))  # f < 0 everywhere: error iff Y = +1
    r_nat_star = float(np.sum(weights * np.minimum(etas, 1 - np.array(etas))))
    r_bdy = 0.0  # f(x)f(x') > 0 for all x, x'
    return Theorem32Construction(
        theta,
        xi,
        float(gamma),
        (float(alphas[0]), float(alphas[1])),
        (float(etas[0]), float(etas[1])),
        (scores[0], scores[1]),
        lam,
        r_nat + r_bdy - r_nat_star,
        excess,
        reg,
        float(cal.psi(loss, arg)),
    )
