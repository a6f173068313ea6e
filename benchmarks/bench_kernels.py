"""Benchmark of the fused PGD step kernels; same as ``tradeoff bench kernels [ARGS]``.

python benchmarks/bench_kernels.py [--quick] [--sizes 128x784,128x3x32x32,16M]
"""

from __future__ import annotations

import sys

from tradeoff.kernels.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
