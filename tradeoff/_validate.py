"""Argument validation shared by every module.

Each helper raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
outside the allowed set) with a message that names the parameter, repeats the value it
got and says what is allowed, e.g. ``p must be in (0.5, 1), got 0.3``. Nothing here
clips or coerces silently.

:func:`finite_output` guards the other end: a public theory function decorated with it
never returns NaN, and returns ±inf only where its documentation says so; a result that
float64 cannot hold (an overflow, an invalid operation on extreme arguments) becomes a
``ValueError`` that names every argument and its value.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import numbers
from collections.abc import Callable, Hashable, Sequence
from fractions import Fraction
from typing import TypeVar

import numpy as np

__all__ = [
    "SEED_MAX",
    "check_array",
    "check_bool",
    "check_choice",
    "check_int",
    "check_real",
    "check_rng",
    "check_seed",
    "finite_output",
]

#: integer arguments beyond int64 are refused by :func:`check_int` (numpy, torch and the
#: compiled kernels hold integers in 64 bits)
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
#: the largest seed: seeds are non-negative integers that fit in int64 (numpy takes any
#: size, ``torch.manual_seed`` at most 2**64 - 1, the kernels take int64)
SEED_MAX = 2**63 - 1


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_real(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real in the interval.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``. Booleans are
    rejected (``True`` is not a probability).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu":
            value = value.item()
        else:
            raise TypeError(
                f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
            )
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    bad = (low is not None and (x < low or (low_open and x == low))) or (
        high is not None and (x > high or (high_open and x == high))
    )
    if bad:
        raise ValueError(
            f"{name} must be in {_interval(low, high, low_open, high_open)}, got {value!r}"
        )
    return x


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer in ``[low, high]``.

    Integers outside int64 (``[-2**63, 2**63 - 1]``) are always refused.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}")
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    if not INT_MIN <= n <= INT_MAX:
        raise ValueError(
            f"{name} must fit in a 64-bit integer ([-2**63, 2**63 - 1]), got {value!r}"
        )
    return n


def check_seed(value: object, name: str = "seed") -> int:
    """Return ``value`` as an int after checking it is a seed: an integer in
    ``[0, 2**63 - 1]``. The one seed rule of the package (numpy, torch and the kernels
    each accept a different range; this is the range all of them accept)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer seed in [0, 2**63 - 1], got {value!r} of type "
            f"{type(value).__name__}"
        )
    n = int(value)
    if not 0 <= n <= SEED_MAX:
        raise ValueError(f"{name} must be an integer seed in [0, 2**63 - 1], got {value!r}")
    return n


def check_bool(name: str, value: object) -> bool:
    """Return ``value`` as a bool; only ``True``/``False`` (and numpy's bools) are accepted
    (``"no"`` or ``1`` would otherwise be taken for true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be True or False, got {value!r} of type {type(value).__name__}"
        )
    return bool(value)


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """Return ``value`` if it is one of ``choices``; otherwise raise ``ValueError``."""
    if isinstance(value, np.ndarray) or not isinstance(value, Hashable):
        allowed = ", ".join(repr(c) for c in choices)
        raise TypeError(f"{name} must be one of {allowed}; got {type(value).__name__}")
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def check_array(
    name: str,
    value: object,
    *,
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Return ``value`` as a float64 numpy array after checking its shape and finiteness."""
    raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if raw.dtype.kind not in "fiu":
        # strings, objects, booleans and complex numbers are never silently converted
        raise TypeError(
            f"{name} must be an array of real numbers, got {type(value).__name__} "
            f"with dtype {raw.dtype}"
        )
    arr = raw.astype(np.float64, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got shape {arr.shape}")
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def check_rng(rng: object, name: str = "rng") -> np.random.Generator:
    """Accept a ``numpy.random.Generator`` or an integer seed (:func:`check_seed`);
    return a Generator.

    ``None`` is rejected on purpose: every random result in this package is reproducible
    from an explicit generator or seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(check_seed(rng, name))
    raise TypeError(f"{name} must be a numpy.random.Generator or an integer seed, got {rng!r}")


# --------------------------------------------------------------------------- outputs


def _non_finite(value: object, path: str, out: list[tuple[str, bool]], depth: int = 0) -> None:
    """Append ``(path, is_nan)`` for every NaN / ±inf number inside ``value``."""
    if depth > 6 or isinstance(value, (bool, np.bool_, numbers.Integral, Fraction, str, bytes)):
        return
    if isinstance(value, numbers.Real):
        x = float(value)
        if not math.isfinite(x):
            out.append((path, math.isnan(x)))
        return
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and value.size:
            fin = np.isfinite(value)
            if not fin.all():
                out.append((path, bool(np.isnan(value).any())))
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _non_finite(getattr(value, f.name), f"{path}.{f.name}", out, depth + 1)
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            _non_finite(v, f"{path}[{i}]", out, depth + 1)


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            return np.array2string(value, separator=", ", precision=6)
        with np.errstate(all="ignore"):
            big = float(np.max(np.abs(value))) if value.dtype.kind in "fiu" else float("nan")
        return f"array of shape {value.shape} (max |entry| {big:g})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


F = TypeVar("F", bound=Callable)


def finite_output(*, allow_inf: Sequence[str] = (), why: str = "") -> Callable[[F], F]:
    """Decorator: the function never returns NaN, nor ±inf outside ``allow_inf``.

    Inside the call numpy's floating-point warnings are silenced (overflow, invalid,
    division by zero, underflow: extreme arguments are expected here, and the result
    is what is checked). On return, every float in the result — numbers, arrays,
    dataclass fields, tuples and lists — must be finite, except ±inf at the paths listed
    in ``allow_inf`` (``"result"``, ``"result.value"``, ``"result[0]"``; documented
    infinities such as a limit of φ at ±∞); NaN is never allowed. Otherwise, or when
    Python float arithmetic raises ``OverflowError`` / ``ZeroDivisionError``, a
    ``ValueError`` names the function, every argument with its value and what was not
    finite: the arguments are beyond what float64 resolves.
    """
    allowed = frozenset(allow_inf)

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)

        def fail(args: tuple, kwargs: dict, what: str) -> ValueError:
            try:
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                desc = ", ".join(f"{k}={_describe(v)}" for k, v in bound.arguments.items())
            except TypeError:  # pragma: no cover - the call itself succeeded
                desc = "..."
            hint = f" ({why})" if why else ""
            return ValueError(
                f"{fn.__qualname__}({desc}): {what}; these arguments are beyond what "
                f"float64 resolves{hint}"
            )

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with np.errstate(all="ignore"):
                try:
                    result = fn(*args, **kwargs)
                except (OverflowError, ZeroDivisionError) as exc:
                    raise fail(args, kwargs, f"float arithmetic failed ({exc})") from exc
            bad: list[tuple[str, bool]] = []
            _non_finite(result, "result", bad)
            bad = [(p, nan) for p, nan in bad if nan or p not in allowed]
            if bad:
                kinds = ", ".join(f"{'NaN' if nan else 'inf'} in {p}" for p, nan in bad[:4])
                raise fail(args, kwargs, f"the result is not finite ({kinds})")
            return result

        return wrapper  # type: ignore[return-value]

    return deco
