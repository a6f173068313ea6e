"""The papers' network architectures, by name: :func:`build`.

- ``linear`` (Tsipras et al. Table 4): flatten, dense k.
- ``madry_mnist`` (Madry et al., mnist_challenge): conv 5×5×32 (same padding), ReLU,
  max-pool 2, conv 5×5×64 (same), ReLU, max-pool 2, dense 1024, ReLU, dense k.
- ``trades_small_cnn`` (Zhang et al., TRADES ``SmallCNN``): conv 3×3×32, conv 3×3×32,
  max-pool 2, conv 3×3×64, conv 3×3×64, max-pool 2 (ReLU, valid padding), dense 200,
  ReLU, dropout 0.5, dense 200, ReLU, dense k; Kaiming-normal convolutions with zero
  biases, PyTorch's default for the hidden dense layers, and a zero last layer, as in the
  reference.
- ``collins_fc`` (Collins et al. §5): flatten, dense 1024, ReLU, dense 1024, ReLU, dense k.
- ``kim_mnist`` (Kim et al. App. A.2, MNIST/FMNIST): conv 5×5×64, ReLU, conv 5×5×32,
  ReLU, max-pool 2, dense 1024, ReLU, dense k.
- ``kim_cifar`` (Kim et al. App. A.2, CIFAR-10): conv 3×3×32, ReLU, conv 3×3×32, ReLU,
  max-pool 2, conv 3×3×64, ReLU, conv 3×3×64, ReLU, max-pool 2, dense 256, ReLU, dense k.
- ``toy_mlp`` (Kim et al. §2.2, 2-D toy): flatten, dense 128, ReLU, dense k.

``k`` is ``num_classes`` (1 for a binary task with ±1 labels: the output is one logit).
Kim et al.'s convolutions do not state their padding; "valid" (the TensorFlow default)
is used. The CIFAR table in the available text of Kim et al. Appendix A.2 is garbled; the
reading above (two 3×3 convolution blocks of 32 and 64 filters, dense 256) is ours.
Every net takes inputs of shape ``(n, *input_shape)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
from torch import nn

from tradeoff._validate import check_choice, check_int, check_seed

__all__ = ["NETS", "build"]

NETS = (
    "linear",
    "madry_mnist",
    "trades_small_cnn",
    "collins_fc",
    "kim_mnist",
    "kim_cifar",
    "toy_mlp",
)
#: bounds of build's arguments: beyond them the layers cannot be allocated (a refusal at
#: once instead of torch's allocation errors)
_MAX_CLASSES = 100_000
_MAX_INPUT = 2**24
_DEFAULT_SHAPE = {"kim_cifar": (3, 32, 32), "toy_mlp": (2,)}
# Networks made for one input format, which build() refuses for any other.
_REQUIRED_SHAPE = {"kim_cifar": ((3, 32, 32), "CIFAR-10")}


def _flat_size(features: nn.Module, shape: tuple[int, ...]) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, *shape)).numel())


def _conv_net(
    convs: Sequence[tuple[int, int, int] | str],
    dense: Sequence[int],
    shape: tuple[int, ...],
    k: int,
    dropout_after: int | None = None,
) -> nn.Sequential:
    """convs: (out_channels, kernel, padding) or "pool"; dense: hidden widths."""
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width) for a CNN, got {shape}")
    layers: list[nn.Module] = []
    c = shape[0]
    for spec in convs:
        if spec == "pool":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out, kern, pad = cast("tuple[int, int, int]", spec)  # not "pool": a conv spec
            layers += [nn.Conv2d(c, out, kern, padding=pad), nn.ReLU()]
            c = out
    features = nn.Sequential(*layers, nn.Flatten())
    try:
        width = _flat_size(features, shape)
    except RuntimeError as exc:
        raise ValueError(f"input_shape {shape} is too small for this network: {exc}") from exc
    head: list[nn.Module] = []
    for i, h in enumerate(dense):
        head += [nn.Linear(width, h), nn.ReLU()]
        if dropout_after == i:
            head.append(nn.Dropout(0.5))
        width = h
    head.append(nn.Linear(width, k))
    return nn.Sequential(*features, *head)


def _mlp(hidden: Sequence[int], shape: tuple[int, ...], k: int) -> nn.Sequential:
    width = 1
    for s in shape:
        width *= s
    layers: list[nn.Module] = [nn.Flatten()]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, k))
    return nn.Sequential(*layers)


def _trades_init(net: nn.Sequential) -> None:
    # TRADES SmallCNN (models/small_cnn.py): Kaiming-normal convolutions with zero bias, a
    # zero last layer (so the initial input gradient is exactly zero); the hidden dense
    # layers keep PyTorch's default initialisation, biases included.
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(cast(torch.Tensor, m.bias))  # _conv_net's convolutions have one
    last = cast(nn.Linear, net[-1])  # _conv_net ends on the linear output layer
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)


def build(
    name: str,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int = 10,
    seed: int | None = None,
) -> nn.Sequential:
    """Build one of the papers' networks (see the module table).

    Parameters
    ----------
    name:
        one of :data:`NETS`.
    input_shape:
        shape of one input, ``(channels, height, width)`` for the CNNs (default
        ``(1, 28, 28)``; ``(3, 32, 32)`` for ``kim_cifar``; ``(2,)`` for ``toy_mlp``).
        ``kim_cifar`` is CIFAR-10's network and accepts only ``(3, 32, 32)``
        (``ValueError`` otherwise). At most 2**24 entries in all.
    num_classes:
        number of outputs; 1 for a binary task with ±1 labels (at most 100 000).
    seed:
        if given, the weights are initialised from this seed without touching torch's
        global random state; otherwise from the global state (``torch.manual_seed``).
    """
    check_choice("name", name, NETS)
    k = check_int("num_classes", num_classes, low=1, high=_MAX_CLASSES)
    if input_shape is not None and not isinstance(input_shape, (tuple, list)):
        raise TypeError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    shape = tuple(input_shape) if input_shape is not None else _DEFAULT_SHAPE.get(name, (1, 28, 28))
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape
    ):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    if math.prod(shape) > _MAX_INPUT:
        raise ValueError(
            f"input_shape must have at most {_MAX_INPUT} entries in all (one input), got "
            f"{input_shape!r}"
        )
    if name in _REQUIRED_SHAPE and shape != _REQUIRED_SHAPE[name][0]:
        need, data = _REQUIRED_SHAPE[name]
        raise ValueError(
            f"net {name!r} is made for {data} and needs input_shape {need}, got {shape}; "
            "choose another net for this data"
        )
    if seed is not None:
        seed = check_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _build(name, shape, k)
    return _build(name, shape, k)


def _build(name: str, shape: tuple[int, ...], k: int) -> nn.Sequential:
    if name == "linear":
        return _mlp((), shape, k)
    if name == "collins_fc":
        return _mlp((1024, 1024), shape, k)
    if name == "toy_mlp":
        return _mlp((128,), shape, k)
    if name == "madry_mnist":
        return _conv_net([(32, 5, 2), "pool", (64, 5, 2), "pool"], (1024,), shape, k)
    if name == "trades_small_cnn":
        net = _conv_net(
            [(32, 3, 0), (32, 3, 0), "pool", (64, 3, 0), (64, 3, 0), "pool"],
            (200, 200),
            shape,
            k,
            dropout_after=0,
        )
        _trades_init(net)
        return net
    if name == "kim_mnist":
        return _conv_net([(64, 5, 0), (32, 5, 0), "pool"], (1024,), shape, k)
    # kim_cifar
    return _conv_net(
        [(32, 3, 0), (32, 3, 0), "pool", (64, 3, 0), (64, 3, 0), "pool"], (256,), shape, k
    )
