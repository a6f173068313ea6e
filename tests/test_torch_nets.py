"""tradeoff.torch.nets: shapes and parameter counts against the papers' layer lists."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from tradeoff.torch import nets  # noqa: E402


def conv(cin, cout, k):
    return cin * cout * k * k + cout


def dense(a, b):
    return a * b + b


# Parameter counts written from the papers' layer lists (independent of nets.py).
EXPECTED = {
    # same padding: 28 -> pool 14 -> pool 7
    "madry_mnist": conv(1, 32, 5) + conv(32, 64, 5) + dense(7 * 7 * 64, 1024) + dense(1024, 10),
    # valid: 28 -> 26 -> 24 -> 12 -> 10 -> 8 -> 4
    "trades_small_cnn": conv(1, 32, 3)
    + conv(32, 32, 3)
    + conv(32, 64, 3)
    + conv(64, 64, 3)
    + dense(4 * 4 * 64, 200)
    + dense(200, 200)
    + dense(200, 10),
    "collins_fc": dense(784, 1024) + dense(1024, 1024) + dense(1024, 10),
    # valid: 28 -> 24 -> 20 -> 10
    "kim_mnist": conv(1, 64, 5) + conv(64, 32, 5) + dense(10 * 10 * 32, 1024) + dense(1024, 10),
    "linear": dense(784, 10),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parameter_counts_mnist(name):
    net = nets.build(name, seed=0)
    assert sum(p.numel() for p in net.parameters()) == EXPECTED[name]
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_kim_cifar_and_toy_defaults():
    # 32 -> 30 -> 28 -> 14 -> 12 -> 10 -> 5
    want = (
        conv(3, 32, 3)
        + conv(32, 32, 3)
        + conv(32, 64, 3)
        + conv(64, 64, 3)
        + dense(5 * 5 * 64, 256)
        + dense(256, 10)
    )
    net = nets.build("kim_cifar")
    assert sum(p.numel() for p in net.parameters()) == want
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    toy = nets.build("toy_mlp", num_classes=2)
    assert sum(p.numel() for p in toy.parameters()) == dense(2, 128) + dense(128, 2)
    assert toy(torch.zeros(5, 2)).shape == (5, 2)


@pytest.mark.parametrize("name", nets.NETS)
def test_other_input_sizes_and_binary_output(name):
    shape = (2,) if name == "toy_mlp" else (3, 32, 32)
    net = nets.build(name, input_shape=shape, num_classes=1)
    assert net(torch.zeros(4, *shape)).shape == (4, 1)


def test_trades_small_cnn_init_and_dropout():
    net = nets.build("trades_small_cnn", seed=1)
    assert torch.count_nonzero(net[-1].weight) == 0 and torch.count_nonzero(net[-1].bias) == 0
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in net.modules())
    # the reference (TRADES models/small_cnn.py): Kaiming-normal convolutions (std
    # sqrt(2 / fan_in)) with zero biases; fc1, fc2 keep nn.Linear's default
    # U(−1/sqrt(fan_in), 1/sqrt(fan_in)) biases
    from scipy import stats

    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    dense = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 4 and len(dense) == 3
    for c in convs:
        assert torch.count_nonzero(c.bias) == 0
        fan_in = c.weight[0].numel()
        w = c.weight.detach().double().flatten().numpy()
        assert stats.kstest(w, stats.norm(scale=math.sqrt(2 / fan_in)).cdf).pvalue > 1e-4
    for fc in dense[:2]:
        bound = 1 / math.sqrt(fc.in_features)
        b = fc.bias.detach().double().numpy()
        assert stats.kstest(b, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-4


def test_seeded_build_is_reproducible_and_leaves_global_rng():
    state = torch.get_rng_state()
    a = nets.build("madry_mnist", seed=7)
    b = nets.build("madry_mnist", seed=7)
    c = nets.build("madry_mnist", seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_bad_arguments():
    with pytest.raises(ValueError, match="name must be one of"):
        nets.build("resnet50")
    with pytest.raises(ValueError, match="num_classes"):
        nets.build("linear", num_classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        nets.build("madry_mnist", input_shape=(784,))
    with pytest.raises(ValueError, match="too small"):
        nets.build("kim_mnist", input_shape=(1, 8, 8))
