"""Public API of :mod:`tradeoff.kernels`: dispatch on the array type.

The checks, the call record and the constants live in :mod:`._call` (a leaf that the
backends import too); this module picks the path of a call (the compiled entries of
:mod:`._cpu`, or :func:`._call.validate` and a backend) and holds the public functions.
Nothing here imports torch or CuPy at module import.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from tradeoff._validate import check_choice, check_rng

from . import _threads
from . import reference as _ref
from ._call import (
    FLOATS,
    TIGHT,
    UINT8,
    Call,
    check_box,
    dtype_of,
    family,
    packed,
    per_sample,
    to_host,
    torch_types,
    validate,
)

__all__ = [
    "BACKENDS",
    "available_backends",
    "l2_step",
    "linf_step",
    "project_l2",
    "project_linf",
    "random_start",
]

#: An array of any supported kind (numpy, torch, CuPy, Numba device array); a function
#: returns the kind it was given.
A = TypeVar("A")
#: α or ε: one value for the batch, or one per sample (an array of shape ``(batch,)``).
PerSample = float | npt.ArrayLike

#: Every backend name, in order of preference.
BACKENDS = ("numba-cpu", "cupy", "numba-cuda", "reference")


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


def _prepare(
    x: Any,
    x0: Any,
    g: Any,
    alpha: Any,
    eps: Any,
    lo: Any,
    hi: Any,
    out: Any,
    backend: str | None,
) -> Call:
    """Full validation (:func:`._call.validate`), then the backend for the array kind."""
    c = validate(x, x0, g, alpha, eps, lo, hi, out)
    c.backend = _backend_for(c.fam, backend)
    return c


# ----------------------------------------------------------------------------- CPU path
_CPU: list[ModuleType] = []  # the Numba CPU module, imported on first use (it compiles lazily)


def _run_cpu(kind: str, c: Call) -> None:
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
    p = packed(c)
    if kind in ("proj_linf", "proj_l2"):
        g = None
    _kernel(
        _cpu, kind, x, x0, g, p, c.n, c.d, _threads.chunks(c.n * c.d, kind in ("l2", "proj_l2"))
    )


def _kernel(
    _cpu: ModuleType,
    kind: str,
    x: np.ndarray,
    x0: np.ndarray,
    g: np.ndarray | None,
    p: np.ndarray,
    n: int,
    d: int,
    nchunks: int,
) -> None:
    """Run the Numba CPU kernel on flat arrays: on the pool when ``nchunks`` > 0 (an l2
    batch of one sample stays serial: its parallelism is across samples)."""
    tight = TIGHT[x.dtype]
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
# _cpu.l2_entry) that does the checks of _call.validate and runs the kernel: ~0.8 µs of
# fixed cost instead of ~4 µs of Python (a 128×784 step is ~15–20 µs of work). Python
# checks only what Numba cannot type (dtypes). An entry that declines a call writes
# nothing and the call goes through _prepare, which raises the error; so no call is
# accepted here that _prepare would reject, and every check runs before the kernel.
_F32, _F64 = FLOATS
_ENTRY: dict[str, Any] = {}  # kind -> (compiled entry, is l2), and "cpu": the module; on first use
_ENTRY_POOL = -1  # _cpu.USE_POOL: the entry checked the call; run the parallel kernel


def _fast(
    kind: str,
    x: Any,
    x0: Any,
    g: Any,
    alpha: float,
    eps: float,
    lo: float,
    hi: float,
) -> bool:
    """Run the step through the compiled entry if it takes the call (see above)."""
    dt = x.dtype
    if dt is not _F32 and dt is not _F64:
        return False
    if (x0.dtype is not dt and x0.dtype is not UINT8) or (g is not None and g.dtype is not dt):
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


def _fast_views(x: Any, x0: Any, g: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Numpy views of plain CPU tensors x, x0, g (g may be None) of supported dtypes that do
    not require grad; None when any is something else (then _prepare decides)."""
    if not (type(x).__module__ or "").startswith("torch"):
        return None
    tensor, dts, _ = torch_types()
    for a in (x, x0) if g is None else (x, x0, g):
        if type(a) is not tensor or not a.is_cpu or a.requires_grad or a.dtype not in dts:
            return None
    return x.numpy(), x0.numpy(), (None if g is None else g.numpy())


# ----------------------------------------------------------------------------- reference path
def _write_back(target: Any, result: np.ndarray, fam: str) -> None:
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


def _run_reference(kind: str, c: Call) -> None:
    x, x0, g = (to_host(a, c.fam) for a in (c.x, c.x0, c.g))
    if kind == "linf":
        r = _ref.linf_step(x, x0, g, c.alpha, c.eps, c.lo, c.hi)
    elif kind == "l2":
        r = _ref.l2_step(x, x0, g, c.alpha, c.eps, c.lo, c.hi)
    elif kind == "proj_linf":
        r = _ref.project_linf(x, x0, c.eps, c.lo, c.hi)
    else:
        r = _ref.project_l2(x, x0, c.eps, c.lo, c.hi)
    _write_back(c.x if c.out is None else c.out, r, c.fam)


def _run(kind: str, c: Call) -> Any:
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
def _step(
    kind: str,
    x: A,
    x0: Any,
    g: Any,
    alpha: PerSample,
    eps: PerSample,
    lo: float,
    hi: float,
    out: A | None,
    backend: str | None,
) -> A:
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
    c = _prepare(x, x0, g, alpha, eps, lo, hi, out, backend)
    result: A = _run(kind, c)
    return result


def linf_step(
    x: A,
    x0: Any,
    g: Any,
    alpha: PerSample,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    out: A | None = None,
    backend: str | None = None,
) -> A:
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


def l2_step(
    x: A,
    x0: Any,
    g: Any,
    alpha: PerSample,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    out: A | None = None,
    backend: str | None = None,
) -> A:
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


def project_linf(
    x: A,
    x0: Any,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    out: A | None = None,
    backend: str | None = None,
) -> A:
    """Project ``x`` onto the l∞ ball of radius ``eps`` around ``x0``, then onto [lo, hi].

    Arguments as in :func:`linf_step` (without ``g`` and ``alpha``). Bit-identical to
    :func:`tradeoff.kernels.reference.project_linf`.
    """
    return _step("proj_linf", x, x0, None, 0.0, eps, lo, hi, out, backend)


def project_l2(
    x: A,
    x0: Any,
    eps: PerSample,
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    out: A | None = None,
    backend: str | None = None,
) -> A:
    """Project each sample of ``x`` onto the l2 ball of radius ``eps`` around ``x0``, then clip.

    Arguments as in :func:`l2_step` (without ``g`` and ``alpha``).
    """
    return _step("proj_l2", x, x0, None, 0.0, eps, lo, hi, out, backend)


def random_start(
    x0: Any,
    eps: PerSample,
    norm: str = "linf",
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    seed: int | np.random.Generator,
) -> Any:
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
    fam = family(x0)
    if fam == "?":
        raise TypeError(
            f"x0 must be a numpy array, a torch tensor or a CuPy array, got {type(x0).__name__}"
        )
    dt = dtype_of(x0, fam, "x0", "float32, float64 or uint8")
    if dt not in (*FLOATS, UINT8):
        raise TypeError(f"x0 must have dtype float32, float64 or uint8, got {dt}")
    shape = tuple(x0.shape)
    if len(shape) == 0:
        raise ValueError("x0 must have at least one axis (the first axis is the batch)")
    out_dt = np.dtype(np.float32) if dt == UINT8 else dt
    n = shape[0]
    d = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    lo, hi = check_box(lo, hi)
    e = np.broadcast_to(np.asarray(per_sample("eps", eps, n), float), (n,))
    host = to_host(x0, fam).reshape(n, d)
    base = host.astype(out_dt)
    if dt == UINT8:
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
