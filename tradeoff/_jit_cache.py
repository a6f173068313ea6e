"""Where the package's compiled Numba code is cached on disk, and under which key.

Every CPU function the package compiles with Numba goes through :func:`njit` here instead
of ``numba.njit(cache=True)``. Two things differ from Numba's own cache:

1. **Location and key.** Numba's default cache lives next to the source file
   (``__pycache__``) or in a user-wide folder keyed by the file's path, and is checked
   against the file's own stamp only — not against the other files whose code it
   compiled in, and (before Numba 0.6x) by modification time and size only. Ours lives in
   ``<root>/numba/<fingerprint>/``, where the fingerprint is a SHA-256 of the package
   version, the Python, Numba and llvmlite versions, and the bytes of *every* source file
   that holds compiled code (:data:`COMPILED_MODULES`) or constants compiled in
   (:data:`COMPILED_CONSTANTS`) and of this file. Any change to any
   of them — an upgrade, an edit, a downgrade — selects a new, empty folder: stale
   machine code cannot be handed to another version of the package.
2. **One identity per compiled function.** Numba names a compiled function by its
   qualified name, its argument types and a per-process counter (``[abi:vN]``), and a
   function compiled into a caller is linked into the caller's library as a *weak*
   symbol. Two functions made by one factory share the qualified name; when their
   callers were compiled and cached by different processes, the counter can coincide, and
   a process that loads both cached libraries links every call to whichever definition it
   loaded first. That is what made the l2 step run the l∞ step's code (and back) before
   this module existed. The rule here: no two different compiled functions of the package
   share a qualified name — factories rename what they make (:func:`unique_identity`), and
   ``tests/test_jit_cache.py`` checks it on the compiled code itself.

Root folder: ``$TRADEOFF_CACHE`` if set, else ``$NUMBA_CACHE_DIR/tradeoff`` if Numba's
cache folder is set, else ``$XDG_CACHE_HOME/tradeoff`` (default ``~/.cache/tradeoff``).
``TRADEOFF_JIT_CACHE=0`` turns the disk cache off (everything compiles in each process);
so does an unwritable root. ``tradeoff cache`` shows the folder, ``tradeoff cache --clear``
removes it. A user's ``NUMBA_CACHE_LOCATOR_CLASSES`` (Numba's own override) takes
precedence over the location above, but not over rule 2.

The Numba CUDA kernels are not cached on disk (compiled once per process and device);
CuPy caches its NVRTC output keyed by a hash of the kernel source and options.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

__all__ = [
    "COMPILED_CONSTANTS",
    "COMPILED_MODULES",
    "cache_root",
    "clear",
    "enabled",
    "fingerprint",
    "jit_cache_dir",
    "njit",
    "unique_identity",
]

#: Every module of the package that compiles code with Numba on the CPU. A test checks
#: that no other module does (and that none uses ``numba.njit(cache=True)`` directly).
COMPILED_MODULES = ("tradeoff.kernels._cpu", "tradeoff._bernoulli_jit")
#: Modules whose values the compiled code freezes in as constants (the kernels' bounds):
#: part of the fingerprint like the compiled sources.
COMPILED_CONSTANTS = ("tradeoff.kernels._call",)


def cache_root() -> Path:
    """The root of the package's caches (compiled kernels here; trained models beside)."""
    env = os.environ.get("TRADEOFF_CACHE")
    if env:
        return Path(env).expanduser()
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    if numba_dir:
        return Path(numba_dir).expanduser() / "tradeoff"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tradeoff"


def enabled() -> bool:
    """Whether compiled code is cached on disk (``TRADEOFF_JIT_CACHE`` not ``0``)."""
    return os.environ.get("TRADEOFF_JIT_CACHE", "1").strip().lower() not in ("0", "false", "no")


def _source_file(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"cannot locate the source of {module}")
    return Path(spec.origin)


@functools.lru_cache(maxsize=1)
def fingerprint() -> str:
    """SHA-256 (hex, 16 digits) of the versions and the compiled sources (see above)."""
    import llvmlite
    import numba

    from tradeoff import __version__

    h = hashlib.sha256()
    for part in (__version__, numba.__version__, llvmlite.__version__, sys.version):
        h.update(part.encode() + b"\0")
    for path in (
        Path(__file__),
        *(_source_file(m) for m in COMPILED_MODULES + COMPILED_CONSTANTS),
    ):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def jit_cache_dir() -> Path:
    """The folder holding this version's compiled code: ``<root>/numba/<fingerprint>``."""
    return cache_root() / "numba" / fingerprint()


def clear() -> list[Path]:
    """Remove the compiled-code caches of every version; returns the folders removed."""
    top = cache_root() / "numba"
    removed = sorted(p for p in top.iterdir() if p.is_dir()) if top.is_dir() else []
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def unique_identity(fn: Callable, name: str) -> Callable:
    """Give a function made by a factory its own qualified name before Numba compiles it.

    Numba's symbol for a compiled function is its qualified name, argument types and a
    per-process counter; products of one factory share the qualified name, and two of them
    cached by different processes can collide when loaded together (module docstring).
    ``name`` must be unique in the defining module.
    """
    fn.__qualname__ = name
    fn.__name__ = name
    return fn


@functools.lru_cache(maxsize=1)
def _cache_class() -> type | None:
    """Numba's FunctionCache with our locator, or None where Numba's internals differ."""
    try:
        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            _CacheLocator,
        )
    except ImportError:  # a Numba without these internals: compile in each process
        return None

    class _Locator(_CacheLocator):
        def __init__(self, py_func: Any, py_file: str) -> None:
            self._lineno = py_func.__code__.co_firstlineno
            self._path = str(jit_cache_dir())

        def get_cache_path(self) -> str:
            return self._path

        def get_source_stamp(self) -> str:
            return fingerprint()

        def get_disambiguator(self) -> str:
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> _Locator | None:
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:  # unwritable root: no disk cache
                return None
            return self

    class _Impl(CompileResultCacheImpl):
        _locator_classes: ClassVar[list] = [_Locator]

    class _Cache(FunctionCache):
        _impl_class = _Impl

    return _Cache


def njit(fn: Callable | None = None, **options: Any):
    """``numba.njit(**options)``, cached on disk as described in the module docstring.

    Use as ``@njit`` or ``@njit(fastmath=..., inline=...)``; ``cache=`` is not accepted
    (caching is this module's decision). The function's module must be listed in
    :data:`COMPILED_MODULES`.
    """
    if "cache" in options:
        raise TypeError("njit: caching is decided by tradeoff._jit_cache; do not pass cache=")
    if fn is None:
        return functools.partial(njit, **options)
    import numba

    if fn.__module__ not in COMPILED_MODULES:
        raise RuntimeError(
            f"{fn.__module__} compiles code but is not in tradeoff._jit_cache.COMPILED_MODULES"
        )
    dispatcher = numba.njit(**options)(fn)
    cls = _cache_class() if enabled() else None
    if cls is not None:
        try:
            dispatcher._cache = cls(dispatcher.py_func)
        except (RuntimeError, OSError):  # no usable cache folder: compile in each process
            pass
    return dispatcher
