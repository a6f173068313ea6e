"""Checks of tensors shared by data, attacks and training: labels and logits.

One rule for labels everywhere (:class:`~tradeoff.torch.data.Split`, the attacks,
:func:`~tradeoff.torch.attacks.correct`, :func:`~tradeoff.torch.attacks.per_sample_loss`,
``fit`` and ``evaluate``): a tensor of shape ``(n,)`` — or ``(n, 1)``, read as ``(n,)`` —
of integer class indices ``0 <= y < k`` for a network with ``k >= 2`` outputs, or of
labels ``±1`` (integer or floating) for a network with one output. Errors are
``TypeError`` / ``ValueError`` naming the argument.
"""

from __future__ import annotations

import torch

__all__ = ["check_label_values", "check_labels", "check_logits", "forward"]


def check_labels(
    y: object, n: int, *, name: str = "y", device: torch.device | None = None, of: str = "x"
):
    """``y`` as a tensor of shape ``(n,)`` after checking its type, shape, dtype (and
    device, if given); ``(n, 1)`` is read as ``(n,)``. Values are checked against the
    network by :func:`check_label_values`."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of labels, got {type(y).__name__}")
    if y.shape not in ((n,), (n, 1)):
        raise ValueError(
            f"{name} must have shape ({n},) (one label per sample of {of}), got {tuple(y.shape)}"
        )
    if y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold class indices or ±1 labels, got dtype {y.dtype}")
    if device is not None and y.device != device:
        raise ValueError(f"{name} is on {y.device} but x is on {device}")
    if y.is_floating_point() and y.numel() and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return y.reshape(n) if y.ndim == 2 else y


def check_logits(
    logits: object, name: str = "logits", *, n: int | None = None, finite: bool = False
) -> torch.Tensor:
    """A model output: a floating tensor ``(n, k)`` or ``(n,)`` (``n`` rows if given;
    ``finite``: no NaN or inf, a device sync)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {logits.dtype}")
    if (
        logits.ndim not in (1, 2)
        or logits.shape[0] == 0
        or logits.numel() == 0
        or (n is not None and logits.shape[0] != n)
    ):
        want = "n" if n is None else str(n)
        raise ValueError(
            f"{name} must have shape ({want}, classes) or ({want},) with n >= 1, got "
            f"{tuple(logits.shape)}"
        )
    if finite and not bool(torch.isfinite(logits).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return logits


def forward(model, x: torch.Tensor, name: str = "x"):
    """``model(x)``; torch's shape and dtype errors from inside the forward (``mat1 and
    mat2 shapes cannot be multiplied``) become a ``ValueError`` naming the model and x."""
    try:
        return model(x)
    except torch.cuda.OutOfMemoryError:
        raise
    except (RuntimeError, IndexError) as exc:
        raise ValueError(
            f"model cannot be applied to {name} of shape {tuple(x.shape)} and dtype {x.dtype}: "
            f"{exc}"
        ) from exc


def check_label_values(logits: torch.Tensor, y: torch.Tensor, name: str = "y") -> None:
    """Labels against the network's outputs: ±1 for one output, integer indices in
    ``[0, k)`` for ``k`` outputs (else torch's ``IndexError: Target 10 is out of
    bounds`` or a silently wrong accuracy)."""
    if logits.ndim == 1 or logits.shape[-1] == 1:
        if not bool((y.abs() == 1).all()):  # 0/1 labels would give a constant loss
            raise ValueError(f"a network with one output needs labels {name} in {{-1, +1}}")
        return
    k = logits.shape[1]
    if y.is_floating_point():
        raise TypeError(
            f"{name} must hold integer class indices for {k} classes, got dtype {y.dtype}"
        )
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ValueError(
            f"{name} must hold class indices in [0, {k - 1}] for a network with {k} outputs, "
            f"got labels in [{int(y.min())}, {int(y.max())}]"
        )
