"""Test helpers shared by the attack tests (imported by name: pytest puts tests/ on the
path)."""

from __future__ import annotations

from torch import nn


class ModeProbe(nn.Module):
    """Records the training flag it sees during forward passes."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.drop = nn.Dropout(0.5)
        self.seen: list[bool] = []

    def forward(self, x):
        self.seen.append(self.training)
        return self.inner(self.drop(x))
