"""Symbolic and high-precision checks of the papers' proofs, installed as
:mod:`tradeoff.proofs_check`."""
