"""The disk cache of compiled code (tradeoff._jit_cache): no compiled entry may ever run
another entry's machine code, and no version of the package another version's.

Until this cache existed, an l2 step in a process that loaded the l∞ entry from a cache
written by one process and the l2 entry from one written by another ran the l∞ entry's
code (and back): two functions made by one factory shared Numba's symbol name. The tests
below write the cache from separate processes, load it together, and compare with
independent results; they fail on the code before the fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tradeoff
from tradeoff import _jit_cache

HERE = Path(__file__).parent
ENTRIES_SCRIPT = HERE / "_jit_entries.py"
sys.path.insert(0, str(HERE))
import _jit_entries  # noqa: E402

ALL = list(_jit_entries.ENTRIES)


def _child_env(cache: Path | None, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "TRADEOFF_CACHE")}
    if cache is not None:
        env["TRADEOFF_CACHE"] = str(cache)
    env.update(extra)
    return env


def _run_entries(names: list[str], cache: Path | None, **extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(ENTRIES_SCRIPT), "run", ",".join(names)],
        env=_child_env(cache, **extra),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_correct(result: dict, context: str) -> None:
    wrong = {
        name: r for name, r in result.items() if not name.startswith("_") and r["err"] > r["tol"]
    }
    assert not wrong, f"{context}: results differ from the independent computation: {wrong}"


@pytest.mark.parametrize("order", [("linf_f32", "l2_f32"), ("l2_f32", "linf_f32")])
def test_the_reported_sequence_gives_reference_results(tmp_path, order):
    # The issue's reproducer: one process per kernel writes the cache, a third loads both.
    first, second = order
    _assert_correct(_run_entries([first], tmp_path), f"{first} alone")
    _assert_correct(_run_entries([second], tmp_path), f"{second} alone")
    both = _run_entries([first, second], tmp_path)
    _assert_correct(both, f"{first} then {second}, both from the cache")
    assert both["_cache_hits"] > 0 and both["_cache_misses"] == 0  # loaded, not recompiled


@pytest.mark.slow
def test_every_cached_entry_loaded_beside_every_other(tmp_path):
    # Every entry is compiled and written by a process of its own — the case where Numba's
    # per-process counters coincide — then all are loaded into one process, in one order
    # and in the reverse order, so that for every pair (A, B) each of the two is loaded
    # first once. Each result is compared with an independent computation.
    for name in ALL:
        _assert_correct(_run_entries([name], tmp_path), f"{name} alone")
    for names in (ALL, ALL[::-1]):
        result = _run_entries(names, tmp_path)
        _assert_correct(result, "all entries from the cache, order " + ",".join(names))
        assert result["_cache_hits"] >= len(ALL) // 2 and result["_cache_misses"] == 0


@pytest.mark.slow
def test_no_two_compiled_functions_share_an_identity():
    # Compiled in one process without the disk cache: every compiled function (ours and
    # Numba's, as linked into our entries), keyed by its symbol less the per-process
    # counter, must have been compiled once. Two counters under one key are two different
    # codes that would share one symbol in two processes: the root cause of the bug.
    proc = subprocess.run(
        [sys.executable, str(ENTRIES_SCRIPT), "symbols"],
        env=_child_env(None, TRADEOFF_JIT_CACHE="0"),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=HERE,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert any("linf_entry" in k for k in seen) and any("cf_on_grid" in k for k in seen)
    shared = {k: v for k, v in seen.items() if len(v) > 1}
    assert not shared, f"compiled functions sharing one identity: {shared}"


def test_strip_uid_finds_the_counter_only():
    sym = "_ZN8tradeoff7kernels4_cpu4implB2v5B38c8tJTIeFIjxB2IKSgI4CrvQClQZ6FczSBAA_3dE"
    key, uids = _jit_entries._strip_uid(sym)
    assert uids == {"5"} and "B2v5" not in key and "B38c8tJ" in key
    key, uids = _jit_entries._strip_uid("_ZN1f4implB3v12E")
    assert uids == {"12"} and key == "_ZN1f4implE"


def _package_copy(dest: Path) -> Path:
    """The package laid out as installed (tradeoff/ with kernels/ inside), under dest."""
    src = Path(tradeoff.__file__).parent
    kernels_src = Path(tradeoff.kernels.__file__).parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src, dest / "tradeoff", ignore=ignore)
    if not (dest / "tradeoff" / "kernels").exists():
        shutil.copytree(kernels_src, dest / "tradeoff" / "kernels", ignore=ignore)
    return dest


_CLIP_STEP = (
    "import numpy as np, tradeoff\n"
    "from tradeoff import kernels, _jit_cache\n"
    "assert tradeoff.__file__.startswith({root!r}), tradeoff.__file__\n"
    "x0 = np.full((2, 4), 0.95, np.float32); x = x0.copy(); g = np.ones_like(x)\n"
    "kernels.linf_step(x, x0, g, 0.1, 0.2)\n"
    "from tradeoff.kernels import _cpu\n"
    "hits = sum(sum(d.stats.cache_hits.values()) for d in (_cpu.linf_entry,))\n"
    "print(float(x.max()), hits, _jit_cache.jit_cache_dir())\n"
)


def test_an_upgraded_kernel_never_runs_the_old_cached_code(tmp_path):
    # An "upgrade" that changes one kernel but keeps the file's size and modification time
    # (what a stamp of (mtime, size) — Numba before content hashes — cannot see): the
    # default cache location must not hand the old machine code to the new version.
    site = _package_copy(tmp_path / "site")
    home = tmp_path / "home"
    env = _child_env(None, PYTHONPATH=str(site), XDG_CACHE_HOME=str(home / ".cache"))
    code = _CLIP_STEP.format(root=str(site))

    def run() -> tuple[float, int, str]:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,  # not the repository, whose tradeoff/ would shadow the copy
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        top, hits, folder = proc.stdout.split()
        return float(top), int(hits), folder

    top, hits, old_dir = run()
    assert top == 1.0 and hits == 0  # 0.95 + 0.1 clipped to hi = 1
    top, hits, same_dir = run()
    assert top == 1.0 and hits > 0 and same_dir == old_dir  # the cache works
    assert Path(old_dir).is_relative_to(home / ".cache" / "tradeoff" / "numba")

    cpu = site / "tradeoff" / "kernels" / "_cpu.py"
    st = cpu.stat()
    text = cpu.read_text()
    new = text.replace("return hi if y > hi else y", "return lo if y > hi else y")
    assert new != text and len(new.encode()) == len(text.encode())
    cpu.write_text(new)
    os.utime(cpu, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cpu.stat().st_size == st.st_size and cpu.stat().st_mtime_ns == st.st_mtime_ns

    top, hits, new_dir = run()
    assert top == 0.0, "the old kernel's cached code ran after the upgrade"
    assert hits == 0 and new_dir != old_dir


def test_fingerprint_covers_versions_and_every_compiled_source(monkeypatch):
    base = _jit_cache.fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", base)
    assert _jit_cache.jit_cache_dir().name == base
    for module in _jit_cache.COMPILED_MODULES + _jit_cache.COMPILED_CONSTANTS:
        path = _jit_cache._source_file(module)
        real = Path.read_bytes

        def patched(self, _path=path, _real=real):
            data = _real(self)
            return data + b"# changed\n" if self == _path else data

        monkeypatch.setattr(Path, "read_bytes", patched)
        _jit_cache.fingerprint.cache_clear()
        assert _jit_cache.fingerprint() != base, module
        monkeypatch.setattr(Path, "read_bytes", real)
    monkeypatch.setattr(tradeoff, "__version__", "999.0")
    _jit_cache.fingerprint.cache_clear()
    assert _jit_cache.fingerprint() != base
    monkeypatch.undo()
    _jit_cache.fingerprint.cache_clear()
    assert _jit_cache.fingerprint() == base


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("TRADEOFF_CACHE", raising=False)
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _jit_cache.cache_root() == tmp_path / "xdg" / "tradeoff"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert _jit_cache.cache_root() == tmp_path / "nb" / "tradeoff"
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path / "own"))
    assert _jit_cache.cache_root() == tmp_path / "own"
    assert _jit_cache.jit_cache_dir().parent == tmp_path / "own" / "numba"
    (tmp_path / "own" / "numba" / "old").mkdir(parents=True)
    (tmp_path / "own" / "numba" / "new").mkdir()
    assert [p.name for p in _jit_cache.clear()] == ["new", "old"]
    assert not any((tmp_path / "own" / "numba").iterdir())


def test_no_disk_cache_when_disabled_or_unwritable(tmp_path):
    for cache, extra in ((tmp_path / "off", {"TRADEOFF_JIT_CACHE": "0"}), (Path("/proc/x"), {})):
        result = _run_entries(["linf_f32", "l2_f32"], cache, **extra)
        _assert_correct(result, f"cache {cache} {extra}")
        assert result["_cache_hits"] == 0
    assert not (tmp_path / "off").exists()


def test_njit_refuses_cache_argument_and_unlisted_modules():
    with pytest.raises(TypeError, match="do not pass cache="):
        _jit_cache.njit(cache=True)

    def f(x):
        return x

    with pytest.raises(RuntimeError, match="COMPILED_MODULES"):
        _jit_cache.njit(f)


def test_every_compiling_module_is_listed_and_none_caches_on_its_own():
    roots = [Path(tradeoff.__file__).parent, Path(tradeoff.kernels.__file__).parent]
    listed = {_jit_cache._source_file(m).resolve() for m in _jit_cache.COMPILED_MODULES}
    for root in roots:
        for path in root.rglob("*.py"):
            if path.name == "_jit_cache.py":
                continue
            text = path.read_text()
            assert not re.search(r"cache\s*=\s*True", text), f"{path} caches outside _jit_cache"
            if "_jit_cache import" in text and "njit" in text:
                assert path.resolve() in listed, f"{path} compiles but is not listed"


def test_unique_identity_renames():
    def make(k):
        def impl(x):
            return x + k

        return _jit_cache.unique_identity(impl, f"impl_{k}")

    a, b = make(1), make(2)
    assert (a.__qualname__, b.__qualname__) == ("impl_1", "impl_2")
    assert a(np.float64(1.0)) == 2.0


def test_cache_command_shows_and_clears(tmp_path, monkeypatch, capsys):
    from tradeoff.cli import main

    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    current = _jit_cache.jit_cache_dir()
    current.mkdir(parents=True)
    (current / "f.nbc").write_bytes(b"x" * 2_000_000)
    (current.parent / "0123456789abcdef").mkdir()
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and f"{current.name}       2.0 MB  this version" in out
    assert "0123456789abcdef       0.0 MB  another version" in out
    assert main(["cache", "--clear"]) == 0
    assert "removed 2 compiled-kernel folder(s)" in capsys.readouterr().out
    assert not current.exists()
