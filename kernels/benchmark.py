"""``tradeoff bench kernels``: the fused PGD steps against the stream limit and baselines.

One run times, at 128×784, 128×3×32×32 and 16M elements, for the l∞ and the l2 step:

- the stream limit of the step's access pattern (read 3 arrays, write 1, in place),
  measured with a Numba kernel ``x[i] = x[i] + y[i] + z[i]``, on 1 thread and on the
  parallel pool, in this process and in a torch-free child process: the limit is the
  fastest of the four;
- numpy, written the usual way (several passes);
- ``tradeoff.kernels`` on numpy arrays, on torch CPU tensors and with uint8 ``x0``, as
  the thread-pool policy (tradeoff/kernels/_threads.py) runs them beside torch: on
  Numba's pool, which runs on torch's OpenMP runtime, from ``PARALLEL_MIN_ELEMENTS`` (l2:
  ``PARALLEL_MIN_ELEMENTS_L2``); above that size also with ``policy("serial")``; and the
  numpy step in a child process that never imports torch ("no torch loaded");
- torch eager as torchattacks writes it (``adv + α·g.sign()``, clamp of the
  difference, clamp to [0, 1]; PGDL2's norm/divide/renorm for l2), torch eager in place,
  and ``torch.compile`` of the torchattacks code (reported unavailable, with the reason,
  when compilation fails);
- on a GPU (CuPy installed and a device present): the CuPy and Numba CUDA kernels against
  a device-to-device copy.

Printed per row: median time, spread (interquartile range), GB/s of the minimal traffic
(read x, x0, g; write x), % of the stream limit, % of the 1-thread stream limit (the
fair bound for a serial kernel) and the speed-up over torch eager.
Timings are interleaved over several rounds so that machine noise hits every row alike.
It also shows what the thread-pool policy costs torch: a torch eager step timed before
any of our kernels ran and after all of them, torch alone vs right after each of our
steps, the CPU time thread-pool workers burn after a torch op and after one of our pool
steps, and, in child processes (torch imported first), torch around a raw Numba parallel
kernel under the ``omp`` and the ``workqueue`` layer. Last, rule 4 of the policy under
load: the l∞ step with the pool forced, serially and as the policy runs it, interleaved,
while 2 × cores + 2 busy processes run (``--no-load`` skips it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main"]

SIZES = {
    "128x784": (128, 784),
    "128x3x32x32": (128, 3, 32, 32),
    "16M": (128, 131072),
}
EPS, ALPHA = 8 / 255, 2 / 255
EPS_L2, ALPHA_L2 = 0.5, 0.1

#: A row of a table: ``fn`` (what is timed), and ``pool``, ``bytes``, ``note`` or
#: ``unavailable`` (with the reason).
Rows = dict[str, dict[str, Any]]
#: A step function: ``(x, x0, g, alpha, eps)``.
StepFn = Callable[..., Any]


# ----------------------------------------------------------------------------- timing
def _times(fn: Callable[[], object], reps: int) -> np.ndarray:
    out = np.empty(reps)
    for i in range(reps):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def _interleaved(rows: Rows, reps: int, rounds: int) -> dict[str, np.ndarray]:
    """Time every row ``reps`` calls per round for ``rounds`` rounds, rows interleaved, so
    that load from other processes hits every row alike. Rows marked ``pool`` (they wake
    torch's OpenMP pool or Numba's parallel pool) are followed by a pause, so that pool
    workers still spinning after them do not slow the next row (measured: without the
    pause, the 1-thread stream kernel timed right after the torch rows took ~12 ms at 16M
    instead of ~8 ms)."""
    samples: dict[str, list[np.ndarray]] = {k: [] for k in rows}
    for r in rows.values():  # warm-up (compilation, caches)
        for _ in range(2):
            r["fn"]()
    for _ in range(rounds):
        for name, r in rows.items():
            samples[name].append(_times(r["fn"], reps))
            if r.get("pool"):
                time.sleep(0.05)
    return {k: np.concatenate(v) for k, v in samples.items()}


# ----------------------------------------------------------------------------- baselines
def _numpy_step(
    norm: str, x: np.ndarray, x0: np.ndarray, g: np.ndarray, alpha: float, eps: float
) -> Callable[[], None]:
    if norm == "linf":

        def step() -> None:
            x[...] = x + alpha * np.sign(g)
            np.clip(x, x0 - eps, x0 + eps, out=x)
            np.clip(x, 0.0, 1.0, out=x)

        return step
    n = x.shape[0]
    shape = (n,) + (1,) * (x.ndim - 1)

    def step_l2() -> None:
        gn = np.sqrt(np.sum(g.reshape(n, -1) ** 2, axis=1)) + 1e-10
        y = x + alpha * g / gn.reshape(shape)
        d = y - x0
        dn = np.sqrt(np.sum(d.reshape(n, -1) ** 2, axis=1))
        f = np.minimum(eps / np.maximum(dn, 1e-30), 1.0)
        np.clip(x0 + d * f.reshape(shape), 0.0, 1.0, out=x)

    return step_l2


def _torch_fns(torch: Any) -> dict[str, tuple[StepFn, StepFn]]:
    """The torchattacks formulations (PGD.forward / PGDL2.forward step bodies)."""

    def linf_eager(adv: Any, x0: Any, g: Any, alpha: float, eps: float) -> Any:
        adv = adv.detach() + alpha * g.sign()
        delta = torch.clamp(adv - x0, min=-eps, max=eps)
        return torch.clamp(x0 + delta, min=0, max=1).detach()

    def l2_eager(adv: Any, x0: Any, g: Any, alpha: float, eps: float) -> Any:
        n = len(adv)
        view = (-1,) + (1,) * (adv.dim() - 1)
        grad_norms = torch.norm(g.view(n, -1), p=2, dim=1) + 1e-10
        grad = g / grad_norms.view(view)
        adv = adv.detach() + alpha * grad
        delta = adv - x0
        delta_norms = torch.norm(delta.view(n, -1), p=2, dim=1)
        factor = eps / delta_norms
        factor = torch.min(factor, torch.ones_like(delta_norms))
        delta = delta * factor.view(view)
        return torch.clamp(x0 + delta, min=0, max=1).detach()

    def linf_inplace(adv: Any, x0: Any, g: Any, alpha: float, eps: float) -> Any:
        adv.add_(g.sign(), alpha=alpha)
        torch.clamp(adv, x0 - eps, x0 + eps, out=adv)
        return adv.clamp_(0, 1)

    def l2_inplace(adv: Any, x0: Any, g: Any, alpha: float, eps: float) -> Any:
        n = len(adv)
        view = (-1,) + (1,) * (adv.dim() - 1)
        gn = torch.linalg.vector_norm(g.view(n, -1), dim=1).clamp_min_(1e-30)
        adv.addcmul_(g, (alpha / gn).view(view))
        adv.sub_(x0)
        dn = torch.linalg.vector_norm(adv.view(n, -1), dim=1)
        adv.mul_((eps / dn).clamp_(max=1.0).view(view)).add_(x0)
        return adv.clamp_(0, 1)

    return {"linf": (linf_eager, linf_inplace), "l2": (l2_eager, l2_inplace)}


def _with_policy(mode: str, kfn: Callable[..., Any], *args: Any) -> Any:
    from tradeoff.kernels import _threads

    _threads.policy(mode)
    try:
        return kfn(*args)
    finally:
        _threads.policy("auto")


# ----------------------------------------------------------------------------- thread pools
_CHILD = r"""
import os, sys, time
os.environ["NUMBA_THREADING_LAYER"] = sys.argv[1]
import numpy as np, torch
from numba import njit, prange
@njit(parallel=True)
def k(a, b, c):
    for i in prange(a.size):
        a[i] = a[i] + b[i] + c[i]
x, x0, g = torch.rand(128, 784), torch.rand(128, 784), torch.randn(128, 784)
a = np.random.rand(128 * 784).astype(np.float32); b = a.copy(); c = a.copy()
def l2(adv):
    gn = torch.norm(g.view(128, -1), p=2, dim=1) + 1e-10
    adv = adv + 0.1 * g / gn.view(-1, 1)
    d = adv - x0
    f = torch.min(0.5 / torch.norm(d, p=2, dim=1), torch.ones(128))
    return torch.clamp(x0 + d * f.view(-1, 1), 0, 1)
def block(between, reps=25):
    ts = []
    for _ in range(reps):
        between()
        t0 = time.perf_counter(); l2(x); ts.append(time.perf_counter() - t0)
    return ts
for _ in range(50):
    l2(x)
before = block(lambda: None, 200)
k(a, b, c)
alone, after = [], []
for _ in range(16):  # alternate, so that load from other processes hits both alike
    alone += block(lambda: None)
    after += block(lambda: k(a, b, c))
med = lambda v: sorted(v)[len(v) // 2] * 1e6
print(f"{med(before):.1f} {med(alone):.1f} {med(after):.1f}")
"""


_CHILD_NUMPY = r"""
import json, sys, time
import numba
import numpy as np
import tradeoff.kernels as K
from tradeoff.kernels import _cpu
shape, norm, reps, rounds = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
x = rng.random(shape, dtype=np.float32)
x0 = np.clip(x + rng.normal(0, 0.01, shape).astype(np.float32), 0, 1)
g = rng.standard_normal(shape, dtype=np.float32)
a, e = (2 / 255, 8 / 255) if norm == "linf" else (0.1, 0.5)
f = K.linf_step if norm == "linf" else K.l2_step
xs, ys, zs = (v.reshape(-1).copy() for v in (x, x0, g))
nt = numba.config.NUMBA_NUM_THREADS
rows = {
    "step": lambda: f(x, x0, g, a, e),
    "s1": lambda: _cpu.stream_s(xs, ys, zs),
    "sp": lambda: _cpu.stream_p(xs, ys, zs, nt),
}
ts = {k: [] for k in rows}
for fn in rows.values():
    for _ in range(3):
        fn()
for _ in range(rounds):
    for k, fn in rows.items():
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
        time.sleep(0.005)
assert "torch" not in sys.modules
print(json.dumps(ts))
"""


def _child_numpy_times(
    shape: tuple[int, ...], norm: str, reps: int, rounds: int
) -> dict[str, np.ndarray] | None:
    """The step on numpy arrays, and the stream kernels, timed in a child process that never
    imports torch (Numba's pool there runs on the system libgomp, not on torch's runtime);
    a dict of arrays ``step``, ``s1``, ``sp``, or None on failure."""
    arg = json.dumps([list(shape), norm, reps, rounds])
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD_NUMPY, arg], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        return None
    return {k: np.array(v) for k, v in json.loads(proc.stdout).items()}


def _burn_after(step: Callable[[], object], reps: int = 5) -> float:
    """Median process CPU time (ms) burnt during a 100 ms sleep right after ``step``: what
    thread-pool workers spin after it."""
    out = []
    for _ in range(reps):
        step()
        c0 = time.process_time()
        time.sleep(0.1)
        out.append((time.process_time() - c0) * 1e3)
    return float(np.median(out))


def _child_pool_effect(layer: str) -> str:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, layer], capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    if proc.returncode != 0:
        return "failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    before, alone, after = (float(v) for v in proc.stdout.split())
    return (
        f"{before:6.1f} µs before the pool started; then, alternating, {alone:6.1f} µs "
        f"alone vs {after:6.1f} µs right after each kernel ({after / alone:.2f}×)"
    )


# ----------------------------------------------------------------------------- main
def _fmt_row(
    name: str,
    t: np.ndarray,
    nbytes: float,
    stream: float,
    eager: float | None,
    stream1: float | None = None,
) -> str:
    med = float(np.median(t))
    q1, q3 = np.percentile(t, [25, 75])
    gbs = nbytes / med / 1e9
    pct = f"{100 * stream / med:5.0f} %" if stream else "     —"
    pct1 = f"{100 * stream1 / med:5.0f} %" if stream1 else "     —"
    ratio = f"{eager / med:6.2f}×" if eager else "      —"
    return (
        f"  {name:<34} {med * 1e6:11.1f} {q1 * 1e6:9.1f}–{q3 * 1e6:<9.1f} {gbs:7.1f} "
        f"{pct:>8} {pct1:>8} {ratio:>8}"
    )


def _header() -> str:
    return (
        f"  {'implementation':<34} {'median µs':>11} {'IQR µs':>19} {'GB/s':>7} "
        f"{'% stream':>8} {'% 1-thr':>8} {'vs torch':>8}"
    )


def _parse(argv: list[str]) -> tuple[argparse.Namespace, list[str], list[str]]:
    """The arguments, the sizes and the norms (exits with a usage error on bad input)."""
    ap = argparse.ArgumentParser(
        prog="tradeoff bench kernels",
        description="Fused PGD step kernels vs the stream limit, numpy, torch eager and "
        "torch.compile (medians over interleaved rounds).",
    )
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; 16M rows shortened")
    ap.add_argument("--sizes", default=",".join(SIZES), help=f"subset of {', '.join(SIZES)}")
    ap.add_argument("--norms", default="linf,l2", help="subset of linf,l2")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    ap.add_argument("--json", type=Path, help="also write the medians to this JSON file")
    ap.add_argument(
        "--no-threads",
        action="store_true",
        help="skip the thread-pool measurements (including the one under load)",
    )
    ap.add_argument(
        "--no-load",
        action="store_true",
        help="skip the step timed with the pool vs serially while busy processes load the cores",
    )
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads(N) for the torch rows (default: torch's own choice)",
    )
    args = ap.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    norms = [s.strip() for s in args.norms.split(",") if s.strip()]
    for s in sizes:
        if s not in SIZES:
            ap.error(f"--sizes: unknown size {s!r}; choose from {', '.join(SIZES)}")
    for s in norms:
        if s not in ("linf", "l2"):
            ap.error(f"--norms: unknown norm {s!r}; choose from linf, l2")
    if args.torch_threads is not None and args.torch_threads < 1:
        ap.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    return args, sizes, norms


def _machine(torch: Any, numba: Any) -> dict[str, Any]:
    """Print the CPU and the library versions; the machine entry of the JSON."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(
        f"machine: {cpu}, {os.cpu_count()} logical CPUs; numpy {np.__version__}, "
        f"numba {numba.__version__}"
        + (
            f", torch {torch.__version__} ({torch.get_num_threads()} threads)"
            if torch is not None
            else ", torch missing"
        )
    )
    return {"cpu": cpu, "cpus": os.cpu_count()}


@dataclass
class _Bench:
    """What every table of one run shares: the arguments, torch (or None) and its step
    functions, the random generator."""

    args: argparse.Namespace
    torch: Any
    fns: dict[str, tuple[StepFn, StepFn]]  # empty without torch
    rng: np.random.Generator


@dataclass
class _Data:
    """The float32 inputs of one size: ``x``, ``x0`` (and as uint8), ``g``."""

    shape: tuple[int, ...]
    x: np.ndarray
    x0: np.ndarray
    x0u8: np.ndarray
    g: np.ndarray

    @property
    def n_el(self) -> int:
        return math.prod(self.shape)


def _data(shape: tuple[int, ...], rng: np.random.Generator) -> _Data:
    x = rng.random(shape, dtype=np.float32)
    x0 = np.clip(x + rng.normal(0, 0.01, shape).astype(np.float32), 0, 1)
    x0u8 = (x0 * 255).round().astype(np.uint8)
    return _Data(shape, x, x0, x0u8, rng.standard_normal(shape, dtype=np.float32))


def _torch_rows(b: _Bench, norm: str, data: _Data, kfn: StepFn, alpha: float, eps: float) -> Rows:
    """Our step on torch tensors, torch eager (torchattacks and in place), torch.compile."""
    torch = b.torch
    tx, tx0, tg = (torch.from_numpy(a.copy()) for a in (data.x, data.x0, data.g))
    tx2 = tx.clone()
    eager, inplace = b.fns[norm]
    rows: Rows = {
        "tradeoff (torch tensors)": {
            "fn": lambda tx=tx, tx0=tx0, tg=tg, kfn=kfn, a=alpha, e=eps: kfn(tx, tx0, tg, a, e)
        },
        "torch eager (torchattacks)": {
            "fn": lambda tx0=tx0, tg=tg, f=eager, a=alpha, e=eps: f(tx0, tx0, tg, a, e),
            "pool": True,
        },
        "torch eager, in place": {
            "fn": lambda tx2=tx2, tx0=tx0, tg=tg, f=inplace, a=alpha, e=eps: f(tx2, tx0, tg, a, e),
            "pool": True,
        },
    }
    if b.args.no_compile:
        return rows
    try:
        t0 = time.perf_counter()
        cf = torch.compile(eager, dynamic=False)
        cf(tx0, tx0, tg, alpha, eps)
        ctime = time.perf_counter() - t0
        rows["torch.compile (torchattacks)"] = {
            "fn": lambda tx0=tx0, tg=tg, f=cf, a=alpha, e=eps: f(tx0, tx0, tg, a, e),
            "note": f"compiled in {ctime:.0f} s",
            "pool": True,
        }
    except Exception as exc:  # report, do not fail the benchmark
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
        rows["torch.compile (torchattacks)"] = {"unavailable": msg}
    return rows


def _par_min(norm: str) -> int:
    """The size from which the policy may run the step on the pool (see _threads)."""
    from tradeoff.kernels import _threads

    return _threads.PARALLEL_MIN_ELEMENTS_L2 if norm == "l2" else _threads.PARALLEL_MIN_ELEMENTS


def _rows(b: _Bench, norm: str, data: _Data, stream_rows: Rows) -> Rows:
    """Every row of one table: the stream kernels, numpy, ours, torch's."""
    import tradeoff.kernels as K

    x, x0, g = data.x, data.x0, data.g
    alpha, eps = (ALPHA, EPS) if norm == "linf" else (ALPHA_L2, EPS_L2)
    kfn = K.linf_step if norm == "linf" else K.l2_step
    rows: Rows = dict(stream_rows)
    rows["numpy"] = {"fn": _numpy_step(norm, x.copy(), x0, g, alpha, eps)}
    rows["tradeoff (numpy arrays)"] = {"fn": partial(kfn, x.copy(), x0, g, alpha, eps)}
    rows["tradeoff (x0 uint8)"] = {
        "fn": partial(kfn, x.copy(), data.x0u8, g, alpha, eps),
        "bytes": (3 * 4 + 1) * data.n_el,
    }
    if b.torch is not None:
        rows.update(_torch_rows(b, norm, data, kfn, alpha, eps))
    if b.torch is not None and data.n_el >= _par_min(norm):
        rows["tradeoff (numpy), serial policy"] = {
            "fn": partial(_with_policy, "serial", kfn, x.copy(), x0, g, alpha, eps),
        }
    return rows


def _print_table(
    title: str,
    rows: Rows,
    t: dict[str, np.ndarray],
    limits: dict[str, Any],
    nbytes: int,
    eager_t: float | None,
) -> dict[str, Any]:
    """Print one table (rows against the stream limit ``limits``); its JSON entry."""
    stream, s1, sp, nt = limits["stream_s"], limits["stream_1"], limits["stream_par"], limits["nt"]
    which = "1 thread" if s1 <= sp else f"{nt} threads"
    print(
        f"\n{title}: stream limit (read 3, write 1) {stream * 1e6:.1f} µs = "
        f"{nbytes / stream / 1e9:.1f} GB/s ({which}; 1 thread {s1 * 1e6:.1f} µs, "
        f"{nt} threads {sp * 1e6:.1f} µs)"
    )
    print(_header())
    table: dict[str, Any] = {"stream_s": stream, "stream_1": s1, "stream_par": sp, "rows": {}}
    for name, r in rows.items():
        if name in ("s1", "sp"):
            continue
        if "unavailable" in r:
            print(f"  {name:<34} unavailable: {r['unavailable']}")
            table["rows"][name] = {"unavailable": r["unavailable"]}
            continue
        b = r.get("bytes", nbytes)
        # % of the stream limit at the same byte count (uint8 x0 moves fewer bytes)
        line = _fmt_row(name, t[name], b, stream * b / nbytes, eager_t, s1 * b / nbytes)
        print(line + (f"  ({r['note']})" if "note" in r else ""))
        table["rows"][name] = {
            "median_s": float(np.median(t[name])),
            "q1_s": float(np.percentile(t[name], 25)),
            "q3_s": float(np.percentile(t[name], 75)),
            "bytes": b,
        }
    return table


class _Eta:
    """A progress line with an ETA on stderr after each unit of a long benchmark (stdout
    keeps only the tables)."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.n, self.t0 = what, max(total, 1), 0, time.perf_counter()

    def done(self, label: str) -> None:
        self.n += 1
        elapsed = time.perf_counter() - self.t0
        left = elapsed / self.n * (self.total - self.n)
        print(
            f"{self.what}: {self.n}/{self.total} ({label}) — {elapsed:.0f} s elapsed, "
            f"ETA {left:.0f} s",
            file=sys.stderr,
            flush=True,
        )


def _cpu_tables(b: _Bench, results: dict[str, Any], sizes: list[str], norms: list[str]) -> None:
    """One table per size and norm: every row timed, interleaved, against the stream limit."""
    import numba

    from tradeoff.kernels import _cpu

    reps_small, rounds = (20, 5) if b.args.quick else (30, 15)
    nt = numba.config.NUMBA_NUM_THREADS
    eta = _Eta("bench kernels", len(sizes) * len(norms))
    for size in sizes:
        data = _data(SIZES[size], b.rng)
        n_el = data.n_el
        big = n_el > 4_000_000
        reps = 1 if big else reps_small
        rnds = (4 if b.args.quick else 15) if big else rounds
        nbytes = 4 * 4 * n_el
        xs, ys, zs = (a.reshape(-1) for a in (data.x.copy(), data.x0.copy(), data.g.copy()))
        stream_rows: Rows = {
            "s1": {"fn": partial(_cpu.stream_s, xs, ys, zs)},
            "sp": {"fn": partial(_cpu.stream_p, xs, ys, zs, nt), "pool": True},
        }
        for norm in norms:
            rows = _rows(b, norm, data, stream_rows)
            t = _interleaved({k: v for k, v in rows.items() if "unavailable" not in v}, reps, rnds)
            s1, sp = float(np.median(t.pop("s1"))), float(np.median(t.pop("sp")))
            if b.torch is not None and not b.args.no_threads:
                # the numpy path as a torch-free program sees it
                tc = _child_numpy_times(data.shape, norm, reps * 2 if big else reps, rnds)
                name = "tradeoff (numpy, no torch loaded)"
                if tc is None:
                    rows[name] = {"unavailable": "child process failed"}
                else:
                    pol = "pool" if n_el >= _par_min(norm) else "serial"
                    rows[name] = {"note": f"child process, {pol}", "pool": True}
                    t[name] = tc["step"]
                    # the stream limit is the best seen in either process
                    s1 = min(s1, float(np.median(tc["s1"])))
                    sp = min(sp, float(np.median(tc["sp"])))
            limits = {"stream_s": min(s1, sp), "stream_1": s1, "stream_par": sp, "nt": nt}
            eager_t = float(np.median(t["torch eager (torchattacks)"])) if b.torch else None
            title = f"{norm} step, {size} = {'×'.join(map(str, data.shape))} float32"
            table = _print_table(title, rows, t, limits, nbytes, eager_t)
            results["tables"][f"{norm} {size}"] = table
            eta.done(title)


def _alternate(
    probe: Callable[[], object], step: Callable[[], object], blocks: int, reps: int
) -> tuple[float, float]:
    """Median torch time alone and right after ``step``, in alternating blocks."""
    alone, right_after = [], []
    for _ in range(blocks):
        alone.append(_times(probe, reps))
        for _ in range(reps):
            step()
            t0 = time.perf_counter()
            probe()
            right_after.append(time.perf_counter() - t0)
    return float(np.median(np.concatenate(alone))), float(np.median(right_after))


def _thread_effects(
    b: _Bench, results: dict[str, Any], probe: Callable[[], object], before: float
) -> None:
    """What the thread-pool policy costs torch: torch eager before and after our kernels,
    alone vs right after our steps, CPU burnt by spinning workers, and child processes
    with the ``omp`` and ``workqueue`` layers."""
    import tradeoff.kernels as K
    from tradeoff.kernels import _threads

    rng = b.rng
    after = float(np.median(_times(probe, 400)))
    # a PGD loop alternates the step with torch's forward/backward: time torch right
    # after one of our steps, small (serial) and 16M (parallel pool)
    sx, sx0, sg = (rng.random((128, 784), dtype=np.float32) for _ in range(3))
    bx, bx0, bg = (rng.random((128, 131072), dtype=np.float32) for _ in range(3))
    small = partial(K.l2_step, sx, sx0, sg, ALPHA_L2, EPS_L2)
    large = partial(K.l2_step, bx, bx0, bg, ALPHA_L2, EPS_L2)
    nb = 4 if b.args.quick else 10
    a_small, after_small = _alternate(probe, small, nb, 25)
    a_large, after_large = _alternate(probe, large, nb, 4)
    a_serial, after_serial = _alternate(probe, partial(_with_policy, "serial", large), nb, 4)
    pool = "pool" if _threads.parallel_ok(16 * 2**20, l2=True) else "serial"
    print(
        f"  torch eager l2 step 128×784 (torchattacks), this process: {before * 1e6:.1f} µs "
        f"before any of our kernels ran, {after * 1e6:.1f} µs after all of them.\n"
        f"  Alternating blocks, torch alone vs right after each of our l2 steps:\n"
        f"    128×784, the policy ({pool})        {a_small * 1e6:8.1f} vs "
        f"{after_small * 1e6:8.1f} µs ({after_small / a_small:.2f}×)\n"
        f"    16M, the policy ({pool})            {a_large * 1e6:8.1f} vs "
        f"{after_large * 1e6:8.1f} µs ({after_large / a_large:.2f}×)\n"
        f"    16M, policy('serial')            {a_serial * 1e6:8.1f} vs "
        f"{after_serial * 1e6:8.1f} µs ({after_serial / a_serial:.2f}×)"
    )
    results["threads"].update(
        torch_l2_before_s=before,
        torch_l2_after_s=after,
        alone_vs_after_small_step_s=[a_small, after_small],
        alone_vs_after_16M_step_s=[a_large, after_large],
        alone_vs_after_16M_serial_step_s=[a_serial, after_serial],
    )
    # Who spins after whom: process CPU time burnt while the main thread sleeps right
    # after a torch op and right after one of our pool steps. On one shared OpenMP
    # runtime the same workers spin down the same way after both.
    burn_torch = _burn_after(lambda: probe())
    burn_ours = _burn_after(large)
    print(
        f"  CPU ms burnt in the 100 ms after a torch op: {burn_torch:.1f}; after our 16M "
        f"step ({pool}): {burn_ours:.1f} (idle process: < 0.2)"
    )
    results["threads"].update(burn_after_torch_ms=burn_torch, burn_after_ours_ms=burn_ours)
    for layer in ("omp", "workqueue"):
        eff = _child_pool_effect(layer)
        print(
            f"  child process, torch first, then a raw Numba parallel 128×784 kernel, "
            f"layer {layer:<9}: torch eager l2 {eff}"
        )
        results["threads"][f"child_{layer}"] = eff


_SPIN = "while True: pass"


def under_load(
    results: dict[str, Any], n_busy: int | None = None, reps: int = 20, rounds: int = 6
) -> dict[str, Any]:
    """Rule 4 of the thread-pool policy, shown: the l∞ step at 128×784 and 128×3×32×32 on
    numpy arrays timed with ``policy("parallel")`` (Numba's pool whatever the load),
    ``policy("serial")`` and the policy (``"auto"``), interleaved, while ``n_busy`` busy
    processes (default 2 × cores + 2) load the cores; medians, IQR and ratios to serial."""
    import tradeoff.kernels as K
    from tradeoff.kernels import _threads

    n_busy = 2 * _threads.cores() + 2 if n_busy is None else n_busy
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"busy_processes": n_busy, "rows": {}}
    spin = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(n_busy)]
    try:
        deadline = time.monotonic() + 30  # let the load show in /proc/loadavg
        while n_busy and _threads.busy(refresh=True) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        out["policy_says"] = _threads.busy(refresh=True) or "pool allowed"
        out["loadavg"] = os.getloadavg() if hasattr(os, "getloadavg") else None
        for size in ("128x784", "128x3x32x32"):
            shape = SIZES[size]
            x0 = rng.random(shape, dtype=np.float32)
            x = np.clip(x0 + rng.normal(0, 0.01, shape).astype(np.float32), 0, 1)
            g = rng.standard_normal(shape, dtype=np.float32)
            rows: Rows = {
                mode: {
                    "fn": partial(_with_policy, mode, K.linf_step, x.copy(), x0, g, ALPHA, EPS),
                    "pool": mode != "serial",
                }
                for mode in ("parallel", "serial", "auto")
            }
            t = _interleaved(rows, reps, rounds)
            med = {k: float(np.median(v)) for k, v in t.items()}
            out["rows"][size] = {
                k: {
                    "median_s": med[k],
                    "q1_s": float(np.percentile(t[k], 25)),
                    "q3_s": float(np.percentile(t[k], 75)),
                    "vs_serial": med[k] / med["serial"],
                }
                for k in t
            }
    finally:
        for p in spin:
            p.kill()
            p.wait()
    results["threads"]["under_load"] = out
    la = out["loadavg"]
    load = f"load average {la[0]:.1f}" if la else "load average unknown"
    print(
        f"\nunder load: l∞ step on numpy arrays while {n_busy} busy processes run ({load}); "
        f"the policy says: {out['policy_says']}"
    )
    print(f"  {'size, policy':<34} {'median µs':>11} {'IQR µs':>19} {'vs serial':>10}")
    for size, rows_out in out["rows"].items():
        for k, r in rows_out.items():
            label = {"parallel": "pool (forced)", "serial": "serial", "auto": "policy 'auto'"}[k]
            print(
                f"  {size + ', ' + label:<34} {r['median_s'] * 1e6:11.1f} "
                f"{r['q1_s'] * 1e6:9.1f}–{r['q3_s'] * 1e6:<9.1f} {r['vs_serial']:9.2f}×"
            )
    return out


def main(argv: list[str]) -> int:
    """Entry point of ``tradeoff bench kernels``; returns the exit status."""
    args, sizes, norms = _parse(argv)
    try:
        import torch
    except ModuleNotFoundError:
        torch = None  # type: ignore[assignment]  # the rows that need torch are left out
    if torch is not None and args.torch_threads is not None:
        torch.set_num_threads(args.torch_threads)
    import numba

    from tradeoff.kernels import _threads

    _threads.start_pool()  # as the policy starts it (see _threads), before stream_p runs
    rng = np.random.default_rng(0)
    b = _Bench(args, torch, _torch_fns(torch) if torch is not None else {}, rng)
    results: dict[str, Any] = {"machine": _machine(torch, numba), "tables": {}, "threads": {}}

    # torch eager before any of our kernels (or any Numba parallel code) ran
    probe = None
    if torch is not None:
        px, px0, pg = (torch.rand(128, 784) for _ in range(3))

        def probe() -> Any:
            return b.fns["l2"][0](px, px0, pg, ALPHA_L2, EPS_L2)

        _times(probe, 50)  # warm-up
        before = float(np.median(_times(probe, 400)))

    _cpu_tables(b, results, sizes, norms)
    _gpu_tables(results, sizes, norms, args.quick)

    print("\nthread pools: " + _threads.describe())
    if probe is not None and not args.no_threads:
        _thread_effects(b, results, probe, before)
    if not args.no_threads and not args.no_load:
        under_load(results, reps=10 if args.quick else 20, rounds=4 if args.quick else 8)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")
    return 0


def _gpu_tables(results: dict[str, Any], sizes: list[str], norms: list[str], quick: bool) -> None:
    """CuPy and Numba CUDA rows against a device-to-device copy, when a GPU is present."""
    import tradeoff.kernels as K

    avail = K.available_backends()
    if "cupy" not in avail:
        print("\nGPU: no CuPy device available; GPU rows skipped")
        return
    import cupy

    from tradeoff.kernels import _cupy

    dev = cupy.cuda.Device()
    name = cupy.cuda.runtime.getDeviceProperties(dev.id)["name"].decode()
    print(f"\nGPU: {name}")
    reps = 20 if quick else 100
    for size in sizes:
        shape = SIZES[size]
        n_el = math.prod(shape)
        x = cupy.random.random(shape, dtype=cupy.float32)
        x0 = cupy.clip(x + 0.01 * cupy.random.standard_normal(shape, dtype=cupy.float32), 0, 1)
        g = cupy.random.standard_normal(shape, dtype=cupy.float32)
        y = cupy.empty_like(x)
        nbytes = 16 * n_el

        def timed(fn: Callable[[], object]) -> np.ndarray:
            for _ in range(3):
                fn()
            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            ts = []
            for _ in range(reps):
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                ts.append(cupy.cuda.get_elapsed_time(start, stop) * 1e-3)
            return np.array(ts)

        copy_t = timed(partial(cupy.copyto, y, x))
        copy_bw = 8 * n_el / float(np.median(copy_t))
        k = _cupy.kernel("stream3", np.float32, None, dev.id)
        blocks = min((n_el + 255) // 256, 65535 * 8)
        stream3 = timed(partial(k, (blocks,), (256,), (x, x0, g, np.int64(n_el))))
        for norm in norms:
            kfn = K.linf_step if norm == "linf" else K.l2_step
            a, e = (ALPHA, EPS) if norm == "linf" else (ALPHA_L2, EPS_L2)
            print(
                f"\n  {norm} step, {size}: device copy {copy_bw / 1e9:.0f} GB/s; "
                f"stream3 kernel {nbytes / float(np.median(stream3)) / 1e9:.0f} GB/s"
            )
            print(_header().replace("vs torch", "        "))
            for backend in ("cupy", "numba-cuda"):
                if backend not in avail:
                    continue
                t = timed(partial(kfn, x, x0, g, a, e, backend=backend))
                med = float(np.median(t))
                print(
                    _fmt_row(backend, t, nbytes, nbytes / copy_bw, None)
                    + f"   ({100 * nbytes / med / copy_bw:.0f} % of copy bandwidth)"
                )
                results["tables"][f"gpu {backend} {norm} {size}"] = {"median_s": med}
