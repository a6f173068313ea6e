"""Gradient attacks on the fused kernels: PGD (l∞, l2), FGSM, and the TRADES inner maximisation.

PGD (Madry et al. 2018, Eq. (2.1) and §2.1) maximises a loss over the threat model
``{x' : ‖x' − x‖_p ≤ ε, lo ≤ x' ≤ hi}`` by projected steps. One step,

* l∞: ``x' ← clip(clip(x' + α·sign(g), x − ε, x + ε), lo, hi)``;
* l2: ``x' ← clip(x + Π_ε(x' + α·g/‖g‖ − x), lo, hi)`` per sample (a zero gradient gives
  a zero step, never NaN),

is one call of :func:`tradeoff.kernels.linf_step` / :func:`tradeoff.kernels.l2_step`,
in place on the attack's own buffer. ε and α are measured in the units of the pixels
(the ``clip`` range, ``[0, 1]`` by default): ε = 0.3 means 0.3 of the full [0, 1] range
in l∞, and an l2 distance in the same units.

Guarantees of every attack here:

* the model is put in eval mode for the attack and every submodule's own train/eval
  flag is restored afterwards, even if the attack raises;
* the parameters' ``.grad`` are never touched: gradients are taken with
  ``torch.autograd.grad`` with respect to the input only;
* the per-sample losses are *summed* over the batch, so the gradient of a sample (and so
  its sign or normalised step) does not depend on the batch size or the other samples;
* the result is inside the ε-ball around ``x`` and inside ``clip``; ε = 0 returns ``x``;
  a zero gradient never produces NaN;
* randomness only from ``seed`` (an int or a ``numpy.random.Generator``); with
  ``seed=None`` a seed is drawn from torch's global generator, so a run seeded with
  ``torch.manual_seed`` is reproducible.

What is checked, once per call (no device sync per step): the arguments (types, ranges,
``x`` finite and inside ``clip``, ``α <= 1e30``, labels ``(n,)`` or ``(n, 1)`` in
``[0, k)`` — ±1 for one output — after the first forward), the model's output (logits
``(n, k)`` or ``(n,)``) and, accumulated on the device over all steps, that every logit
and input gradient was finite: a model that yields NaN/inf raises ``ValueError`` at the
end instead of a NaN result.

Restarts keep, per sample, the worst perturbation found: a misclassified (for
``targeted=True``: classified as the target) result beats a correctly classified one,
ties are broken by the higher loss (lower, for targeted).

Reduced precision (``precision="bf16"`` or ``"fp16"`` of :func:`pgd`, :func:`fgsm` and
:class:`PGD`): the model's forward (and so its backward) runs under ``torch.autocast``
— bfloat16 on the CPU (fast with AVX-512 BF16 / AMX) or on CUDA, float16 on CUDA only
(with a dynamic loss scale: the summed loss is multiplied by a power of two, halved while
the input gradient overflows, and the gradient divided back) — while the logits are cast
to float32 for the loss, the input gradient arrives in float32 and the perturbation, the
random start and the step kernels stay float32, unchanged. Half-precision inputs
(bfloat16/float16 ``x``) are accepted then and attacked as their exact float32 values; the
result is float32 (rounding it back could leave the ball). ``"float32"`` (the default)
runs the model as it is, without autocast: exactly the full-precision attack.

Networks with a single output (binary tasks, labels ±1) are supported: "ce" is then the
logistic loss ``log(1 + exp(−y·f(x)))`` and a sample is correct when ``sign f(x) = y``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tradeoff._validate import check_bool, check_choice, check_int, check_real, check_seed

from ._checks import check_label_values, check_labels, check_logits, forward

#: the largest step size: the step kernels' bound (beyond it α·sign(g) leaves float32)
ALPHA_MAX = 1e30

__all__ = [
    "PGD",
    "PRECISIONS",
    "correct",
    "eval_mode",
    "fast_model",
    "fgsm",
    "input_gradient",
    "per_sample_loss",
    "pgd",
    "trades_inner_max",
    "trades_kl",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

#: the ``precision`` values of the attacks: no autocast, bfloat16 autocast, float16 autocast
PRECISIONS = ("float32", "bf16", "fp16")
#: fp16: the first loss scale (halved while the input gradient overflows; never grown)
FP16_INIT_SCALE = 2.0**16
_FP16_MAX_BACKOFF = 40


def _kernels() -> ModuleType:
    from tradeoff import kernels

    return kernels


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode; restore each submodule's own mode on exit (a plain
    callable that is not an ``nn.Module`` is left alone)."""
    if not isinstance(model, nn.Module):
        yield model
        return
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


def _is_binary(logits: torch.Tensor) -> bool:
    return logits.ndim == 1 or logits.shape[-1] == 1


def per_sample_loss(
    logits: torch.Tensor, y: torch.Tensor, loss: str | LossFn = "ce"
) -> torch.Tensor:
    """Per-sample loss, shape ``(n,)``.

    ``"ce"``: cross-entropy (logistic loss ``softplus(−y·f)`` for one output and ±1 labels).
    ``"cw"``: the Carlini–Wagner margin ``max_{j≠y} z_j − z_y`` (``−y·f`` for one output),
    the "CW surrogate" Kim et al. also attack. A callable gets ``(logits, y)`` and must
    return one loss per sample. Checked: ``logits`` ``(n, k)`` or ``(n,)``, ``y`` one label
    per sample (``(n, 1)`` is read as ``(n,)``) in ``[0, k)`` (±1 for one output), ``loss``
    a known name or a callable.
    """
    logits = check_logits(logits, finite=True)
    n = logits.shape[0]
    y = check_labels(y, n, device=logits.device, of="logits")
    if not callable(loss):
        check_choice("loss", loss, ("ce", "cw"))
    out = _loss(logits, y, loss, check_values=True)
    if not bool(torch.isfinite(out).all()):
        raise ValueError("loss returned NaN or inf for finite logits")
    return out


def _loss(
    logits: torch.Tensor, y: torch.Tensor, loss: str | LossFn, check_values: bool
) -> torch.Tensor:
    """:func:`per_sample_loss` on checked arguments; ``check_values``: also check the label
    values against the network's outputs (a device sync; the attacks do it once)."""
    n = logits.shape[0]
    if check_values and not callable(loss):
        check_label_values(logits, y)
    if callable(loss):
        out = loss(logits, y)
        if not isinstance(out, torch.Tensor) or out.shape != (n,):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"loss must return one value per sample, shape ({n},); got {got} "
                "(do not reduce over the batch: the attack sums, and restarts compare per sample)"
            )
        return out
    if _is_binary(logits):
        f = logits.reshape(n)
        yf = y.to(f.dtype).reshape(n)
        return F.softplus(-yf * f) if loss == "ce" else -yf * f
    y = y.long()  # int32/int16/uint8 class indices: cross_entropy and gather need int64
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    z_y = logits.gather(1, y.view(-1, 1)).squeeze(1)
    others = logits.scatter(1, y.view(-1, 1), float("-inf"))
    return others.amax(1) - z_y


def correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean tensor: is each sample classified as ``y`` (``sign f = y`` for one output)?

    ``y`` is checked as by :func:`per_sample_loss` (one label per sample, in range).
    """
    logits = check_logits(logits)
    y = check_labels(y, logits.shape[0], device=logits.device, of="logits")
    check_label_values(logits, y)
    return _correct(logits, y)


def _correct(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if _is_binary(logits):
        f = logits.reshape(-1)
        return (f > 0) == (y.reshape(-1) > 0)
    return logits.argmax(1) == y


def input_gradient(
    model: nn.Module, x: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Gradient of ``objective(model(x))`` (a scalar) with respect to ``x`` only."""
    if not callable(model):
        raise TypeError(f"model must be an nn.Module or a callable, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {x!r:.60}")
    if not callable(objective):
        raise TypeError(f"objective must be callable, got {type(objective).__name__}")
    _check_model_matches(model, x)
    g = _input_gradient(model, x, objective)
    if not bool(torch.isfinite(g).all()):
        raise ValueError(
            "the input gradient is NaN or inf: the model (its weights) or the objective is "
            "not finite at x"
        )
    return g


def _input_gradient(
    model: nn.Module, x: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    xr = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = objective(forward(model, xr))
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise TypeError(f"objective must return a scalar tensor, got {value!r:.80}")
    if not value.requires_grad:  # the output does not depend on the input at all
        return torch.zeros_like(x)
    (g,) = torch.autograd.grad(value, xr, allow_unused=True)
    return torch.zeros_like(x) if g is None else g.contiguous()


def _amp_gradient(
    model: nn.Module,
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
    amp: _Amp,
) -> torch.Tensor:
    """:func:`_input_gradient` with the forward under ``amp``'s autocast, the logits cast
    to float32 before ``objective``, and for float16 the dynamic loss scale (one device
    sync per step, to see whether the scaled gradient overflowed)."""
    xr = x.detach().requires_grad_(True)
    for _ in range(_FP16_MAX_BACKOFF if amp.scale is not None else 1):
        with torch.enable_grad():
            with amp.autocast():
                out = forward(model, xr)
            value = objective(out.float() if isinstance(out, torch.Tensor) else out)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise TypeError(f"objective must return a scalar tensor, got {value!r:.80}")
        if not value.requires_grad:  # the output does not depend on the input at all
            return torch.zeros_like(x)
        if amp.scale is None:
            (g,) = torch.autograd.grad(value, xr, allow_unused=True)
            break
        (g,) = torch.autograd.grad(value * amp.scale, xr, allow_unused=True)
        if g is None or bool(torch.isfinite(g).all()):
            g = None if g is None else g / amp.scale
            break
        amp.scale /= 2  # overflow in the float16 backward: retry with half the scale
    else:  # still overflowing: the non-finite gradient is reported at the attack's end
        g = g / (2 * (amp.scale or 1.0))
    if g is None:
        return torch.zeros_like(x)
    return g.to(x.dtype).contiguous()


def _gradient(
    model: nn.Module,
    x: torch.Tensor,
    objective: Callable[[torch.Tensor], torch.Tensor],
    amp: _Amp | None,
) -> torch.Tensor:
    if amp is None:
        return _input_gradient(model, x, objective)
    return _amp_gradient(model, x, objective, amp)


def _seed_source(seed: object) -> np.random.Generator:
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(check_seed(seed))


def _check_clip(clip: object) -> tuple[float, float]:
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise TypeError(f"clip must be a pair (lo, hi), got {clip!r}")
    lo, hi = check_real("clip[0]", clip[0]), check_real("clip[1]", clip[1])
    if not lo < hi:
        raise ValueError(f"clip must satisfy lo < hi, got {clip!r}")
    return lo, hi


def _check_input(
    x: object, lo: float, hi: float, name: str = "x", half_ok: bool = False
) -> torch.Tensor:
    """``x`` checked; with ``half_ok`` (a reduced-precision attack) a bfloat16/float16
    ``x`` is accepted and returned as its exact float32 values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if half_ok and x.dtype in (torch.bfloat16, torch.float16):
        x = x.detach().float()  # exact: every half value is a float32 value
    if x.dtype not in (torch.float32, torch.float64):  # the kernels' dtypes
        raise TypeError(
            f"{name} must be a float32 or float64 tensor, got dtype {x.dtype} "
            "(for a half-precision model, pass precision='bf16' (CPU, CUDA) or 'fp16' "
            "(CUDA), or attack a float32 copy: model.float(), x.float())"
        )
    x = x.detach()
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (n, ...), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    xmin, xmax = float(x.min()), float(x.max())
    # the bounds as float32 holds them are accepted too: pixels scaled to (0, 0.1) and
    # stored in float32 reach float32(0.1) = 0.10000000149 > 0.1 (also after a cast to
    # float64); the kernels' clip rounds the same way
    lo_x = min(lo, float(torch.tensor(lo, dtype=torch.float32)))
    hi_x = max(hi, float(torch.tensor(hi, dtype=torch.float32)))
    if xmin < lo_x or xmax > hi_x:
        raise ValueError(
            f"{name} has values in [{xmin:.9g}, {xmax:.9g}], outside clip=({lo:g}, {hi:g}); "
            "pass the data's pixel range as clip="
        )
    return x.contiguous()


def _check_model_matches(
    model: object, x: torch.Tensor, name: str = "x", amp: _Amp | None = None
) -> None:
    """Device and dtype of ``x`` against the model's floating parameters (clear errors
    instead of torch's ``mat1 and mat2`` messages from inside the forward); under ``amp``
    parameters in its dtype are accepted too (autocast casts the inputs)."""
    if not isinstance(model, nn.Module):
        if callable(model):
            return  # a plain function of x: nothing to compare
        raise TypeError(f"model must be an nn.Module or a callable, got {type(model).__name__}")
    p = next((t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()), None)
    if p is None:
        return
    if p.device != x.device:
        raise ValueError(
            f"{name} is on {x.device} but the model's parameters are on {p.device}; "
            f"move one of them (e.g. {name}.to({str(p.device)!r}))"
        )
    if p.dtype != x.dtype and p.dtype not in _model_dtype_ok(model, amp):
        raise TypeError(
            f"{name} has dtype {x.dtype} but the model's parameters have dtype {p.dtype}; "
            f"pass {name}.to({p.dtype})"
        )


def _check_labels(y: object, x0: torch.Tensor, name: str = "y") -> torch.Tensor:
    labels: torch.Tensor = check_labels(y, x0.shape[0], name=name, device=x0.device)
    return labels


@dataclass
class _Amp:
    """How a reduced-precision attack runs the model: ``torch.autocast(device_type,
    dtype)``; ``scale`` is the current loss scale (float16 only, else None)."""

    device_type: str
    dtype: torch.dtype
    scale: float | None = None

    def autocast(self) -> Any:
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)


def _check_precision(precision: object, device: torch.device | None = None) -> _Amp | None:
    """``precision`` checked (and, given the device, what it means there): None for
    ``"float32"``, else how to autocast."""
    check_choice("precision", precision, PRECISIONS)
    if precision == "float32" or device is None:
        return None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"precision={precision!r} is supported on the CPU (bf16) and on CUDA (bf16, fp16), "
            f"not on {device.type}; use precision='float32'"
        )
    if precision == "fp16":
        if device.type == "cpu":
            raise ValueError(
                "precision='fp16' runs on CUDA only: CPU autocast computes in bfloat16, which "
                "keeps float32's range (no loss scaling); use precision='bf16' on the CPU"
            )
        return _Amp("cuda", torch.float16, FP16_INIT_SCALE)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(
            "precision='bf16': this CUDA device has no bfloat16 support; use precision='fp16'"
        )
    return _Amp(device.type, torch.bfloat16)


def _model_dtype_ok(model: object, amp: _Amp | None) -> tuple[torch.dtype, ...]:
    """The parameter dtypes accepted beside float32 inputs under ``amp``."""
    return () if amp is None else (amp.dtype,)


class _Finite:
    """Accumulates, without a device sync per step, whether every model output and input
    gradient of an attack was finite; :meth:`check` raises once at the end otherwise."""

    def __init__(self, device: torch.device) -> None:
        self.logits = torch.ones((), dtype=torch.bool, device=device)
        self.grads = torch.ones((), dtype=torch.bool, device=device)

    def check(self, result: torch.Tensor) -> torch.Tensor:
        if not bool(self.logits):
            raise ValueError(
                "model returned NaN or inf logits during the attack (its weights or the "
                "inputs are beyond float range); the attack has no finite result"
            )
        if not bool(self.grads):
            raise ValueError(
                "model (or the loss) has a NaN or inf input gradient during the attack (its "
                "weights are beyond float range?); the attack has no finite result"
            )
        if not bool(torch.isfinite(result).all()):  # pragma: no cover - a kernel bug
            raise RuntimeError(
                "internal error: a step kernel returned NaN or inf from finite inputs; "
                "please report it with the arguments of this call"
            )
        return result


def _check_budget(
    eps: object, alpha: object, steps: object, norm: object
) -> tuple[float, float, int]:
    check_choice("norm", norm, ("linf", "l2"))
    return (
        check_real("eps", eps, low=0.0),
        check_real("alpha", alpha, low=0.0, high=ALPHA_MAX),
        check_int("steps", steps, low=0),
    )


def _step(
    norm: str,
    x: torch.Tensor,
    x0: torch.Tensor,
    g: torch.Tensor,
    alpha: float,
    eps: float,
    lo: float,
    hi: float,
) -> None:
    k = _kernels()
    if norm == "linf":
        k.linf_step(x, x0, g, alpha, eps, lo, hi)
    else:
        k.l2_step(x, x0, g, alpha, eps, lo, hi)


def _start(
    x0: torch.Tensor, eps: float, norm: str, lo: float, hi: float, seed: int
) -> torch.Tensor:
    out = _kernels().random_start(x0, eps, norm=norm, lo=lo, hi=hi, seed=seed)
    return torch.as_tensor(out).contiguous()


# --------------------------------------------------------------------------- PGD / FGSM


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    loss: str | LossFn = "ce",
    targeted: bool = False,
    seed: int | np.random.Generator | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    precision: str = "float32",
) -> torch.Tensor:
    """Projected gradient descent (Madry et al. 2018, §2.1; the PGD adversary of Eq. (2.1)).

    Parameters
    ----------
    model:
        maps a batch ``x`` to logits ``(n, k)`` (or ``(n, 1)`` / ``(n,)`` for ±1 labels).
    x, y:
        clean inputs (values inside ``clip``) and their labels (for ``targeted=True``,
        the target labels).
    eps, alpha:
        radius of the l∞ or l2 ball and step size, in pixel units of ``clip``.
    steps:
        number of projected steps (0: return the start point).
    random_start:
        start uniformly in the ball (clipped to ``clip``) instead of at ``x``.
    restarts:
        independent random starts; per sample the worst result is kept (without a random
        start every run is the same, so one is run).
    loss:
        ``"ce"``, ``"cw"`` or a callable ``(logits, y) -> (n,)`` per-sample losses.
    targeted:
        descend the loss towards the labels ``y`` instead of ascending it.
    seed:
        an integer or ``numpy.random.Generator`` for the random starts; ``None`` draws one
        from torch's global generator (so ``torch.manual_seed`` makes the attack
        reproducible).
    clip:
        the pixel range ``(lo, hi)``; ε and α are in its units.
    precision:
        ``"float32"`` (the model as it is), ``"bf16"`` (CPU or CUDA) or ``"fp16"`` (CUDA):
        the model's forward/backward under ``torch.autocast`` in that dtype; the loss, the
        input gradient, the perturbation and the steps stay float32 (see the module's
        notes).

    Returns
    -------
    torch.Tensor
        the adversarial batch, detached, same shape and dtype as ``x`` (float32 for a
        half-precision ``x``).
    """
    lo, hi = _check_clip(clip)
    check_choice("precision", precision, PRECISIONS)
    x0 = _check_input(x, lo, hi, half_ok=precision != "float32")
    amp = _check_precision(precision, x0.device)
    if amp is not None and x0.dtype != torch.float32:
        raise TypeError(
            f"precision={precision!r} attacks float32 inputs (or half-precision ones, as "
            f"float32); got dtype {x0.dtype}"
        )
    eps, alpha, steps = _check_budget(eps, alpha, steps, norm)
    restarts = check_int("restarts", restarts, low=1)
    random_start = check_bool("random_start", random_start)
    targeted = check_bool("targeted", targeted)
    if not callable(loss):
        check_choice("loss", loss, ("ce", "cw"))
    y = _check_labels(y, x0)
    _check_model_matches(model, x0, amp=amp)
    rng: Any = _seed_source(seed) if random_start else None  # used only with random_start
    sign = -1.0 if targeted else 1.0
    finite = _Finite(x0.device)
    first = [True]

    def objective(logits: torch.Tensor) -> torch.Tensor:
        if first[0]:  # the model's output and the labels' values, once
            check_logits(logits, "model output", n=x0.shape[0])
        finite.logits &= torch.isfinite(logits).all()
        value = _loss(logits, y, loss, check_values=first[0])
        first[0] = False
        return sign * value.sum()

    # the best restart so far, per sample (set by the first restart)
    best: Any = None
    best_hit: Any = None
    best_obj: Any = None
    with eval_mode(model):
        if not random_start:
            restarts = 1  # every restart would start at x and give the same result
        for _ in range(restarts):
            if random_start:
                xa = _start(x0, eps, norm, lo, hi, int(rng.integers(0, 2**62)))
            else:
                xa = x0.clone()
            for _ in range(steps):
                g = _gradient(model, xa, objective, amp)
                finite.grads &= torch.isfinite(g).all()
                _step(norm, xa, x0, g, alpha, eps, lo, hi)
            if restarts == 1:
                return finite.check(xa)
            with torch.no_grad():
                if amp is None:
                    out = forward(model, xa)
                else:
                    with amp.autocast():
                        out = forward(model, xa)
                    out = out.float()
                logits = check_logits(out, "model output", n=x0.shape[0])
                finite.logits &= torch.isfinite(logits).all()
                obj = sign * _loss(logits, y, loss, check_values=first[0])
                first[0] = False
                ok = _correct(logits, y)
                hit = ok if targeted else ~ok  # bool tensors: ~ is logical not
            if best is None:
                best, best_hit, best_obj = xa, hit, obj
                continue
            better = (hit & ~best_hit) | ((hit == best_hit) & (obj > best_obj))
            best[better] = xa[better]
            best_hit = torch.where(better, hit, best_hit)
            best_obj = torch.where(better, obj, best_obj)
    return finite.check(best)


def fgsm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    loss: str | LossFn = "ce",
    targeted: bool = False,
    clip: tuple[float, float] = (0.0, 1.0),
    precision: str = "float32",
) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ε from ``x``
    (ε in pixel units of ``clip``, like :func:`pgd`).

    ``norm="l2"`` gives the fast gradient method ``x + ε·g/‖g‖``. Same as
    ``pgd(..., alpha=eps, steps=1, random_start=False)``; Collins et al. train with it.
    ``eps`` is at most 1e30 (the step kernels' bound on a step). ``precision`` as in
    :func:`pgd`.
    """
    check_real("eps", eps, low=0.0, high=ALPHA_MAX)
    return pgd(
        model,
        x,
        y,
        eps=eps,
        alpha=eps,
        steps=1,
        norm=norm,
        random_start=False,
        loss=loss,
        targeted=targeted,
        clip=clip,
        precision=precision,
    )


# --------------------------------------------------------------------------- TRADES


def trades_kl(logits_adv: torch.Tensor, logits_nat: torch.Tensor) -> torch.Tensor:
    """Per-sample ``KL(softmax f(x) ‖ softmax f(x'))`` (Zhang et al. Eq. (5), the surrogate
    of the boundary error); Bernoulli KL of the sigmoids for a single-output network.
    Gradients flow into both arguments (as in the reference ``trades.py``)."""
    logits_adv = check_logits(logits_adv, "logits_adv", finite=True)
    logits_nat = check_logits(logits_nat, "logits_nat", finite=True)
    if logits_adv.shape != logits_nat.shape:
        raise ValueError(
            f"logits_adv and logits_nat must have the same shape, got "
            f"{tuple(logits_adv.shape)} and {tuple(logits_nat.shape)}"
        )
    return _trades_kl(logits_adv, logits_nat)


def _trades_kl(logits_adv: torch.Tensor, logits_nat: torch.Tensor) -> torch.Tensor:
    if _is_binary(logits_adv):
        a = logits_adv.reshape(-1)
        b = logits_nat.reshape(-1)
        p = torch.sigmoid(b)
        # KL(Bern(p) ‖ Bern(q)) with logs from logits, stable for large |logit|.
        return p * (F.logsigmoid(b) - F.logsigmoid(a)) + (1 - p) * (
            F.logsigmoid(-b) - F.logsigmoid(-a)
        )
    return F.kl_div(
        F.log_softmax(logits_adv, dim=1), F.softmax(logits_nat, dim=1), reduction="none"
    ).sum(1)


def trades_inner_max(
    model: nn.Module,
    x: torch.Tensor,
    *,
    eps: float,
    alpha: float,
    steps: int,
    norm: str = "linf",
    seed: int | np.random.Generator | None = None,
    clip: tuple[float, float] = (0.0, 1.0),
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    init_std: float = 0.001,
) -> torch.Tensor:
    """The TRADES inner maximisation ``max_{x' ∈ B(x, ε)} KL(f(x) ‖ f(x'))``
    (Zhang et al. 2019, Eq. (5) and Algorithm 1, lines 5–8).

    Matches the reference ``trades.py``: start at ``x + init_std·N(0, I)`` (not clipped
    before the first forward), K steps on the gradient of the KL *summed* over the batch,
    ``sign`` steps with projection onto the l∞ ball and ``[lo, hi]``, eval mode during
    the loop. Deliberate differences:

    * the model's train/eval mode is restored (the reference leaves it in train mode);
    * the clean distribution ``softmax f(x)`` is computed once (the reference recomputes it
      at every step; in eval mode the value is the same);
    * with ``steps=0`` the start point is projected into the ball and ``[lo, hi]``;
    * l2: a step ``α·g/‖g‖`` with the kernels' projection — the reference runs SGD on δ
      with learning rate ``2ε/K`` and ignores the step size argument (pass
      ``alpha=2*eps/steps`` to match), and replaces a zero gradient by a random
      direction where here a zero gradient gives a zero step.

    ε and α are in pixel units of ``clip`` (TRADES MNIST: ε = 0.1 or 0.3, α = 0.01; CIFAR-10:
    ε = 0.031, α = 0.007, in [0, 1] units).

    ``loss(logits_adv, logits_nat) -> (n,)`` replaces the KL (e.g. the hinge
    ``max(0, 1 − f(x')·f(x)/λ)`` of the binary variant of Table 3).
    """
    lo, hi = _check_clip(clip)
    x0 = _check_input(x, lo, hi)
    eps, alpha, steps = _check_budget(eps, alpha, steps, norm)
    # the start x + init_std·N(0, I) is not clipped before the first forward (as in the
    # reference): a noise wider than the pixel range would only feed the model garbage
    init_std = check_real("init_std", init_std, low=0.0, high=hi - lo)
    if loss is not None and not callable(loss):
        raise TypeError(f"loss must be None or a callable, got {loss!r}")
    _check_model_matches(model, x0)
    divergence = _trades_kl if loss is None else loss
    finite = _Finite(x0.device)
    rng = _seed_source(seed)
    gen = torch.Generator(device=x0.device).manual_seed(int(rng.integers(0, 2**62)))
    noise = torch.randn(x0.shape, generator=gen, device=x0.device, dtype=x0.dtype)
    xa = (x0 + init_std * noise).contiguous()
    with eval_mode(model):
        with torch.no_grad():
            logits_nat = check_logits(forward(model, x0), "model output", n=x0.shape[0])
        finite.logits &= torch.isfinite(logits_nat).all()

        def objective(logits_adv: torch.Tensor) -> torch.Tensor:
            finite.logits &= torch.isfinite(logits_adv).all()
            value = divergence(logits_adv, logits_nat)
            if not isinstance(value, torch.Tensor) or value.shape != (x0.shape[0],):
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else value
                raise ValueError(f"loss must return shape ({x0.shape[0]},), got {got!r:.60}")
            return value.sum()

        for _ in range(steps):
            g = _input_gradient(model, xa, objective)
            finite.grads &= torch.isfinite(g).all()
            _step(norm, xa, x0, g, alpha, eps, lo, hi)
    if steps == 0:
        k = _kernels()
        (k.project_linf if norm == "linf" else k.project_l2)(xa, x0, eps, lo, hi)
    return finite.check(xa)


def fast_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` prepared to be attacked fast; ``model`` itself is not changed.

    The copy is in eval mode with its parameters frozen (``requires_grad=False``: autograd
    records no weight-gradient edges, only the input path), and in channels-last memory
    format when it has 2-D convolutions — the layout oneDNN's CPU convolutions (and
    cuDNN's tensor-core kernels) use natively, which removes a layout conversion per
    convolution per step. Its outputs equal the model's up to float rounding (the
    convolution algorithm may differ). Re-create it after the model's weights change.
    Measured by ``tradeoff bench attack``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if any(
        t.is_floating_point() and not bool(torch.isfinite(t).all())
        for t in (*model.parameters(), *model.buffers())
    ):
        raise ValueError("model has NaN or inf weights")
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    if any(isinstance(m, nn.Conv2d) for m in fast.modules()):
        # torch's stubs lack Module.to(memory_format=...)
        fast = fast.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return fast


# --------------------------------------------------------------------------- attack object


@dataclass(frozen=True)
class PGD:
    """A PGD attack as a value: ``PGD(eps=0.3, alpha=0.01, steps=40)(model, x, y)``.

    :func:`tradeoff.torch.train.evaluate` varies ``eps`` and ``steps`` of it (with
    :meth:`replace`) for its gradient-masking checks.
    """

    eps: float
    alpha: float
    steps: int
    norm: str = "linf"
    random_start: bool = True
    restarts: int = 1
    loss: str | LossFn = "ce"
    seed: int | None = 0
    clip: tuple[float, float] = (0.0, 1.0)
    precision: str = "float32"

    def __post_init__(self) -> None:
        check_choice("precision", self.precision, PRECISIONS)
        _check_budget(self.eps, self.alpha, self.steps, self.norm)
        check_int("restarts", self.restarts, low=1)
        _check_clip(self.clip)
        if not callable(self.loss):
            check_choice("loss", self.loss, ("ce", "cw"))
        check_bool("random_start", self.random_start)
        if self.seed is not None:
            check_seed(self.seed)

    def replace(self, **changes: Any) -> PGD:
        """A copy with ``changes`` (field names and values), checked like a new attack."""
        return dataclasses.replace(self, **changes)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return pgd(
            model,
            x,
            y,
            eps=self.eps,
            alpha=self.alpha,
            steps=self.steps,
            norm=self.norm,
            random_start=self.random_start,
            restarts=self.restarts,
            loss=self.loss,
            seed=self.seed,
            clip=self.clip,
            precision=self.precision,
        )

    def describe(self) -> str:
        rs = "random start" if self.random_start else "no random start"
        r = f", {self.restarts} restarts" if self.restarts > 1 else ""
        p = f", {self.precision} autocast" if self.precision != "float32" else ""
        return (
            f"PGD-{self.steps} {self.norm} eps={self.eps:g} alpha={self.alpha:g} "
            f"({self.loss if isinstance(self.loss, str) else 'custom'} loss, {rs}{r}{p})"
        )
