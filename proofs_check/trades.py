"""Symbolic derivations behind Zhang et al. (2019), TRADES, Sections 2.3–2.5.

* Table 2's ψ for the exponential and logistic losses, step by step: the minimiser α* of
  C_η(α) = η φ(α) + (1 − η) φ(−α), H(η) = C_η(α*), H⁻(η) = C_η(0) for η ≥ 1/2 (C_η is
  convex and non-increasing on α ≤ 0 there), ψ̃(θ) = H⁻ − H at η = (1 + θ)/2, and
  ψ̃'' > 0 so that ψ = ψ̃** = ψ̃.
* The decomposition (1) R_rob = R_nat + R_bdy as a pointwise identity of indicators,
  proved by showing that its negation is unsatisfiable (every case of the signs of f(x),
  of f on the ball, and of Y).
* The label balance of example (2): P(Y = −1) = nε + min(1 − 2nε, ε), n = ⌊1/(2ε)⌋, which
  is 1/2 iff 1/(2ε) is an integer.

Each derivation is returned as a :class:`tradeoff.verify.Check` (``boolean``: the claim,
whether sympy confirmed it; ``data``: the expressions it found), with an id and a source
relative to the paper (``exponential.argmin``, ``Table 2``); :mod:`tradeoff.checks.trades`
files them under ``trades.proof.*``.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import sympy as sp

from tradeoff.verify import Check

__all__ = ["decomposition", "derivations", "label_balance", "table2_psi"]


def _derived(
    name: str, source: str, claim: str, ok: bool, detail: str, expressions: dict | None = None
) -> Check:
    """One symbolic step as a check: PASS iff sympy confirmed it; ``data`` holds what was
    derived (sympy expressions, by name)."""
    return replace(Check.boolean(name, source, claim, ok, detail=detail), data=expressions or {})


def _vanishes(expr: sp.Expr) -> bool:
    """expr ≡ 0, by cheap exact rewriting (log expansion, common denominator, expansion)
    rather than ``simplify``, which is ~10× slower here."""
    e = sp.expand(_split_logs(expr))
    return sp.expand(sp.numer(sp.together(e))) == 0


def _split_logs(expr: sp.Expr) -> sp.Expr:
    """log(a/b·c) → log a − log b + log c after putting every log's argument over a common
    denominator and factoring it (all symbols are positive, so this is exact)."""
    expr = expr.replace(sp.log, lambda a: sp.log(sp.factor(sp.together(a))))
    return sp.expand_log(expr, force=True)


def table2_psi(loss: str) -> list[Check]:
    """Derive ψ for ``loss`` in {"exponential", "logistic"} (Table 2 of Zhang et al.).

    η ∈ (0, 1) is written through its odds q = η/(1 − η) > 0 and θ ∈ (0, 1) as
    θ = 1/(1 + t), t > 0, so that sympy knows every quantity under a root or a log is
    positive.
    """
    q = sp.Symbol("q", positive=True)  # odds η/(1 − η)
    alpha = sp.Symbol("alpha", real=True)
    z = sp.Symbol("z", positive=True)  # z = exp(α)
    t = sp.Symbol("t", positive=True)  # θ = 1/(1 + t) ∈ (0, 1)
    theta = sp.Symbol("theta", positive=True)
    eta = q / (1 + q)
    if loss == "exponential":
        phi = sp.exp(-alpha)
        table = 1 - sp.sqrt(1 - theta**2)
        h_expected = 2 * sp.sqrt(eta * (1 - eta))
    elif loss == "logistic":
        phi = sp.log(1 + sp.exp(-alpha)) / sp.log(2)
        table = sp.Rational(1, 2) * (1 - theta) * sp.log(1 - theta) / sp.log(2) + sp.Rational(
            1, 2
        ) * (1 + theta) * sp.log(1 + theta) / sp.log(2)
        h_expected = -(eta * sp.log(eta) + (1 - eta) * sp.log(1 - eta)) / sp.log(2)
    else:
        raise ValueError(f"loss must be 'exponential' or 'logistic', got {loss!r}")
    c = eta * phi + (1 - eta) * phi.subs(alpha, -alpha)
    out: list[Check] = []

    # 1. the stationary point, solved in z = e^α > 0; C'' > 0 makes it the global minimum
    dc = sp.diff(c, alpha)
    dc_z = sp.together(dc.subs(alpha, sp.log(z)))
    roots = [r for r in sp.roots(sp.Poly(sp.numer(dc_z), z)) if r.is_positive]
    ok_root = len(roots) == 1
    alpha_star = sp.log(roots[0]) if ok_root else sp.nan
    d2 = sp.factor(sp.diff(c, alpha, 2).subs(alpha, sp.log(z)))
    convex = bool(d2.is_positive)
    out.append(
        _derived(
            f"{loss}.argmin",
            "Table 2",
            "C_η has one stationary point α* and C_η'' > 0, so α* is the global minimiser",
            ok_root and convex,
            f"α* = {alpha_star} with q = η/(1−η); C''(log z) = {d2}",
            {"alpha_star": alpha_star, "C2": d2},
        )
    )
    # 2. H(η) = C_η(α*)
    h = sp.expand_log(sp.powsimp(c.subs(alpha, alpha_star)), force=True)
    ok_h = ok_root and _vanishes(h - h_expected)
    out.append(
        _derived(
            f"{loss}.H",
            "Table 2",
            "H(η) = C_η(α*) = " + ("2√(η(1−η))" if loss == "exponential" else "h₂(η) (bits)"),
            ok_h,
            f"H = {sp.factor(h)} (q = η/(1−η))",
            {"H": h},
        )
    )
    # 3. H⁻(η) for η ≥ 1/2: C convex and C'(0) = φ'(0)(2η − 1) ≤ 0 ⇒ non-increasing on α ≤ 0
    dc0 = sp.factor(dc.subs(alpha, 0))
    phi_prime0 = sp.factor(sp.diff(phi, alpha).subs(alpha, 0))
    slope_ok = _vanishes(dc0 - phi_prime0 * (2 * eta - 1)) and bool(phi_prime0.is_negative)
    h_minus = sp.factor(sp.expand_log(c.subs(alpha, 0), force=True))
    out.append(
        _derived(
            f"{loss}.H_minus",
            "Table 2",
            "for η ≥ 1/2, H⁻(η) = C_η(0) = φ(0) = 1 (C'(0) = φ'(0)(2η−1) ≤ 0 and C convex)",
            slope_ok and convex and h_minus == 1,
            f"C'(0) = {dc0}, φ'(0) = {phi_prime0}, H⁻ = {h_minus}",
            {"H_minus": h_minus},
        )
    )
    # 4. ψ̃(θ) = H⁻ − H at η = (1 + θ)/2, i.e. q = (1 + θ)/(1 − θ); θ = 1/(1 + t)
    th = 1 / (1 + t)
    psi_t = (h_minus - h).subs(q, (1 + th) / (1 - th))
    if loss == "exponential":
        # 1 − ψ̃ ≥ 0 on both sides: compare squares, which are rational in t
        one_minus = sp.cancel(sp.expand((h - h_minus + 1) ** 2))  # rational in q
        diff = sp.cancel(one_minus.subs(q, (1 + theta) / (1 - theta)) - (1 - table) ** 2)
    else:
        diff = psi_t - table.subs(theta, th)
    ok_tab = _vanishes(diff)
    out.append(
        _derived(
            f"{loss}.psi_tilde",
            "Table 2",
            f"ψ̃(θ) = H⁻ − H at η = (1+θ)/2 equals Table 2: {table}",
            ok_tab,
            "ψ̃(θ) − Table 2 reduces to "
            + ("0" if ok_tab else str(diff))
            + (" (squares of 1 − ψ̃ compared)" if loss == "exponential" else ""),
            {"psi_tilde": psi_t},
        )
    )
    # 5. ψ̃ convex on (0, 1) ⇒ ψ = ψ̃** = ψ̃; ψ̃(0) = 0
    d2t = sp.factor(sp.diff(table, theta, 2))
    convex_t = bool(sp.factor(sp.together(d2t.subs(theta, th))).is_positive)
    zero = table.subs(theta, 0) == 0
    out.append(
        _derived(
            f"{loss}.psi_convex",
            "Table 2",
            "ψ̃'' > 0 on (0, 1) and ψ̃(0) = 0, so ψ = ψ̃** = ψ̃",
            convex_t and zero,
            f"ψ̃''(θ) = {d2t}",
            {"psi_tilde_2": d2t},
        )
    )
    return out


def decomposition() -> Check:
    """R_rob = R_nat + R_bdy (Eq. (1)) as an identity of indicators, by satisfiability.

    Boolean atoms: the sign of f(x) (P: > 0, Z: = 0, N: < 0, exactly one), the label
    (Yp: Y = +1), and which signs f takes on the ball B(x, ε) (bp, bz, bn; the ball
    contains x). Then 1{∃x': f(x')Y ≤ 0} = 1{f(x)Y ≤ 0} + 1{x ∈ B(DB(f), ε), f(x)Y > 0}
    holds iff "rob ⇔ nat ∨ bdy" and "¬(nat ∧ bdy)" hold in every case; sympy shows the
    negation unsatisfiable.
    """
    P, Z, N, Yp, bp, bz, bn = sp.symbols("P Z N Yp bp bz bn")
    Or, And, Not = sp.Or, sp.And, sp.Not
    sign_cases = Or(And(P, Not(Z), Not(N)), And(Z, Not(P), Not(N)), And(N, Not(P), Not(Z)))
    ball_has_x = And(sp.Implies(P, bp), sp.Implies(Z, bz), sp.Implies(N, bn))
    rob = Or(And(Yp, Or(bz, bn)), And(Not(Yp), Or(bz, bp)))
    nat = Or(And(Yp, Or(Z, N)), And(Not(Yp), Or(Z, P)))
    near_boundary = Or(And(P, Or(bz, bn)), And(N, Or(bz, bp)), Z)
    f_y_pos = Or(And(Yp, P), And(Not(Yp), N))
    bdy = And(near_boundary, f_y_pos)
    claim = And(sp.Equivalent(rob, Or(nat, bdy)), Not(And(nat, bdy)))
    counterexample = sp.satisfiable(And(sign_cases, ball_has_x, Not(claim)))
    return _derived(
        "decomposition",
        "Eq. (1)",
        "1{∃x'∈B(x,ε): f(x')y ≤ 0} = 1{f(x)y ≤ 0} + 1{x ∈ B(DB(f),ε), f(x)y > 0}",
        counterexample is False,
        "negation unsatisfiable" if counterexample is False else f"case {counterexample}",
    )


def label_balance() -> Check:
    """P(Y = −1) in example (2) is nε + min(r, ε), r = 1 − 2nε, n = ⌊1/(2ε)⌋; it equals
    1/2 iff r = 0 (1/(2ε) an integer), and P(Y = −1) − P(Y = +1) = min(r, ε) − max(r − ε, 0)
    which is > 0 for r ∈ (0, 2ε)."""
    eps, r = sp.symbols("epsilon r", positive=True)
    n = sp.Symbol("n", integer=True, nonnegative=True)
    p_neg = n * eps + sp.Min(r, eps)
    p_pos = n * eps + sp.Max(r - eps, 0)
    s = sp.Symbol("s", positive=True)
    # the two regimes of the remainder r = 1 − 2nε ∈ (0, 2ε): r ∈ (0, ε) and r ∈ (ε, 2ε)
    r_low, r_high = eps * s / (1 + s), eps + eps * s / (1 + s)
    total = [sp.cancel((p_neg + p_pos).subs(r, rv) - (2 * n * eps + rv)) for rv in (r_low, r_high)]
    gap = sp.Min(r, eps) - sp.Max(r - eps, 0)
    low = sp.factor(gap.subs(r, r_low))
    high = sp.factor(gap.subs(r, r_high))
    ok = total == [0, 0] and bool(low.is_positive) and bool(high.is_positive)
    return _derived(
        "label_balance",
        "Table 1 / Eq. (2)",
        "P(Y=−1) + P(Y=+1) = 1 and P(Y=−1) > 1/2 whenever 1/(2ε) is not an integer",
        ok,
        f"P(Y=−1) − P(Y=+1) = {gap}; = {low} on r∈(0,ε), {high} on r∈(ε,2ε)",
        {"p_neg": p_neg, "p_pos": p_pos},
    )


@functools.lru_cache(maxsize=1)
def derivations() -> tuple[Check, ...]:
    """All derivations of this module (cached: sympy takes about a second)."""
    return (
        *table2_psi("exponential"),
        *table2_psi("logistic"),
        decomposition(),
        label_balance(),
    )
