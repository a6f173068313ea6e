"""The progress line of the long benchmarks: one line per finished unit on stderr, with
the count, the elapsed time and an ETA that reaches 0 at the last unit."""

from __future__ import annotations

import re

from tradeoff.kernels.benchmark import _Eta


def test_eta_line_per_unit(capsys):
    eta = _Eta("bench kernels", 3)
    for label in ("a", "b", "c"):
        eta.done(label)
    captured = capsys.readouterr()
    assert captured.out == ""  # stdout keeps only the tables
    lines = captured.err.strip().splitlines()
    assert [re.search(r"(\d)/3 \((\w)\)", line).groups() for line in lines] == [
        ("1", "a"),
        ("2", "b"),
        ("3", "c"),
    ]
    assert all("elapsed, ETA" in line for line in lines)
    assert lines[-1].endswith("ETA 0 s")
