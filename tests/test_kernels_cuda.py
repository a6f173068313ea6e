"""GPU backends without a GPU, and with one.

- The Numba CUDA kernels run under Numba's CUDA simulator in a separate process
  (``NUMBA_ENABLE_CUDASIM`` must be set before numba.cuda is imported).
- The CUDA C source of the CuPy kernels (``kernels/pgd.cu``) is compiled to PTX by nvcc
  for sm_80 and sm_90 when nvcc is on PATH.
- The Numba CUDA kernels, every variant, are compiled to PTX for sm_80 and sm_90 by the
  real NVVM (the simulator runs them as Python, which types nothing) when a CUDA toolkit
  with NVVM is present and NVRTC can be loaded (``pip install nvidia-cuda-nvrtc``).
- ``gpu``-marked tests run CuPy and Numba CUDA kernels on a real device, on CuPy arrays
  and CUDA torch tensors, against the reference (skipped without a CUDA device).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tradeoff.kernels as K
from tradeoff.kernels import reference as R

ROOT = Path(__file__).resolve().parents[1]
CU = Path(K.__file__).with_name("pgd.cu")
KERNELS = ["linf_step", "linf_project", "l2_step", "l2_project", "stream3"]


def test_cuda_simulator_suite():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(ROOT / "tests" / "test_kernels_cudasim.py"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = (proc.stdout + proc.stderr)[-3000:]
    assert proc.returncode == 0, tail
    assert re.search(r"\b3 passed\b", proc.stdout), tail
    assert "skipped" not in proc.stdout, tail


_PTX_CHILD = r"""
import numpy as np
from numba import cuda, types
from tradeoff.kernels import _cuda_numba as M

try:
    from cuda.pathfinder import load_nvidia_dynamic_lib
    load_nvidia_dynamic_lib("nvrtc")
except Exception as exc:  # numba-cuda needs NVRTC to list the architectures
    print("NO-NVRTC", type(exc).__name__)
    raise SystemExit(0)

def arr(t):
    return types.Array(t, 1, "C")

done = 0
for t_np, nt in ((np.float32, types.float32), (np.float64, types.float64)):
    for u8 in (False, True):
        for step in (False, True):
            # the argument types run() passes: x, x0, g, out, alpha, sa, alpha_s, eps, se,
            # eps_s, lo, hi, d (+ tight for l2)
            sig = (arr(nt), arr(types.uint8 if u8 else nt), arr(nt), arr(nt), arr(nt),
                   types.int64, nt, arr(nt), types.int64, nt, nt, nt, types.int64)
            variants = [(M._linf_kernel(t_np, u8, step), sig)]
            for tpb in (128, 256, 1024):
                variants.append((M._l2_kernel(t_np, u8, step, tpb), sig + (types.float64,)))
            for kernel, s in variants:
                for cc in ((8, 0), (9, 0)):
                    ptx, _ = cuda.compile_ptx(kernel.py_func, s, cc=cc)
                    assert ".entry" in ptx and f".target sm_{cc[0]}{cc[1]}" in ptx, cc
                    done += 1
print("COMPILED", done)
"""


def _cuda_toolkit() -> str | None:
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if root and (Path(root) / "nvvm" / "libdevice").is_dir():
            return root
    return None


@pytest.mark.skipif(_cuda_toolkit() is None, reason="no CUDA toolkit with NVVM")
def test_numba_cuda_kernels_compile_to_ptx():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_HOME"] = _cuda_toolkit()
    proc = subprocess.run(
        [sys.executable, "-c", _PTX_CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    out = proc.stdout + proc.stderr[-3000:]
    assert proc.returncode == 0, out
    if "NO-NVRTC" in proc.stdout:
        pytest.skip("NVRTC cannot be loaded (pip install nvidia-cuda-nvrtc)")
    # 2 dtypes × 2 x0 kinds × (step, projection) × (l∞ + 3 l2 block sizes) × 2 archs
    assert "COMPILED 64" in proc.stdout, out


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_cupy_source_compiles_with_nvcc(arch, tmp_path):
    ptx = tmp_path / f"pgd_{arch}.ptx"
    proc = subprocess.run(
        ["nvcc", "-ptx", f"-arch={arch}", "-DTRADEOFF_INSTANTIATE", str(CU), "-o", str(ptx)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = ptx.read_text()
    entries = re.findall(r"\.entry\s+(\S+)\(", text)
    # 4 kernels × (float, double) × (same dtype, uint8) + stream3 × 2
    assert len(entries) == 18, entries
    for name in KERNELS:
        assert any(name in e for e in entries), name
    # the uint8 scaling is an IEEE division (bit-identity with the reference)
    assert "div.rn.f32" in text and "div.rn.f64" in text


# ----------------------------------------------------------------------------- real GPU
def _problem(dtype, u8, shape=(6, 3, 17, 19), seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.integers(0, 256, shape).astype(np.uint8) if u8 else rng.random(shape).astype(dtype)
    x = rng.random(shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    g[0] = 0
    return x, x0, g, rng.uniform(0, 0.05, shape[0]), 0.03


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cupy", "numba-cuda"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("u8", [False, True])
def test_gpu_backends_match_reference_on_cupy_arrays(backend, dtype, u8):
    cupy = pytest.importorskip("cupy")
    x, x0, g, alpha, eps = _problem(dtype, u8)
    dx, dx0, dg = cupy.asarray(x), cupy.asarray(x0), cupy.asarray(g)
    res = K.linf_step(dx, dx0, dg, alpha, eps, backend=backend)
    assert res is dx
    r = R.linf_step(x, x0, g, alpha, eps)
    np.testing.assert_array_equal(cupy.asnumpy(dx).view(np.uint8), r.view(np.uint8))
    dx = cupy.asarray(x)
    K.l2_step(dx, dx0, dg, alpha, 0.5, backend=backend)
    tol = 32 * np.finfo(dtype).eps
    np.testing.assert_allclose(cupy.asnumpy(dx), R.l2_step(x, x0, g, alpha, 0.5), atol=tol)
    dx = cupy.asarray(x)
    K.project_l2(dx, dx0, 0.2, backend=backend)
    np.testing.assert_allclose(cupy.asnumpy(dx), R.project_l2(x, x0, 0.2), atol=tol)
    dx = cupy.asarray(x)
    K.project_linf(dx, dx0, 0.2, backend=backend)
    np.testing.assert_array_equal(cupy.asnumpy(dx), R.project_linf(x, x0, 0.2))


@pytest.mark.gpu
@pytest.mark.parametrize("backend", [None, "numba-cuda"])
def test_gpu_torch_cuda_tensors_zero_copy(backend):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    x, x0, g, alpha, eps = _problem(np.float32, True)
    xt = torch.from_numpy(x).cuda()
    ptr = xt.data_ptr()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        res = K.linf_step(
            xt,
            torch.from_numpy(x0).cuda(),
            torch.from_numpy(g).cuda(),
            torch.from_numpy(alpha).cuda(),
            eps,
            backend=backend,
        )
    s.synchronize()
    assert res is xt and xt.data_ptr() == ptr
    np.testing.assert_array_equal(xt.cpu().numpy(), R.linf_step(x, x0, g, alpha, eps))
    xt = torch.from_numpy(x).cuda()
    K.l2_step(
        xt, torch.from_numpy(x0).cuda(), torch.from_numpy(g).cuda(), 0.3, 0.5, backend=backend
    )
    np.testing.assert_allclose(xt.cpu().numpy(), R.l2_step(x, x0, g, 0.3, 0.5), atol=1e-5)


@pytest.mark.gpu
def test_gpu_large_l2_sample_and_random_start():
    cupy = pytest.importorskip("cupy")
    x, x0, g, alpha, _ = _problem(np.float32, False, shape=(3, 70000), seed=1)
    dx = cupy.asarray(x)
    K.l2_step(dx, cupy.asarray(x0), cupy.asarray(g), alpha, 1.0)
    np.testing.assert_allclose(cupy.asnumpy(dx), R.l2_step(x, x0, g, alpha, 1.0), atol=1e-5)
    s = K.random_start(cupy.asarray(x0), 0.1, "l2", seed=3)
    np.testing.assert_array_equal(cupy.asnumpy(s), K.random_start(x0, 0.1, "l2", seed=3))
