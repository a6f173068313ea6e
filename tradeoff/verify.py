"""The registry of theorem checks behind ``tradeoff verify``.

A check is data (:class:`Check`): an id such as ``tsipras.thm2_1.tight``, the paper and
equation it comes from, the claim in words, the computed value, what was expected (a
value or an inequality), the tolerance and a status:

``PASS``
    the exact computation confirms the claim within the tolerance;
``FAIL``
    it contradicts a claim the package expects to hold (a bug, here or in the paper);
``NOTE``
    the exact computation shows the paper's statement is loose, needs a condition or is
    off; ``detail`` gives the exact number.

Checks are grouped by paper. Every module in :mod:`tradeoff.checks` with a ``PREFIX``
string and a ``checks()`` function returning a list of :class:`Check` is a group; the
registry discovers them, so adding a group means adding a module.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import math
import pkgutil
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "Check",
    "Status",
    "VerifyReport",
    "discover_groups",
    "run_checks",
]


class Status(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOTE = "NOTE"


_RELATIONS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@dataclass(frozen=True)
class Check:
    """One verified statement.

    Build it with :meth:`close`, :meth:`bound`, :meth:`boolean` or :meth:`note` rather
    than by hand, so that the status always follows from the numbers. ``data`` carries
    what a check derived for programmatic use (e.g. the sympy expressions of a proof
    step, :mod:`tradeoff.proofs_check`); it is neither compared nor serialised.
    """

    id: str
    source: str
    claim: str
    value: float | str
    expected: str
    tolerance: float | None
    status: Status
    detail: str = ""
    seconds: float = field(default=0.0, compare=False)
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # --- constructors -----------------------------------------------------------------
    @classmethod
    def close(
        cls,
        id: str,
        source: str,
        claim: str,
        value: float,
        expected: float,
        tol: float,
        *,
        relative: bool = False,
        detail: str = "",
        note_if_fail: bool = False,
    ) -> Check:
        """PASS if ``|value - expected| <= tol`` (times ``|expected|`` if ``relative``).

        With ``note_if_fail`` a mismatch is a NOTE (the paper's number is off) rather
        than a FAIL.
        """
        value = float(value)
        expected = float(expected)
        scale = abs(expected) if relative else 1.0
        ok = math.isfinite(value) and abs(value - expected) <= tol * scale
        status = Status.PASS if ok else (Status.NOTE if note_if_fail else Status.FAIL)
        kind = "rel" if relative else "abs"
        return cls(
            id,
            source,
            claim,
            value,
            f"= {expected:.10g}",
            tol,
            status,
            detail or f"{kind} error {abs(value - expected) / (scale or 1.0):.3g}",
        )

    @classmethod
    def bound(
        cls,
        id: str,
        source: str,
        claim: str,
        value: float,
        relation: str,
        bound: float,
        *,
        tol: float = 0.0,
        detail: str = "",
        note_if_fail: bool = False,
    ) -> Check:
        """PASS if ``value <relation> bound`` holds, allowing slack ``tol`` in its favour."""
        if relation not in _RELATIONS:
            raise ValueError(f"relation must be one of {sorted(_RELATIONS)}, got {relation!r}")
        value = float(value)
        bound = float(bound)
        slack = tol if relation.startswith(">") else -tol
        ok = math.isfinite(value) and _RELATIONS[relation](value + slack, bound)
        status = Status.PASS if ok else (Status.NOTE if note_if_fail else Status.FAIL)
        return cls(
            id,
            source,
            claim,
            value,
            f"{relation} {bound:.10g}",
            tol,
            status,
            detail or f"margin {abs(value - bound):.3g}",
        )

    @classmethod
    def boolean(
        cls,
        id: str,
        source: str,
        claim: str,
        ok: bool,
        *,
        detail: str = "",
        note_if_fail: bool = False,
    ) -> Check:
        """PASS if ``ok`` (a symbolic identity, a property over a grid, ...)."""
        status = Status.PASS if ok else (Status.NOTE if note_if_fail else Status.FAIL)
        return cls(id, source, claim, "true" if ok else "false", "true", None, status, detail)

    @classmethod
    def note(
        cls, id: str, source: str, claim: str, value: float | str, expected: str, detail: str
    ) -> Check:
        """A NOTE: the exact value shows the paper's statement is loose, conditional or off."""
        if isinstance(value, int | float):
            value = float(value)
        return cls(id, source, claim, value, expected, None, Status.NOTE, detail)

    def with_seconds(self, seconds: float) -> Check:
        return replace(self, seconds=seconds)

    def as_dict(self) -> dict:
        d = asdict(replace(self, data={}))
        del d["data"]
        d["status"] = self.status.value
        return d


@dataclass(frozen=True)
class Group:
    """A group of checks: the module ``tradeoff.checks.<prefix>``, imported only when run."""

    prefix: str
    module: str
    build: Callable[[], list[Check]]


@dataclass
class VerifyReport:
    checks: list[Check]
    seconds: float

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is Status.FAIL]

    def counts(self) -> dict[str, int]:
        return {s.value: sum(c.status is s for c in self.checks) for s in Status}

    def to_json(self) -> str:
        return json.dumps(
            {
                "seconds": self.seconds,
                "counts": self.counts(),
                "checks": [c.as_dict() for c in self.checks],
            },
            indent=2,
        )

    def to_markdown(self) -> str:
        lines = [
            "| id | status | value | expected | source | claim | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in self.checks:
            cells = [
                c.id,
                c.status.value,
                _format_value(c.value),
                c.expected,
                c.source,
                c.claim,
                c.detail,
            ]
            lines.append("| " + " | ".join(s.replace("|", "\\|") for s in cells) + " |")
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items())
        lines.append("")
        lines.append(f"{len(self.checks)} checks ({counts}) in {self.seconds:.2f} s")
        return "\n".join(lines) + "\n"


def _format_value(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:.6g}"


def discover_groups() -> list[Group]:
    """Every module ``tradeoff.checks.<prefix>``, by prefix, without importing any of them.

    A group's module is imported (and must define ``PREFIX == <prefix>`` and
    ``checks()``) only when the group is built, so ``--only tsipras`` never pays for the
    imports of the other papers' checks.
    """
    from tradeoff import checks as package

    def loader(module_name: str, prefix: str) -> Callable[[], list[Check]]:
        def build() -> list[Check]:
            module = importlib.import_module(module_name)
            if getattr(module, "PREFIX", None) != prefix or not callable(
                getattr(module, "checks", None)
            ):
                raise ValueError(
                    f"{module_name} must define PREFIX = {prefix!r} and a checks() function"
                )
            return module.checks()

        return build

    groups = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"{package.__name__}.{info.name}"
        groups.append(Group(info.name, module_name, loader(module_name, info.name)))
    return sorted(groups, key=lambda g: g.prefix)


def _matches(check_id: str, pattern: str | None) -> bool:
    """A check is selected by a glob (``tsipras.thm2_*``) or a plain substring."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(check_id, pattern)
    return pattern in check_id


def _selected_groups(groups: list[Group], pattern: str | None) -> list[Group]:
    """The groups whose ids may match: ``--only tsipras`` or ``tsipras.x`` builds one group."""
    if not pattern:
        return groups
    head = pattern.split(".", 1)[0]
    if any(ch in head for ch in "*?["):
        return [g for g in groups if fnmatch.fnmatchcase(g.prefix, head)]
    named = [g for g in groups if g.prefix == head]
    # A bare word that names no group may occur anywhere inside an id.
    return named or groups


def run_checks(pattern: str | None = None, groups: Iterable[Group] | None = None) -> VerifyReport:
    """Build every group that may match ``pattern`` and keep the checks that do."""
    start = time.perf_counter()
    selected: list[Check] = []
    all_groups = list(groups) if groups is not None else discover_groups()
    for group in _selected_groups(all_groups, pattern):
        t0 = time.perf_counter()
        built = group.build()
        elapsed = time.perf_counter() - t0
        for check in built:
            if not check.id.startswith(group.prefix + "."):
                raise ValueError(
                    f"check id {check.id!r} of group {group.module} must start with "
                    f"{group.prefix + '.'!r}"
                )
            if _matches(check.id, pattern):
                selected.append(check.with_seconds(elapsed / max(len(built), 1)))
    ids = [c.id for c in selected]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate check ids: {duplicates}")
    return VerifyReport(selected, time.perf_counter() - start)


def print_report(report: VerifyReport, *, verbose: bool = False) -> None:
    """Print one block per check, readable at any terminal width (and in CI logs).

    ``STATUS  id  value  expected``, then the source and the claim, then the detail.
    ``verbose`` adds each group's build time.
    """
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, soft_wrap=False)
    width = max(min(console.width, 120), 60)
    style = {Status.PASS: "green", Status.FAIL: "bold red", Status.NOTE: "yellow"}
    id_width = min(max((len(c.id) for c in report.checks), default=0), 48)
    for c in report.checks:
        head = f"{c.id:<{id_width}}  {_format_value(c.value):>12}  {c.expected}"
        console.print(f"[{style[c.status]}]{c.status.value:<4}[/]  {escape(head)}")
        body = f"{c.source}: {c.claim}"
        if verbose:
            body += f" [{c.seconds:.2f} s]"
        for text, dim in ((body, False), (c.detail, True)):
            for line in textwrap.wrap(text, width - 6):
                console.print(f"      [dim]{escape(line)}[/]" if dim else f"      {escape(line)}")
    counts = report.counts()
    console.print(
        f"{len(report.checks)} checks: [green]{counts['PASS']} PASS[/], "
        f"[yellow]{counts['NOTE']} NOTE[/], [red]{counts['FAIL']} FAIL[/] "
        f"in {report.seconds:.2f} s"
    )


def write_outputs(report: VerifyReport, json_path: Path | None, markdown_path: Path | None) -> None:
    for path, text in ((json_path, report.to_json), (markdown_path, report.to_markdown)):
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text())
