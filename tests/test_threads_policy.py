"""Rule 4 of the thread-pool policy (tradeoff/kernels/_threads.py): no pool on a machine
whose cores are taken. Child processes oversubscribe the cores (CPU affinity narrower
than the pool, busy processes, ``OMP_NUM_THREADS=1`` as joblib sets it in workers) and
assert that the policy picks serial. Nothing here asserts a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tradeoff.kernels as K
from tradeoff.kernels import _threads

BIG = 1 << 20  # above both size thresholds


def _child(code: str, env: dict[str, str] | None = None, timeout: float = 240) -> dict:
    full = {k: v for k, v in os.environ.items() if k != _threads.IGNORE_LOAD_ENV}
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=full
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


_CHECK = r"""
import json, numpy as np
import tradeoff.kernels as K
from tradeoff.kernels import _threads as T
from tradeoff.kernels import reference as R
rng = np.random.default_rng(0)
x0 = rng.random((64, 16384), dtype=np.float32)
x = np.clip(x0 + rng.normal(0, 0.01, x0.shape).astype(np.float32), 0, 1)
g = rng.standard_normal(x0.shape, dtype=np.float32)
want = R.linf_step(x.copy(), x0, g, 2 / 255, 8 / 255) if hasattr(R, "linf_step") else None
got = K.linf_step(x.copy(), x0, g, 2 / 255, 8 / 255)
ok = want is None or bool(np.allclose(got, want, atol=1e-6))
out = {"busy": T.busy(refresh=True), "ok_auto": T.parallel_ok(1 << 20),
       "chunks": T.chunks(1 << 20), "step_ok": ok}
T.policy("parallel")
out["ok_parallel"] = T.parallel_ok(1 << 20)
print(json.dumps(out))
"""


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_affinity_narrower_than_the_pool_runs_serially() -> None:
    cpu = min(os.sched_getaffinity(0))
    code = f"import os; os.sched_setaffinity(0, {{{cpu}}})\n" + _CHECK
    out = _child(code, {"NUMBA_NUM_THREADS": "2"})
    assert out["busy"] is not None and "cores" in out["busy"]
    assert out["ok_auto"] is False and out["chunks"] == 0
    assert out["ok_parallel"] is True  # policy("parallel") still forces the pool
    assert out["step_ok"]


def test_omp_num_threads_1_runs_serially() -> None:
    out = _child(_CHECK, {"OMP_NUM_THREADS": "1"})
    assert out["chunks"] == 0
    assert out["step_ok"]


_LOADED = r"""
import json, os, subprocess, sys, time
from tradeoff.kernels import _threads as T
n = 2 * T.cores() + 2
spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
try:
    seen = None
    deadline = time.monotonic() + 60  # a wait for a condition, not a timing
    while seen is None and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = T.busy(refresh=True)
    exec(compile(open(sys.argv[1]).read(), "check", "exec"))
finally:
    for p in spin:
        p.kill()
        p.wait()
"""


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs /proc/loadavg (Linux)")
def test_busy_processes_oversubscribing_the_cores_make_it_serial(tmp_path) -> None:
    check = tmp_path / "check.py"
    check.write_text(_CHECK)
    env = {k: v for k, v in os.environ.items() if k != _threads.IGNORE_LOAD_ENV}
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED, str(check)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["busy"] is not None and "load" in out["busy"]
    assert out["ok_auto"] is False and out["chunks"] == 0
    assert out["ok_parallel"] is True
    assert out["step_ok"]


def test_rule_4_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the load faked: busy → serial under 'auto', the pool under 'parallel'; idle →
    rule 4 does not object; the answer is cached between checks."""
    monkeypatch.delenv(_threads.IGNORE_LOAD_ENV, raising=False)
    monkeypatch.setattr(_threads, "_pool_threads", lambda: 2)
    monkeypatch.setattr(_threads, "cores", lambda: 2)
    monkeypatch.setattr(_threads, "_others_load", lambda: 5.0)
    assert "load" in (_threads.busy(refresh=True) or "")
    assert not _threads.parallel_ok(BIG)
    monkeypatch.setattr(_threads, "_others_load", lambda: 0.2)
    assert _threads.busy() is not None  # cached until LOAD_CHECK_INTERVAL has passed
    assert _threads.busy(refresh=True) is None
    monkeypatch.setattr(_threads, "_others_load", lambda: None)  # no /proc
    assert _threads.busy(refresh=True) is None
    monkeypatch.setattr(_threads, "cores", lambda: 1)
    assert "cores" in (_threads.busy(refresh=True) or "")
    old = _threads.policy()
    try:
        _threads.policy("parallel")
        assert _threads.parallel_ok(BIG)
    finally:
        _threads.policy(old)
        monkeypatch.undo()
        _threads.busy(refresh=True)


def test_steps_agree_whatever_rule_4_says(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    x0 = rng.random((64, 16384), dtype=np.float32)
    x = np.clip(x0 + rng.normal(0, 0.01, x0.shape).astype(np.float32), 0, 1)
    g = rng.standard_normal(x0.shape, dtype=np.float32)
    monkeypatch.delenv(_threads.IGNORE_LOAD_ENV, raising=False)
    outs = []
    for load in (0.0, 9.0):
        monkeypatch.setattr(_threads, "_others_load", lambda v=load: v)
        _threads.busy(refresh=True)
        outs.append(K.linf_step(x.copy(), x0, g, 2 / 255, 8 / 255))
        outs.append(K.l2_step(x.copy(), x0, g, 0.1, 0.5))
    monkeypatch.undo()
    _threads.busy(refresh=True)
    assert outs  # both loads ran
    np.testing.assert_array_equal(outs[0], outs[2])
    np.testing.assert_allclose(outs[1], outs[3], rtol=1e-6, atol=1e-7)


def test_bench_kernels_under_load_section(capsys: pytest.CaptureFixture[str]) -> None:
    from tradeoff.kernels.benchmark import under_load

    results: dict = {"threads": {}}
    out = under_load(results, n_busy=1, reps=1, rounds=1)
    text = capsys.readouterr().out
    assert "under load" in text and "vs serial" in text and "policy 'auto'" in text
    assert set(out["rows"]) == {"128x784", "128x3x32x32"}
    for rows in out["rows"].values():
        assert set(rows) == {"parallel", "serial", "auto"}
        assert rows["serial"]["vs_serial"] == 1.0
    assert results["threads"]["under_load"] is out
