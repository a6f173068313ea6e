"""Thread-pool policy for the Numba CPU kernels.

The problem: on a 2-core machine two thread pools that busy-wait after their parallel
regions slow each other down; a torch eager step was measured going from 114 µs to
872 µs once Numba's pool had run in the same process.

What the pools are: Numba's ``omp`` layer calls GNU OpenMP's ``GOMP_parallel``, and the
dynamic linker binds it to the first definition in the process's global symbol scope.
The torch CPU wheel loads its own ``libgomp.so.1`` there (``RTLD_GLOBAL``), so with torch
imported first Numba's parallel regions run on torch's OpenMP runtime and its workers
(seen with ``LD_DEBUG=bindings``: omppool's ``GOMP_parallel`` → ``torch/lib/libgomp.so.1``).
With Numba's pool started first, torch binds to the ``libgomp.so.1`` already loaded (same
soname). Either way: one runtime, one set of workers, nothing to fight over. Only where
no OpenMP runtime is in the global scope when Numba's pool starts beside torch (another
torch build, another platform) would Numba load a second runtime of its own.

The policy (``"auto"``):

1. Numba's threading layer is set to ``"omp"`` before Numba's pool first starts, unless
   the user chose one (``NUMBA_THREADING_LAYER``) or other code already started a pool.
   If it cannot load here, Numba's own choice is used. With one thread, every kernel
   runs serially; so does a process forked after its parent's pool started (GNU OpenMP
   is not fork-safe: Numba would terminate it at the first parallel region).
2. Beside torch the pool is used when it shares torch's runtime (above). Where it would
   be a second runtime it is started *passive* (``OMP_WAIT_POLICY=PASSIVE`` while that
   runtime loads and reads it, restored right after, so torch's runtime is unaffected):
   its workers sleep as soon as a step ends and none is left spinning against torch's.
   A user who set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` keeps theirs, and then, as
   with another threading layer (``workqueue``'s workers keep spinning), a second pool
   beside torch is not used.
3. Steps of at least :data:`PARALLEL_MIN_ELEMENTS` (l∞ and the l∞ projection) or
   :data:`PARALLEL_MIN_ELEMENTS_L2` (l2: ~2.5× the arithmetic per byte, so waking the
   pool pays off earlier) run on Numba's pool when the pool cannot fight torch's: torch
   is not loaded, or rule 2 allows it. Otherwise, and below the thresholds, every kernel
   runs serially in the calling thread. The thresholds were set on the 2-core benchmark
   machine, float32, serial vs 2 threads through the compiled entries (µs, two runs):
   l∞ 12.5k 4.5/3.7 vs 6.9/5.7, 25k 7.1/7.9 vs 10.8/7.1, 50k 16.1/16.0 vs 10.3/12.8,
   100k 28.1/31.0 vs 21.0/26.5; l2 12.5k 8.1/8.8 vs 7.0/6.8, 25k 14.6/13.9 vs 12.0/12.8,
   100k 48.7/56.4 vs 25.8/32.0.

4. Never on a machine that has no free cores for it (``"auto"`` only; :func:`busy`
   says why). Measured on the 2-core benchmark machine under load ≈ 13: l∞ 128×784
   steps on the pool took whole rounds ~1000× longer than serially (24 764 µs vs
   18–20 µs). A parallel region ends at a barrier that waits for its slowest thread; with
   more runnable threads than cores, one of the pool's threads is often descheduled and
   the region waits for it to get a time slice again (milliseconds), while the threads
   that arrived first spin (GNU OpenMP's ``GOMP_SPINCOUNT``) on the cores the others
   need. A serial step never waits on another thread. So the pool is used only when
   ``threads`` ≤ the cores this process may run on (``os.sched_getaffinity``) and the
   runnable threads of *other* processes leave ``threads`` cores free:
   ``others + threads ≤ cores + 0.5``, ``others`` being the larger of the 1-minute load
   average less this process's own CPU use (CPU seconds per second since the last
   check) and the runnable threads now (``/proc/loadavg``) less this process's own
   running threads (``/proc/self/task``). ``threads`` is Numba's thread count, capped by
   ``OMP_NUM_THREADS`` where set (joblib/loky set it in their workers to
   cores ÷ workers: a worker told 1 thread runs serially). The check reads /proc
   (~0.1 ms) at most every :data:`LOAD_CHECK_INTERVAL` seconds; between checks the
   answer is reused. Where /proc is missing (not Linux) only the thread and core counts
   are checked; ``TRADEOFF_KERNELS_IGNORE_LOAD=1`` skips the load part (a machine
   known to be this process's alone; the tests that assert the pool). Serial is the
   safe side: a pool step is at best ~2× faster on 2 cores, an oversubscribed one was
   1000× slower.

``policy("serial")`` forces rule 3's serial branch everywhere (the benchmark times it
beside the policy); ``policy("parallel")`` uses the pool above the thresholds whatever
else is loaded. :func:`describe` reports the choice; ``tradeoff bench kernels`` prints it
with its measured effect on torch.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from typing import Any

import numba

__all__ = [
    "IGNORE_LOAD_ENV",
    "LOAD_CHECK_INTERVAL",
    "PARALLEL_MIN_ELEMENTS",
    "PARALLEL_MIN_ELEMENTS_L2",
    "busy",
    "choose_layer",
    "chunks",
    "cores",
    "describe",
    "global_openmp",
    "parallel_ok",
    "policy",
    "start_pool",
    "use_pool",
]

#: Below this many elements an l∞ step or projection runs serially (no pool is woken).
PARALLEL_MIN_ELEMENTS = 1 << 16
#: The same for the l2 step and projection (more arithmetic per byte).
PARALLEL_MIN_ELEMENTS_L2 = 1 << 14

#: Seconds between two reads of the machine's load (rule 4); in between the answer is reused.
LOAD_CHECK_INTERVAL = 0.5
#: Slack of rule 4: the pool is used while others' runnable threads + ours ≤ cores + this.
LOAD_SLACK = 0.5

#: Set (not "0") to skip the load part of rule 4 (threads vs cores is still checked):
#: for a machine known to be this process's alone, and for tests that assert the pool.
IGNORE_LOAD_ENV = "TRADEOFF_KERNELS_IGNORE_LOAD"

_LAYER = "omp"
# rule 4's cache: when it last looked, its answer, and the process CPU time then
_load: dict[str, Any] = {"t": -1.0e9, "answer": None, "cpu": 0.0, "wall": 0.0}
_WAIT_VARS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
_mode = {"mode": "auto"}
# pool: started by us or found started; bound_global: when it started, an OpenMP runtime
# was in the global symbol scope (Numba's regions run on it); passive: started as a second
# runtime with sleeping workers; forked: this is a child forked after the pool started;
# shared: _shares_torch_runtime's answer once the pool has started beside torch.
_state: dict[str, Any] = {
    "configured": False,
    "pool": False,
    "bound_global": False,
    "passive": False,
    "forked": False,
    "shared": None,
}


def _after_fork_in_child() -> None:
    # GNU OpenMP is not fork-safe: in a child forked after the parent's pool started,
    # Numba terminates the process at the first parallel region ("Terminating: fork()
    # called from a process already using GNU OpenMP"). Such a child runs serially.
    if _pool_started():
        _state["forked"] = True


def policy(mode: str | None = None) -> str:
    """Get or set the policy: ``"auto"`` (above), ``"serial"`` or ``"parallel"``."""
    if mode is not None:
        if mode not in ("auto", "serial", "parallel"):
            raise ValueError(f"mode must be one of 'auto', 'serial', 'parallel'; got {mode!r}")
        _mode["mode"] = mode
    return _mode["mode"]


def choose_layer() -> None:
    """Select the OpenMP threading layer unless something already chose one."""
    if _state["configured"]:
        return
    _state["configured"] = True
    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    if not _pool_started():
        numba.config.THREADING_LAYER = _LAYER


def _pool_started() -> bool:
    try:
        numba.threading_layer()  # raises ValueError while no parallel code has run
    except ValueError:
        return False
    return True


def _openmp_runtimes() -> set[str]:
    """Files of the OpenMP runtimes mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "omp" in line}
    except OSError:
        return set()
    names = ("libgomp", "libiomp", "libomp")
    return {p for p in paths if os.path.basename(p).startswith(names)}


def global_openmp() -> str | None:
    """The file defining ``GOMP_parallel`` in the global symbol scope, where Numba's omp
    layer binds it first; None when there is none (or the file cannot be found: Linux
    only, through /proc/self/maps)."""
    try:
        fn = ctypes.CDLL(None).GOMP_parallel
    except (AttributeError, OSError):
        return None
    addr = ctypes.cast(fn, ctypes.c_void_p).value or 0
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                parts = line.split()
                lo, hi = (int(v, 16) for v in parts[0].split("-"))
                if lo <= addr < hi and len(parts) > 5:
                    return parts[-1]
    except (OSError, ValueError):  # no /proc (not Linux) or an unreadable line
        return None
    return None


def _shares_torch_runtime() -> bool:
    """Whether Numba's omp pool (started, or about to start) runs on torch's OpenMP runtime.
    Once the pool has started (and torch is loaded: the only callers' case) the answer
    cannot change, so it is computed once: it reads /proc/self/maps, ~1.7 ms."""
    if not _state["pool"]:
        return global_openmp() is not None  # it will bind there
    if _state["shared"] is None:
        _state["shared"] = numba.threading_layer() == "omp" and (
            _state["bound_global"] or len(_openmp_runtimes()) == 1
        )
    return bool(_state["shared"])


def _torch_safe() -> bool:
    """With torch loaded: whether Numba's pool, started or about to be, cannot spin
    against torch's (rule 2)."""
    if not _state["pool"]:
        choose_layer()
        if _pool_started():  # started by other code: judge it as it is
            _state["pool"] = True
        elif numba.config.THREADING_LAYER != "omp":
            return False
        else:  # it will share torch's runtime, or start passive, unless the user said
            return _shares_torch_runtime() or _user_wait_policy() is None
    return _state["passive"] or _shares_torch_runtime()


def _user_wait_policy() -> str | None:
    for var in _WAIT_VARS:
        if os.environ.get(var):
            return f"{var}={os.environ[var]}"
    return None


def start_pool() -> None:
    """Start Numba's pool as rule 2 says: on the global OpenMP runtime when there is one,
    else, beside torch and with no wait policy of the user's, as a passive runtime."""
    _state["pool"] = True
    choose_layer()
    if _pool_started():
        return
    from numba.np.ufunc.parallel import _launch_threads

    _state["bound_global"] = global_openmp() is not None
    passive = "torch" in sys.modules and not _state["bound_global"] and _user_wait_policy() is None
    if passive:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        _launch_threads()
    except ValueError:  # the layer chosen by choose_layer cannot load here: Numba's choice
        if os.environ.get("NUMBA_THREADING_LAYER"):
            raise  # the user's layer: their error to see
        numba.config.THREADING_LAYER = "default"
        _launch_threads()
    finally:
        if passive:
            del os.environ["OMP_WAIT_POLICY"]
    _state["passive"] = passive and numba.threading_layer() == "omp"


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return os.cpu_count() or 1


def _pool_threads() -> int:
    """The threads a pool step would use: Numba's count, capped by ``OMP_NUM_THREADS``."""
    n = int(numba.config.NUMBA_NUM_THREADS)
    if _pool_started():  # numba.get_num_threads() would start the pool
        n = min(n, int(numba.get_num_threads()))
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        n = min(n, int(omp))
    return n


def _own_running() -> int:
    """This process's threads in state R (running or runnable), from /proc/self/task."""
    n = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # the thread ended meanwhile
            continue
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":
            n += 1
    return max(n, 1)


def _others_load() -> float | None:
    """Runnable threads of other processes (rule 4), or None where /proc/loadavg is missing."""
    try:
        with open("/proc/loadavg") as fh:
            fields = fh.read().split()
    except OSError:
        return None
    load1 = float(fields[0])
    running_now = int(fields[3].split("/")[0])
    wall, cpu = time.monotonic(), time.process_time()
    if _load["wall"]:
        own_rate = (cpu - _load["cpu"]) / max(wall - _load["wall"], 1e-3)
    else:  # first look: the average since the process started
        try:
            up = time.monotonic() - _process_start()
            own_rate = cpu / up if up > 0 else 0.0
        except OSError:
            own_rate = 0.0
    _load["wall"], _load["cpu"] = wall, cpu
    return float(max(load1 - own_rate, float(running_now - _own_running()), 0.0))


def _process_start() -> float:
    """This process's start on the ``time.monotonic`` clock (Linux; OSError elsewhere)."""
    with open("/proc/self/stat", "rb") as fh:
        stat = fh.read()
    start_ticks = int(stat[stat.rfind(b")") + 2 :].split()[19])
    with open("/proc/uptime") as fh:
        uptime = float(fh.read().split()[0])
    return time.monotonic() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))


def busy(refresh: bool = False) -> str | None:
    """Rule 4: why the pool must not be used now (the machine has no free cores for its
    threads), or None when it may. Looks at most every :data:`LOAD_CHECK_INTERVAL` s
    unless ``refresh``."""
    now = time.monotonic()
    ignore_load = os.environ.get(IGNORE_LOAD_ENV, "") not in ("", "0")
    if ignore_load:
        threads, ncores = _pool_threads(), cores()
        return (
            f"{threads} threads > {ncores} cores this process may use" if threads > ncores else None
        )
    if not refresh and now - _load["t"] < LOAD_CHECK_INTERVAL:
        cached: str | None = _load["answer"]
        return cached
    _load["t"] = now
    threads, ncores = _pool_threads(), cores()
    answer: str | None = None
    if threads > ncores:
        answer = f"{threads} threads > {ncores} cores this process may use"
    else:
        others = _others_load()
        if others is not None and others + threads > ncores + LOAD_SLACK:
            answer = (
                f"load: ~{others:.1f} runnable threads of other processes + {threads} "
                f"threads > {ncores} cores"
            )
    _load["answer"] = answer
    return answer


def parallel_ok(n_elements: int, l2: bool = False) -> bool:
    """Whether a kernel over ``n_elements`` (an l2 kernel if ``l2``) may use Numba's pool."""
    mode = _mode["mode"]
    if mode == "serial" or n_elements < (PARALLEL_MIN_ELEMENTS_L2 if l2 else PARALLEL_MIN_ELEMENTS):
        return False
    if _state["forked"]:
        return False
    if mode == "auto" and busy() is not None:
        return False
    return mode == "parallel" or "torch" not in sys.modules or _torch_safe()


def use_pool(n_elements: int, l2: bool = False) -> bool:
    """:func:`parallel_ok`, and if so make sure the pool is started as rule 2 says."""
    if not parallel_ok(n_elements, l2):
        return False
    if not _state["pool"]:
        start_pool()
    return True


def describe() -> str:
    """One line saying which threading layer, wait policy and thresholds are in use."""
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = f"not started yet (will be {numba.config.THREADING_LAYER!r})"
    if _state["passive"]:
        wait = "a second OpenMP runtime, passive"
    elif _state["pool"] and layer == "omp" and _state["bound_global"]:
        wait = f"the global OpenMP runtime {global_openmp()}"
    elif _user_wait_policy():
        wait = f"its own, with the user's {_user_wait_policy()}"
    else:
        wait = "its own"
    torch_rule = (
        "not applicable (torch not loaded)"
        if "torch" not in sys.modules
        else ("pool (it cannot spin against torch's)" if _torch_safe() else "serial")
    )
    why = busy()
    load = f"serial now ({why})" if why else "cores free, pool allowed"
    return (
        f"policy {_mode['mode']!r}: Numba's pool from {PARALLEL_MIN_ELEMENTS} (l∞) / "
        f"{PARALLEL_MIN_ELEMENTS_L2} (l2) elements, {numba.config.NUMBA_NUM_THREADS} threads; "
        f"threading layer {layer}; pool runtime: {wait}; with torch loaded: {torch_rule}; "
        f"machine load (rule 4, 'auto' only): {load}"
    )


def chunks(n_elements: int, l2: bool = False) -> int:
    """0 when a kernel over ``n_elements`` runs serially, else the number of threads of
    Numba's pool (started as rule 2 says): what the compiled entries take."""
    if n_elements < PARALLEL_MIN_ELEMENTS_L2 or not use_pool(n_elements, l2):
        return 0
    n = _pool_threads()
    return n if n > 1 else 0  # one thread: the serial kernel, no pool round trip


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)
