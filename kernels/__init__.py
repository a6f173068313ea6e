"""Fused PGD step kernels, installed as :mod:`tradeoff.kernels`."""
