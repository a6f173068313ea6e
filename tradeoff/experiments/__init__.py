"""Reproductions of the papers' tables and figures, behind ``tradeoff reproduce``.

Every module of this package that defines ``EXPERIMENTS`` (a list of :class:`Experiment`)
contributes entries; :func:`registry` discovers them. An experiment's ``run(out_dir, seed)``
writes ``NAME.md`` and ``NAME.json`` (the paper's numbers side by side with ours) and a PNG
figure where the paper has one, into ``out_dir``, and returns the paths it wrote.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Experiment", "registry"]


@dataclass(frozen=True)
class Experiment:
    name: str
    paper: str
    description: str
    run: Callable[[Path, int], list[Path]]
    needs_torch: bool = False


def registry() -> dict[str, Experiment]:
    """Name → experiment, over every module of this package that defines ``EXPERIMENTS``."""
    found: dict[str, Experiment] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for experiment in getattr(module, "EXPERIMENTS", ()):
            if experiment.name in found:
                raise ValueError(f"experiment {experiment.name!r} is defined twice")
            found[experiment.name] = experiment
    return dict(sorted(found.items()))
