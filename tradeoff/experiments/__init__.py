"""Reproductions of the papers' tables and figures, behind ``tradeoff reproduce``.

Every entry has one shape — **compute → result → render**:

1. ``compute(ctx)`` runs the experiment at ``ctx.scale`` and returns plain data: the
   comparison ``rows`` (the paper's number beside ours), ``notes``, the ``config`` it ran
   with and whatever ``data`` the figures need;
2. :func:`run` wraps that into a result (with the scale, seed, budget, package versions
   and wall time) and saves it as ``NAME.json``;
3. :func:`render` writes ``NAME.md`` (paper vs ours, deviation and a verdict per row) and
   the figures (``NAME*.png``, and PDF on request) from the saved result alone, so that
   ``tradeoff reproduce NAME --render-only`` never recomputes.

Scales (``--scale``): ``smoke`` runs end to end on a tiny budget in seconds (CI runs every
entry so); ``reduced`` (the default) is the real experiment at a size a 2-core CPU
finishes within the budget each entry states; ``paper`` uses the paper's data and budget
(full MNIST / CIFAR-10 from the user's folder), for a GPU. Each entry states how its
``reduced`` setting differs from the paper.

Every module of this package that defines ``EXPERIMENTS`` contributes entries;
:func:`registry` discovers them. Trained models are shared between entries through
:mod:`tradeoff.experiments.models`; independent trainings run through
:mod:`tradeoff.experiments.sweep`.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pkgutil
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCALES",
    "Context",
    "Experiment",
    "registry",
    "render",
    "report",
    "row",
    "run",
    "summary_table",
]

SCALES = ("smoke", "reduced", "paper")


@dataclass
class Context:
    """What an entry's ``compute`` is given.

    ``models`` is the trained-model cache (:class:`tradeoff.experiments.models.ModelCache`)
    or None with ``--no-cache``; ``workers`` the number of parallel workers of a sweep
    (None: as many as the cores allow); ``data_dir`` a folder with full MNIST / CIFAR-10
    (``paper`` scale; default ``$TRADEOFF_DATA``)."""

    scale: str = "reduced"
    seed: int = 0
    models: Any = None
    workers: int | None = None
    progress: bool = True
    data_dir: str | None = None

    def pick(self, **by_scale: Any) -> Any:
        """The value for this scale: ``ctx.pick(smoke=1, reduced=10, paper=100)``."""
        if self.scale not in by_scale:
            raise ValueError(f"no setting for scale {self.scale!r}; given {sorted(by_scale)}")
        return by_scale[self.scale]

    def log(self, message: str) -> None:
        if self.progress:
            print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Experiment:
    """One reproduced table or figure.

    ``compute(ctx) -> dict`` with keys ``rows`` (from :func:`row`), ``config``, and
    optionally ``notes`` (Markdown lines) and ``data`` (anything JSON-able the renderers
    need). ``figures(result) -> {stem: matplotlib Figure}`` draws from the saved result;
    ``markdown(result) -> [lines]`` adds entry-specific sections. ``scales`` maps each
    scale to its budget and how it differs from the paper."""

    name: str
    paper: str
    item: str
    description: str
    compute: Callable[[Context], dict]
    scales: dict[str, str]
    figures: Callable[[dict], dict] | None = None
    markdown: Callable[[dict], list[str]] | None = None
    needs_torch: bool = False


def row(
    quantity: str,
    ours: float | None,
    paper: float | None = None,
    *,
    unit: str = "",
    tol: float | None = None,
    why: str = "",
) -> dict:
    """A comparison row. ``tol``: the deviation within which ours "matches" the paper
    (an absolute difference in ``unit``); ``why``: the reason when it differs, if known."""
    if paper is None or ours is None or tol is None or not math.isfinite(float(ours)):
        verdict = "ours only" if paper is None else "no verdict"
        dev = None
    else:
        dev = float(ours) - float(paper)
        verdict = "matches" if abs(dev) <= tol else "differs"
    return {
        "quantity": quantity,
        "paper": paper,
        "ours": ours,
        "unit": unit,
        "tol": tol,
        "deviation": dev,
        "verdict": verdict,
        "why": why if verdict != "matches" else "",
    }


def _overall(rows: list[dict]) -> str:
    verdicts = {r["verdict"] for r in rows if r["verdict"] in ("matches", "differs")}
    if not verdicts:
        return "ours only"
    return (
        "matches"
        if verdicts == {"matches"}
        else ("differs" if "matches" not in verdicts else "partly")
    )


def registry() -> dict[str, Experiment]:
    """Name → experiment, over every module of this package that defines ``EXPERIMENTS``."""
    found: dict[str, Experiment] = {}
    for info in pkgutil.iter_modules(__path__):  # modules import torch only when run
        module = importlib.import_module(f"{__name__}.{info.name}")
        for experiment in getattr(module, "EXPERIMENTS", ()):
            if experiment.name in found:
                raise ValueError(f"experiment {experiment.name!r} is defined twice")
            found[experiment.name] = experiment
    return dict(found)


def _versions() -> dict:
    import numpy

    from tradeoff import __version__

    v = {
        "tradeoff": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        v["torch"] = torch.__version__
        v["torch_threads"] = torch.get_num_threads()
        v["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return v


def _jsonable(obj: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays → Python; tuple → list; non-finite → None."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run(experiment: Experiment, ctx: Context, out: Path, *, pdf: bool = False) -> dict:
    """Compute ``experiment`` at ``ctx.scale``, save ``out/NAME.json`` and render it."""
    from tradeoff._validate import check_choice

    check_choice("scale", ctx.scale, SCALES)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    computed = experiment.compute(ctx)
    wall = time.perf_counter() - t0
    rows = computed.get("rows", [])
    result = _jsonable(
        {
            "name": experiment.name,
            "paper": experiment.paper,
            "item": experiment.item,
            "description": experiment.description,
            "scale": ctx.scale,
            "seed": ctx.seed,
            "budget": experiment.scales.get(ctx.scale, ""),
            "config": computed.get("config", {}),
            "rows": rows,
            "verdict": _overall(rows),
            "notes": computed.get("notes", []),
            "data": computed.get("data", {}),
            "versions": _versions(),
            "wall_s": wall,
            "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        }
    )
    tmp = out / f".{experiment.name}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, out / f"{experiment.name}.json")
    render(experiment, out, pdf=pdf)
    return result


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        text = f"{v:.4g}" if abs(v) < 1e-3 or abs(v) >= 1e5 else f"{v:.2f}"
    else:
        text = str(v)
    return text + (f" {unit}" if unit and unit != "%" else unit)


def rows_markdown(rows: list[dict]) -> list[str]:
    """The paper-vs-ours table of a result's rows."""
    lines = [
        "| quantity | paper | ours | deviation | verdict |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        dev = "—" if r["deviation"] is None else f"{r['deviation']:+.2f}"
        has_tol = r.get("tol") is not None and r["paper"] is not None
        tol = f" (tol ±{r['tol']:.2g})" if has_tol else ""
        verdict = r["verdict"] + tol + (f": {r['why']}" if r.get("why") else "")
        lines.append(
            f"| {r['quantity']} | {_fmt(r['paper'], r['unit'])} | {_fmt(r['ours'], r['unit'])} "
            f"| {dev} | {verdict} |"
        )
    return lines


def render(experiment: Experiment, out: Path, *, pdf: bool = False) -> list[Path]:
    """Write ``NAME.md`` and the figures from the saved ``out/NAME.json`` (no recomputing)."""
    out = Path(out)
    path = out / f"{experiment.name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the entry first (without --render-only)"
        )
    result = json.loads(path.read_text())
    written: list[Path] = [path]
    figure_files: list[str] = []
    if experiment.figures is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        for stem, fig in experiment.figures(result).items():
            png = out / f"{stem}.png"
            fig.savefig(png, dpi=110, bbox_inches="tight")
            written.append(png)
            figure_files.append(png.name)
            if pdf:
                fig.savefig(out / f"{stem}.pdf", bbox_inches="tight")
                written.append(out / f"{stem}.pdf")
            plt.close(fig)
    lines = [
        f"# {result['name']} — {result['paper']}, {result['item']}",
        "",
        result["description"],
        "",
        f"Scale **{result['scale']}** (seed {result['seed']}; {result['wall_s']:.1f} s on "
        f"{result['versions'].get('cpus')} CPUs). {result['budget']}",
        "",
        *rows_markdown(result["rows"]),
        "",
        f"Verdict: **{result['verdict']}**.",
        "",
    ]
    if result["notes"]:
        lines += [f"- {n}" for n in result["notes"]] + [""]
    if experiment.markdown is not None:
        lines += [*experiment.markdown(result), ""]
    lines += [f"![{f}]({f})" for f in figure_files]
    md = out / f"{experiment.name}.md"
    md.write_text("\n".join(lines) + "\n")
    written.append(md)
    return written


def summary_table(results: list[dict]) -> list[str]:
    """One line per entry: entry, paper item, scale, verdict, time."""
    lines = ["| entry | paper item | scale | verdict | time (s) |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['paper']}, {r['item']} | {r['scale']} | {r['verdict']} "
            f"| {r['wall_s']:.1f} |"
        )
    return lines


def report(results: list[dict], out: Path) -> Path:
    """``out/REPORT.md``: the summary table, then each entry's Markdown (entries in
    ``out/NAME/``)."""
    out = Path(out)
    lines = ["# Reproduction report", "", *summary_table(results), ""]
    for r in results:
        md = out / r["name"] / f"{r['name']}.md"
        body = md.read_text().splitlines()
        # figures live in the entry's folder
        body = [
            line.replace("](", f"]({r['name']}/", 1) if line.startswith("![") else line
            for line in body
        ]
        lines += ["#" + body[0], *body[1:], ""]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path
