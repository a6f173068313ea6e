"""Symbolic and high-precision checks of Tsipras et al.'s proofs (Appendix B and C).

* :func:`theorem_2_1_algebra` — sympy: the standard and adversarial accuracy of any
  classifier in terms of ``a = 1 - p_++ + p_--`` and ``b = 1 - p_-+ + p_+-`` (Appendix B),
  for symbolic ``p``; the final inequality ``adv <= p/(1-p) delta``; the paper's step with
  the constant 49/9 at p = 7/10; the tight vertex ``f = sign(x1)``.
* :func:`svm_algebra` — sympy: the derivative identities behind the closed-form hinge of
  :mod:`tradeoff.svm` and the minimisation that gives the exact non-robust threshold on
  the hinge kink.
* :func:`lemma_constants` — mpmath quadrature at 20 digits of the numeric constants of
  Lemmas C.2–C.4 and of the averaging classifier (4): each a Gaussian integral computed
  from its density, independently of ``scipy.special``.
* :func:`svm_accuracy_mp` — the exact accuracy of a reduced SVM ``(w1, v)`` by mpmath.

Each returns :class:`tradeoff.verify.Check` records, with ids and sources relative to
the paper (``thm2_1.standard``, ``Appendix B``): identities as
:meth:`~tradeoff.verify.Check.boolean`, the quadratures as
:meth:`~tradeoff.verify.Check.bound` (value, relation, bound, computed to 20 digits and
rounded to float). :mod:`tradeoff.checks.tsipras` files them under
``tsipras.proof.*``.
"""

from __future__ import annotations

from tradeoff.verify import Check

__all__ = [
    "lemma_constants",
    "svm_accuracy_mp",
    "svm_algebra",
    "theorem_2_1_algebra",
]

_DPS = 20


def _is_zero(expr) -> bool:
    """Exact zero test for the rational expressions of Appendix B."""
    import sympy as sp

    return sp.cancel(sp.together(sp.expand(expr))) == 0


def theorem_2_1_algebra() -> list[Check]:
    """Verify the algebra of the proof of Theorem 2.1 (Appendix B) for symbolic p."""
    import sympy as sp

    p = sp.Symbol("p", positive=True)
    delta = sp.Symbol("delta", nonnegative=True)
    ppp, ppm, pmp, pmm = sp.symbols("p_pp p_pm p_mp p_mm", nonnegative=True)
    half = sp.Rational(1, 2)
    q = 1 - p
    # From the definitions: y = +1 sees G_+, y = -1 sees G_-; x1 has the sign of y w.p. p.
    std = half * (p * ppp + q * pmp) + half * (p * (1 - pmm) + q * (1 - ppm))
    # The adversary swaps G_+ and G_-.
    adv = half * (p * ppm + q * pmm) + half * (p * (1 - pmp) + q * (1 - ppp))
    a = 1 - ppp + pmm
    b = 1 - pmp + ppm
    out = []

    ok_std = _is_zero(std - (1 - half * (p * a + q * b)))
    ok_std_paper = _is_zero(std - half * (p * (1 + ppp - pmm) + q * (1 + pmp - ppm)))
    out.append(
        Check.boolean(
            "thm2_1.standard",
            "Appendix B",
            "standard accuracy = 1/2(p(1+p_++-p_--) + (1-p)(1+p_-+-p_+-)) = 1 - (p a + (1-p) b)/2",
            ok_std and ok_std_paper,
            detail="sympy, symbolic p (the paper's 0.7 generalised)",
        )
    )
    ok_adv = _is_zero(adv - half * (q * a + p * b))
    ok_adv_paper = _is_zero(adv - half * (p * (1 + ppm - pmp) + q * (1 + pmm - ppp)))
    out.append(
        Check.boolean(
            "thm2_1.adversarial",
            "Appendix B",
            "adversarial accuracy = 1/2(p(1+p_+--p_-+) + (1-p)(1+p_---p_++)) = ((1-p) a + p b)/2",
            ok_adv and ok_adv_paper,
            detail="sympy, symbolic p",
        )
    )

    # Final inequality: p/(1-p) * (p a + (1-p) b)/2 - ((1-p) a + p b)/2 = a (2p-1)/(2(1-p)).
    gap = p / q * half * (p * a + q * b) - half * (q * a + p * b)
    coefficient = (2 * p - 1) / (2 * q)
    ok_gap = _is_zero(gap - a * coefficient)
    # p = (1+u)/(2+u) maps u in (0, inf) onto p in (1/2, 1); there the coefficient is u/2.
    u = sp.Symbol("u", positive=True)
    on_range = sp.cancel(coefficient.subs(p, (1 + u) / (2 + u)))
    ok_sign = sp.expand(on_range - u / 2) == 0 and bool(on_range.is_positive)
    # std >= 1 - delta  <=>  p a + (1-p) b <= 2 delta, hence adv <= p/(1-p) delta.
    ok_std_constraint = _is_zero((1 - std) - half * (p * a + q * b))
    out.append(
        Check.boolean(
            "thm2_1.inequality",
            "Theorem 2.1 / Appendix B",
            "p/(1-p)(p a+(1-p) b)/2 - ((1-p) a+p b)/2 = a(2p-1)/(2(1-p)) >= 0 for a >= 0, "
            "p in (1/2, 1); so std >= 1-delta implies adv <= p/(1-p) delta",
            ok_gap and ok_sign and ok_std_constraint,
            detail="coefficient (2p-1)/(2(1-p)) = u/2 > 0 with p = (1+u)/(2+u), u > 0",
        )
    )

    seven = sp.Rational(7, 10)
    three = sp.Rational(3, 10)
    a_s, b_s = sp.symbols("a b", nonnegative=True)
    ok_step = _is_zero(
        half * (three * sp.Rational(49, 9) * a_s + seven * b_s)
        - seven / (2 * three) * (seven * a_s + three * b_s)
    )
    ok_const = (p / q).subs(p, seven) == sp.Rational(7, 3)
    ok_const2 = _is_zero(seven / (2 * three) * 2 * delta - sp.Rational(7, 3) * delta)
    out.append(
        Check.boolean(
            "thm2_1.paper_step",
            "Appendix B",
            "at p = 0.7: (0.3*49/9 a + 0.7 b)/2 = (0.7/0.6)(0.7a + 0.3b) and (0.7/0.6)*2 delta "
            "= 7/3 delta = p/(1-p) delta",
            ok_step and ok_const and ok_const2,
            detail="49/9 = (0.7/0.3)^2, the factor that turns 0.3a into (0.7/0.6)*0.7a",
        )
    )
    vertex = {ppp: 1, ppm: 1, pmp: 0, pmm: 0}  # f = sign(x1)
    ok_tight = (
        _is_zero(std.subs(vertex) - p)
        and _is_zero(adv.subs(vertex) - p)
        and _is_zero((p / q * delta).subs(delta, q) - p)
    )
    out.append(
        Check.boolean(
            "thm2_1.tight_vertex",
            "Section 2.1 (after Theorem 2.1)",
            "f = sign(x1) (p_++ = p_+- = 1, p_-+ = p_-- = 0) has standard = adversarial = p "
            "= the bound at delta = 1-p",
            ok_tight,
            detail="sympy, symbolic p",
        )
    )
    return out


def svm_algebra() -> list[Check]:
    """Verify the calculus behind :mod:`tradeoff.svm`'s closed forms and threshold."""
    import mpmath as mp
    import sympy as sp

    t, lin, sig = sp.symbols("t L sigma", real=True)
    phi = sp.exp(-(t**2) / 2) / sp.sqrt(2 * sp.pi)
    big_phi = (1 + sp.erf(t / sp.sqrt(2))) / 2
    g = t * big_phi + phi
    out = []
    # g(t) = E max(0, t - N(0,1)) = int_{-inf}^t (t - x) phi(x) dx: both sides have second
    # derivative phi, so they agree everywhere once they agree at two points.
    ok_dg = sp.expand(sp.diff(g, t) - big_phi) == 0
    ok_d2g = sp.expand(sp.diff(g, t, 2) - phi) == 0
    persp = sig * g.subs(t, lin / sig)
    ok_dsig = sp.expand(sp.diff(persp, sig) - phi.subs(t, lin / sig)) == 0
    ok_dlin = sp.expand(sp.diff(persp, lin) - big_phi.subs(t, lin / sig)) == 0
    with mp.workdps(_DPS):
        gap = max(
            abs(
                _normal_expectation(lambda x, s=s: s - x, 0, 1, upper=mp.mpf(s))
                - (s * mp.ncdf(s) + mp.npdf(s))
            )
            for s in (mp.mpf(-1), mp.mpf(2))
        )
    ok_points = gap < mp.mpf(10) ** (-(_DPS - 5))
    out.append(
        Check.boolean(
            "svm.closed_form",
            "Appendix C, problem (5) (closed form used by tradeoff.svm)",
            "E max(0, t - N(0,1)) = t Phi(t) + phi(t) = g(t); g' = Phi; "
            "d/dsigma[sigma g(L/sigma)] = phi(L/sigma); d/dL = Phi(L/sigma)",
            ok_dg and ok_d2g and ok_dsig and ok_dlin and ok_points,
            detail=(
                f"sympy derivatives; g'' = phi and quadrature at t = -1, 2 (gap {float(gap):.1e})"
            ),
        )
    )
    # Threshold on the kink: D(a) = q sd (e - eta) + a K + p g(T - a (1 - e)), T = sd (e - eta).
    # With g' = Phi (above), stationarity is K = p (1 - e) Phi(t*), t* = T - a*(1 - e).
    p, e, eta, sd = sp.symbols("p epsilon eta s_d", positive=True)
    ts, cdf, pdf = sp.symbols("t_star Phi_star phi_star", real=True)
    q = 1 - p
    big_t = sd * (e - eta)
    k = p * (1 - e) * cdf
    a_star = (big_t - ts) / (1 - e)
    value = q * sd * (e - eta) + a_star * k + p * (ts * cdf + pdf)
    claimed = sd * (e - eta) * (q + p * cdf) + p * pdf
    ok_value = _is_zero(value - claimed)
    lam = sp.Symbol("lambda", positive=True)
    k_def = q * (1 + e) + lam / (1 - e)
    ok_phi = _is_zero((k - k_def).subs(cdf, k_def / (p * (1 - e))))
    out.append(
        Check.boolean(
            "svm.kink_threshold",
            "Lemma C.5 (exact threshold, penalised problem on the kink)",
            "min_a D(a) = sqrt(d)(eps-eta)(1-p+p Phi(t*)) + p phi(t*) with "
            "Phi(t*) = ((1-p)(1+eps) + lam/(1-eps)) / (p(1-eps))",
            ok_value and ok_phi,
            detail="sympy: D(a*) at the stationary point a* = (T - t*)/(1-eps), using g' = Phi",
        )
    )
    return out


def _normal_expectation(func, mean, sd, upper=None):
    """``E[func(X) 1{X <= upper}]``, X ~ N(mean, sd^2), by tanh-sinh quadrature.

    The range is cut at ``mean +- 14 sd``: the normal mass outside is ``1.6e-44``, far
    below the working precision of ``_DPS`` digits for the integrands used here.
    """
    import mpmath as mp

    mean, sd = mp.mpf(mean), mp.mpf(sd)
    lo = mean - 14 * sd
    hi = mean + 14 * sd if upper is None else min(mp.mpf(upper), mean + 14 * sd)
    if hi <= lo:
        return mp.mpf(0)
    norm = sd * mp.sqrt(2 * mp.pi)
    return mp.quad(lambda x: func(x) * mp.exp(-((x - mean) ** 2) / (2 * sd**2)) / norm, [lo, hi])


def _one(x):
    """The integrand of a probability (``E[1{X <= upper}]``)."""
    return 1


def _quad_bound(
    key: str, source: str, claim: str, value, relation: str, bound: str, note: str = ""
) -> Check:
    """A ``bound`` check of a constant computed by mpmath quadrature to ``_DPS`` digits."""
    import mpmath as mp

    margin = abs(float(value) - float(bound))
    detail = f"mpmath quad, {_DPS} digits: {mp.nstr(value, 12)}{note}; margin {margin:.3g}"
    return Check.bound(key, source, claim, float(value), relation, float(bound), detail=detail)


def lemma_constants() -> list[Check]:
    """The numeric constants of Lemmas C.2–C.4 and of classifier (4), by mpmath quadrature."""
    import mpmath as mp

    with mp.workdps(_DPS):
        r2 = 1 / mp.sqrt(2)
        c = 1 + r2
        return [
            _quad_bound(
                "c2.wrong_x1_loss",
                "Lemma C.2",
                "0.3 E[max(0, 1 + 1/sqrt2 - N(4/sqrt2, 1/2))] > 0.005",
                mp.mpf("0.3") * _normal_expectation(lambda x: c - x, 4 * r2, r2, upper=c),
                ">",
                "0.005",
            ),
            _quad_bound(
                "c2.v_only_loss",
                "Lemma C.2",
                "E[max(0, 1 - N(4, 1))] < 0.0004 (w1 = 0, v = 1)",
                _normal_expectation(lambda x: 1 - x, 4, 1, upper=mp.mpf(1)),
                "<",
                "0.0004",
            ),
            # Lemma C.3: P(v y z > 1/sqrt2) with v y z ~ N(4v, v^2), worst case v = 1/sqrt2.
            _quad_bound(
                "c3.probability",
                "Lemma C.3",
                "P(v y z > 1/sqrt2) >= 99% for v >= 1/sqrt2 (worst case v = 1/sqrt2: Phi(3))",
                1 - _normal_expectation(_one, 4 * r2, r2, upper=r2),
                ">=",
                "0.99",
                note=" = Phi(3)",
            ),
            # Lemma C.4: the shifted z has y z_adv ~ N(-4, 1); P(v y z_adv < -1/sqrt2) at
            # v = 1/sqrt2.
            _quad_bound(
                "c4.probability",
                "Lemma C.4",
                "P(v y z_adv < -1/sqrt2) >= 99% (adversarial accuracy <= 1%), worst case "
                "v = 1/sqrt2",
                _normal_expectation(_one, -4 * r2, r2, upper=-r2),
                ">=",
                "0.99",
            ),
            _quad_bound(
                "avg.standard",
                "Section 2.1, classifier (4)",
                "P(N(eta, 1/d) > 0) = Phi(3) > 99% at eta = 3/sqrt(d)",
                1 - _normal_expectation(_one, 3, 1, upper=mp.mpf(0)),
                ">",
                "0.99",
            ),
            _quad_bound(
                "avg.adversarial",
                "Section 2.1, classifier (4)",
                "P(N(-eta, 1/d) > 0) = Phi(-3) < 1% at eps = 2 eta = 6/sqrt(d)",
                1 - _normal_expectation(_one, -3, 1, upper=mp.mpf(0)),
                "<",
                "0.01",
            ),
        ]


def svm_accuracy_mp(
    w1: float, v: float, mu: float, p: float, eps: float = 0.0, sqrt_d: float = 1.0
) -> float:
    """Accuracy of ``sign(w1 x1 + v z)`` against ``||delta||_inf <= eps`` by mpmath quadrature.

    ``sum_s P(s) P(w1 s + v N(mu, 1) - eps(|w1| + sqrt_d |v|) > 0)`` with each probability
    integrated from the normal density at 20 digits (``v > 0``).
    """
    import mpmath as mp

    with mp.workdps(_DPS):
        w1m, vm, mum, pm = mp.mpf(w1), mp.mpf(v), mp.mpf(mu), mp.mpf(p)
        shift = mp.mpf(eps) * (abs(w1m) + mp.mpf(sqrt_d) * abs(vm))
        total = mp.mpf(0)
        for s, ps in ((1, pm), (-1, 1 - pm)):
            cut = (shift - w1m * s) / vm  # correct iff y z > cut
            below = _normal_expectation(lambda x: 1, mum, 1, upper=cut)
            total += ps * (1 - below)
        return float(total)
