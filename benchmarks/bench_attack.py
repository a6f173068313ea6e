"""PGD-40 on the Madry MNIST CNN: tradeoff's attack vs a torchattacks-style eager loop.

Same as ``tradeoff bench attack [ARGS]``; see :mod:`tradeoff.torch.benchmark`.
Run: ``.venv/bin/python benchmarks/bench_attack.py [--batch 128 --steps 40 --repeats 3]``.
"""

from __future__ import annotations

import sys

from tradeoff.torch.benchmark import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
