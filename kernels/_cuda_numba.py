"""Numba CUDA kernels (backend ``"numba-cuda"``), the second GPU backend.

Tested without a GPU under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``); with
numpy inputs the arrays are copied to the device and back, with CuPy arrays, CUDA torch
tensors or Numba device arrays the kernels run in place, zero-copy through
``__cuda_array_interface__``, on the caller's current stream.

Arithmetic as in :mod:`.reference`: the l∞ step uses only exact or single IEEE
operations (α·sign g is exact, so FMA contraction cannot change it; ``x0/255`` is an
IEEE division), hence it is bit-identical to the reference. The l2 step uses one block
per sample: a block reduction of ‖g‖², <x − x0, g>, ‖x − x0‖² in float64, then the
update in x's dtype.

Kernels are built per (dtype of x, dtype of x0, step or projection) by a factory so that
the dtype constructors are compile-time constants (no ``x.dtype.type`` inside kernels).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda, float64  # module globals: the simulator swaps ``cuda`` in kernels

from ._call import TIGHT, Call, dtype_of, per_sample_args

__all__ = ["run"]

_CACHE: dict[tuple[Any, ...], Any] = {}


def _simulator() -> bool:
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def _tpb() -> int:
    # The simulator runs every thread as a Python thread: keep blocks small there.
    return 8 if _simulator() else 256


def _linf_kernel(t_np: type[np.floating[Any]], u8: bool, step: bool) -> Any:
    key = ("linf", t_np, u8, step)
    if key in _CACHE:
        return _CACHE[key]
    T = t_np
    c255 = T(255)
    zero = T(0)

    @cuda.jit
    def kernel(x, x0, g, out, alpha, sa, alpha_s, eps, se, eps_s, lo, hi, d):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        n = x.size
        while i < n:
            b = i // d
            e = eps_s if se < 0 else eps[b * se]
            y = x[i]
            if step:
                a = alpha_s if sa < 0 else alpha[b * sa]
                gi = g[i]
                s = a if gi > 0 else (-a if gi < 0 else zero)
                y = y + s
            if u8:
                v = T(x0[i]) / c255
            else:
                v = x0[i]
            lower = v - e
            upper = v + e
            y = y if y >= lower else lower  # a NaN bound (non-finite x0) gives NaN
            y = y if y <= upper else upper
            y = lo if y < lo else y
            y = hi if y > hi else y
            out[i] = y
            i += stride

    _CACHE[key] = kernel
    return kernel


def _l2_kernel(t_np: type[np.floating[Any]], u8: bool, step: bool, tpb: int) -> Any:
    key = ("l2", t_np, u8, step, tpb)
    if key in _CACHE:
        return _CACHE[key]
    T = t_np
    c255 = T(255)
    t_max = float(np.finfo(T).max)

    @cuda.jit
    def kernel(x, x0, g, out, alpha, sa, alpha_s, eps, se, eps_s, lo, hi, d, tight):
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        base = b * d
        sh_gg = cuda.shared.array(tpb, float64)
        sh_dg = cuda.shared.array(tpb, float64)
        sh_dd = cuda.shared.array(tpb, float64)
        gg = 0.0
        dg = 0.0
        dd = 0.0
        j = tid
        while j < d:
            if u8:
                v = T(x0[base + j]) / c255
            else:
                v = x0[base + j]
            dj = float64(x[base + j]) - float64(v)
            dd += dj * dj
            if step:
                gj = float64(g[base + j])
                gg += gj * gj
                dg += dj * gj
            j += tpb
        sh_gg[tid] = gg
        sh_dg[tid] = dg
        sh_dd[tid] = dd
        cuda.syncthreads()
        h = tpb // 2
        while h > 0:
            if tid < h:
                sh_gg[tid] += sh_gg[tid + h]
                sh_dg[tid] += sh_dg[tid + h]
                sh_dd[tid] += sh_dd[tid + h]
            cuda.syncthreads()
            h //= 2
        gg = sh_gg[0]
        dg = sh_dg[0]
        dd = sh_dd[0]
        a = float64(alpha_s) if sa < 0 else float64(alpha[b * sa])
        e = float64(eps_s) if se < 0 else float64(eps[b * se])
        s = 0.0
        if step and gg > 0.0:
            s = a / math.sqrt(gg)
        dn2 = dd + 2.0 * s * dg + s * s * gg
        scale = math.sqrt(dd) + s * math.sqrt(gg)
        cuda.syncthreads()
        if dn2 < tight * scale * scale:
            # The expansion cancelled: reduce ‖x − x0 + s·g‖² exactly.
            acc = 0.0
            j = tid
            while j < d:
                if u8:
                    v = T(x0[base + j]) / c255
                else:
                    v = x0[base + j]
                zj = float64(x[base + j]) - float64(v)
                if step:
                    zj += s * float64(g[base + j])
                acc += zj * zj
                j += tpb
            sh_dd[tid] = acc
            cuda.syncthreads()
            h = tpb // 2
            while h > 0:
                if tid < h:
                    sh_dd[tid] += sh_dd[tid + h]
                cuda.syncthreads()
                h //= 2
            dn2 = sh_dd[0]
        dn = 0.0 if dn2 <= 0.0 else math.sqrt(dn2)  # NaN (non-finite x0) stays NaN ...
        proj = not (dn <= e)  # ... and is projected: the sample becomes NaN
        f = e / dn if proj else 1.0
        wide = step and s > t_max  # α/‖g‖ beyond T's range (a tiny gradient): float64
        st = T(0) if wide else T(s)
        ft = T(f)
        j = tid
        while j < d:
            xj = x[base + j]
            if step:
                sg = st * g[base + j]
            else:
                sg = T(0)
            if wide:
                if u8:
                    v = T(x0[base + j]) / c255
                else:
                    v = x0[base + j]
                z = (float64(xj) - float64(v)) + s * float64(g[base + j])
                y = T(float64(v) + z * f) if proj else T(float64(v) + z)
            elif proj:
                if u8:
                    v = T(x0[base + j]) / c255
                else:
                    v = x0[base + j]
                y = v + ((xj - v) + sg) * ft
            else:
                y = xj + sg
            y = lo if y < lo else y
            y = hi if y > hi else y
            out[base + j] = y
            j += tpb

    _CACHE[key] = kernel
    return kernel


def _as_device(a: Any, fam: str) -> Any:
    if a is None:
        return None
    if fam == "numba-device":
        return a
    if fam in ("cupy", "torch-cuda"):
        return cuda.as_cuda_array(a.detach() if fam == "torch-cuda" else a, sync=False)
    return cuda.to_device(np.ascontiguousarray(a).reshape(-1))


def _stream(c: Call) -> Any:
    fam = c.fam
    if fam == "torch-cuda":
        import torch

        return cuda.external_stream(torch.cuda.current_stream(c.x.device).cuda_stream)
    if fam == "cupy":
        import cupy

        return cuda.external_stream(cupy.cuda.get_current_stream().ptr)
    return cuda.default_stream()


def run(kind: str, c: Call) -> None:
    """Run ``kind`` ('linf', 'l2', 'proj_linf', 'proj_l2') for a validated call ``c``."""
    t_np = c.dtype.type
    fam = c.fam
    host = fam in ("numpy", "torch-cpu")
    xh, x0h, gh, outh = c.x, c.x0, c.g, c.out  # numpy views for CPU tensors (see _api)
    step = kind in ("linf", "l2")
    dx = _as_device(xh, fam)
    dx0 = _as_device(x0h, fam)
    dg = _as_device(gh, fam) if step else dx
    dout = dx if (outh is None or host) else _as_device(outh, fam)
    if fam != "numpy" and not host:
        dx, dx0, dg, dout = (a.reshape(a.size) for a in (dx, dx0, dg, dout))
    u8 = dtype_of(c.x0, fam) == np.uint8
    ha, sa, as_ = per_sample_args(c.alpha, c.dtype)
    he, se, es_ = per_sample_args(c.eps, c.dtype)
    # a scalar's array argument is a placeholder (never read): x itself
    da = dx if ha is None else cuda.to_device(ha)
    de = dx if he is None else cuda.to_device(he)
    lo, hi = t_np(c.lo), t_np(c.hi)
    stream = _stream(c)
    n_el = c.n * c.d
    if kind in ("linf", "proj_linf"):
        k = _linf_kernel(t_np, u8, step)
        tpb = _tpb()
        blocks = min(max(1, (n_el + tpb - 1) // tpb), 4096 if not _simulator() else 4)
        k[blocks, tpb, stream](dx, dx0, dg, dout, da, sa, as_, de, se, es_, lo, hi, c.d)
    else:
        tpb = _tpb() if c.d >= 4096 or _simulator() else 128
        if not _simulator() and c.d >= 65536:
            tpb = 1024
        k = _l2_kernel(t_np, u8, step, tpb)
        k[c.n, tpb, stream](
            dx, dx0, dg, dout, da, sa, as_, de, se, es_, lo, hi, c.d, TIGHT[c.dtype]
        )
    if host:
        target = c.x if c.out is None else c.out
        res = dx.copy_to_host(stream=stream).reshape(c.x.shape)
        stream.synchronize()
        target[...] = res
