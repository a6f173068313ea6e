"""Every cached compiled entry of the package, each checked against an independent result.

Run by tests/test_jit_cache.py in child processes (one process per entry writes the disk
cache; others load them together):

    python _jit_entries.py run NAME[,NAME...]   # prints {"NAME": {"err": e, "tol": t}, ...}
    python _jit_entries.py symbols              # compiled functions, grouped by identity

Each entry returns ``(ours, expected, tolerance)``; ``expected`` never comes from the
compiled code under test: the plain-numpy reference backend for the steps, a numpy
product for the Bernoulli characteristic function, ``x + y + z`` for the stream kernel.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

import numpy as np

from tradeoff import kernels
from tradeoff.kernels import reference as ref

SHAPE = (64, 1, 8, 8)


def _problem(dtype, u8: bool, seed: int, shape=SHAPE):
    rng = np.random.default_rng(seed)
    x0 = rng.random(shape)
    x0 = (x0 * 255).astype(np.uint8) if u8 else x0.astype(dtype)
    x0v = x0.astype(dtype) / dtype(255) if u8 else x0
    x = np.clip(x0v + rng.uniform(-0.05, 0.05, shape), 0, 1).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    return x, x0, g


def _l2_tol(dtype) -> float:
    return 16 * float(np.finfo(dtype).eps) * 2


def _step(
    kind: str,
    dtype=np.float32,
    u8: bool = False,
    *,
    out: bool = False,
    per_sample: bool = False,
    shape=SHAPE,
):
    x, x0, g = _problem(dtype, u8, seed=hash(kind) % 1000, shape=shape)
    n = shape[0]
    eps = np.linspace(0.05, 1.0, n) if per_sample else (0.1 if "linf" in kind else 1.0)
    alpha = 0.01 if "linf" in kind else 0.25
    ours_fn, ref_fn = {
        "linf": (kernels.linf_step, ref.linf_step),
        "l2": (kernels.l2_step, ref.l2_step),
        "proj_linf": (kernels.project_linf, ref.project_linf),
        "proj_l2": (kernels.project_l2, ref.project_l2),
    }[kind]
    args = (x0, g, alpha, eps) if kind in ("linf", "l2") else (x0, eps)
    expected = ref_fn(x.copy(), *args)
    if out:
        ours = np.empty_like(x)
        ours_fn(x, *args, out=ours)
    else:
        ours = x.copy()
        ours_fn(ours, *args)
    tol = 0.0 if "linf" in kind else _l2_tol(dtype)
    return ours, expected, tol


def _bernoulli():
    from tradeoff._bernoulli_jit import cf_on_grid

    rng = np.random.default_rng(3)
    v = rng.standard_normal(50)
    two_tau = 2 * rng.uniform(0, 0.25, 50)
    t = 0.05 + 0.01 * np.arange(300)
    ours = np.empty(t.size, np.complex128)
    cf_on_grid(v, two_tau, float(t[0]), 0.01, 0.0, ours)
    ph = np.multiply.outer(t, v)
    expected = np.prod(np.cos(ph) + 1j * (two_tau * np.sin(ph)), axis=1)
    return ours, expected, 1e-12


def _stream():
    from tradeoff.kernels import _cpu

    rng = np.random.default_rng(4)
    x, y, z = (rng.random(1000).astype(np.float32) for _ in range(3))
    expected = x + y + z
    _cpu.stream_s(x, y, z)
    return x, expected, 0.0


ENTRIES = {
    "linf_f32": lambda: _step("linf"),
    "linf_f64": lambda: _step("linf", np.float64),
    "linf_u8": lambda: _step("linf", u8=True),
    "linf_out": lambda: _step("linf", out=True),
    "linf_per_sample": lambda: _step("linf", per_sample=True),
    "linf_pool": lambda: _step("linf", shape=(128, 1, 28, 28)),
    "l2_f32": lambda: _step("l2"),
    "l2_f64": lambda: _step("l2", np.float64),
    "l2_u8": lambda: _step("l2", u8=True),
    "l2_out": lambda: _step("l2", out=True),
    "l2_per_sample": lambda: _step("l2", per_sample=True),
    "proj_linf_f32": lambda: _step("proj_linf"),
    "proj_linf_u8": lambda: _step("proj_linf", u8=True),
    "proj_l2_f32": lambda: _step("proj_l2"),
    "proj_l2_f64": lambda: _step("proj_l2", np.float64),
    "proj_l2_out": lambda: _step("proj_l2", out=True),
    "bernoulli_cf": _bernoulli,
    "stream": _stream,
}


def run(names: list[str]) -> dict:
    result = {}
    for name in names:
        ours, expected, tol = ENTRIES[name]()
        err = float(np.max(np.abs(ours.astype(np.complex128) - expected)))
        result[name] = {"err": err, "tol": tol}
    return result


def _dispatchers():
    import importlib

    from numba.core.registry import CPUDispatcher

    from tradeoff._jit_cache import COMPILED_MODULES

    for name in COMPILED_MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher):
                yield f"{name}.{attr}", obj


def cache_stats() -> tuple[int, int]:
    """(loads from the disk cache, compilations that found nothing there) in this process."""
    from numba.core.caching import NullCache

    cached = [d for _, d in _dispatchers() if not isinstance(d._cache, NullCache)]
    hits = sum(sum(d.stats.cache_hits.values()) for d in cached)
    return hits, sum(sum(d.stats.cache_misses.values()) for d in cached)


# Numba's symbol for a compiled function: itanium-mangled qualified name + argument types,
# with the per-process counter as the ABI tag "v<N>" (B<len>v<N>).
_DEFINE = re.compile(r'^define [^@]*@"?([^"(\s]+)"?\(', re.M)
_UID = re.compile(r"B(\d+)v(\d+)")


def _strip_uid(symbol: str) -> tuple[str, set[str]]:
    uids = set()

    def repl(m):
        if int(m.group(1)) == 1 + len(m.group(2)):
            uids.add(m.group(2))
            return ""
        return m.group(0)

    return _UID.sub(repl, symbol), uids


def symbols() -> dict:
    """Functions compiled in this process (no disk cache), keyed by their symbol without
    the per-process counter, mapped to the counters seen. More than one counter under one
    key: two compilations of one qualified name with the same argument types — different
    code under one identity, the hazard of tradeoff._jit_cache's rule 2."""
    seen: dict[str, set[str]] = defaultdict(set)
    for _, disp in _dispatchers():
        for cres in disp.overloads.values():
            for sym in _DEFINE.findall(cres.library.get_llvm_str()):
                if sym.startswith("_ZN"):
                    key, uids = _strip_uid(sym)
                    seen[key] |= uids
    return {k: sorted(v) for k, v in seen.items()}


if __name__ == "__main__":
    if sys.argv[1] == "run":
        out = run(sys.argv[2].split(","))
        out["_cache_hits"], out["_cache_misses"] = cache_stats()
        print(json.dumps(out))
    elif sys.argv[1] == "symbols":
        run(list(ENTRIES))
        print(json.dumps(symbols()))
