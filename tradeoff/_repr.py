"""Short reprs for result objects holding arrays: a field's shape and a few of its
numbers, not thousands of them (``print(robust_logistic(...))`` printed ~80 lines)."""

from __future__ import annotations

import dataclasses
from numbers import Real

import numpy as np

#: numbers shown at each end of a long array
EDGE = 3


def _number(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _field(value: object) -> str:
    if isinstance(value, np.ndarray) or (
        isinstance(value, (tuple, list))
        and len(value) > 2 * EDGE
        and all(isinstance(v, Real) for v in value)
    ):
        flat = list(np.asarray(value, dtype=object).ravel())
        shown = [_number(v) for v in flat]
        if len(shown) > 2 * EDGE:
            shown = [*shown[:EDGE], "...", *shown[-EDGE:]]
        kind = "array" if isinstance(value, np.ndarray) else type(value).__name__
        shape = np.shape(value)
        return f"{kind}(shape={shape}, [{', '.join(shown)}])"
    if isinstance(value, (float, np.floating)):
        return _number(value)
    return repr(value)


def short_repr(obj: object) -> str:
    """``Name(field=value, ...)`` of a dataclass, long arrays and tuples of numbers cut to
    their shape and first and last numbers, floats to 6 significant digits."""
    parts = [f"{f.name}={_field(getattr(obj, f.name))}" for f in dataclasses.fields(obj) if f.repr]
    return f"{type(obj).__name__}({', '.join(parts)})"
