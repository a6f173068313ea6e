"""Public API of :mod:`tradeoff.kernels`: validation, dispatch on the array type.

Nothing here imports torch or CuPy at module import: a torch tensor is recognised by
``type(x).__module__`` before torch is imported, a CuPy array likewise.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeoff._validate import check_choice, check_real, check_rng

from . import _threads
from . import reference as _ref

__all__ = [
    "BACKENDS",
    "available_backends",
    "l2_step",
    "linf_step",
    "project_l2",
    "project_linf",
    "random_start",
]

#: Every backend name, in order of preference.
BACKENDS = ("numba-cpu", "cupy", "numba-cuda", "reference")

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_UINT8 = np.dtype(np.uint8)
# Below this, the expansion ‖d + s·g‖² = ‖d‖² + 2s<d,g> + s²‖g‖² (float64) has lost more
# bits than the data dtype has spare; an exact second reduction is done instead.
_TIGHT = {np.dtype(np.float32): 2.0**-20, np.dtype(np.float64): 2.0**-4}


# ----------------------------------------------------------------------------- families
_TORCH: list = []  # [torch.Tensor, {allowed torch dtypes}] once a tensor has been seen


def _family(x: Any) -> str:
    """'numpy', 'torch-cpu', 'torch-cuda', 'cupy', 'numba-device', or '?' for anything else."""
    if isinstance(x, np.ndarray):
        return "numpy"
    mod = type(x).__module__ or ""
    if mod.startswith("torch"):
        if not _TORCH:
            import torch

            _TORCH.extend([torch.Tensor, {torch.float32, torch.float64, torch.uint8}])
        if isinstance(x, _TORCH[0]):
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


def _dtype(a: Any, fam: str, name: str = "x", allowed: str = "float32 or float64") -> np.dtype:
    """numpy dtype of ``a``; a torch dtype without a numpy counterpart we support raises a
    TypeError naming it (e.g. torch.float16), as the numpy path does."""
    if fam.startswith("torch") and not isinstance(a, np.ndarray):  # CPU tensors arrive as views
        import torch

        table = {torch.float32: np.float32, torch.float64: np.float64, torch.uint8: np.uint8}
        if a.dtype not in table:
            raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype}")
        return np.dtype(table[a.dtype])
    return np.dtype(a.dtype)


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
        return a.is_contiguous()
    if fam == "numba-device":
        return a.is_c_contiguous()
    return bool(a.flags.c_contiguous)


def _span(a: Any, fam: str, nbytes: int) -> tuple[int, int]:
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


# ----------------------------------------------------------------------------- validation
@dataclass(slots=True)
class _Call:
    fam: str
    x: Any
    x0: Any
    g: Any
    out: Any
    dtype: np.dtype
    n: int  # batch size
    d: int  # elements per sample
    alpha: float | Any  # float, or a per-sample array of the caller's family/host
    eps: float | Any
    lo: float
    hi: float
    backend: str
    result: Any = None  # what the public function returns (x or out, caller's type)


#: The largest step size α accepted (in the units of x): α and its square must stay far
#: inside float32 and float64 (the l2 norms are accumulated in float64).
MAX_ALPHA = 1e30


def _check_scalar_or_per_sample(
    name: str, v: Any, n: int, fam: str, high: float | None = None
) -> float | np.ndarray:
    """A scalar or per-sample array of shape (n,), finite, in [0, high]; float or host array."""
    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        return check_real(name, v, low=0.0, high=high)
    vfam = _family(v)
    if vfam == "?":
        raise TypeError(
            f"{name} must be a real number or a per-sample array of shape ({n},), "
            f"got {type(v).__name__}"
        )
    if vfam.startswith("torch"):
        host = v.detach().cpu().numpy()
    elif vfam == "cupy":
        host = v.get()
    elif vfam == "numba-device":
        host = v.copy_to_host()
    else:
        host = v
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
    return host


def _backend_for(fam: str, backend: str | None) -> str:
    if backend is None:
        if fam in ("numpy", "torch-cpu"):
            return "numba-cpu"
        if fam == "numba-device":
            return "numba-cuda"
        return "cupy" if "cupy" in available_backends() else "numba-cuda"
    check_choice("backend", backend, BACKENDS)
    if backend == "cupy" and fam in ("numpy", "torch-cpu", "numba-device"):
        raise ValueError(f"backend 'cupy' needs CuPy arrays or CUDA torch tensors, got {fam}")
    if backend == "numba-cpu" and fam not in ("numpy", "torch-cpu"):
        raise ValueError(f"backend 'numba-cpu' needs numpy arrays or CPU tensors, got {fam}")
    return backend


def _real_fast(name: str, v: Any, low: float | None, high: float = math.inf) -> float:
    # Fast path of check_real for plain floats (the per-step call); errors go through it.
    if type(v) is float and v == v and (low <= v < _INF and v <= high if low is not None else True):
        return v
    return check_real(
        name, v, low=low, high=None if high == math.inf else high, allow_inf=low is None
    )


_INF = float("inf")


def _torch_to_numpy(name: str, a: Any, fam: str) -> np.ndarray:
    """Zero-copy numpy view of a CPU tensor, after checking it is one (kind and dtype)."""
    if not _TORCH:
        import torch

        _TORCH.extend([torch.Tensor, {torch.float32, torch.float64, torch.uint8}])
    if not isinstance(a, _TORCH[0]) or not a.is_cpu:
        raise TypeError(
            f"{name} must be the same kind of array as x ({fam}), got {type(a).__name__}"
            + ("" if not isinstance(a, _TORCH[0]) else f" on {a.device}")
        )
    if a.dtype not in _TORCH[1]:
        allowed = "float32, float64 or uint8" if name == "x0" else "float32 or float64"
        raise TypeError(f"{name} must have dtype {allowed}, got {a.dtype}")
    return a.detach().numpy() if a.requires_grad else a.numpy()


def _prepare_host(x, x0, g, alpha, eps, lo, hi, out, backend, has_g: bool, fam: str) -> _Call:
    """Validation for numpy arrays and CPU tensors (viewed as numpy), kept cheap: it runs
    on every step and a 128×784 step is ~10 µs of work."""
    result = x if out is None else out
    if fam == "torch-cpu":
        x = _torch_to_numpy("x", x, fam)
        x0 = _torch_to_numpy("x0", x0, fam)
        if has_g:
            g = _torch_to_numpy("g", g, fam)
        if out is not None:
            out = _torch_to_numpy("out", out, fam)
    dtype = x.dtype
    if dtype not in _FLOATS:
        raise TypeError(f"x must have dtype float32 or float64, got {dtype}")
    shape = x.shape
    if not shape:
        raise ValueError("x must have at least one axis (the first is the batch), got a 0-d array")
    named = (("x0", x0), ("g", g)) if has_g else (("x0", x0),)
    if out is not None:
        named = (*named, ("out", out))
    for name, a in named:
        if type(a) is not np.ndarray:
            raise TypeError(
                f"{name} must be the same kind of array as x ({fam}), got {type(a).__name__}"
            )
        if a.shape != shape:
            raise ValueError(f"{name} must have the shape of x {shape}, got {a.shape}")
        adt = a.dtype
        if adt != dtype and (name != "x0" or adt != _UINT8):
            allowed = f"{dtype} (as x) or uint8" if name == "x0" else f"{dtype} (as x)"
            raise TypeError(f"{name} must have dtype {allowed}, got {adt}")
    for name, a in (("x", x), *named):
        if not a.flags.c_contiguous:
            raise ValueError(
                f"{name} must be C-contiguous (call .contiguous() / np.ascontiguousarray first)"
            )
    target = x if out is None else out
    if not target.flags.writeable:
        what = "x" if out is None else "out"
        raise ValueError(
            f"{what} must be writeable (the result is written to it); got a read-only array"
        )
    for name, a in named:
        if name != "out" and np.may_share_memory(target, a):
            what = "x" if out is None else "out"
            raise ValueError(f"{what} must not share memory with {name} (it is written)")
    if out is not None and out is not x and np.may_share_memory(out, x):
        if out.__array_interface__["data"][0] != x.__array_interface__["data"][0]:
            raise ValueError("out must either be x itself or not overlap x")
    n = shape[0]
    d = math.prod(shape[1:])
    lo = _real_fast("lo", lo, None)
    hi = _real_fast("hi", hi, None)
    if lo > hi:
        raise ValueError(f"lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    if has_g:
        alpha_v = (
            _real_fast("alpha", alpha, 0.0, MAX_ALPHA)
            if type(alpha) is float
            else (_check_scalar_or_per_sample("alpha", alpha, n, fam, MAX_ALPHA))
        )
    else:
        alpha_v = 0.0
    eps_v = (
        _real_fast("eps", eps, 0.0)
        if type(eps) is float
        else (_check_scalar_or_per_sample("eps", eps, n, fam))
    )
    be = "numba-cpu" if backend is None else _backend_for(fam, backend)
    return _Call(fam, x, x0, g, out, dtype, n, d, alpha_v, eps_v, lo, hi, be, result)


def _prepare(x, x0, g, alpha, eps, lo, hi, out, backend, *, has_g: bool) -> _Call:
    fam = "numpy" if type(x) is np.ndarray else _family(x)
    if fam in ("numpy", "torch-cpu"):
        return _prepare_host(x, x0, g, alpha, eps, lo, hi, out, backend, has_g, fam)
    if fam == "?":
        raise TypeError(
            f"x must be a numpy array, a torch tensor or a CuPy array, got {type(x).__name__}"
        )
    dtype = _dtype(x, fam)
    if dtype not in _FLOATS:
        raise TypeError(f"x must have dtype float32 or float64, got {dtype}")
    shape = tuple(x.shape)
    if len(shape) == 0:
        raise ValueError("x must have at least one axis (the first is the batch), got a 0-d array")
    dev = _device(x, fam)
    named = [("x0", x0), ("g", g)] if has_g else [("x0", x0)]
    if out is not None:
        named.append(("out", out))
    for name, a in named:
        afam = _family(a)
        if afam != fam:
            raise TypeError(
                f"{name} must be the same kind of array as x ({fam}), got {type(a).__name__}"
                + ("" if afam == "?" else f" ({afam})")
            )
        if _device(a, fam) != dev:
            raise ValueError(f"{name} is on device {_device(a, fam)}, x on {dev}; they must match")
        if tuple(a.shape) != shape:
            raise ValueError(f"{name} must have the shape of x {shape}, got {tuple(a.shape)}")
        adt = _dtype(
            a, fam, name, f"{dtype} (as x) or uint8" if name == "x0" else f"{dtype} (as x)"
        )
        if name == "x0":
            if adt != dtype and adt != _UINT8:
                raise TypeError(f"x0 must have dtype {dtype} (as x) or uint8, got {adt}")
        elif adt != dtype:
            raise TypeError(f"{name} must have dtype {dtype} (as x), got {adt}")
    for name, a in [("x", x), *named]:
        if not _contiguous(a, fam):
            raise ValueError(
                f"{name} must be C-contiguous (call .contiguous() / np.ascontiguousarray first)"
            )
    n = shape[0]
    d = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    lo = check_real("lo", lo, allow_inf=True)
    hi = check_real("hi", hi, allow_inf=True)
    if lo > hi:
        raise ValueError(f"lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    alpha_v = _check_scalar_or_per_sample("alpha", alpha, n, fam) if has_g else 0.0
    eps_v = _check_scalar_or_per_sample("eps", eps, n, fam)
    # Aliasing: the written array may be x itself, but must not overlap x0 or g.
    itemsize = dtype.itemsize
    nbytes = n * d * itemsize
    target = x if out is None else out
    if n * d > 0:
        t0, t1 = _span(target, fam, nbytes)
        for name, a in named:
            if name == "out":
                continue
            a_bytes = n * d * (1 if _dtype(a, fam) == _UINT8 else itemsize)
            a0, a1 = _span(a, fam, a_bytes)
            if a0 < t1 and t0 < a1:
                what = "x" if out is None else "out"
                raise ValueError(f"{what} must not share memory with {name} (it is written)")
        if out is not None:
            x0_, x1_ = _span(x, fam, nbytes)
            if x0_ < t1 and t0 < x1_ and (x0_, x1_) != (t0, t1):
                raise ValueError("out must either be x itself or not overlap x")
    be = _backend_for(fam, backend)
    return _Call(
        fam, x, x0, g, out, dtype, n, d, alpha_v, eps_v, lo, hi, be, x if out is None else out
    )


# ----------------------------------------------------------------------------- CPU path
_PACKED: dict = {}


def _packed(c: _Call, dtype: np.dtype) -> np.ndarray:
    """[lo, hi, alpha..., eps...] in ``dtype`` (see _cpu); cached for scalar α, ε."""
    scalar = isinstance(c.alpha, float) and isinstance(c.eps, float)
    if scalar:
        key = (c.lo, c.hi, c.alpha, c.eps, dtype.char)
        p = _PACKED.get(key)
        if p is not None:
            return p
        p = np.array([c.lo, c.hi, c.alpha, c.eps], dtype=dtype)
        if len(_PACKED) > 256:
            _PACKED.clear()
        _PACKED[key] = p
        return p
    a = np.broadcast_to(np.asarray(c.alpha, dtype=dtype), (c.n,))
    e = np.broadcast_to(np.asarray(c.eps, dtype=dtype), (c.n,))
    return np.concatenate([np.array([c.lo, c.hi], dtype=dtype), a, e])


_CPU: list = []  # the Numba CPU module, imported on first use (it compiles lazily)


def _run_cpu(kind: str, c: _Call) -> None:
    if not _CPU:
        from . import _cpu as mod

        _CPU.append(mod)
    _cpu = _CPU[0]

    x, x0, g, out = c.x.reshape(-1), c.x0.reshape(-1), c.g, c.out
    if g is not None:
        g = g.reshape(-1)
    if out is not None and out is not c.x:
        out = out.reshape(-1)
        np.copyto(out, x)  # the kernels work in place (see _cpu)
        x = out
    p = _packed(c, c.dtype)
    if kind in ("proj_linf", "proj_l2"):
        g = None
    _kernel(
        _cpu, kind, x, x0, g, p, c.n, c.d, _threads.chunks(c.n * c.d, kind in ("l2", "proj_l2"))
    )


def _kernel(_cpu, kind: str, x, x0, g, p, n: int, d: int, nchunks: int) -> None:
    """Run the Numba CPU kernel on flat arrays: on the pool when ``nchunks`` > 0 (an l2
    batch of one sample stays serial: its parallelism is across samples)."""
    tight = _TIGHT[x.dtype]
    if kind in ("linf", "proj_linf"):
        if nchunks:
            _cpu.linf_p(x, x0, g, p, d, nchunks)
        else:
            _cpu.linf_s(x, x0, g, p, d)
    elif nchunks and n > 1:
        _cpu.l2_p(x, x0, g, p, d, tight)
    else:
        _cpu.l2_s(x, x0, g, p, d, tight)


# ----------------------------------------------------------------------------- fast path
# The per-step call on numpy arrays (torch CPU tensors: their numpy views) with float
# α, ε, lo, hi, no ``out``, no forced backend goes to one compiled entry (_cpu.linf_entry,
# _cpu.l2_entry) that does the checks of _prepare_host and runs the kernel: ~0.8 µs of
# fixed cost instead of ~4 µs of Python (a 128×784 step is ~15–20 µs of work). Python
# checks only what Numba cannot type (dtypes). An entry that declines a call writes
# nothing and the call goes through _prepare, which raises the error; so no call is
# accepted here that _prepare would reject, and every check runs before the kernel.
_F32, _F64 = _FLOATS
_ENTRY: dict = {}  # kind -> (compiled entry, is l2), and "cpu": the module; on first use
_ENTRY_POOL = -1  # _cpu.USE_POOL: the entry checked the call; run the parallel kernel


def _fast(kind: str, x, x0, g, alpha: float, eps: float, lo: float, hi: float) -> bool:
    """Run the step through the compiled entry if it takes the call (see above)."""
    dt = x.dtype
    if dt is not _F32 and dt is not _F64:
        return False
    if (x0.dtype is not dt and x0.dtype is not _UINT8) or (g is not None and g.dtype is not dt):
        return False
    if not _ENTRY:
        from . import _cpu

        _ENTRY.update(
            cpu=_cpu,
            linf=(_cpu.linf_entry, False),
            proj_linf=(_cpu.linf_entry, False),
            l2=(_cpu.l2_entry, True),
            proj_l2=(_cpu.l2_entry, True),
        )
    entry, l2 = _ENTRY[kind]
    nchunks = _threads.chunks(x.size, l2)
    code = entry(x, x0, g, alpha, eps, lo, hi, nchunks)
    if code == 0:
        return True
    if code != _ENTRY_POOL:
        return False
    # The entry checked the call; the parallel kernels are called from Python only (see
    # _cpu's docstring). The ~1 µs of packing is nothing at these sizes.
    p = np.array([lo, hi, alpha, eps], dtype=dt)
    n = x.shape[0]
    gf = None if g is None else g.reshape(-1)
    _kernel(_ENTRY["cpu"], kind, x.reshape(-1), x0.reshape(-1), gf, p, n, x.size // n, nchunks)
    return True


def _fast_views(x, x0, g):
    """Numpy views of plain CPU tensors x, x0, g (g may be None) of supported dtypes that do
    not require grad; None when any is something else (then _prepare decides)."""
    if not _TORCH:
        if not (type(x).__module__ or "").startswith("torch"):
            return None
        _family(x)  # imports torch's Tensor class and dtypes once
    tensor, dts = _TORCH
    for a in (x, x0) if g is None else (x, x0, g):
        if type(a) is not tensor or not a.is_cpu or a.requires_grad or a.dtype not in dts:
            return None
    return x.numpy(), x0.numpy(), (None if g is None else g.numpy())


# ----------------------------------------------------------------------------- reference path
def _to_host(a, fam):
    if a is None or isinstance(a, np.ndarray):  # CPU tensors arrive as numpy views
        return a
    if fam.startswith("torch"):
        return a.detach().cpu().numpy()
    if fam == "cupy":
        return a.get()
    if fam == "numba-device":
        return a.copy_to_host()
    return a


def _write_back(target, result: np.ndarray, fam: str) -> None:
    if isinstance(target, np.ndarray):
        target[...] = result
    elif fam.startswith("torch"):
        import torch

        target.copy_(torch.from_numpy(result).to(target.device))
    elif fam == "cupy":
        import cupy

        target[...] = cupy.asarray(result)
    else:
        target.copy_to_device(result)


def _run_reference(kind: str, c: _Call) -> None:
    x, x0, g = (_to_host(a, c.fam) for a in (c.x, c.x0, c.g))
    if kind == "linf":
        r = _ref.linf_step(x, x0, g, c.alpha, c.eps, c.lo, c.hi)
    elif kind == "l2":
        r = _ref.l2_step(x, x0, g, c.alpha, c.eps, c.lo, c.hi)
    elif kind == "proj_linf":
        r = _ref.project_linf(x, x0, c.eps, c.lo, c.hi)
    else:
        r = _ref.project_l2(x, x0, c.eps, c.lo, c.hi)
    _write_back(c.x if c.out is None else c.out, r, c.fam)


def _run(kind: str, c: _Call):
    result = c.result
    if c.n * c.d == 0:
        return result
    if c.backend == "numba-cpu":
        _run_cpu(kind, c)
    elif c.backend == "reference":
        _run_reference(kind, c)
    elif c.backend == "numba-cuda":
        from . import _cuda_numba

        _cuda_numba.run(kind, c)
    else:
        from . import _cupy

        _cupy.run(kind, c)
    return result


# ----------------------------------------------------------------------------- public API
def _step(kind, x, x0, g, alpha, eps, lo, hi, out, backend):
    """The per-call path of the steps and projections (``g is None`` for a projection): the
    compiled entry for numpy arrays and plain CPU tensors with float arguments (the same
    checks, done in Numba), else full validation and dispatch."""
    if (
        out is None
        and backend is None
        and type(alpha) is float
        and type(eps) is float
        and type(lo) is float
        and type(hi) is float
    ):
        if type(x) is np.ndarray:
            if (
                type(x0) is np.ndarray
                and (g is None or type(g) is np.ndarray)
                and _fast(kind, x, x0, g, alpha, eps, lo, hi)
            ):
                return x
        elif (v := _fast_views(x, x0, g)) is not None and _fast(kind, *v, alpha, eps, lo, hi):
            return x
    c = _prepare(x, x0, g, alpha, eps, lo, hi, out, backend, has_g=g is not None)
    return _run(kind, c)


def linf_step(x, x0, g, alpha, eps, lo=0.0, hi=1.0, *, out=None, backend=None):
    """One fused l∞ PGD step: ``x ← clip(clip(x + α·sign(g), x0 − ε, x0 + ε), lo, hi)``.

    The projected-gradient step of Madry et al. (2018), Eq. (2), for the l∞ threat model,
    in one pass over memory. ε and α are in the units of ``x`` (e.g. 8/255 for images in
    [0, 1]).

    Parameters
    ----------
    x : array, float32 or float64, C-contiguous, shape (batch, ...)
        Current iterate; overwritten unless ``out`` is given.
    x0 : array
        Clean inputs, same shape; dtype of ``x`` or uint8 (read as ``x0 / 255``).
    g : array
        Gradient of the loss, same shape and dtype as ``x``.
    alpha, eps : float or array of shape (batch,)
        Step size (0 <= α <= 1e30) and radius (>= 0, finite), scalars or one value per
        sample.
    lo, hi : float
        Box (``lo <= hi``); ``-inf``/``inf`` for none.
    out : array, optional
        Where to write the result (may be ``x``; must not overlap ``x0`` or ``g``).
    backend : {"numba-cpu", "cupy", "numba-cuda", "reference"}, optional
        Force a backend; by default chosen from the array type.

    Returns
    -------
    The array written (``out`` or ``x``). The result equals
    :func:`tradeoff.kernels.reference.linf_step` bit for bit on every backend.

    What is checked: shapes, dtypes, layouts, overlap and the scalars, on every call (in
    the compiled entry, ~1 µs). The *contents* of ``x0``, ``x`` and ``g`` are not: a finite
    check is a full extra pass over memory per step. Instead the arithmetic is written so
    that a NaN in ``x0`` gives NaN in that element of the result (never a value freed from
    the ε-constraint), a NaN in ``x`` gives x0 − ε, a NaN gradient element a zero step.
    The attacks of :mod:`tradeoff.torch.attacks` check their inputs once per call.
    """
    if g is None:
        raise TypeError("g must be the gradient array; for the projection alone use project_linf")
    return _step("linf", x, x0, g, alpha, eps, lo, hi, out, backend)


def l2_step(x, x0, g, alpha, eps, lo=0.0, hi=1.0, *, out=None, backend=None):
    """One fused l2 PGD step, per sample (the first axis is the batch).

    ``x ← clip(Π_ε(x + α·g/‖g‖₂), lo, hi)`` with Π_ε the projection of ``x − x0`` onto the
    l2 ball of radius ε (Madry et al. 2018, l2 threat model). A zero gradient gives a zero
    step, ε = 0 gives ``x0`` (clipped), never NaN. Norms are over all axes but the first,
    accumulated in float64; where α/‖g‖ exceeds the dtype's range (a tiny, e.g. denormal,
    float32 gradient) the update is computed in float64, so the step never overflows.
    Arguments as in :func:`linf_step` (a NaN in ``x0`` makes that sample NaN); the result
    equals :func:`tradeoff.kernels.reference.l2_step` within float rounding.
    """
    if g is None:
        raise TypeError("g must be the gradient array; for the projection alone use project_l2")
    return _step("l2", x, x0, g, alpha, eps, lo, hi, out, backend)


def project_linf(x, x0, eps, lo=0.0, hi=1.0, *, out=None, backend=None):
    """Project ``x`` onto the l∞ ball of radius ``eps`` around ``x0``, then onto [lo, hi].

    Arguments as in :func:`linf_step` (without ``g`` and ``alpha``). Bit-identical to
    :func:`tradeoff.kernels.reference.project_linf`.
    """
    return _step("proj_linf", x, x0, None, 0.0, eps, lo, hi, out, backend)


def project_l2(x, x0, eps, lo=0.0, hi=1.0, *, out=None, backend=None):
    """Project each sample of ``x`` onto the l2 ball of radius ``eps`` around ``x0``, then clip.

    Arguments as in :func:`l2_step` (without ``g`` and ``alpha``).
    """
    return _step("proj_l2", x, x0, None, 0.0, eps, lo, hi, out, backend)


def random_start(x0, eps, norm="linf", lo=0.0, hi=1.0, *, seed):
    """A random start drawn exactly uniformly from the ε-ball around ``x0``, then clipped.

    l∞: ``x0 + u``, ``u`` uniform on [−ε, ε]^n. l2: ``x0 + ε·U^{1/n}·z/‖z‖₂`` with
    ``z ~ N(0, I_n)`` and ``U ~ U(0, 1)`` — uniform in the l2 ball (``n`` = elements per
    sample). Then clipped to [lo, hi] (the clip makes the start non-uniform near the box
    faces, as in Madry et al.'s reference code). Drawn in float64 on the host from
    ``seed`` (required: an integer or a ``numpy.random.Generator``; every random result of
    the package is reproducible), so the same seed gives the same start on every device.

    Returns a new array of ``x0``'s kind and device; dtype of ``x0``, or float32 if ``x0``
    is uint8.
    """
    check_choice("norm", norm, ("linf", "l2"))
    rng = check_rng(seed, "seed")
    fam = _family(x0)
    if fam == "?":
        raise TypeError(
            f"x0 must be a numpy array, a torch tensor or a CuPy array, got {type(x0).__name__}"
        )
    dt = _dtype(x0, fam, "x0", "float32, float64 or uint8")
    if dt not in (*_FLOATS, _UINT8):
        raise TypeError(f"x0 must have dtype float32, float64 or uint8, got {dt}")
    shape = tuple(x0.shape)
    if len(shape) == 0:
        raise ValueError("x0 must have at least one axis (the first axis is the batch)")
    out_dt = np.dtype(np.float32) if dt == _UINT8 else dt
    n = shape[0]
    d = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    lo = check_real("lo", lo, allow_inf=True)
    hi = check_real("hi", hi, allow_inf=True)
    if lo > hi:
        raise ValueError(f"lo must be <= hi, got lo={lo!r}, hi={hi!r}")
    e = np.broadcast_to(np.asarray(_check_scalar_or_per_sample("eps", eps, n, fam), float), (n,))
    host = _to_host(x0, fam).reshape(n, d)
    base = host.astype(out_dt)
    if dt == _UINT8:
        base = base / out_dt.type(255)
    base = base.astype(np.float64)
    if norm == "linf":
        delta = rng.uniform(-1.0, 1.0, size=(n, d)) * e[:, None]
    else:
        z = rng.standard_normal((n, d))
        zn = np.sqrt(np.sum(z * z, axis=1))
        zn[zn == 0] = 1.0  # probability zero; keeps the draw finite
        r = e * rng.uniform(0.0, 1.0, size=n) ** (1.0 / d) if d > 0 else e
        delta = z * (r / zn)[:, None]
    res = np.clip(base + delta, lo, hi).astype(out_dt).reshape(shape)
    if fam == "numpy":
        return res
    if fam.startswith("torch"):
        import torch

        return torch.from_numpy(res).to(x0.device)
    if fam == "cupy":
        import cupy

        with cupy.cuda.Device(x0.device.id):
            return cupy.asarray(res)
    from numba import cuda

    return cuda.to_device(res)


def available_backends() -> list[str]:
    """Backends usable in this process: always ``numba-cpu`` and ``reference``; ``cupy``
    when CuPy imports and sees a device; ``numba-cuda`` when Numba sees a CUDA device (or
    the simulator, ``NUMBA_ENABLE_CUDASIM=1``)."""
    names = ["numba-cpu"]
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            names.append("cupy")
    except Exception:  # CuPy missing or no driver: not available
        pass
    try:
        from numba import cuda

        if cuda.is_available():
            names.append("numba-cuda")
    except Exception:  # numba-cuda missing or no driver
        pass
    names.append("reference")
    return names
