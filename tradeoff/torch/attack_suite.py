"""More attacks: MI-FGSM, DeepFool, Carlini–Wagner l2, box-constrained L-BFGS, transfer.

* :func:`mi_fgsm` — momentum iterative FGSM (Dong et al. 2018, Algorithm 1, Eqs. (6)–(7)),
  stepping with :mod:`tradeoff.kernels` like :func:`~tradeoff.torch.attacks.pgd`;
* :func:`deepfool` — DeepFool (Moosavi-Dezfooli et al. 2016, Algorithm 2 and Eqs. (10)–(11)
  for l2, §3.3 for l∞), a minimal-norm attack;
* :func:`carlini_wagner_l2` — the Carlini–Wagner l2 attack (Carlini & Wagner 2017, §V-A:
  objective f6, tanh change of variables, Adam, binary search over c);
* :func:`lbfgs` — box-constrained L-BFGS (Szegedy et al. 2014, §4.1), through
  ``scipy.optimize.minimize(method="L-BFGS-B")``, with a search over c;
* :func:`transfer_accuracy` — black-box transfer: craft on a source model, evaluate a
  target model (Tsipras et al. 2019, Tables 6–7).

Units: ε, step sizes and the reported distances are in the pixel units of ``clip``
(``[0, 1]`` by default); l2 distances are ``‖x_adv − x‖₂`` over all pixels of a sample,
l∞ distances ``max |x_adv − x|``.

The guarantees of :mod:`tradeoff.torch.attacks` hold here too: the model is in eval mode
during the attack and every submodule's train/eval flag is restored afterwards (even if
the attack raises); the parameters' ``.grad`` are never touched (gradients are taken with
``torch.autograd.grad`` with respect to the input or the attack's own variables); losses
are summed over the batch and every per-sample decision (step, binary search, best result)
uses only that sample, so a sample's result does not depend on the rest of the batch; the
results are finite and inside ``clip`` (MI-FGSM: and inside the ε-ball); a zero gradient
never gives NaN. A model with non-finite logits or gradients raises ``ValueError``.

The minimal-norm attacks (:func:`deepfool`, :func:`carlini_wagner_l2`, :func:`lbfgs`)
return an :class:`AdversarialResult` with the images, the per-sample distances and
whether each sample was fooled. Networks with one output and ±1 labels are read as two
classes with logits ``(0, f)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from tradeoff._validate import check_bool, check_choice, check_int, check_real

from ._checks import check_label_values, check_logits, forward
from .attacks import (
    ALPHA_MAX,
    LossFn,
    _check_clip,
    _check_input,
    _check_labels,
    _check_model_matches,
    _correct,
    _Finite,
    _input_gradient,
    _kernels,
    _loss,
    eval_mode,
)

__all__ = [
    "AdversarialResult",
    "TransferResult",
    "carlini_wagner_l2",
    "deepfool",
    "lbfgs",
    "mi_fgsm",
    "transfer_accuracy",
]


@dataclass(frozen=True)
class AdversarialResult:
    """The result of a minimal-norm attack.

    Attributes
    ----------
    x_adv:
        the adversarial batch (detached, same shape and dtype as ``x``, inside ``clip``);
        for a sample the attack did not fool, the attack's last (DeepFool) or the clean
        (C&W, L-BFGS) point.
    distance:
        ``‖x_adv − x‖`` per sample in pixel units of ``clip`` (``norm``), shape ``(n,)``.
    success:
        per sample: is ``x_adv`` misclassified (``targeted``: classified as the target)?
    norm:
        ``"l2"`` or ``"linf"``, the norm of ``distance``.
    """

    x_adv: torch.Tensor
    distance: torch.Tensor
    success: torch.Tensor
    norm: str = "l2"

    def median_distance(self) -> float:
        """Median distance over the fooled samples (``inf`` when none was fooled), as
        DeepFool's and C&W's tables report it."""
        d = self.distance[self.success]
        return float(d.median()) if d.numel() else math.inf


def _distance(xa: torch.Tensor, x0: torch.Tensor, norm: str) -> torch.Tensor:
    d = (xa - x0).flatten(1)
    return d.abs().amax(1) if norm == "linf" else d.norm(dim=1)


def _two_class(logits: torch.Tensor) -> torch.Tensor:
    """``(n, k)`` logits; one output ``f`` becomes ``(0, f)`` (class 1 is label +1)."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        f = logits.reshape(-1, 1)
        return torch.cat([torch.zeros_like(f), f], 1)
    return logits


def _class_index(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Labels as class indices of :func:`_two_class` logits (±1 → 0/1), checked against
    the model's own ``logits``."""
    check_label_values(logits, y)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return (y > 0).long()
    return y.long()


def _prepare(
    model: Any, x: Any, y: Any, clip: Any
) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    lo, hi = _check_clip(clip)
    x0 = _check_input(x, lo, hi)
    y = _check_labels(y, x0)
    _check_model_matches(model, x0)
    return x0, y, lo, hi


def _logits(model: Any, x: torch.Tensor, finite: _Finite, n: int) -> torch.Tensor:
    z = check_logits(forward(model, x), "model output", n=n)
    finite.logits &= torch.isfinite(z).all()
    return z


# --------------------------------------------------------------------------- MI-FGSM


def mi_fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 10,
    alpha: float | None = None,
    decay: float = 1.0,
    norm: str = "linf",
    loss: str | LossFn = "ce",
    targeted: bool = False,
    clip: tuple[float, float] = (0.0, 1.0),
) -> torch.Tensor:
    """Momentum iterative FGSM (Dong et al. 2018, "Boosting adversarial attacks with
    momentum", Algorithm 1; Eqs. (6)–(7) for l∞, Eq. (8) for l2).

    Per sample, from ``x_0 = x`` and ``g_0 = 0``::

        g_{t+1} = μ·g_t + ∇ₓL(x_t, y) / ‖∇ₓL(x_t, y)‖₁
        x_{t+1} = clip(Π_ε(x_t + α·sign(g_{t+1})))          (l∞; l2: α·g/‖g‖₂)

    The projection onto the ε-ball and ``clip`` is one :mod:`tradeoff.kernels` step, as in
    :func:`~tradeoff.torch.attacks.pgd`. Zero-gradient guard: a sample whose gradient is
    all zero adds nothing to its momentum (its ‖∇‖₁ = 0 is replaced by 1), where the
    paper's formula — and implementations that divide by the mean |∇| — give 0/0 = NaN.

    Parameters
    ----------
    eps:
        radius of the l∞ or l2 ball, in pixel units of ``clip``.
    steps:
        number of iterations T (the paper: 10).
    alpha:
        step size; ``None`` gives the paper's ``α = ε / T``.
    decay:
        the momentum decay factor μ (the paper: 1.0; μ = 0 is I-FGSM).
    norm, loss, targeted, clip:
        as for :func:`~tradeoff.torch.attacks.pgd`.

    Returns
    -------
    torch.Tensor
        the adversarial batch, detached, inside the ε-ball and ``clip``.
    """
    lo, hi = _check_clip(clip)
    x0 = _check_input(x, lo, hi)
    check_choice("norm", norm, ("linf", "l2"))
    eps = check_real("eps", eps, low=0.0)
    steps = check_int("steps", steps, low=0)
    if alpha is None:
        alpha = eps / steps if steps else 0.0
    alpha = check_real("alpha", alpha, low=0.0, high=ALPHA_MAX)
    decay = check_real("decay", decay, low=0.0)
    targeted = check_bool("targeted", targeted)
    if not callable(loss):
        check_choice("loss", loss, ("ce", "cw"))
    y = _check_labels(y, x0)
    _check_model_matches(model, x0)
    sign = -1.0 if targeted else 1.0
    finite = _Finite(x0.device)
    first = [True]

    def objective(logits: torch.Tensor) -> torch.Tensor:
        if first[0]:
            check_logits(logits, "model output", n=x0.shape[0])
        finite.logits &= torch.isfinite(logits).all()
        value = _loss(logits, y, loss, check_values=first[0])
        first[0] = False
        return sign * value.sum()

    k = _kernels()
    xa = x0.clone()
    momentum = torch.zeros_like(x0)
    shape = (-1,) + (1,) * (x0.ndim - 1)
    with eval_mode(model):
        for _ in range(steps):
            g = _input_gradient(model, xa, objective)
            finite.grads &= torch.isfinite(g).all()
            l1 = g.abs().flatten(1).sum(1)
            l1 = torch.where(l1 > 0, l1, torch.ones_like(l1))  # the zero-gradient guard
            momentum = decay * momentum + g / l1.view(shape)
            step = k.linf_step if norm == "linf" else k.l2_step
            step(xa, x0, momentum.contiguous(), alpha, eps, lo, hi)
    return finite.check(xa)


# --------------------------------------------------------------------------- DeepFool


def deepfool(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "l2",
    steps: int = 50,
    overshoot: float = 0.02,
    candidates: int | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
) -> AdversarialResult:
    """DeepFool (Moosavi-Dezfooli et al. 2016, "DeepFool: a simple and accurate method to
    fool deep neural networks", Algorithm 2; Eq. (10)/(11) for l2, §3.3 Eq. (14) for l∞).

    At the current point ``x_i`` the classifier is linearised; with
    ``w_k = ∇f_k(x_i) − ∇f_y(x_i)`` and ``f'_k = f_k(x_i) − f_y(x_i)`` the closest linearised
    boundary is ``l = argmin_{k≠y} |f'_k| / ‖w_k‖_q`` (q the dual norm: 2 for l2, 1 for
    l∞) and the step is ``r_i = |f'_l| / ‖w_l‖₂² · w_l`` (l2) or
    ``r_i = |f'_l| / ‖w_l‖₁ · sign(w_l)`` (l∞). The result is
    ``x + (1 + overshoot)·Σ r_i``, clipped to ``clip``, once the label changes (at most
    ``steps`` iterations). For an affine classifier and ``overshoot=0`` one step lands on
    the closest boundary: the distance is exactly the minimal distance
    ``min_k |f'_k(x)| / ‖w_k‖_q`` (when the box is not active).

    The box (as in the reference implementations, the iterate is clipped to ``clip``;
    then the next step starts from the clipped point): pixels at a bound of ``clip`` whose
    gradient ``w_k`` points out of the box are left out of ``w_k`` (a projected
    linearisation, our addition: without it clipped steps creep up to the boundary
    without crossing it; it changes nothing while no pixel is at a bound).

    Parameters
    ----------
    norm:
        ``"l2"`` or ``"linf"``: the norm minimised and the norm of the reported distance.
    steps:
        the most iterations (the reference implementation: 50).
    overshoot:
        the factor η ≥ 0 of the paper (0.02), to cross the boundary.
    candidates:
        consider only this many classes with the highest clean logits other than ``y`` (the
        reference implementation's ``num_classes=10``); ``None``: all classes.
    clip:
        the pixel range; distances are in its units.

    Returns
    -------
    AdversarialResult
        ``x_adv``, ``distance`` (‖x_adv − x‖ in ``norm``), ``success`` (label changed);
        a sample that is already misclassified is returned unchanged with distance 0.
    """
    x0, y, lo, hi = _prepare(model, x, y, clip)
    check_choice("norm", norm, ("l2", "linf"))
    steps = check_int("steps", steps, low=0)
    overshoot = check_real("overshoot", overshoot, low=0.0)
    if candidates is not None:
        candidates = check_int("candidates", candidates, low=1)
    n = x0.shape[0]
    finite = _Finite(x0.device)
    shape = (-1,) + (1,) * (x0.ndim - 1)
    with eval_mode(model):
        with torch.no_grad():
            z_clean = _logits(model, x0, finite, n)
        yi = _class_index(z_clean, y)
        z0 = _two_class(z_clean)
        k = z0.shape[1]
        others = z0.scatter(1, yi.view(-1, 1), float("-inf"))
        m = k - 1 if candidates is None else min(candidates, k - 1)
        cls = others.topk(m, dim=1).indices  # (n, m): the candidate classes per sample
        r_tot = torch.zeros_like(x0)
        xa = x0.clone()
        active = z0.argmax(1) == yi
        for _ in range(steps):
            if not bool(active.any()):
                break
            xr = xa.detach().requires_grad_(True)
            with torch.enable_grad():
                z = _two_class(_logits(model, xr, finite, n))
                zy = z.gather(1, yi.view(-1, 1))  # (n, 1)
                diff = z.gather(1, cls) - zy  # (n, m): f'_k
                grads = []
                for j in range(m):
                    (gj,) = torch.autograd.grad(
                        diff[:, j].sum(), xr, retain_graph=j < m - 1, allow_unused=True
                    )
                    grads.append(torch.zeros_like(x0) if gj is None else gj)
            w = torch.stack(grads, 1).flatten(2)  # (n, m, d): w_k
            finite.grads &= torch.isfinite(w).all()
            # the box: a pixel at a bound cannot move further out, so it is left out of the
            # linearisation (else clipping shortens every step and the iterates creep up to
            # the boundary without crossing it); inside the box nothing changes
            flat = xa.flatten(1).unsqueeze(1)
            w = w.masked_fill(((flat <= lo) & (w < 0)) | ((flat >= hi) & (w > 0)), 0.0)
            f = diff.detach().abs()  # (n, m)
            wn = w.norm(dim=2) if norm == "l2" else w.abs().sum(2)
            # a zero w_k (a class the model cannot reach by moving x) is never the closest
            ratio = torch.where(wn > 0, f / wn.clamp_min(1e-30), torch.full_like(f, math.inf))
            best = ratio.argmin(1)
            idx = torch.arange(n, device=x0.device)
            wl, fl, nl = w[idx, best], f[idx, best], wn[idx, best]
            reachable = torch.isfinite(ratio[idx, best])
            if norm == "l2":
                r = (fl / nl.clamp_min(1e-30) ** 2).view(-1, 1) * wl
            else:
                r = (fl / nl.clamp_min(1e-30)).view(-1, 1) * wl.sign()
            go = (active & reachable).view(shape)
            r_tot = torch.where(go, r_tot + r.view_as(x0), r_tot)
            xa = torch.where(go, x0 + (1 + overshoot) * r_tot, xa).clamp(lo, hi)
            # the box: continue from the clipped point (x0 + (1 + η)·r_tot = x_adv again)
            r_tot = (xa - x0) / (1 + overshoot)
            with torch.no_grad():
                za = _two_class(_logits(model, xa, finite, n))
            active = active & reachable & (za.argmax(1) == yi)
        with torch.no_grad():
            success = _two_class(_logits(model, xa, finite, n)).argmax(1) != yi
    xa = finite.check(xa.detach().contiguous())
    return AdversarialResult(xa, _distance(xa, x0, norm), success, norm)


# --------------------------------------------------------------------------- Carlini–Wagner


def carlini_wagner_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    targeted: bool = False,
    c: float = 1e-2,
    binary_steps: int = 9,
    steps: int = 1000,
    lr: float = 1e-2,
    kappa: float = 0.0,
    abort_early: bool = True,
    clip: tuple[float, float] = (0.0, 1.0),
) -> AdversarialResult:
    """The Carlini–Wagner l2 attack (Carlini & Wagner 2017, "Towards evaluating the
    robustness of neural networks", §V-A; objective f6 of §IV-A, box by the change of
    variables of §IV-C(3)).

    Per sample, over ``w`` with ``x' = lo + (hi − lo)·(tanh(w) + 1)/2`` (always inside
    ``clip``), Adam minimises ::

        ‖x' − x‖₂² + c·max(Z_y(x') − max_{j≠y} Z_j(x'), −κ)          (untargeted)
        ‖x' − x‖₂² + c·max(max_{j≠t} Z_j(x') − Z_t(x'), −κ)          (targeted, t = y)

    from ``w`` at ``x``; ``binary_steps`` rounds of a binary search over ``c`` per sample
    (×10 while no success was found, then bisection, as in the reference ``l2_attack.py``)
    keep the closest successful ``x'``. Adam is written out here (the update of
    ``torch.optim.Adam`` with its defaults), so that every sample's iterates and its early
    abort (loss not below 0.9999 of its value ``steps // 10`` iterations before) depend
    on that sample only. Pixels exactly at a bound of ``clip`` start at
    ``atanh(±0.999999)``, as in the reference.

    Parameters
    ----------
    targeted:
        ``y`` holds target classes; success means classified as the target.
    c:
        the initial trade-off constant (the reference: 1e-3; 1e-2 here, fewer rounds).
    binary_steps, steps, lr:
        rounds of the search over c, Adam iterations per round and Adam's learning rate.
    kappa:
        the confidence κ ≥ 0 of f6.
    abort_early:
        stop a sample's round once its loss stalls.
    clip:
        the pixel range; distances are l2 in its units.

    Returns
    -------
    AdversarialResult
        the closest successful ``x'`` per sample (``x`` itself where none was found, with
        ``success`` False and distance 0), its l2 distance and success.
    """
    x0, y, lo, hi = _prepare(model, x, y, clip)
    targeted = check_bool("targeted", targeted)
    c = check_real("c", c, low=0.0, low_open=True)
    binary_steps = check_int("binary_steps", binary_steps, low=1)
    steps = check_int("steps", steps, low=1)
    lr = check_real("lr", lr, low=0.0, low_open=True)
    kappa = check_real("kappa", kappa, low=0.0)
    abort_early = check_bool("abort_early", abort_early)
    n = x0.shape[0]
    dev, dt = x0.device, x0.dtype
    finite = _Finite(dev)
    shape = (-1,) + (1,) * (x0.ndim - 1)
    scale = (hi - lo) / 2

    def to_image(w: torch.Tensor) -> torch.Tensor:
        return (lo + scale * (torch.tanh(w) + 1)).clamp(lo, hi)

    w0 = torch.atanh(((x0 - lo) / scale - 1).clamp(-0.999999, 0.999999))
    const = torch.full((n,), c, dtype=dt, device=dev)
    lower = torch.zeros(n, dtype=dt, device=dev)
    upper = torch.full((n,), math.inf, dtype=dt, device=dev)
    best_d2 = torch.full((n,), math.inf, dtype=dt, device=dev)
    best_x = x0.clone()
    best_ok = torch.zeros(n, dtype=torch.bool, device=dev)
    b1, b2, adam_eps = 0.9, 0.999, 1e-8
    check_every = max(steps // 10, 1)

    with eval_mode(model):
        with torch.no_grad():
            yi = _class_index(_logits(model, x0, finite, n), y)

        def margin(z: torch.Tensor) -> torch.Tensor:
            zy = z.gather(1, yi.view(-1, 1)).squeeze(1)
            other = z.scatter(1, yi.view(-1, 1), float("-inf")).amax(1)
            return other - zy if targeted else zy - other

        for _ in range(binary_steps):
            w = w0.clone()
            m1 = torch.zeros_like(w)
            m2 = torch.zeros_like(w)
            running = torch.ones(n, dtype=torch.bool, device=dev)
            prev = torch.full((n,), math.inf, dtype=dt, device=dev)
            round_ok = torch.zeros(n, dtype=torch.bool, device=dev)
            for t in range(1, steps + 1):
                wr = w.detach().requires_grad_(True)
                with torch.enable_grad():
                    xa = to_image(wr)
                    z = _two_class(_logits(model, xa, finite, n))
                    mg = margin(z)
                    d2 = (xa - x0).flatten(1).pow(2).sum(1)
                    obj = d2 + const * mg.clamp_min(-kappa)
                    (g,) = torch.autograd.grad(obj.sum(), wr)
                finite.grads &= torch.isfinite(g).all()
                with torch.no_grad():
                    # the iterate just evaluated: a success (margin < −κ; a tie is none)
                    # closer than the best so far
                    hit = (mg.detach() < -kappa) & running
                    round_ok |= hit
                    better = hit & (d2.detach() < best_d2)
                    best_d2 = torch.where(better, d2.detach(), best_d2)
                    best_x = torch.where(better.view(shape), xa.detach(), best_x)
                    best_ok |= better
                    if abort_early and t % check_every == 0:
                        stalled = obj.detach() > prev * 0.9999
                        running = running & ~stalled
                        prev = torch.where(running, obj.detach(), prev)
                        if not bool(running.any()):
                            break
                    m1 = b1 * m1 + (1 - b1) * g
                    m2 = b2 * m2 + (1 - b2) * g * g
                    upd = lr * (m1 / (1 - b1**t)) / ((m2 / (1 - b2**t)).sqrt() + adam_eps)
                    w = torch.where(running.view(shape), w - upd, w)
            # the binary search over c, per sample
            upper = torch.where(round_ok, torch.minimum(upper, const), upper)
            lower = torch.where(round_ok, lower, torch.maximum(lower, const))
            const = torch.where(
                torch.isfinite(upper), (lower + upper) / 2, torch.where(round_ok, const, const * 10)
            )
    xa = finite.check(best_x.contiguous())
    return AdversarialResult(xa, _distance(xa, x0, "l2"), best_ok, "l2")


# --------------------------------------------------------------------------- L-BFGS


def lbfgs(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    c: float = 1.0,
    search_steps: int = 12,
    maxiter: int = 100,
    clip: tuple[float, float] = (0.0, 1.0),
) -> AdversarialResult:
    """Box-constrained L-BFGS (Szegedy et al. 2014, "Intriguing properties of neural
    networks", §4.1): a targeted attack towards the labels ``y``.

    Per sample, ``scipy.optimize.minimize(method="L-BFGS-B")`` minimises ::

        c·‖r‖₂² + CE(f(x + r), t)      subject to  lo ≤ x + r ≤ hi

    (the paper's ``c|r| + loss_f(x + r, l)`` with the squared l2 norm, as in Foolbox's
    and cleverhans' implementations), and a line search over ``c`` keeps the largest
    ``c`` — the smallest ``r`` — whose minimiser is classified as ``t``: ``c`` is
    multiplied by 10 while the attack succeeds (divided while it fails) until both a
    success and a failure are seen, then bisected geometrically; ``search_steps``
    minimisations in all. The objective and its gradient are evaluated by the model in
    float64 numpy ↔ torch round trips, one sample at a time.

    Parameters
    ----------
    c:
        the initial weight of the distance term (> 0).
    search_steps:
        number of L-BFGS-B minimisations per sample (the search over ``c``).
    maxiter:
        L-BFGS-B iterations per minimisation.
    clip:
        the pixel range (the box constraint); distances are l2 in its units.

    Returns
    -------
    AdversarialResult
        the closest ``x + r`` classified as the target per sample (``x`` where none was,
        with ``success`` False), its l2 distance and success.
    """
    from scipy.optimize import minimize

    x0, y, lo, hi = _prepare(model, x, y, clip)
    c = check_real("c", c, low=0.0, low_open=True)
    search_steps = check_int("search_steps", search_steps, low=1)
    maxiter = check_int("maxiter", maxiter, low=1)
    n = x0.shape[0]
    finite = _Finite(x0.device)
    best_x = x0.clone()
    best_ok = torch.zeros(n, dtype=torch.bool, device=x0.device)
    with eval_mode(model):
        with torch.no_grad():
            yi = _class_index(_logits(model, x0, finite, n), y)
        for i in range(n):
            xi = x0[i : i + 1]
            ti = yi[i : i + 1]
            start = xi.detach().cpu().double().numpy().ravel()
            bounds = [(lo, hi)] * start.size
            best_d = math.inf

            def fun(
                v: np.ndarray, ci: float, xi: torch.Tensor, ti: torch.Tensor
            ) -> tuple[float, np.ndarray]:
                xr = torch.as_tensor(v, dtype=xi.dtype, device=xi.device).view_as(xi)
                xr.requires_grad_(True)
                with torch.enable_grad():
                    z = _two_class(_logits(model, xr, finite, 1))
                    ce = torch.nn.functional.cross_entropy(z, ti, reduction="sum")
                    obj = ci * (xr - xi).pow(2).sum() + ce
                    (g,) = torch.autograd.grad(obj, xr)
                finite.grads &= torch.isfinite(g).all()
                return float(obj.detach()), g.detach().cpu().double().numpy().ravel()

            ci, c_ok, c_fail = c, None, None
            for _ in range(search_steps):
                res = minimize(
                    fun,
                    start,
                    args=(ci, xi, ti),
                    jac=True,
                    method="L-BFGS-B",
                    bounds=bounds,
                    options={"maxiter": maxiter},
                )
                xr = torch.as_tensor(res.x, dtype=xi.dtype, device=xi.device).view_as(xi)
                xr = xr.clamp(lo, hi)
                with torch.no_grad():
                    ok = bool(_two_class(_logits(model, xr, finite, 1)).argmax(1) == ti)
                if ok:
                    d = float((xr - xi).pow(2).sum())
                    if d < best_d:
                        best_d = d
                        best_x[i] = xr[0]
                        best_ok[i] = True
                    c_ok = ci if c_ok is None else max(c_ok, ci)
                else:
                    c_fail = ci if c_fail is None else min(c_fail, ci)
                if c_fail is None:
                    ci *= 10.0
                elif c_ok is None:
                    ci /= 10.0
                else:
                    ci = math.sqrt(c_ok * c_fail)
    xa = finite.check(best_x.contiguous())
    return AdversarialResult(xa, _distance(xa, x0, "l2"), best_ok, "l2")


# --------------------------------------------------------------------------- transfer


@dataclass(frozen=True)
class TransferResult:
    """Black-box transfer: ``accuracy`` of the target model on examples crafted on the
    source, ``correct`` per sample (bool, in the order of ``data``), ``source_accuracy``
    (the white-box robust accuracy of the source on the same examples) and
    ``clean_accuracy`` (the target's on the clean inputs)."""

    accuracy: float
    correct: torch.Tensor
    source_accuracy: float
    clean_accuracy: float

    @property
    def n(self) -> int:
        return int(self.correct.numel())


def _batches(data: Any) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if (
        isinstance(data, (tuple, list))
        and len(data) == 2
        and all(isinstance(t, torch.Tensor) for t in data)
    ):
        return [(data[0], data[1])]
    if hasattr(data, "x") and hasattr(data, "y"):  # a Split
        return [(data.x, data.y)]
    if hasattr(data, "test") and hasattr(data.test, "x"):  # a Data: its test split
        return [(data.test.x, data.test.y)]
    if isinstance(data, Iterable):
        return data
    raise TypeError(
        "data must be a pair (x, y) of tensors, a Split, a Data (its test split is used) or "
        f"an iterable of (x, y) batches, got {type(data).__name__}"
    )


def transfer_accuracy(
    source: nn.Module,
    target: nn.Module,
    data: Any,
    attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], Any],
) -> TransferResult:
    """Accuracy of ``target`` on adversarial examples crafted on ``source`` — the
    black-box transfer setting of Tsipras et al. 2019, Tables 6–7 (and Papernot et al.
    2016's transferability).

    ``attack(source, x, y)`` crafts the examples: a
    :class:`~tradeoff.torch.attacks.PGD`, a ``functools.partial`` of an attack here, or
    any callable returning the adversarial batch (or an :class:`AdversarialResult`).
    ``data``: ``(x, y)``, a :class:`~tradeoff.torch.data.Split`, a
    :class:`~tradeoff.torch.data.Data` (its test split) or an iterable of ``(x, y)``
    batches. Both models are evaluated in eval mode, their modes restored; with
    ``target is source`` the accuracy is the white-box robust accuracy of ``attack``.
    """
    for name, m in (("source", source), ("target", target)):
        if not callable(m):
            raise TypeError(f"{name} must be an nn.Module or a callable, got {type(m).__name__}")
    if not callable(attack):
        raise TypeError(
            f"attack must be a callable attack(model, x, y) -> x_adv (e.g. attacks.PGD), "
            f"got {type(attack).__name__}"
        )
    hits: list[torch.Tensor] = []
    src_hits: list[torch.Tensor] = []
    clean_hits: list[torch.Tensor] = []
    for batch in _batches(data):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise TypeError(f"each batch of data must be a pair (x, y), got {batch!r:.60}")
        xb, yb = batch[0], batch[1]
        out = attack(source, xb, yb)
        xa = out.x_adv if isinstance(out, AdversarialResult) else out
        if not isinstance(xa, torch.Tensor) or xa.shape != xb.shape:
            got = tuple(xa.shape) if isinstance(xa, torch.Tensor) else type(xa).__name__
            raise ValueError(f"attack must return a batch of shape {tuple(xb.shape)}, got {got}")
        if not bool(torch.isfinite(xa).all()):
            raise ValueError("attack returned NaN or inf")
        yb = _check_labels(yb, xb)
        for model, acc in ((target, hits), (source, src_hits)):
            with eval_mode(model), torch.no_grad():
                z = check_logits(forward(model, xa.detach()), "model output", n=len(yb))
                check_label_values(z, yb)
                acc.append(_correct(z, yb).cpu())
        with eval_mode(target), torch.no_grad():
            z = check_logits(forward(target, xb.detach()), "model output", n=len(yb))
            clean_hits.append(_correct(z, yb).cpu())
    if not hits:
        raise ValueError("data has no batches")
    correct = torch.cat(hits)
    return TransferResult(
        accuracy=float(correct.float().mean()),
        correct=correct,
        source_accuracy=float(torch.cat(src_hits).float().mean()),
        clean_accuracy=float(torch.cat(clean_hits).float().mean()),
    )
