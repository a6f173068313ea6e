"""Numba CUDA kernels (backend "numba-cuda") against the reference, under Numba's CUDA
simulator. NUMBA_ENABLE_CUDASIM must be set before numba.cuda is first imported, so this
module only runs in its own process: tests/test_kernels_cuda.py::test_cuda_simulator_suite
starts ``pytest`` on it with the variable set (and it is skipped in the main run).
Shapes are tiny: the simulator runs every CUDA thread as a Python thread.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="runs in a subprocess with NUMBA_ENABLE_CUDASIM=1 (test_kernels_cuda.py)",
)


def _bits(a):
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@st.composite
def small(draw):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    u8 = draw(st.booleans())
    shape = (draw(st.integers(1, 3)), *draw(st.lists(st.integers(1, 5), max_size=2)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x0 = rng.integers(0, 256, shape).astype(np.uint8) if u8 else rng.random(shape).astype(dtype)
    x = rng.uniform(-0.2, 1.2, shape).astype(dtype)
    # gradients down to float32 denormals: α/‖g‖ beyond float32's range must not overflow
    g = (rng.normal(size=shape) * draw(st.sampled_from([1.0, 1e-30, 1e-41]))).astype(dtype)
    g[rng.random(shape) < 0.3] = 0
    if draw(st.booleans()):
        g[0] = 0
    eps = draw(st.sampled_from([0.0, 0.05, 0.7]))
    alpha = draw(st.sampled_from([0.0, 0.02, 0.3, 1e30]))
    if draw(st.booleans()):
        eps = rng.uniform(0, 1, shape[0])
    if draw(st.booleans()):
        alpha = rng.uniform(0, 0.5, shape[0])
    lo, hi = draw(st.sampled_from([(0.0, 1.0), (-1.0, 2.0), (-np.inf, np.inf)]))
    return x, x0, g, alpha, eps, lo, hi


@settings(max_examples=15)
@given(small())
def test_numba_cuda_matches_reference(p):
    import tradeoff.kernels as K
    from tradeoff.kernels import reference as R

    x, x0, g, alpha, eps, lo, hi = p
    assert "numba-cuda" in K.available_backends()
    r = R.linf_step(x, x0, g, alpha, eps, lo, hi)
    y = K.linf_step(x.copy(), x0, g, alpha, eps, lo, hi, backend="numba-cuda")
    np.testing.assert_array_equal(_bits(y), _bits(r))
    r = R.project_linf(x, x0, eps, lo, hi)
    y = K.project_linf(x.copy(), x0, eps, lo, hi, backend="numba-cuda")
    np.testing.assert_array_equal(_bits(y), _bits(r))
    tol = 32 * np.finfo(x.dtype).eps * 2
    r = R.l2_step(x, x0, g, alpha, eps, lo, hi)
    y = K.l2_step(x.copy(), x0, g, alpha, eps, lo, hi, backend="numba-cuda")
    assert np.all(np.isfinite(y))
    np.testing.assert_allclose(y, r, rtol=0, atol=tol * max(1.0, float(np.max(np.abs(r)))))
    r = R.project_l2(x, x0, eps, lo, hi)
    y = K.project_l2(x.copy(), x0, eps, lo, hi, backend="numba-cuda")
    np.testing.assert_allclose(y, r, rtol=0, atol=tol)


def test_numba_device_arrays_in_place_and_out():
    from numba import cuda

    import tradeoff.kernels as K
    from tradeoff.kernels import reference as R

    rng = np.random.default_rng(0)
    x = rng.random((2, 6)).astype(np.float32)
    x0 = rng.integers(0, 256, (2, 6)).astype(np.uint8)
    g = rng.normal(size=(2, 6)).astype(np.float32)
    dx, dx0, dg = cuda.to_device(x), cuda.to_device(x0), cuda.to_device(g)
    res = K.linf_step(dx, dx0, dg, 0.05, 0.1)
    assert res is dx
    np.testing.assert_array_equal(dx.copy_to_host(), R.linf_step(x, x0, g, 0.05, 0.1))
    dout = cuda.device_array_like(x)
    dx = cuda.to_device(x)
    assert K.l2_step(dx, dx0, dg, 0.5, 0.3, out=dout) is dout
    np.testing.assert_array_equal(dx.copy_to_host(), x)  # x untouched when out is given
    np.testing.assert_allclose(dout.copy_to_host(), R.l2_step(x, x0, g, 0.5, 0.3), atol=1e-6)
    # a block reduction over more elements than threads, and a zero gradient
    big = rng.random((2, 40)).astype(np.float64)
    zero = np.zeros_like(big)
    y = K.l2_step(big.copy(), big * 0.5, zero, 0.5, 0.0, backend="numba-cuda")
    np.testing.assert_array_equal(y, big * 0.5)
    y = K.l2_step(big.copy(), big * 0.9, big - 0.5, 0.2, 0.4, backend="numba-cuda")
    np.testing.assert_allclose(y, R.l2_step(big, big * 0.9, big - 0.5, 0.2, 0.4), atol=1e-14)


def test_numba_cuda_with_cpu_torch_tensors():
    torch = pytest.importorskip("torch")
    import tradeoff.kernels as K
    from tradeoff.kernels import reference as R

    rng = np.random.default_rng(1)
    x = rng.random((2, 5)).astype(np.float32)
    x0 = rng.random((2, 5)).astype(np.float32)
    g = rng.normal(size=(2, 5)).astype(np.float32)
    xt = torch.from_numpy(x.copy())
    res = K.linf_step(xt, torch.from_numpy(x0), torch.from_numpy(g), 0.1, 0.2, backend="numba-cuda")
    assert res is xt
    np.testing.assert_array_equal(xt.numpy(), R.linf_step(x, x0, g, 0.1, 0.2))
    # uint8 x0 as a CPU tensor: scaled by 1/255 on the device too
    x0u8 = rng.integers(0, 256, (2, 5)).astype(np.uint8)
    xt = torch.from_numpy(x.copy())
    K.linf_step(xt, torch.from_numpy(x0u8), torch.from_numpy(g), 0.1, 0.2, backend="numba-cuda")
    np.testing.assert_array_equal(xt.numpy(), R.linf_step(x, x0u8, g, 0.1, 0.2))
