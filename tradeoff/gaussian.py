"""The Gaussian model (3) of Tsipras et al. and the exact theory of linear classifiers on it.

Tsipras, Santurkar, Engstrom, Turner, Madry, *Robustness may be at odds with accuracy*
(ICLR 2019), Section 2.1 and Appendix B. The data model (3) is::

    y ~ uniform{-1, +1},   x1 = +y w.p. p, -y w.p. 1 - p,   x2, ..., x_{d+1} iid N(eta*y, 1)

(the paper fixes p = 0.7). Everything here is exact: accuracies of linear classifiers are
finite sums of normal CDFs (``scipy.special.ndtr`` / ``log_ndtr``), and the trade-off
frontier of Theorem 2.1 is a linear programme solved by ``scipy.optimize.linprog`` and
checked against its closed form.

Perturbations are l-infinity bounded, ``||delta||_inf <= eps``, with ``eps`` measured in
the units of the features themselves (x1 is +-1, the other features have unit variance),
and the adversary may move *every* coordinate, x1 included. ``sign(0)`` counts as an error.

Checks: every public function checks its arguments (``ValueError`` / ``TypeError`` naming
the parameter) and its result (:func:`tradeoff._validate.finite_output`): never NaN, and
±inf only where documented (``log_accuracy`` is ``-inf`` exactly when the accuracy is 0);
arguments whose result float64 cannot hold raise ``ValueError`` naming them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, logsumexp, ndtr

from tradeoff._validate import check_array, check_int, check_real, check_rng, finite_output

__all__ = [
    "Frontier",
    "GaussianModel",
    "averaging_weights",
    "frontier",
    "frontier_bound",
]


@dataclass(frozen=True)
class GaussianModel:
    """Model (3) of Tsipras et al.: one robust feature x1 and ``d`` non-robust ones.

    Parameters
    ----------
    d : int
        Number of weakly correlated features x2..x_{d+1} (``d >= 1``).
    eta : float
        Their mean is ``eta * y`` (``eta > 0``); the paper takes ``eta = Theta(1/sqrt(d))``,
        e.g. ``3/sqrt(d)`` for the averaging classifier and ``4/sqrt(d)`` in Theorem 2.2.
    p : float
        Probability that x1 equals y (``0.5 < p < 1``; the paper uses 0.7).
    """

    d: int
    eta: float
    p: float = 0.7

    def __post_init__(self) -> None:
        object.__setattr__(self, "d", check_int("d", self.d, low=1))
        object.__setattr__(self, "eta", check_real("eta", self.eta, low=0.0, low_open=True))
        object.__setattr__(
            self, "p", check_real("p", self.p, low=0.5, high=1.0, low_open=True, high_open=True)
        )

    # --- derived quantities -------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Input dimension ``d + 1``."""
        return self.d + 1

    @property
    def mu(self) -> float:
        """``eta * sqrt(d)``: the mean of ``y * z`` with ``z = sum_{i>=2} x_i / sqrt(d)``."""
        return self.eta * math.sqrt(self.d)

    # --- sampling -----------------------------------------------------------------------
    @finite_output()
    def sample(self, n: int, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` iid pairs from model (3).

        Returns
        -------
        X : ndarray of shape (n, d + 1), float64
        y : ndarray of shape (n,), int64 with values in {-1, +1}
        """
        n = check_int("n", n, low=1)
        gen = check_rng(rng)
        y = np.where(gen.random(n) < 0.5, 1, -1).astype(np.int64)
        agree = gen.random(n) < self.p
        X = np.empty((n, self.dim), dtype=np.float64)
        X[:, 0] = np.where(agree, y, -y)
        X[:, 1:] = gen.standard_normal((n, self.d)) + self.eta * y[:, None]
        return X, y

    # --- exact accuracy of linear classifiers ----------------------------------------------
    def _margin_terms(
        self, w: object, eps: object, b: object
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Weights and standardised margins of the four (y, sign(y x1)) cells.

        The worst l-inf perturbation of a linear classifier is ``-eps * y * sign(w)``, so the
        adversarial margin is ``y (w.x + b) - eps ||w||_1``; given ``y`` and ``s = y x1`` it
        is ``w1 s + y b - eps ||w||_1 + G`` with ``G ~ N(eta sum(w_2:), ||w_2:||^2)``.
        Returns (cell probabilities, numerators, sigma).
        """
        w = check_array("w", w, shape=(self.dim,))
        eps = check_real("eps", eps, low=0.0)
        b = check_real("b", b)
        # sign(w.x + b) is invariant under positive scaling: normalise so that huge or
        # tiny weights neither overflow nor underflow ||w_2:|| (1e-200 would give 0).
        scale = max(float(np.max(np.abs(w))), abs(b))
        if scale > 0.0:
            w, b = w / scale, b / scale
        w1, u = float(w[0]), w[1:]
        sigma = float(np.linalg.norm(u))
        mean = self.eta * float(u.sum())
        l1 = float(np.abs(w).sum())
        s = np.array([1.0, -1.0, 1.0, -1.0])
        yy = np.array([1.0, 1.0, -1.0, -1.0])
        prob = 0.5 * np.array([self.p, 1 - self.p, self.p, 1 - self.p])
        num = w1 * s + yy * b + mean - eps * l1
        return prob, num, sigma

    @finite_output()
    def accuracy(self, w: object, eps: float = 0.0, b: float = 0.0) -> float:
        """Exact accuracy of ``x -> sign(w.x + b)`` against the worst ``||delta||_inf <= eps``.

        ``P[sign(w.(x + delta*) + b) = y]`` where ``delta*`` is the worst perturbation for
        each ``(x, y)``; ``eps = 0`` gives the standard accuracy. ``sign(0)`` is an error
        (so ``w = 0, b = 0`` has accuracy 0). Closed form: with ``s = y x1`` and
        ``sigma = ||w_2:||_2``,

        ``acc = 1/2 sum_y sum_s P(s) Phi((w1 s + y b + eta sum(w_2:) - eps ||w||_1) / sigma)``

        and, when ``sigma = 0``, the indicator that the (deterministic) numerator is > 0.

        Parameters
        ----------
        w : array of shape (d + 1,)
        eps : float
            l-inf radius in feature units (``>= 0``); every coordinate may move.
        b : float
            Bias.
        """
        prob, num, sigma = self._margin_terms(w, eps, b)
        if sigma == 0.0:
            return float(prob[num > 0].sum())
        return float(np.dot(prob, ndtr(num / sigma)))

    @finite_output()
    def error(self, w: object, eps: float = 0.0, b: float = 0.0) -> float:
        """``1 - accuracy(w, eps, b)``, computed without cancellation (for errors < 1e-16)."""
        prob, num, sigma = self._margin_terms(w, eps, b)
        if sigma == 0.0:
            return float(prob[num <= 0].sum())
        return float(np.dot(prob, ndtr(-num / sigma)))

    @finite_output(allow_inf=("result",))
    def log_accuracy(self, w: object, eps: float = 0.0, b: float = 0.0) -> float:
        """``log accuracy(w, eps, b)`` via ``log_ndtr``, finite far into the tail
        (``-inf`` only when the accuracy is exactly 0)."""
        prob, num, sigma = self._margin_terms(w, eps, b)
        if sigma == 0.0:
            acc = float(prob[num > 0].sum())
            return math.log(acc) if acc > 0 else -math.inf
        return float(logsumexp(np.log(prob) + log_ndtr(num / sigma)))

    # --- the averaging classifier (4) ---------------------------------------------------
    @finite_output()
    def averaging_weights(self) -> np.ndarray:
        """``w_unif = [0, 1/d, ..., 1/d]`` of classifier (4)."""
        return averaging_weights(self.d)

    @finite_output()
    def averaging_accuracy(self, eps: float = 0.0) -> float:
        """Exact accuracy of the averaging classifier (4) against ``||delta||_inf <= eps``.

        ``w_unif.x`` given y is ``N(eta y, 1/d)`` and the worst perturbation moves it by
        ``eps`` towards ``-y``, so the accuracy is ``Phi((eta - eps) sqrt(d))``: ``Phi(eta
        sqrt(d))`` standard (> 99 % once ``eta >= 3/sqrt(d)``) and ``Phi(-eta sqrt(d))``
        at ``eps = 2 eta``. (The display after (4) in the paper writes ``N(eta, 1)`` for
        this average; its variance is ``1/d``.)
        """
        eps = check_real("eps", eps, low=0.0)
        return float(ndtr((self.eta - eps) * math.sqrt(self.d)))


@finite_output()
def averaging_weights(d: int) -> np.ndarray:
    """Weights ``[0, 1/d, ..., 1/d]`` of the averaging classifier (4), shape ``(d + 1,)``."""
    d = check_int("d", d, low=1)
    w = np.full(d + 1, 1.0 / d)
    w[0] = 0.0
    return w


# --- Theorem 2.1: the exact trade-off frontier ------------------------------------------------


@dataclass(frozen=True)
class Frontier:
    """One point of the Theorem 2.1 frontier (see :func:`frontier`).

    Attributes
    ----------
    p, delta : float
        Model parameter and allowed standard error (standard accuracy ``>= 1 - delta``).
    value : float
        Largest adversarial accuracy against an adversary with ``eps >= 2 eta`` (which may
        also leave the input unchanged), over the four probabilities of Appendix B — the
        LP optimum. Equals ``closed_form``.
    closed_form : float
        ``p * min(delta / (1 - p), 1)``.
    shift_value : float
        The same LP against the proof's fixed adversary only (``x_i -> x_i - 2 eta y``),
        i.e. without the constraint "adversarial <= standard accuracy".
    shift_closed_form : float
        ``p delta/(1-p)`` for ``delta <= 1-p``, then ``p + (1-p)(delta-(1-p))/p``, capped at 1.
    bound : float
        Theorem 2.1's bound ``p/(1-p) * delta`` (``7/3 delta`` at p = 0.7).
    probabilities : tuple of float
        An optimal ``(p_++, p_+-, p_-+, p_--)`` of the LP for ``value``.
    standard : float
        Standard accuracy of that optimal point.
    """

    p: float
    delta: float
    value: float
    closed_form: float
    shift_value: float
    shift_closed_form: float
    bound: float
    probabilities: tuple[float, float, float, float]
    standard: float

    @property
    def tight(self) -> bool:
        """Whether the bound equals the frontier here (true exactly for ``delta <= 1 - p``)."""
        return abs(self.bound - self.value) <= 1e-9


@finite_output()
def frontier_bound(p: float, delta: float) -> float:
    """Theorem 2.1's bound ``p / (1 - p) * delta`` for general ``p`` (``7/3 delta`` at 0.7)."""
    p = check_real("p", p, low=0.5, high=1.0, low_open=True, high_open=True)
    delta = check_real("delta", delta, low=0.0, high=1.0)
    return p / (1.0 - p) * delta


def _accuracy_rows(p: float) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Standard and shift-adversarial accuracy as ``row . (p_++, p_+-, p_-+, p_--) + const``.

    Appendix B with 0.7 replaced by p:
    standard = 1/2 (p (1 + p_++ - p_--) + (1-p)(1 + p_-+ - p_+-)),
    adversarial = 1/2 (p (1 + p_+- - p_-+) + (1-p)(1 + p_-- - p_++)).
    """
    q = 1.0 - p
    std = 0.5 * np.array([p, -q, q, -p])
    adv = 0.5 * np.array([-q, p, -p, q])
    return std, adv, 0.5, 0.5


@finite_output()
def frontier(p: float, delta: float) -> Frontier:
    """Theorem 2.1 as an optimisation: the robustness-accuracy frontier of model (3).

    ``value`` is the exact optimum of Appendix B's linear programme. It is an upper bound
    on what any classifier attains (the LP lets the adversary only shift or not shift),
    attained at ``delta >= 1 - p`` by ``f = sign(x1)`` for every d and eta (``eps < 1``), and
    approached elsewhere only as ``eta sqrt(d) -> inf`` (see below).

    The largest adversarial accuracy (l-inf, ``eps >= 2 eta``) of any classifier whose
    standard accuracy is at least ``1 - delta``, as the linear programme of Appendix B over
    the four probabilities ``p_ij = P(f(x) = +1 | sign x1 = i, x_2: ~ G_j)``, solved with
    ``scipy.optimize.linprog`` (HiGHS) for any ``p`` in (0.5, 1) and ``delta`` in [0, 1].

    The proof's adversary replaces ``G_+`` by ``G_-`` and back (``x_i -> x_i - 2 eta y``);
    a worst-case adversary can also leave x alone, so adversarial accuracy is at most the
    standard one. Maximising ``t`` subject to ``t <= adversarial(p_ij)``,
    ``t <= standard(p_ij)``, ``standard(p_ij) >= 1 - delta``, ``0 <= p_ij <= 1`` gives
    ``value``; dropping ``t <= standard`` gives ``shift_value`` (the proof's LP). With
    ``a = 1 - p_++ + p_--``, ``b = 1 - p_-+ + p_+-`` the LP reads
    ``max ((1-p) a + p b)/2`` s.t. ``(p a + (1-p) b)/2 <= delta``, so

    * ``value = p/(1-p) * delta`` for ``delta <= 1 - p``: the bound ``p/(1-p) delta`` is
      tight on the whole segment, not only at ``delta = 1 - p``, where ``f = sign(x1)``
      attains ``p``/``p`` for every d and eta (``eps < 1``). For ``delta < 1 - p`` the LP
      optimum is approached, as ``eta sqrt(d) -> inf``, by mixing ``sign(x1)`` with the
      averaging classifier (4); at finite ``eta sqrt(d)`` ``G_+`` and ``G_-`` overlap and the
      attainable frontier is lower.
    * ``value = p`` for ``delta >= 1 - p`` (flat), while the bound keeps growing and is
      vacuous (> 1) for ``delta > (1-p)/p``. The proof's LP alone rises as
      ``p + (1-p)(delta - (1-p))/p`` to 1 at ``delta = 1`` (``f = -sign(z)`` "wins" against
      a fixed shift), an artefact of fixing the adversary.
    """
    from scipy.optimize import linprog

    p = check_real("p", p, low=0.5, high=1.0, low_open=True, high_open=True)
    delta = check_real("delta", delta, low=0.0, high=1.0)
    std, adv, c_std, c_adv = _accuracy_rows(p)
    bounds = [(0.0, 1.0)] * 4

    # Variables (p_++, p_+-, p_-+, p_--, t); maximise t.
    a_ub = np.array(
        [
            [*(-adv), 1.0],  # t <= adv
            [*(-std), 1.0],  # t <= std
            [*(-std), 0.0],  # std >= 1 - delta
        ]
    )
    b_ub = np.array([c_adv, c_std, c_std - (1.0 - delta)])
    res = linprog(
        np.array([0, 0, 0, 0, -1.0]),
        A_ub=a_ub,
        b_ub=b_ub,
        bounds=[*bounds, (0.0, 1.0)],
        method="highs",
    )
    res_shift = linprog(
        -adv, A_ub=-std[None, :], b_ub=[c_std - (1.0 - delta)], bounds=bounds, method="highs"
    )
    if res.status != 0 or res_shift.status != 0:  # pragma: no cover - the LP is always feasible
        raise RuntimeError(f"linprog failed: {res.message}; {res_shift.message}")
    probs = tuple(float(x) + 0.0 for x in res.x[:4])
    q = 1.0 - p
    closed = p * min(delta / q, 1.0)
    shift_closed = p * delta / q if delta <= q else min(1.0, p + q * (delta - q) / p)
    return Frontier(
        p=p,
        delta=delta,
        value=float(-res.fun) + 0.0,
        closed_form=closed,
        shift_value=float(-res_shift.fun + c_adv),
        shift_closed_form=shift_closed,
        bound=p / q * delta,
        probabilities=probs,  # type: ignore[arg-type]
        standard=float(std @ res.x[:4] + c_std),
    )
