"""tradeoff.kernels on the CPU: every CPU backend against the plain-numpy reference.

The reference (tradeoff/kernels/reference.py) is itself checked here against an
independent, literal per-sample implementation of the PGD formulas (Madry et al. 2018,
Eq. (2)). l∞ results must match bit for bit, l2 within a few ulp; results must lie in
the ball and the box; zero gradients and ε = 0 never give NaN; random starts are tested
for uniformity with Kolmogorov–Smirnov tests.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import tradeoff.kernels as K
from tradeoff.kernels import _api, _call, _threads
from tradeoff.kernels import reference as R

CPU_BACKENDS = ["numba-cpu", "reference"]


@pytest.fixture(autouse=True)
def _machine_load_ignored(monkeypatch):
    # Rule 4 of the thread-pool policy (no pool on a loaded machine) is tested in
    # test_threads_policy.py; here the pool is asserted whatever else the machine runs.
    monkeypatch.setenv(_threads.IGNORE_LOAD_ENV, "1")


# ----------------------------------------------------------------------------- drawing
@st.composite
def problems(draw, max_batch=5, max_dim=9):
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    u8 = draw(st.booleans())
    n = draw(st.integers(1, max_batch))
    rest = tuple(draw(st.lists(st.integers(1, max_dim), min_size=0, max_size=3)))
    shape = (n, *rest)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if u8:
        lo = draw(st.sampled_from([0.0, -0.25, -np.inf]))
        hi = draw(st.sampled_from([1.0, 1.5, np.inf]))
        x0 = rng.integers(0, 256, size=shape).astype(np.uint8)
        x0v = x0.astype(dtype) / dtype.type(255)
    else:
        lo = draw(st.floats(-2, 1, allow_nan=False))
        hi = lo + draw(st.floats(0, 3, allow_nan=False))
        x0 = rng.uniform(lo, hi, size=shape).astype(dtype)
        x0v = x0
    # x near x0 (inside and outside the ball), sometimes exactly x0
    x = (x0v + rng.normal(0, draw(st.sampled_from([0.0, 0.01, 0.3])), size=shape)).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    zero_frac = draw(st.sampled_from([0.0, 0.3, 1.0]))
    g[rng.random(shape) < zero_frac] = 0
    if draw(st.booleans()):  # a whole sample with zero gradient
        g[0] = 0
    eps = draw(st.one_of(st.sampled_from([0.0, 8 / 255, 0.5]), st.floats(0, 2)))
    alpha = draw(st.one_of(st.sampled_from([0.0, 2 / 255, 0.1]), st.floats(0, 1)))
    if draw(st.booleans()):
        eps = rng.uniform(0, 1, size=n) * (rng.random(n) < 0.8)
    if draw(st.booleans()):
        alpha = rng.uniform(0, 0.5, size=n)
    return dict(x=x, x0=x0, g=g, alpha=alpha, eps=eps, lo=float(lo), hi=float(hi))


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def _x0v(p) -> np.ndarray:
    x0 = p["x0"]
    t = p["x"].dtype
    return x0.astype(t) / t.type(255) if x0.dtype == np.uint8 else x0


def _per_sample(v, n, t) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=t), (n,))


# ----------------------------------------------------------------------------- the oracle
def _literal_linf(x, x0v, g, alpha, eps, lo, hi):
    """Per element, in Python scalars of the array dtype: independent of reference.py."""
    t = x.dtype.type
    n = x.shape[0]
    a = _per_sample(alpha, n, x.dtype)
    e = _per_sample(eps, n, x.dtype)
    out = np.empty_like(x)
    xf, x0f, gf, of = (v.reshape(n, -1) for v in (x, x0v, g, out))
    for b in range(n):
        for j in range(xf.shape[1]):
            s = a[b] if gf[b, j] > 0 else (-a[b] if gf[b, j] < 0 else t(0))
            y = t(xf[b, j] + s)
            lower, upper = t(x0f[b, j] - e[b]), t(x0f[b, j] + e[b])
            y = lower if y < lower else (upper if y > upper else y)
            y = t(lo) if y < t(lo) else (t(hi) if y > t(hi) else y)
            of[b, j] = y
    return out


def _literal_l2(x, x0v, g, alpha, eps, lo, hi):
    """Per sample in float64 with math on Python floats (no numpy vector ops)."""
    n = x.shape[0]
    t = x.dtype
    a = _per_sample(alpha, n, t).astype(float)
    e = _per_sample(eps, n, t).astype(float)
    out = np.empty_like(x).reshape(n, -1)
    for b in range(n):
        xs = [float(v) for v in x.reshape(n, -1)[b]]
        x0s = [float(v) for v in x0v.reshape(n, -1)[b]]
        gs = [float(v) for v in g.reshape(n, -1)[b]]
        gn = sum(v * v for v in gs) ** 0.5
        s = a[b] / gn if gn > 0 else 0.0
        y = [xv + s * gv for xv, gv in zip(xs, gs)]
        dn = sum((yv - zv) ** 2 for yv, zv in zip(y, x0s)) ** 0.5
        if dn > e[b]:
            y = [zv + (yv - zv) * e[b] / dn for yv, zv in zip(y, x0s)]
        out[b] = np.clip(np.array(y).astype(t), t.type(lo), t.type(hi))
    return out.reshape(x.shape)


def _l2_tol(p) -> float:
    """A few ulp of the data dtype at the scale of the values (float32 update, float64 norms)."""
    scale = max(1.0, float(np.max(np.abs(p["x"]), initial=0)), float(np.max(np.abs(_x0v(p)))))
    scale += float(np.max(p["alpha"]))
    return 16 * float(np.finfo(p["x"].dtype).eps) * scale


@given(problems())
def test_reference_matches_literal_formulas(p):
    x0v = _x0v(p)
    r = R.linf_step(p["x"], p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    lit = _literal_linf(p["x"], x0v, p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    np.testing.assert_array_equal(_bits(r), _bits(lit))
    r = R.l2_step(p["x"], p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    lit = _literal_l2(p["x"], x0v, p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    np.testing.assert_allclose(r, lit, rtol=0, atol=_l2_tol(p))


# ----------------------------------------------------------------------------- backends
def _check_ball_box(y, p, norm):
    t = y.dtype
    lo, hi = t.type(p["lo"]), t.type(p["hi"])
    assert not np.any(np.isnan(y))
    assert np.all(y >= lo) and np.all(y <= hi)
    x0v = _x0v(p)
    n = y.shape[0]
    e = _per_sample(p["eps"], n, t).astype(float)
    in_box = np.all(((x0v >= lo) & (x0v <= hi)).reshape(n, -1), axis=1)
    diff = (y.astype(float) - x0v.astype(float)).reshape(n, -1)
    ulp = 4 * float(np.finfo(t).eps) * (1 + np.max(np.abs(x0v), initial=0))
    if norm == "linf":
        dist = np.max(np.abs(diff), axis=1, initial=0)
        assert np.all(dist[in_box] <= e[in_box] + ulp)
    else:
        dist = np.sqrt(np.sum(diff * diff, axis=1))
        bound = e * (1 + 1e-5) + ulp * np.sqrt(diff.shape[1])
        assert np.all(dist[in_box] <= bound[in_box])


# backend None: the default dispatch, which takes the fast path (_api._fast_ok) for numpy
# arrays with float α, ε, lo, hi and no ``out``.
@pytest.mark.parametrize("backend", [None, *CPU_BACKENDS])
@given(p=problems())
def test_linf_step_bit_identical_in_ball_and_box(backend, p):
    r = R.linf_step(p["x"], p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    x = p["x"].copy()
    y = K.linf_step(x, p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"], backend=backend)
    assert y is x and y.dtype == r.dtype
    np.testing.assert_array_equal(_bits(y), _bits(r))
    _check_ball_box(y, p, "linf")
    r = R.project_linf(p["x"], p["x0"], p["eps"], p["lo"], p["hi"])
    out = np.empty_like(p["x"])
    y = K.project_linf(p["x"], p["x0"], p["eps"], p["lo"], p["hi"], out=out, backend=backend)
    assert y is out
    np.testing.assert_array_equal(_bits(y), _bits(r))
    _check_ball_box(y, p, "linf")
    y = K.project_linf(p["x"].copy(), p["x0"], p["eps"], p["lo"], p["hi"], backend=backend)
    np.testing.assert_array_equal(_bits(y), _bits(r))


@pytest.mark.parametrize("backend", [None, *CPU_BACKENDS])
@given(p=problems())
def test_l2_step_close_to_reference_in_ball_and_box(backend, p):
    r = R.l2_step(p["x"], p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"])
    x = p["x"].copy()
    y = K.l2_step(x, p["x0"], p["g"], p["alpha"], p["eps"], p["lo"], p["hi"], backend=backend)
    assert y is x and y.dtype == r.dtype
    np.testing.assert_allclose(y, r, rtol=0, atol=_l2_tol(p))
    _check_ball_box(y, p, "l2")
    r = R.project_l2(p["x"], p["x0"], p["eps"], p["lo"], p["hi"])
    y = K.project_l2(p["x"].copy(), p["x0"], p["eps"], p["lo"], p["hi"], backend=backend)
    np.testing.assert_allclose(y, r, rtol=0, atol=_l2_tol(p))
    _check_ball_box(y, p, "l2")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("u8", [False, True])
def test_parallel_path_matches_reference(dtype, u8):
    # Above the size threshold the parallel kernels run (both norms, both x0 kinds).
    rng = np.random.default_rng(1)
    shape = (5, _threads.PARALLEL_MIN_ELEMENTS // 4)
    x0 = rng.integers(0, 256, shape).astype(np.uint8) if u8 else rng.random(shape).astype(dtype)
    x = rng.random(shape).astype(dtype)
    g = rng.normal(size=shape).astype(dtype)
    alpha, eps = rng.uniform(0, 0.05, 5), 0.03
    prev = _threads.policy()
    _threads.policy("parallel")  # also when torch is loaded in this process
    try:
        assert _threads.parallel_ok(x.size)
        r = R.linf_step(x, x0, g, alpha, eps)
        np.testing.assert_array_equal(_bits(K.linf_step(x.copy(), x0, g, alpha, eps)), _bits(r))
        r = R.l2_step(x, x0, g, alpha, 3.0)
        y = K.l2_step(x.copy(), x0, g, alpha, 3.0)
        np.testing.assert_allclose(y, r, rtol=0, atol=16 * np.finfo(dtype).eps * 2)
    finally:
        _threads.policy(prev)


def _run_child(code: str, **env):
    environ = {
        k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    subprocess.run([sys.executable, "-c", code], check=True, timeout=180, env={**environ, **env})


_BIG_STEP = (
    "import numpy as np, tradeoff.kernels as K\n"
    "def big_step():\n"
    "    x = np.zeros((4, 1 << 17), np.float32)\n"
    "    K.linf_step(x, np.zeros_like(x), np.ones_like(x), 0.1, 0.2)\n"
    "    assert np.all(x == np.float32(0.1))\n"
)


def test_kernels_run_from_a_fresh_and_a_warm_numba_cache(tmp_path):
    # Two processes on one empty cache: the first compiles and writes, the second loads
    # the serial kernels and the compiled entries from it (the parallel kernels are not
    # cached, see _cpu); both give the same, correct results.
    code = (
        _BIG_STEP + "import numpy as np\n"
        "x = np.full((2, 3), 0.5); x0 = np.zeros((2, 3)); g = np.ones((2, 3))\n"
        "K.linf_step(x, x0, g, 0.1, 0.2); assert np.allclose(x, 0.2)\n"
        "K.l2_step(x, x0, g, 0.1, 0.2); K.project_l2(x, x0, 0.1)\n"
        "assert np.all(np.linalg.norm(x, axis=1) <= 0.1 + 1e-12)\n"
        "big_step()\n"
        "y = np.zeros((4, 1 << 17), np.float32)\n"
        "K.l2_step(y, np.zeros_like(y), np.ones_like(y), 0.1, 0.05)\n"
        "assert np.allclose(np.linalg.norm(y, axis=1), 0.05, rtol=1e-5)\n"
    )
    for _ in range(2):
        _run_child(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert any(tmp_path.rglob("*linf_entry*.nbc"))


def test_thread_policy_thresholds_and_modes():
    big = _threads.PARALLEL_MIN_ELEMENTS
    small = _threads.PARALLEL_MIN_ELEMENTS_L2
    assert small <= big and not _threads.parallel_ok(big - 1)
    assert not _threads.parallel_ok(small - 1, l2=True) and _threads.chunks(small - 1, True) == 0
    code = (
        "import sys, numba\n"
        "from tradeoff.kernels import _threads as t\n"
        f"assert t.policy() == 'auto' and t.parallel_ok({big})\n"
        f"assert t.parallel_ok({small}, l2=True) and not t.parallel_ok({small - 1}, l2=True)\n"
        f"assert not t.parallel_ok({big - 1}) and t.chunks({big}) == numba.get_num_threads()\n"
        f"t.policy('serial'); assert not t.parallel_ok({big}) and t.chunks({big}) == 0\n"
        f"t.policy('parallel'); assert t.parallel_ok({big})\n"
        "assert 'torch' not in sys.modules\n"
    )
    _run_child(code)
    with pytest.raises(ValueError, match="mode must be one of"):
        K.thread_policy("fast")
    assert K.thread_policy is _threads.policy and K.thread_policy() == "auto"


def test_thread_policy_with_torch_loaded_first_runs_on_torchs_openmp_runtime():
    # torch first: torch's libgomp is in the global symbol scope and Numba's omp layer
    # binds GOMP_parallel there (the dynamic linker says so under LD_DEBUG=bindings): one
    # OpenMP runtime, so the pool may run the large steps; nothing is started passive.
    code = (
        "import os, torch, numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "lib = t.global_openmp()\n"
        "assert lib is not None and t.parallel_ok(1 << 20)\n"
        "big_step()\n"
        "assert numba.threading_layer() == 'omp' and t._state['bound_global']\n"
        "assert not t._state['passive'] and 'OMP_WAIT_POLICY' not in os.environ\n"
        "assert lib in t.describe() and t.chunks(1 << 20) == numba.get_num_threads()\n"
        "print('GLOBAL', lib)\n"
    )
    environ = {
        k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**environ, "LD_DEBUG": "bindings"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lib = proc.stdout.split("GLOBAL", 1)[1].split()[0]
    bound = [
        line
        for line in proc.stderr.splitlines()
        if "omppool" in line.split(" to ")[0] and "`GOMP_parallel'" in line
    ]
    assert bound and all(f" to {lib} " in line for line in bound), bound


def test_thread_policy_second_runtime_beside_torch_starts_passive():
    # Where no OpenMP runtime is in the global scope (simulated here), Numba's pool would
    # be a second runtime: it is started passive, and the variable is restored.
    code = (
        "import os, torch, numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "t.global_openmp = lambda: None\n"
        "assert t.parallel_ok(1 << 20)\n"
        "big_step()\n"
        "assert t._state['passive'] and not t._state['bound_global']\n"
        "assert 'OMP_WAIT_POLICY' not in os.environ and 'passive' in t.describe()\n"
    )
    _run_child(code)
    # ... unless the user set a wait policy: then that second pool is not used.
    code = (
        "import os, torch, numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "t.global_openmp = lambda: None\n"
        "assert not t.parallel_ok(1 << 20)\n"
        "big_step()\n"
        "assert os.environ['OMP_WAIT_POLICY'] == 'ACTIVE'\n"
    )
    _run_child(code, OMP_WAIT_POLICY="ACTIVE")


def test_thread_policy_keeps_the_users_layer():
    # Another threading layer (workqueue keeps its workers spinning): serial beside torch.
    code = (
        "import torch, numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        f"assert not t.parallel_ok({_threads.PARALLEL_MIN_ELEMENTS})\n"
        "big_step()\n"
        "assert not t._state['pool']  # the step ran serially; no pool was started\n"
    )
    _run_child(code, NUMBA_THREADING_LAYER="workqueue")


def test_thread_policy_falls_back_when_the_openmp_layer_cannot_load():
    # If the layer _threads asks for cannot load here, Numba picks one and a step still
    # runs; beside torch the pool is used again only if it is an OpenMP one.
    code = (
        "import torch, numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "t._LAYER = 'tbb'  # not installed in the test environment\n"
        "assert not t.parallel_ok(1 << 20)  # beside torch: only omp is started passive\n"
        "t.policy('parallel')\n"
        "big_step()\n"
        "layer = numba.threading_layer()  # Numba's own choice: omp here, else workqueue\n"
        "t.policy('auto')\n"
        "assert t.parallel_ok(1 << 20) == (layer == 'omp')  # omp: torch's runtime\n"
    )
    _run_child(code)


def test_thread_policy_forked_child_of_a_pool_runs_serially():
    # GNU OpenMP is not fork-safe: Numba terminates a forked child at its first parallel
    # region once the parent's pool ran (SIGTERM, measured). The child must run serially.
    code = (
        "import os, sys\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "big_step()\n"
        "assert t.parallel_ok(1 << 20)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    ok = not t.parallel_ok(1 << 20) and t.chunks(1 << 20) == 0\n"
        "    big_step()\n"
        "    os._exit(0 if ok else 3)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "assert os.waitstatus_to_exitcode(status) == 0, status\n"
        "assert t.parallel_ok(1 << 20)  # the parent keeps its pool\n"
        "big_step()\n"
    )
    _run_child(code)


def test_thread_policy_one_thread_means_serial():
    code = (
        "import numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "assert t.parallel_ok(1 << 20) and t.chunks(1 << 20) == 0\n"
        "big_step()\n"
    )
    _run_child(code, NUMBA_NUM_THREADS="1")


def test_thread_policy_torch_after_the_pool_shares_its_runtime():
    # Pool first, then torch: torch binds to the libgomp already loaded (one runtime), and
    # the pool keeps running the large steps; with two runtimes it would be serial.
    code = (
        "import numba\n" + _BIG_STEP + "from tradeoff.kernels import _threads as t\n"
        "big_step()\n"
        "assert not t._state['passive']\n"
        "import torch\n"
        "torch.ones(1 << 20).sum()\n"
        "one = len(t._openmp_runtimes()) == 1\n"
        f"assert t.parallel_ok({_threads.PARALLEL_MIN_ELEMENTS}) == one\n"
        "big_step()\n"
        "print(one)\n"
    )
    _run_child(code)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_gradient_and_zero_eps_give_no_nan(dtype):
    rng = np.random.default_rng(2)
    x0 = rng.random((3, 10)).astype(dtype)
    x = (x0 + 0.1).astype(dtype)
    zero = np.zeros_like(x)
    # zero gradient: a zero step, then only the projection acts
    y = K.l2_step(x.copy(), x0, zero, 0.5, 10.0, -np.inf, np.inf)
    np.testing.assert_array_equal(y, x)
    y = K.l2_step(x.copy(), x0, zero, 0.5, 0.0)
    np.testing.assert_array_equal(y, np.clip(x0, 0, 1))
    # ε = 0: the result is x0 (clipped), for any gradient, both norms
    g = rng.normal(size=x.shape).astype(dtype)
    for step in (K.linf_step, K.l2_step):
        y = step(x.copy(), x0, g, 0.1, 0.0)
        assert not np.any(np.isnan(y))
        np.testing.assert_array_equal(y, np.clip(x0, 0, 1))
    # x already at x0 with zero gradient and ε = 0: 0/0 must not appear
    y = K.l2_step(x0.copy(), x0, zero, 0.1, 0.0)
    np.testing.assert_array_equal(y, x0)


def test_l2_cancellation_uses_exact_norm():
    # The step exactly undoes the perturbation: ‖x − x0 + s·g‖ is 0 although every term
    # of its expansion is large; the result must be x0 (reference), not a projection.
    rng = np.random.default_rng(3)
    x0 = rng.random((2, 50))
    delta = rng.normal(size=(2, 50))
    x = x0 + delta
    g = -delta
    alpha = np.linalg.norm(delta, axis=1)
    y = K.l2_step(x.copy(), x0, g, alpha, 1e-9, -np.inf, np.inf)
    r = R.l2_step(x, x0, g, alpha, 1e-9, -np.inf, np.inf)
    np.testing.assert_allclose(y, r, atol=1e-13)
    np.testing.assert_allclose(y, x0, atol=1e-13)


def test_step_values_against_hand_computed_cases():
    x0 = np.array([[0.5, 0.5, 0.0, 1.0]], np.float32)
    x = np.array([[0.5, 0.52, 0.0, 1.0]], np.float32)
    g = np.array([[1.0, 1.0, -3.0, 2.0]], np.float32)
    y = K.linf_step(x.copy(), x0, g, 0.01, 0.03)
    # 0.5+0.01; 0.52+0.01 = 0.53 (in ball, as float32); 0 − 0.01 clipped to 0; 1 + .01 → 1
    expect = np.array(
        [[np.float32(0.5) + np.float32(0.01), np.float32(0.52) + np.float32(0.01), 0.0, 1.0]],
        np.float32,
    )
    np.testing.assert_array_equal(y, expect)
    # l2: g/‖g‖ = (0.6, 0.8), α = 0.5 → step (0.3, 0.4); ε = 0.25 halves it
    x0 = np.zeros((1, 2))
    y = K.l2_step(x0.copy() + 0, np.zeros((1, 2)), np.array([[3.0, 4.0]]), 0.5, 0.25, -1, 1)
    np.testing.assert_allclose(y, [[0.15, 0.2]], rtol=1e-15)
    assert x0.sum() == 0


# ----------------------------------------------------------------------------- torch tensors
def test_torch_cpu_tensors_zero_copy_and_equal_to_numpy():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.random((4, 3, 5)).astype(np.float32)
    x0 = rng.integers(0, 256, (4, 3, 5)).astype(np.uint8)
    g = rng.normal(size=x.shape).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_(False)
    gt = torch.from_numpy(g).requires_grad_(True)  # views of grad-requiring tensors are fine
    ptr = xt.data_ptr()
    for step in (K.linf_step, K.l2_step):
        xt2 = torch.from_numpy(x.copy())
        res = step(xt2, torch.from_numpy(x0), gt, 0.02, 0.1)
        assert res is xt2 and res.data_ptr() == xt2.data_ptr()
        np.testing.assert_array_equal(res.numpy(), step(x.copy(), x0, g, 0.02, 0.1))
    for backend in CPU_BACKENDS:
        xt2 = torch.from_numpy(x.copy())
        res = K.l2_step(xt2, torch.from_numpy(x0), gt, 0.02, 0.1, out=None, backend=backend)
        assert res is xt2
        np.testing.assert_allclose(res.numpy(), R.l2_step(x, x0, g, 0.02, 0.1), atol=1e-6)
    out = torch.empty_like(xt)
    res = K.project_linf(xt, torch.from_numpy(x0), torch.full((4,), 0.05), out=out)
    assert res is out and xt.data_ptr() == ptr
    np.testing.assert_array_equal(out.numpy(), R.project_linf(x, x0, np.full(4, 0.05)))
    with pytest.raises(TypeError, match="x0 must be the same kind of array as x"):
        K.linf_step(xt, x0, gt, 0.1, 0.1)
    with pytest.raises(TypeError, match="dtype"):
        K.linf_step(xt.half(), xt.half(), xt.half(), 0.1, 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        K.linf_step(xt.transpose(1, 2), xt.transpose(1, 2).clone(), xt.transpose(1, 2), 0.1, 0.1)


@given(p=problems())
def test_torch_cpu_fast_path_matches_reference(p):
    # Plain CPU tensors with float α, ε, lo, hi take the fast path (_api._fast_views).
    torch = pytest.importorskip("torch")
    if not all(isinstance(p[k], float) for k in ("alpha", "eps", "lo", "hi")):
        p = {**p, "alpha": 0.05, "eps": 0.1}
        p["lo"], p["hi"] = float(p["lo"]), float(p["hi"])
    x0t, gt = torch.from_numpy(p["x0"]), torch.from_numpy(p["g"])
    args = (p["alpha"], p["eps"], p["lo"], p["hi"])
    assert _api._fast_views(torch.from_numpy(p["x"].copy()), x0t, gt) is not None
    xt = torch.from_numpy(p["x"].copy())
    assert K.linf_step(xt, x0t, gt, *args) is xt
    r = R.linf_step(p["x"], p["x0"], p["g"], *args)
    np.testing.assert_array_equal(_bits(xt.numpy()), _bits(r))
    xt = torch.from_numpy(p["x"].copy())
    K.l2_step(xt, x0t, gt, *args)
    r = R.l2_step(p["x"], p["x0"], p["g"], *args)
    np.testing.assert_allclose(xt.numpy(), r, rtol=0, atol=_l2_tol({**p, "alpha": p["alpha"]}))
    xt = torch.from_numpy(p["x"].copy())
    K.project_linf(xt, x0t, p["eps"], p["lo"], p["hi"])
    r = R.project_linf(p["x"], p["x0"], p["eps"], p["lo"], p["hi"])
    np.testing.assert_array_equal(_bits(xt.numpy()), _bits(r))
    # a tensor that requires grad, or a Parameter, goes through the full path
    assert _api._fast_views(xt.clone().requires_grad_(True), x0t, gt) is None
    assert _api._fast_views(torch.nn.Parameter(xt.clone()), x0t, gt) is None


def test_unsupported_torch_dtypes_are_named():
    torch = pytest.importorskip("torch")
    z = torch.zeros(2, 3)
    for dt in (torch.float16, torch.bfloat16, torch.int32):
        with pytest.raises(TypeError, match=f"x must have dtype float32 or float64, got {dt}"):
            K.linf_step(z.to(dt), z, z, 0.1, 0.1)
        with pytest.raises(TypeError, match=f"x0 must have dtype .*, got {dt}"):
            K.l2_step(z.clone(), z.to(dt), z, 0.1, 0.1)
        with pytest.raises(TypeError, match=f"g must have dtype .*, got {dt}"):
            K.linf_step(z.clone(), z, z.to(dt), 0.1, 0.1)
        with pytest.raises(
            TypeError, match=f"x0 must have dtype float32, float64 or uint8, got {dt}"
        ):
            K.random_start(z.to(dt), 0.1, seed=0)
        with pytest.raises(TypeError, match=f"x0 must have dtype .*, got {dt}"):
            K.linf_step(z, z.to(dt), z.clone(), 0.1, 0.1, backend="reference")
        # the device path (CUDA tensors) names the dtype the same way
        with pytest.raises(TypeError, match=f"g must have dtype float32 \\(as x\\), got {dt}"):
            _call.dtype_of(z.to(dt), "torch-cuda", "g", "float32 (as x)")


def test_import_does_not_import_torch_or_cupy():
    code = (
        "import sys, numpy as np, tradeoff.kernels as K\n"
        "x = np.zeros((2, 3)); K.linf_step(x, x.copy(), x.copy(), 0.1, 0.1)\n"
        "K.available_backends()\n"
        "assert 'torch' not in sys.modules and 'cupy' not in sys.modules, sys.modules.keys()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------------------- random starts
def test_random_start_l2_radius_and_direction_are_uniform():
    n, d, eps = 4000, 3, 0.7
    x0 = np.zeros((n, d))
    s = K.random_start(x0, eps, "l2", -np.inf, np.inf, seed=5)
    r = np.linalg.norm(s, axis=1)
    assert np.all(r <= eps * (1 + 1e-12))
    # uniform in the ball ⇔ (r/ε)^d ~ U(0, 1) and the direction uniform on the sphere;
    # on S², each coordinate of the direction is U(−1, 1) (Archimedes).
    assert stats.kstest((r / eps) ** d, "uniform").pvalue > 1e-3
    assert stats.kstest(s[:, 0] / r, stats.uniform(-1, 2).cdf).pvalue > 1e-3
    # and a check that can fail for a wrong radius law: U itself is not uniform in r
    assert stats.kstest(r / eps, "uniform").pvalue < 1e-6


def test_random_start_linf_uniform_per_coordinate_and_clipped():
    rng = np.random.default_rng(6)
    x0 = rng.integers(0, 256, (500, 8)).astype(np.uint8)
    eps = np.linspace(0.01, 0.2, 500)
    s = K.random_start(x0, eps, "linf", -np.inf, np.inf, seed=rng)
    assert s.dtype == np.float32
    u = (s.astype(float) - x0 / 255.0) / eps[:, None]
    assert np.all(np.abs(u) <= 1 + 1e-5)
    assert stats.kstest(u.ravel(), stats.uniform(-1, 2).cdf).pvalue > 1e-3
    clipped = K.random_start(x0, eps, "linf", 0.0, 1.0, seed=7)
    assert clipped.min() >= 0 and clipped.max() <= 1
    a = K.random_start(x0.astype(np.float64) / 255, 0.1, "l2", seed=8)
    b = K.random_start(x0.astype(np.float64) / 255, 0.1, "l2", seed=8)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="seed"):
        K.random_start(x0, 0.1, "linf")
    with pytest.raises(ValueError, match="norm"):
        K.random_start(x0, 0.1, "l1", seed=0)


# ----------------------------------------------------------------------------- validation
def _arrays(shape=(2, 3), dtype=np.float32):
    return tuple(np.zeros(shape, dtype) for _ in range(3))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        (dict(x=np.zeros((2, 3), np.int32)), TypeError, "x must have dtype float32 or float64"),
        (dict(x=np.zeros((2, 3), np.float16)), TypeError, "float16"),
        (dict(x=[[0.0]]), TypeError, "x must be a numpy array"),
        (dict(x=np.zeros((), np.float32)), ValueError, "at least one axis"),
        (dict(x0=np.zeros((2, 4), np.float32)), ValueError, r"x0 must have the shape of x"),
        (dict(g=np.zeros((2, 3), np.float64)), TypeError, "g must have dtype float32"),
        (dict(x0=np.zeros((2, 3), np.int16)), TypeError, "x0 must have dtype float32 .* or uint8"),
        (dict(g=np.zeros((3, 2), np.float32).T), ValueError, "g must be C-contiguous"),
        (dict(alpha=-0.1), ValueError, r"alpha must be in \[0, 1e\+30\]"),
        (dict(alpha=1e31), ValueError, r"alpha must be in \[0, 1e\+30\]"),
        (dict(eps=float("nan")), ValueError, "eps must be a finite"),
        (dict(alpha=float("inf")), ValueError, "alpha must be a finite"),
        (dict(lo=float("nan")), ValueError, "lo must be a finite"),
        (dict(eps=np.array([0.1, -0.1])), ValueError, "eps must be >= 0"),
        # per-sample α takes _call.validate, the one validator of every array kind
        (dict(alpha=np.array([0.1, 1e31])), ValueError, r"alpha must be <= 1e\+30"),
        (dict(eps=np.array([0.1, 0.1, 0.1])), ValueError, r"shape \(2,\)"),
        (dict(alpha="0.1"), TypeError, "alpha must be a real number"),
        (dict(lo=1.0, hi=0.0), ValueError, "lo must be <= hi"),
        (dict(backend="tpu"), ValueError, "backend must be one of"),
        (dict(backend="cupy"), ValueError, "backend 'cupy' needs CuPy arrays"),
        (dict(out=np.zeros((2, 3), np.float64)), TypeError, "out must have dtype float32"),
    ],
)
def test_validation_errors(kwargs, exc, match):
    x, x0, g = _arrays()
    args = dict(x=x, x0=x0, g=g, alpha=0.1, eps=0.1, lo=0.0, hi=1.0)
    args.update(kwargs)
    for fn in (K.linf_step, K.l2_step):
        xa = args["x"]
        before = np.array(xa, copy=True) if isinstance(xa, np.ndarray) else None
        with pytest.raises(exc, match=match):
            fn(**args)
        if before is not None:  # nothing ran
            np.testing.assert_array_equal(xa, before)


@pytest.mark.parametrize("kind", ["linf", "l2", "proj_linf", "proj_l2"])
def test_fast_path_takes_only_what_full_validation_accepts(kind):
    # The fast path (_api._fast: the compiled entries _cpu.linf_entry / l2_entry) must
    # decline, writing nothing, everything _prepare would reject, so that the error comes
    # from _prepare; and run the plain per-step call.
    proj = kind.startswith("proj")
    x0, g = np.zeros((2, 3), np.float32), None if proj else np.ones((2, 3), np.float32)
    x = np.random.default_rng(0).uniform(0.5, 1, (2, 3)).astype(np.float32)
    ok = x.copy()
    assert _api._fast(kind, ok, x0, g, 0.1, 0.1, 0.0, 1.0)
    assert not np.array_equal(ok, x)  # it ran
    assert _api._fast(kind, x.copy(), x0.astype(np.uint8), g, 0.1, 0.1, -np.inf, np.inf)
    ro = x.copy()
    ro.flags.writeable = False
    buf = np.zeros(18, np.float32)  # overlapping views of one buffer
    fortran = (np.asfortranarray(np.ones((3, 4), np.float32)), np.ones((3, 4), np.float32))
    bad = [
        (x, x, g, 0.1, 0.1, 0.0, 1.0),  # x0 is x
        (x, x0.astype(np.int16), g, 0.1, 0.1, 0.0, 1.0),
        (x, x0[:1], g, 0.1, 0.1, 0.0, 1.0),
        (x, x0.reshape(-1), g, 0.1, 0.1, 0.0, 1.0),  # same size, other ndim
        (x, x0, g, 0.1, -0.1, 0.0, 1.0),
        (x, x0, g, 0.1, float("inf"), 0.0, 1.0),
        (x, x0, g, 0.1, float("nan"), 0.0, 1.0),
        (x, x0, g, 0.1, 0.1, float("nan"), 1.0),
        (x, x0, g, 0.1, 0.1, 0.0, float("nan")),
        (x, x0, g, 0.1, 0.1, 1.0, 0.0),
        (x.astype(np.float16), x0, g, 0.1, 0.1, 0.0, 1.0),
        (*fortran, None if proj else fortran[1], 0.1, 0.1, 0.0, 1.0),
        (np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), None, 0.1, 0.1, 0.0, 1.0),
        (ro, x0, g, 0.1, 0.1, 0.0, 1.0),
        (buf[:6].reshape(2, 3), buf[3:9].reshape(2, 3), None, 0.1, 0.1, 0.0, 1.0),
    ]
    if not proj:
        bad += [
            (x, x0, x, 0.1, 0.1, 0.0, 1.0),  # g is x
            (x, x0, g, -0.1, 0.1, 0.0, 1.0),
            (x, x0, g, float("nan"), 0.1, 0.0, 1.0),
            (x, x0, g.astype(np.float64), 0.1, 0.1, 0.0, 1.0),
            (x, x0, np.zeros((3, 2), np.float32).T, 0.1, 0.1, 0.0, 1.0),
            (*(buf[i : i + 6].reshape(2, 3) for i in (0, 12, 3)), 0.1, 0.1, 0.0, 1.0),
        ]
    public = {"linf": K.linf_step, "l2": K.l2_step}.get(kind)
    for args in bad:
        before = args[0].copy()
        assert not _api._fast(kind, *args), args
        np.testing.assert_array_equal(args[0], before)
        if public is not None and args[0].size and args[2] is not None:
            with pytest.raises((TypeError, ValueError)):
                public(*args)
    with pytest.raises(ValueError, match="x must be writeable"):
        K.project_linf(ro, x0, 0.1)
    np.testing.assert_array_equal(
        K.linf_step(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3)), 0, 1, 0, 1),
        np.zeros((2, 3)),  # α = 0 given as an int: full path, same result
    )


def test_validation_aliasing():
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match="x must not share memory with g"):
        K.l2_step(x, np.zeros((2, 3)), x, 0.1, 0.1)
    buf = np.zeros((3, 3))
    with pytest.raises(ValueError, match="out must either be x itself or not overlap x"):
        K.linf_step(buf[:2], np.zeros((2, 3)), np.zeros((2, 3)), 0.1, 0.1, out=buf[1:])
    y = K.linf_step(x, np.zeros((2, 3)), np.ones((2, 3)), 0.1, 0.5, out=x)
    np.testing.assert_array_equal(y, np.full((2, 3), 0.1))


def test_empty_and_available_backends():
    x = np.zeros((0, 3), np.float32)
    assert K.linf_step(x, x.copy(), x.copy(), 0.1, 0.1) is x
    names = K.available_backends()
    assert names[0] == "numba-cpu" and names[-1] == "reference"
    assert set(names) <= set(K.BACKENDS)


# ----------------------------------------------------------------------------- benchmark
def test_benchmark_arguments_and_quick_run(capsys, tmp_path):
    from tradeoff.kernels.benchmark import main

    with pytest.raises(SystemExit):
        main(["--sizes", "1x1"])
    out = tmp_path / "b.json"
    args = ["--quick", "--no-compile", "--no-threads", "--sizes", "128x784", "--norms", "linf"]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "stream limit (read 3, write 1)" in text and "tradeoff (numpy arrays)" in text
    import json

    table = json.loads(out.read_text())["tables"]["linf 128x784"]
    assert table["stream_s"] > 0 and table["rows"]["tradeoff (numpy arrays)"]["median_s"] > 0


# ------------------------------------------------------------------ hostile values
@settings(max_examples=60)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    scale=st.sampled_from([1.0, 1e-8, 1e-30, 1e-41, 1e-300]),
    alpha=st.sampled_from([0.01, 1.0, 1e10, 1e30]),
    eps=st.sampled_from([0.0, 0.1, 1.0, 1e30]),
    seed=st.integers(0, 2**16),
)
def test_l2_step_never_overflows_with_tiny_gradients_or_huge_steps(dtype, scale, alpha, eps, seed):
    # α/‖g‖ far beyond float32's range (a denormal gradient, a huge α) must give a finite
    # step inside the ball, as the float64 reference computes it (issue: NaN / 7.5 ε seen).
    rng = np.random.default_rng(seed)
    x0 = rng.random((3, 5)).astype(dtype)
    x = x0.copy()
    g = (rng.standard_normal((3, 5)) * scale).astype(dtype)
    g[1, 1:] = 0  # one coordinate carries the whole (tiny) norm
    for lo, hi in ((0.0, 1.0), (-np.inf, np.inf)):
        r = R.l2_step(x, x0, g, alpha, eps, lo, hi)
        for backend in ("numba-cpu", "reference"):
            y = K.l2_step(x.copy(), x0, g, alpha, eps, lo, hi, backend=backend)
            assert np.all(np.isfinite(y)), (backend, y)
            dist = np.linalg.norm((y.astype(np.float64) - x0).reshape(3, -1), axis=1)
            ulp = 8 * float(np.finfo(dtype).eps) * max(1.0, float(np.max(np.abs(y))))
            assert np.all(dist <= eps * (1 + 1e-6) + ulp * np.sqrt(5)), (backend, dist)
            tol = 16 * float(np.finfo(dtype).eps) * max(1.0, float(np.max(np.abs(r))))
            np.testing.assert_allclose(y, r, rtol=0, atol=tol)
        if scale == 1e-41 and dtype == np.float32 and alpha >= 0.01 and eps > 0:
            # the step really moved: ‖y − x0‖ = min(α, ε) on samples with a gradient
            y = K.l2_step(x.copy(), x0, g, alpha, eps, -np.inf, np.inf)
            moved = np.linalg.norm((y.astype(np.float64) - x0).reshape(3, -1), axis=1)
            has_g = np.any(g.reshape(3, -1) != 0, axis=1)
            np.testing.assert_allclose(moved[has_g], min(alpha, eps), rtol=1e-5)


def test_reported_denormal_gradient_case():
    x0 = np.full((1, 4), 0.5, "f4")
    x = x0.copy()
    g = np.zeros((1, 4), "f4")
    g[0, 0] = 1e-41
    K.l2_step(x, x0, g, 0.01, 0.1)
    np.testing.assert_allclose(x, [[0.51, 0.5, 0.5, 0.5]], rtol=1e-6)


@pytest.mark.parametrize("backend", ["numba-cpu", "reference"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_x0_gives_nan_never_an_unconstrained_value(backend, dtype):
    # The step kernels do not check x0 per step (a full extra pass); a NaN in x0 must show
    # as NaN, not silently drop the ε-constraint (l∞: that element; l2: the whole sample,
    # whose norm is NaN; ±inf in x0: l∞ clips to the box, l2 gives NaN at that element).
    rng = np.random.default_rng(0)
    x0 = rng.random((3, 6)).astype(dtype)
    x0[1, 2] = np.nan
    x0[2, 4] = np.inf
    x = np.clip(x0 + 0.5, 0, 1)
    x[~np.isfinite(x)] = 0.5
    g = rng.standard_normal((3, 6)).astype(dtype)
    bad = ~np.isfinite(x0)
    for step in (
        lambda a: K.linf_step(a, x0, g, 0.1, 0.2, backend=backend),
        lambda a: K.project_linf(a, x0, 0.2, backend=backend),
    ):
        y = step(x.copy())
        assert np.isnan(y[1, 2])  # NaN in x0: NaN
        assert y[2, 4] == 1.0  # +inf in x0: its ball is {+inf}, clipped to the box: hi
        good = np.abs(y[~bad] - x0[~bad])
        assert np.all(good <= 0.2 + 1e-6)
    for step in (
        lambda a: K.l2_step(a, x0, g, 0.1, 0.2, backend=backend),
        lambda a: K.project_l2(a, x0, 0.2, backend=backend),
    ):
        y = step(x.copy())
        assert np.all(np.isnan(y[1]))  # NaN in x0: the sample's norm is NaN, all of it NaN
        # +inf in x0: that element NaN; the others NaN or at x0 (the projection factor is
        # ε/inf = 0), never a finite value outside the ball
        assert np.isnan(y[2, 4])
        with np.errstate(invalid="ignore"):
            assert np.all(np.isnan(y[2]) | (np.abs(y[2] - x0[2]) <= 0.2))
        assert np.linalg.norm(y[0] - x0[0]) <= 0.2 + 1e-6 and np.all(np.isfinite(y[0]))


def test_a_step_without_gradient_is_refused():
    x = np.zeros((2, 3), np.float32)
    for fn, alt in ((K.linf_step, "project_linf"), (K.l2_step, "project_l2")):
        with pytest.raises(TypeError, match=f"g must be the gradient array.*{alt}"):
            fn(x, x.copy(), None, 0.1, 0.1)
