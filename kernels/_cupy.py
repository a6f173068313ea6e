"""CuPy backend: the CUDA C kernels of ``pgd.cu`` compiled by NVRTC (``cupy.RawModule``).

CuPy arrays run directly; CUDA torch tensors are viewed zero-copy as CuPy arrays through
``__cuda_array_interface__`` and the kernels are launched on torch's current stream.
CuPy is imported only when this backend runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ._call import TIGHT, Call, per_sample_args

__all__ = ["SOURCE", "kernel", "run"]

SOURCE = (Path(__file__).with_name("pgd.cu")).read_text()

_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_MODULES: dict[int, Any] = {}


def _module(device_id: int) -> Any:
    import cupy

    mod = _MODULES.get(device_id)
    if mod is None:
        names = []
        for t in ("float", "double"):
            for x0 in (t, "unsigned char"):
                for k in ("linf_step", "linf_project", "l2_step", "l2_project"):
                    names.append(f"{k}<{t}, {x0}>")
            names.append(f"stream3<{t}>")
        with cupy.cuda.Device(device_id):
            mod = cupy.RawModule(code=SOURCE, options=("--std=c++14",), name_expressions=names)
        _MODULES[device_id] = mod
    return mod


def kernel(name: str, t: npt.DTypeLike, x0: npt.DTypeLike | None, device_id: int = 0) -> Any:
    """The compiled kernel ``name<T, X0>`` (or ``name<T>`` when ``x0`` is None)."""
    tn = _NAMES[np.dtype(t)]
    if x0 is None:
        expr = f"{name}<{tn}>"
    else:
        expr = f"{name}<{tn}, {'unsigned char' if np.dtype(x0) == np.uint8 else tn}>"
    return _module(device_id).get_function(expr)


def _stream(c: Call) -> Any:
    import cupy

    if c.fam == "torch-cuda":
        import torch

        return cupy.cuda.ExternalStream(torch.cuda.current_stream(c.x.device).cuda_stream)
    return cupy.cuda.get_current_stream()


_KERNELS = {
    "linf": "linf_step",
    "proj_linf": "linf_project",
    "l2": "l2_step",
    "proj_l2": "l2_project",
}


def run(kind: str, c: Call) -> None:
    """Run ``kind`` ('linf', 'l2', 'proj_linf', 'proj_l2') for a validated call ``c``."""
    import cupy

    fam = c.fam
    if fam == "torch-cuda":
        dev = c.x.device.index if c.x.device.index is not None else 0
    else:
        dev = c.x.device.id
    t = c.dtype
    tt = t.type
    with cupy.cuda.Device(dev), _stream(c):
        if fam == "torch-cuda":
            # DLPack, zero-copy; the consumer stream is torch's current stream (made current
            # above), so torch has nothing to synchronise.
            conv: list[Any] = [
                None if a is None else cupy.from_dlpack(a.detach()) for a in (c.x, c.x0, c.g, c.out)
            ]
        else:
            conv = [c.x, c.x0, c.g, c.out]
        x, x0, g, out = conv
        if out is None:
            out = x
        ha, sa, a_s = per_sample_args(c.alpha, t)
        he, se, e_s = per_sample_args(c.eps, t)
        # a scalar's array argument is a placeholder (never read): x itself
        a_arr = x if ha is None else cupy.asarray(ha)
        e_arr = x if he is None else cupy.asarray(he)
        lo, hi = tt(c.lo), tt(c.hi)
        n_el = np.int64(c.n * c.d)
        d = np.int64(c.d)
        k = kernel(_KERNELS[kind], t, x0.dtype, dev)
        args: tuple[Any, ...]
        if kind in ("linf", "l2"):
            args = (x, x0, g, out, a_arr, np.int32(sa), a_s, e_arr, np.int32(se), e_s)
        else:
            args = (x, x0, out, e_arr, np.int32(se), e_s)
        if kind in ("linf", "proj_linf"):
            threads = 256
            blocks = int(min((int(n_el) + threads - 1) // threads, 65535 * 8))
            k((blocks,), (threads,), (*args, lo, hi, d, n_el))
        else:
            threads = 1024 if c.d >= 65536 else (256 if c.d >= 4096 else 128)
            tight = np.float64(TIGHT[t])
            k((c.n,), (threads,), (*args, lo, hi, d, tight), shared_mem=3 * 8 * threads)
