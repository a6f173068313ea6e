"""The validated call of :mod:`tradeoff.kernels`: constants, the call record, the checks.

A leaf of the package: it imports no other kernels module, and the dispatcher
(:mod:`._api`) and every backend (:mod:`._cpu`, :mod:`._cuda_numba`, :mod:`._cupy`) take
their constants, the call record :class:`Call` and the α/ε packing from here. One
validator, :func:`validate`, checks every call that does not take the compiled entries
of :mod:`._cpu` (whose checks use the same constants, :data:`MAX_ALPHA` and
:data:`TIGHT`), whatever the array kind.

Nothing here imports torch or CuPy at module import: a torch tensor is recognised by
``type(x).__module__`` before torch is imported, a CuPy array likewise. ε and α are in
the units of ``x``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeoff._validate import check_real

__all__ = [
    "FLOATS",
    "MAX_ALPHA",
    "TIGHT",
    "UINT8",
    "Call",
    "check_box",
    "dtype_of",
    "family",
    "packed",
    "per_sample",
    "per_sample_args",
    "to_host",
    "torch_types",
    "validate",
]

#: The data dtypes of ``x`` (``x0`` may also be :data:`UINT8`, read as ``x0 / 255``).
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
UINT8 = np.dtype(np.uint8)
#: The largest step size α accepted (in the units of x): α and its square must stay far
#: inside float32 and float64 (the l2 norms are accumulated in float64).
MAX_ALPHA = 1e30
#: Below this, the expansion ‖d + s·g‖² = ‖d‖² + 2s<d,g> + s²‖g‖² (float64) has lost more
#: bits than the data dtype has spare; an exact second reduction is done instead.
TIGHT = {np.dtype(np.float32): 2.0**-20, np.dtype(np.float64): 2.0**-4}

_INF = float("inf")


# ----------------------------------------------------------------------------- array kinds
_TORCH: list[Any] = []  # [torch.Tensor, {allowed torch dtypes}, {torch dtype: numpy dtype}]


def torch_types() -> list[Any]:
    """``[torch.Tensor, allowed torch dtypes, torch → numpy dtype table]``, imported once."""
    if not _TORCH:
        import torch

        table = {torch.float32: np.float32, torch.float64: np.float64, torch.uint8: np.uint8}
        _TORCH.extend([torch.Tensor, set(table), table])
    return _TORCH


def family(x: Any) -> str:
    """'numpy', 'torch-cpu', 'torch-cuda', 'cupy', 'numba-device', or '?' for anything else."""
    if isinstance(x, np.ndarray):
        return "numpy"
    mod = type(x).__module__ or ""
    if mod.startswith("torch") and isinstance(x, torch_types()[0]):
        if x.is_cpu:
            return "torch-cpu"
        if x.is_cuda:
            return "torch-cuda"
        raise TypeError(f"torch tensors on device {x.device} are not supported (cpu, cuda)")
    if mod.startswith("cupy"):
        return "cupy"
    if mod.startswith("numba.cuda") and hasattr(x, "copy_to_host"):
        return "numba-device"
    return "?"


def dtype_of(a: Any, fam: str, name: str = "x", allowed: str = "float32 or float64") -> np.dtype:
    """numpy dtype of ``a``; a torch dtype without a numpy counterpart we support raises a
    TypeError naming it (e.g. torch.float16), as the numpy path does."""
    if fam.startswith("torch") and not isinstance(a, np.ndarray):  # CPU tensors arrive as views
        table = torch_types()[2]
        if a.dtype not in table:
            raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype}")
        dt: np.dtype = np.dtype(table[a.dtype])
    else:
        dt = np.dtype(a.dtype)
    return dt


def to_host(a: Any, fam: str) -> Any:
    """``a`` as a host (numpy) array; None and numpy arrays as they are."""
    if a is None or isinstance(a, np.ndarray):  # CPU tensors arrive as numpy views
        return a
    if fam.startswith("torch"):
        return a.detach().cpu().numpy()
    if fam == "cupy":
        return a.get()
    if fam == "numba-device":
        return a.copy_to_host()
    return a


def _device(a: Any, fam: str) -> object:
    if fam.startswith("torch"):
        return a.device
    if fam == "cupy":
        return a.device.id
    if fam == "numba-device":
        return "cuda"
    return "cpu"


def _contiguous(a: Any, fam: str) -> bool:
    if fam.startswith("torch"):
        return bool(a.is_contiguous())
    if fam == "numba-device":
        return bool(a.is_c_contiguous())
    return bool(a.flags.c_contiguous)


def _span(a: Any, fam: str, nbytes: int) -> tuple[int, int]:
    """The byte range ``[start, start + nbytes)`` of a C-contiguous array."""
    if fam.startswith("torch"):
        p = a.data_ptr()
    elif fam == "numpy":
        p = a.__array_interface__["data"][0]
    elif fam == "cupy":
        p = a.data.ptr
    elif hasattr(a, "__cuda_array_interface__"):
        p = a.__cuda_array_interface__["data"][0]
    else:  # Numba's CUDA simulator: device arrays wrap host arrays
        p = a._ary.__array_interface__["data"][0]
    return p, p + nbytes


def _torch_to_numpy(name: str, a: Any, fam: str) -> np.ndarray:
    """Zero-copy numpy view of a CPU tensor, after checking it is one (kind and dtype)."""
    tensor, dtypes, _ = torch_types()
    if not isinstance(a, tensor) or not a.is_cpu:
        raise TypeError(
            f"{name} must be the same kind of array as x ({fam}), got {type(a).__name__}"
            + ("" if not isinstance(a, tensor) else f" on {a.device}")
        )
    if a.dtype not in dtypes:
        allowed = "float32, float64 or uint8" if name == "x0" else "float32 or float64"
        raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype}")
    view: np.ndarray = a.detach().numpy() if a.requires_grad else a.numpy()
    return view


# ----------------------------------------------------------------------------- the record
@dataclass(slots=True)
class Call:
    """A validated call: the arrays (numpy views for CPU tensors), their dtype and layout,
    the scalars as checked, and the backend that runs it."""

    fam: str
    x: Any
    x0: Any
    g: Any
    out: Any
    dtype: np.dtype
    n: int  # batch size
    d: int  # elements per sample
    alpha: float | np.ndarray  # a float, or a host array of shape (n,)
    eps: float | np.ndarray
    lo: float
    hi: float
    backend: str | None
    result: Any = None  # what the public function returns (x or out, caller's type)


# ----------------------------------------------------------------------------- scalars
def per_sample(name: str, v: Any, n: int, high: float | None = None) -> float | np.ndarray:
    """A scalar or per-sample array of shape (n,), finite, in [0, high]; float or host array.

    Per-sample arrays may be of any supported array kind (numpy, torch, CuPy, Numba).
    """
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        if isinstance(v, float) and 0.0 <= v < _INF and (high is None or v <= high):
            return float(v)  # the common case, without check_real's conversions
        return check_real(name, v, low=0.0, high=high)
    vfam = family(v)
    if vfam == "?":
        raise TypeError(
            f"{name} must be a real number or a per-sample array of shape ({n},), "
            f"got {type(v).__name__}"
        )
    host = to_host(v, vfam)
    if host.dtype.kind not in "fiu" or host.dtype == np.bool_:
        raise TypeError(f"{name} must hold real numbers, got dtype {host.dtype}")
    if host.ndim == 0:
        return check_real(name, host.item(), low=0.0, high=high)
    if host.shape != (n,):
        raise ValueError(
            f"{name} must be a scalar or have shape ({n},) (one value per sample), "
            f"got shape {tuple(host.shape)}"
        )
    if not np.all(np.isfinite(host)):
        raise ValueError(f"{name} must be finite, got {host!r}")
    if np.any(host < 0):
        raise ValueError(f"{name} must be >= 0, got {host!r}")
    if high is not None and np.any(host > high):
        raise ValueError(f"{name} must be <= {high:g}, got {host!r}")
    out: np.ndarray = host
    return out


def check_box(lo: Any, hi: Any) -> tuple[float, float]:
    """The box [lo, hi] (``-inf``/``inf`` for none, ``lo <= hi``) as floats."""
    if type(lo) is not float or lo != lo:  # the common case is two non-NaN floats
        lo = check_real("lo", lo, allow_inf=True)
    if type(hi) is not float or hi != hi:
        hi = check_real("hi", hi, allow_inf=True)
    if lo > hi:
        raise ValueError(f"lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    return lo, hi


# ----------------------------------------------------------------------------- arrays
def _check_arrays(
    x: Any, named: list[tuple[str, Any]], fam: str, kind: str
) -> tuple[np.dtype, tuple[int, ...]]:
    """Dtype, shape, kind, device and layout of ``x`` and the other arrays ``named``.

    ``kind`` is the family of the arrays as they are checked: "numpy" for CPU tensors
    (already viewed as numpy), else ``fam``."""
    dtype = dtype_of(x, kind)
    if dtype not in FLOATS:
        raise TypeError(f"x must have dtype float32 or float64, got {dtype}")
    shape = tuple(x.shape)
    if not shape:
        raise ValueError("x must have at least one axis (the first is the batch), got a 0-d array")
    dev = _device(x, kind)
    for name, a in named:
        afam = family(a)
        if afam != kind:
            raise TypeError(
                f"{name} must be the same kind of array as x ({fam}), got {type(a).__name__}"
                + ("" if afam in ("?", "numpy") else f" ({afam})")
            )
        if _device(a, kind) != dev:
            raise ValueError(f"{name} is on device {_device(a, kind)}, x on {dev}; they must match")
        if tuple(a.shape) != shape:
            raise ValueError(f"{name} must have the shape of x {shape}, got {tuple(a.shape)}")
        allowed = f"{dtype} (as x) or uint8" if name == "x0" else f"{dtype} (as x)"
        adt = dtype_of(a, kind, name, allowed)
        if adt != dtype and (name != "x0" or adt != UINT8):
            raise TypeError(f"{name} must have dtype {allowed}, got {adt}")
    for name, a in [("x", x), *named]:
        if not _contiguous(a, kind):
            raise ValueError(
                f"{name} must be C-contiguous (call .contiguous() / np.ascontiguousarray first)"
            )
    return dtype, shape


def _check_aliasing(
    x: Any, out: Any, named: list[tuple[str, Any]], kind: str, dtype: np.dtype, size: int
) -> None:
    """The written array (``out``, else ``x``) may be ``x`` itself, but must be writeable
    and overlap neither ``x0`` nor ``g``."""
    what = "x" if out is None else "out"
    target = x if out is None else out
    if kind == "numpy" and not target.flags.writeable:
        raise ValueError(
            f"{what} must be writeable (the result is written to it); got a read-only array"
        )
    if size == 0:
        return
    nbytes = size * dtype.itemsize
    t0, t1 = _span(target, kind, nbytes)
    for name, a in named:
        if name == "out":
            continue
        a0, a1 = _span(a, kind, size * dtype_of(a, kind).itemsize)
        if a0 < t1 and t0 < a1:
            raise ValueError(f"{what} must not share memory with {name} (it is written)")
    if out is not None:
        x0_, x1_ = _span(x, kind, nbytes)
        if x0_ < t1 and t0 < x1_ and (x0_, x1_) != (t0, t1):
            raise ValueError("out must either be x itself or not overlap x")


def validate(x: Any, x0: Any, g: Any, alpha: Any, eps: Any, lo: Any, hi: Any, out: Any) -> Call:
    """Check a step (``g`` an array) or projection (``g`` None) for every array kind.

    Order: the arrays (kind, device, shape, dtype), their layout, writeability and
    overlap, then the scalars. The first violation raises a TypeError or ValueError naming
    the argument; the returned :class:`Call` has ``backend`` None (the dispatcher picks it).
    """
    fam = "numpy" if type(x) is np.ndarray else family(x)
    if fam == "?":
        raise TypeError(
            f"x must be a numpy array, a torch tensor or a CuPy array, got {type(x).__name__}"
        )
    result = x if out is None else out
    kind = fam
    if fam == "torch-cpu":  # checked as zero-copy numpy views
        kind = "numpy"
        x = _torch_to_numpy("x", x, fam)
        x0 = _torch_to_numpy("x0", x0, fam)
        g = None if g is None else _torch_to_numpy("g", g, fam)
        out = None if out is None else _torch_to_numpy("out", out, fam)
    named = [("x0", x0)] if g is None else [("x0", x0), ("g", g)]
    if out is not None:
        named.append(("out", out))
    dtype, shape = _check_arrays(x, named, fam, kind)
    n = shape[0]
    d = math.prod(shape[1:])
    _check_aliasing(x, out, named, kind, dtype, n * d)
    lo, hi = check_box(lo, hi)
    alpha_v = 0.0 if g is None else per_sample("alpha", alpha, n, MAX_ALPHA)
    eps_v = per_sample("eps", eps, n)
    return Call(fam, x, x0, g, out, dtype, n, d, alpha_v, eps_v, lo, hi, None, result)


# ----------------------------------------------------------------------------- packing
_PACKED: dict[tuple[float, float, float, float, str], np.ndarray] = {}


def packed(c: Call) -> np.ndarray:
    """``[lo, hi, alpha..., eps...]`` in the call's dtype, the scalars of the Numba CPU
    kernels (:mod:`._cpu`); cached for scalar α, ε."""
    dtype = c.dtype
    if isinstance(c.alpha, float) and isinstance(c.eps, float):
        key = (c.lo, c.hi, c.alpha, c.eps, dtype.char)
        p = _PACKED.get(key)
        if p is None:
            p = np.array([c.lo, c.hi, c.alpha, c.eps], dtype=dtype)
            if len(_PACKED) > 256:
                _PACKED.clear()
            _PACKED[key] = p
        return p
    a = np.broadcast_to(np.asarray(c.alpha, dtype=dtype), (c.n,))
    e = np.broadcast_to(np.asarray(c.eps, dtype=dtype), (c.n,))
    return np.concatenate([np.array([c.lo, c.hi], dtype=dtype), a, e])


def per_sample_args(v: float | np.ndarray, dtype: np.dtype) -> tuple[np.ndarray | None, int, Any]:
    """α or ε as the GPU kernels take it: ``(host array or None, stride, scalar)``.

    A scalar gives ``(None, -1, v)`` (the kernels read the scalar when the stride is
    negative); a per-sample array ``(v as dtype, 1, 0)``. Values in ``dtype``'s type.
    """
    t = dtype.type
    if isinstance(v, float):
        return None, -1, t(v)
    return np.asarray(v, dtype=dtype), 1, t(0)
