"""Numba CPU kernels (backend ``"numba-cpu"``).

All arrays arrive flattened to 1-D and C-contiguous; ``d`` is the number of elements per
sample, ``alpha``/``eps`` are 1-D arrays of ``x``'s dtype of length 1 (``sa``/``se`` = 0,
a scalar) or the batch size (stride 1). The l∞ arithmetic follows :mod:`.reference`
operation by operation (see there): Numba does not contract ``a*b + c`` into an FMA
without ``fastmath``, and the only product in the l∞ step (α·sign g) is exact anyway. The
l2 kernels are "within float rounding" of the reference: float64 norms with reassociated
sums, the update in ``x``'s dtype, and uint8 ``x0`` times the rounded 1/255 (≤ 1 ulp from
the reference's division).

Each kernel exists twice: serial (``_s``) and ``parallel=True`` (``_p``). The dispatcher
(:mod:`._threads`) picks one by size, so small steps never wake a thread pool. The
parallel kernels are not cached on disk and are called from Python only, away from two
open Numba bugs: a cached function calling a ``parallel=True`` one can segfault when
loaded from the cache (numba#8578), and processes writing the gufunc cache at the same
time can leave it inconsistent (numba#10128). (A segfault from an inconsistent cache was
seen here once, after _cpu.py was edited while a benchmark running the old version kept
writing to the same cache.) They compile in ~1 s per signature, once per process.

Everything else is cached on disk by :mod:`tradeoff._jit_cache`: one folder per version of
the compiled sources, and one qualified name per compiled function — the functions made by
the factories below are renamed (``unique_identity``), since two products of one factory
cached by different processes could otherwise be linked to each other's code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from tradeoff._jit_cache import njit, unique_identity

from . import _threads
from ._call import MAX_ALPHA, TIGHT

_threads.choose_layer()  # before any parallel kernel below can start a pool

__all__ = [
    "NOT_TAKEN",
    "USE_POOL",
    "l2_entry",
    "l2_p",
    "l2_s",
    "linf_entry",
    "linf_p",
    "linf_s",
    "stream_p",
    "stream_s",
]


def _x0_reader(divide: bool, name: str) -> Callable[..., Any]:
    """A compiled ``read(x0, j, c)``: ``x0[j]``, or for uint8 images ``T(x0[j]) / c`` (c =
    255, the reference's exact division: the l∞ kernels) or ``T(x0[j]) * c`` (c = the
    rounded 1/255, ≤ 1 ulp from the division: the l2 kernels, which are "within float
    rounding" of the reference; measured: the division made the l2 step with uint8 x0 50 %
    slower than with float32 x0). ``T`` is the dtype of ``c``. ``name``: the reader's own
    qualified name (tradeoff._jit_cache.unique_identity: a factory's products must not
    share one)."""

    def read(x0, j, c):  # the name Numba compiles; never called from Python
        return x0[j]

    def read_impl(x0, j, c):
        if x0.dtype != types.uint8:
            return unique_identity(lambda x0, j, c: x0[j], f"{name}_plain")
        to_t = as_dtype(c).type
        if divide:
            return unique_identity(lambda x0, j, c: to_t(x0[j]) / c, f"{name}_divided")
        return unique_identity(lambda x0, j, c: to_t(x0[j]) * c, f"{name}_scaled")

    overload(unique_identity(read, name), inline="always")(unique_identity(read_impl, f"{name}_ol"))
    return read


_x0_value = _x0_reader(divide=True, name="_x0_value")  # l∞: bit-identical to the reference
_x0_times = _x0_reader(divide=False, name="_x0_times")  # l2


# All kernels work in place on ``x`` (the dispatcher copies ``x`` into ``out`` first when
# an ``out`` is given): a separate output argument that aliases ``x`` makes LLVM's
# runtime overlap check fail and fall back to the scalar loop.
# Element loops run over per-sample slices with ``range(n)`` indices: Numba knows those
# are non-negative and drops the wraparound check of negative indexing, which otherwise
# blocks vectorisation (measured 750 µs → 22 µs for a 128×784 float32 step).
# ``g is None`` (the projections) is pruned at compile time.


@njit(inline="always")
def _clip_linf(y, v, e, lo, hi):
    """clip(clip(y, v − e, v + e), lo, hi), in the order of the reference (bit-identical;
    a NaN bound — a non-finite x0 — gives NaN, as there)."""
    lower = v - e
    upper = v + e
    y = y if y >= lower else lower
    y = y if y <= upper else upper
    y = lo if y < lo else y
    return hi if y > hi else y


@njit
def _linf_seg(x, x0, g, a, e, lo, hi):
    t = x.dtype.type
    c255 = t(255)
    zero = t(0)
    na = -a
    for j in range(x.size):
        gj = g[j]
        # α if g > 0, −α if g < 0, +0 otherwise (also NaN), as the reference; written as
        # a blend on g's sign bit and one ordered g ≠ 0 mask: 3 vector ops instead of 4.
        s = na if np.signbit(gj) else a
        s = s if (gj < zero or gj > zero) else zero
        y = x[j] + s
        v = _x0_value(x0, j, c255)
        x[j] = _clip_linf(y, v, e, lo, hi)


@njit
def _plinf_seg(x, x0, e, lo, hi):
    t = x.dtype.type
    c255 = t(255)
    for j in range(x.size):
        y = x[j]
        v = _x0_value(x0, j, c255)
        x[j] = _clip_linf(y, v, e, lo, hi)


@njit
def _linf_range(x, x0, g, alpha, sa, eps, se, lo, hi, d, start, end):
    if sa == 0 and se == 0:  # one α and ε for all samples: a single loop, no segments
        if g is None:
            _plinf_seg(x[start:end], x0[start:end], eps[0], lo, hi)
        else:
            _linf_seg(x[start:end], x0[start:end], g[start:end], alpha[0], eps[0], lo, hi)
        return
    i = start
    while i < end:
        b = i // d
        stop = min(end, (b + 1) * d)
        if g is None:
            _plinf_seg(x[i:stop], x0[i:stop], eps[b * se], lo, hi)
        else:
            _linf_seg(x[i:stop], x0[i:stop], g[i:stop], alpha[b * sa], eps[b * se], lo, hi)
        i = stop


# Scalars travel packed in one array ``p`` of x's dtype, fewer arguments being cheaper to
# dispatch: p = [lo, hi, alpha_0..alpha_{m-1}, eps_0..eps_{m-1}], m = 1 (the same for all
# samples) or the batch size.


@njit(inline="always")
def _unpack(p):
    m = (p.size - 2) // 2
    stride = 1 if m > 1 else 0
    return p[2 : 2 + m], p[2 + m :], stride, p[0], p[1]


@njit
def linf_s(x, x0, g, p, d):
    alpha, eps, sa, lo, hi = _unpack(p)
    _linf_range(x, x0, g, alpha, sa, eps, sa, lo, hi, d, 0, x.size)


@numba.njit(parallel=True)
def linf_p(x, x0, g, p, d, nchunks):
    alpha, eps, sa, lo, hi = _unpack(p)
    se = sa
    n = x.size
    size = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        start = c * size
        _linf_range(x, x0, g, alpha, sa, eps, se, lo, hi, d, start, min(n, start + size))


# l2: one sample at a time. Pass 1 reads x, x0, g once and accumulates ‖g‖², <x−x0, g>
# and ‖x−x0‖² in float64; ‖x − x0 + s·g‖² follows by expansion. Where the expansion
# cancels (the step nearly undoes the current perturbation) an exact reduction is done.
# The reductions may be reassociated (``fastmath={"reassoc"}``) so that they vectorise,
# and contracted into FMAs (one rounding fewer per term; measured 29 -> 20 µs for the
# sums of a 128×784 float32 batch, the add chains no longer bound the loop); they are
# separate functions so that the flags cover only them.


@njit(fastmath={"reassoc", "contract"})
def _l2_sums(x, x0, g):
    t = x.dtype.type
    inv255 = t(1) / t(255)
    gg = 0.0
    dg = 0.0
    dd = 0.0
    for j in range(x.size):
        dj = np.float64(x[j]) - np.float64(_x0_times(x0, j, inv255))
        gj = np.float64(g[j])
        dd += dj * dj
        gg += gj * gj
        dg += dj * gj
    return gg, dg, dd


@njit(fastmath={"reassoc", "contract"})
def _l2_dd(x, x0, g, s):
    t = x.dtype.type
    inv255 = t(1) / t(255)
    dd = 0.0
    if g is None:
        for j in range(x.size):
            dj = np.float64(x[j]) - np.float64(_x0_times(x0, j, inv255))
            dd += dj * dj
    else:
        for j in range(x.size):
            dj = (np.float64(x[j]) - np.float64(_x0_times(x0, j, inv255))) + s * np.float64(g[j])
            dd += dj * dj
    return dd


@njit
def _l2_write(x, x0, g, s, f, proj, lo, hi):
    # The update itself runs in x's dtype (the scalars s, f rounded to it): for float32
    # twice the vector width of float64 and no conversions; a few ulp from the float64
    # reference, which is what "within float rounding" allows. Norms stay float64.
    t = x.dtype.type
    inv255 = t(1) / t(255)
    st = t(s)
    ft = t(f)
    if g is not None and not (st < np.inf):
        # s = α/‖g‖ beyond the dtype's range (a tiny gradient in float32): the update in
        # float64, where s·g = α·g/‖g‖ is finite, then rounded (the reference's arithmetic).
        for j in range(x.size):
            v = np.float64(_x0_times(x0, j, inv255))
            z = (np.float64(x[j]) - v) + s * np.float64(g[j])
            y = t(v + z * f) if proj else t(v + z)
            y = lo if y < lo else y
            y = hi if y > hi else y
            x[j] = y
        return
    if g is None:
        if proj:
            for j in range(x.size):
                v = _x0_times(x0, j, inv255)
                y = v + (x[j] - v) * ft
                y = lo if y < lo else y
                y = hi if y > hi else y
                x[j] = y
        else:
            for j in range(x.size):
                y = x[j]
                y = lo if y < lo else y
                y = hi if y > hi else y
                x[j] = y
    elif proj:
        for j in range(x.size):
            v = _x0_times(x0, j, inv255)
            y = v + ((x[j] - v) + st * g[j]) * ft
            y = lo if y < lo else y
            y = hi if y > hi else y
            x[j] = y
    else:
        for j in range(x.size):
            y = x[j] + st * g[j]
            y = lo if y < lo else y
            y = hi if y > hi else y
            x[j] = y


@njit
def _l2_one(x, x0, g, alpha, sa, eps, se, lo, hi, d, tight, b):
    i0 = b * d
    i1 = i0 + d
    xs = x[i0:i1]
    x0s = x0[i0:i1]
    e = np.float64(eps[b * se])
    if g is None:
        s = 0.0
        dn2 = _l2_dd(xs, x0s, None, 0.0)
        gs = None
    else:
        gs = g[i0:i1]
        gg, dg, dd = _l2_sums(xs, x0s, gs)
        s = np.float64(alpha[b * sa]) / np.sqrt(gg) if gg > 0.0 else 0.0
        dn2 = dd + 2.0 * s * dg + s * s * gg
        scale = np.sqrt(dd) + s * np.sqrt(gg)
        if dn2 < tight * scale * scale:
            dn2 = _l2_dd(xs, x0s, gs, s)
    dn = 0.0 if dn2 <= 0.0 else np.sqrt(dn2)  # NaN stays NaN (a non-finite x0) ...
    proj = not (dn <= e)  # ... and is projected: the sample becomes NaN, never unconstrained
    f = e / dn if proj else 1.0
    _l2_write(xs, x0s, gs, s, f, proj, lo, hi)


@njit
def l2_s(x, x0, g, p, d, tight):
    alpha, eps, sa, lo, hi = _unpack(p)
    se = sa
    for b in range(x.size // d):
        _l2_one(x, x0, g, alpha, sa, eps, se, lo, hi, d, tight, b)


@numba.njit(parallel=True)
def l2_p(x, x0, g, p, d, tight):
    alpha, eps, sa, lo, hi = _unpack(p)
    se = sa
    for b in prange(x.size // d):
        _l2_one(x, x0, g, alpha, sa, eps, se, lo, hi, d, tight, b)


# The stream limit of the l∞ access pattern (read 3, write 1 in place), for the benchmark.
@njit
def stream_s(x, y, z):
    for j in range(x.size):
        x[j] = x[j] + y[j] + z[j]


@numba.njit(parallel=True)
def stream_p(x, y, z, nchunks):
    n = x.size
    size = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        start = c * size
        stream_s(
            x[start : min(n, start + size)],
            y[start : min(n, start + size)],
            z[start : min(n, start + size)],
        )


# ----------------------------------------------------------------------------- entries
# One compiled call per step: the checks of the per-step fast path (shapes, overlap,
# α, ε, lo, hi), the flattening and the choice of kernel, so that a 128×784 step pays one
# Numba dispatch instead of ~3 µs of Python. Each returns 0 after running the kernel, or
# a non-zero code, with nothing written, when the call is not one it takes; the caller
# then goes through the full validation, which raises the error (or runs the step).
# Argument types that are not taken (a dtype other than float32/float64, x0 neither x's
# dtype nor uint8, a non-C layout, a read-only x, differing ndim) compile to "return 1"
# without compiling a kernel for them. ``nchunks`` = 0 runs the serial kernel; > 0
# returns USE_POOL after the checks and the caller runs the parallel kernel (see the
# module docstring: parallel kernels are called from Python only).
NOT_TAKEN = 1
USE_POOL = -1


def _types_taken(x: Any, x0: Any, g: Any) -> bool:
    """Whether the entries take arrays of these Numba types (see above)."""
    if not (isinstance(x, types.Array) and isinstance(x0, types.Array)):
        return False
    if x.dtype not in (types.float32, types.float64) or x.layout != "C" or not x.mutable:
        return False
    if x0.layout != "C" or x0.ndim != x.ndim or x0.dtype not in (x.dtype, types.uint8):
        return False
    if isinstance(g, (types.NoneType, types.Omitted)) or g is None:
        return True
    return (
        isinstance(g, types.Array) and g.layout == "C" and g.ndim == x.ndim and g.dtype == x.dtype
    )


def _linf_entry(x, x0, g, alpha, eps, lo, hi, nchunks):
    """The name the l∞ entry's overload (below) implements in compiled code. Called from
    plain Python it takes no call: the caller then validates and dispatches in Python."""
    return NOT_TAKEN


def _l2_entry(x, x0, g, alpha, eps, lo, hi, nchunks):
    """As _linf_entry, for the l2 entry."""
    return NOT_TAKEN


@njit(inline="always")
def _overlaps(a, b, a_bytes, b_bytes):
    pa = a.ctypes.data
    pb = b.ctypes.data
    return pa < pb + b_bytes and pb < pa + a_bytes


@njit(inline="always")
def _checks(x, x0, g, alpha, eps, lo, hi):
    """0 when the call is one the entries take: same shapes, non-empty, x overlapping
    neither x0 nor g, 0 <= α <= MAX_ALPHA, 0 <= ε < inf, lo <= hi (no NaN): the bounds of
    _call.validate, which raises the error for a call declined here."""
    if x.shape != x0.shape or x.size == 0:
        return 2
    if g is not None:
        if g.shape != x.shape:
            return 2
    if not (0.0 <= alpha <= MAX_ALPHA and 0.0 <= eps < np.inf and lo <= hi):
        return 3  # NaN fails every comparison
    nb = x.size * x.itemsize
    if _overlaps(x, x0, nb, x.size * x0.itemsize):
        return 4
    if g is not None:
        if _overlaps(x, g, nb, nb):
            return 4
    return 0


@njit(inline="always")
def _pack(dtype_like, lo, hi, alpha, eps):
    p = np.empty(4, dtype_like.dtype)
    p[0] = lo
    p[1] = hi
    p[2] = alpha
    p[3] = eps
    return p


def _not_taken(x, x0, g, alpha, eps, lo, hi, nchunks):
    return NOT_TAKEN


# Numba freezes module globals as compile-time constants (the fingerprint of
# tradeoff._jit_cache covers _call.py, so a changed constant recompiles).
_TIGHT32 = TIGHT[np.dtype(np.float32)]
_TIGHT64 = TIGHT[np.dtype(np.float64)]


@njit
def _l2_serial(x, x0, g, p, d):
    l2_s(x, x0, g, p, d, _TIGHT32 if x.itemsize == 4 else _TIGHT64)


def _entry_typer(is_l2: bool) -> Callable[..., Any]:
    """The overload of _linf_entry (``is_l2`` False) or _l2_entry (True); each variant's
    compiled impl gets its own qualified name (tradeoff._jit_cache.unique_identity)."""
    serial = _l2_serial if is_l2 else linf_s
    name = "_l2_entry_impl" if is_l2 else "_linf_entry_impl"

    def typer(x, x0, g, alpha, eps, lo, hi, nchunks):
        if not _types_taken(x, x0, g):
            return _not_taken

        def impl(x, x0, g, alpha, eps, lo, hi, nchunks):
            code = _checks(x, x0, g, alpha, eps, lo, hi)
            if code != 0:
                return code
            n = x.size
            d = n // x.shape[0]
            if nchunks > 0 and (n > d or not is_l2):  # l2 parallelises across samples
                return USE_POOL
            p = _pack(x, lo, hi, alpha, eps)
            if g is None:
                serial(x.reshape(n), x0.reshape(n), None, p, d)
            else:
                serial(x.reshape(n), x0.reshape(n), g.reshape(n), p, d)
            return 0

        return unique_identity(impl, name)

    return typer


overload(_linf_entry)(_entry_typer(False))
overload(_l2_entry)(_entry_typer(True))


@njit
def linf_entry(x, x0, g, alpha, eps, lo, hi, nchunks):
    """The l∞ step (``g`` an array) or projection (``g`` None) in one call; 0 when run."""
    return _linf_entry(x, x0, g, alpha, eps, lo, hi, nchunks)


@njit
def l2_entry(x, x0, g, alpha, eps, lo, hi, nchunks):
    """The l2 step (``g`` an array) or projection (``g`` None) in one call; 0 when run."""
    return _l2_entry(x, x0, g, alpha, eps, lo, hi, nchunks)
