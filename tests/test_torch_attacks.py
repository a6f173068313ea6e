"""tradeoff.torch.attacks against independent eager implementations written here."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from _torch_probes import ModeProbe  # noqa: E402
from torch import nn  # noqa: E402

from tradeoff.torch import attacks, data, nets  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def train_plain(model, x, y, epochs=30, lr=3e-3, seed=0, binary=False):
    """A plain full-batch-ish Adam loop (independent of tradeoff.torch.train)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            out = model(x[idx])
            if binary:
                loss = F.softplus(-y[idx] * out.squeeze(1)).mean()
            else:
                loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def mlp(digits):
    torch.manual_seed(0)
    m = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    return train_plain(m, digits.train.x, digits.train.y)


@pytest.fixture(scope="module")
def binary_linear():
    d = data.load("digits", binary=(5, 7))
    m = nets.build("linear", input_shape=(1, 8, 8), num_classes=1, seed=0)
    return train_plain(m, d.train.x, d.train.y, epochs=20, binary=True), d


def eager_pgd(model, x, y, *, eps, alpha, steps, norm, gen=None):
    """PGD as torchattacks / Madry et al. write it: mean CE, eager tensor ops."""
    if gen is None:
        xa = x.clone()
    elif norm == "linf":
        xa = (x + (torch.rand(x.shape, generator=gen) * 2 - 1) * eps).clamp(0, 1)
    else:
        z = torch.randn(x.shape, generator=gen).flatten(1)
        z = z / z.norm(dim=1, keepdim=True)
        r = torch.rand(len(x), 1, generator=gen) ** (1.0 / z.shape[1])
        xa = (x + (eps * r * z).view_as(x)).clamp(0, 1)
    for _ in range(steps):
        xa.requires_grad_(True)
        loss = F.cross_entropy(model(xa), y)
        (g,) = torch.autograd.grad(loss, xa)
        with torch.no_grad():
            if norm == "linf":
                xa = xa + alpha * g.sign()
                xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0, 1)
            else:
                gn = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                xa = xa + alpha * g / torch.where(gn > 0, gn, torch.ones_like(gn))
                d = xa - x
                dn = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                factor = torch.where(dn > eps, eps / dn.clamp_min(1e-30), torch.ones_like(dn))
                xa = (x + d * factor).clamp(0, 1)
    return xa.detach()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize(("norm", "eps", "alpha"), [("linf", 0.1, 0.02), ("l2", 1.0, 0.25)])
def test_matches_eager_pgd_without_random_start(mlp, digits, norm, eps, alpha):
    x, y = digits.test.x, digits.test.y
    ours = attacks.pgd(mlp, x, y, eps=eps, alpha=alpha, steps=10, norm=norm, random_start=False)
    ref = eager_pgd(mlp, x, y, eps=eps, alpha=alpha, steps=10, norm=norm)
    torch.testing.assert_close(ours, ref, atol=2e-6, rtol=0)
    assert accuracy(mlp, ours, y) < accuracy(mlp, x, y) - 0.2  # the attack does something


@pytest.mark.parametrize(("norm", "eps", "alpha"), [("linf", 0.1, 0.01), ("l2", 0.5, 0.05)])
def test_robust_accuracy_equals_eager_pgd_within_noise(mlp, digits, norm, eps, alpha):
    x, y = digits.test.x, digits.test.y
    n = len(y)
    ours = accuracy(
        mlp, attacks.pgd(mlp, x, y, eps=eps, alpha=alpha, steps=20, norm=norm, seed=1), y
    )
    gen = torch.Generator().manual_seed(2)
    ref = accuracy(mlp, eager_pgd(mlp, x, y, eps=eps, alpha=alpha, steps=20, norm=norm, gen=gen), y)
    p = (ours + ref) / 2
    assert 0.05 < p < accuracy(mlp, x, y) - 0.1
    assert abs(ours - ref) <= 5 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("eps", [0.0, 0.03, 0.5, 2.0])
@pytest.mark.parametrize("restarts", [1, 3])
def test_result_in_ball_and_box(mlp, digits, norm, eps, restarts):
    x, y = digits.test.x[:64], digits.test.y[:64]
    xa = attacks.pgd(
        mlp, x, y, eps=eps, alpha=eps / 4 + 0.01, steps=5, norm=norm, restarts=restarts, seed=3
    )
    assert torch.isfinite(xa).all()
    assert float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0
    d = (xa - x).flatten(1)
    if norm == "linf":
        assert float(d.abs().max()) <= eps * (1 + 1e-6)
    else:
        assert float(d.norm(dim=1).max()) <= eps * (1 + 1e-5) + 1e-7
    if eps == 0.0:
        assert torch.equal(xa, x)


def test_zero_gradient_gives_no_nan_and_no_move(digits):
    net = nets.build("trades_small_cnn", input_shape=(1, 28, 28), seed=0)  # last layer zero
    x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.zeros(8, dtype=torch.long)
    for norm in ("linf", "l2"):
        xa = attacks.pgd(net, x, y, eps=0.3, alpha=0.1, steps=3, norm=norm, random_start=False)
        assert torch.equal(xa, x)
    xt = attacks.trades_inner_max(net, x, eps=0.3, alpha=0.1, steps=3, norm="l2", seed=0)
    assert torch.isfinite(xt).all()


@pytest.mark.parametrize("which", ["pgd", "fgsm", "trades"])
def test_mode_restored_and_grads_untouched(mlp, digits, which):
    probe = ModeProbe(mlp)
    probe.train()
    probe.inner.eval()  # mixed modes: each must come back as it was
    for p in probe.parameters():
        p.grad = torch.full_like(p, 0.5)
    x, y = digits.test.x[:32], digits.test.y[:32]
    if which == "pgd":
        attacks.pgd(probe, x, y, eps=0.1, alpha=0.02, steps=3, restarts=2, seed=0)
    elif which == "fgsm":
        attacks.fgsm(probe, x, y, eps=0.1)
    else:
        attacks.trades_inner_max(probe, x, eps=0.1, alpha=0.02, steps=3, seed=0)
    assert probe.seen and not any(probe.seen)  # eval mode inside the attack
    assert probe.training and probe.drop.training and not probe.inner.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in probe.parameters())
    probe.zero_grad(set_to_none=True)
    attacks.pgd(probe, x, y, eps=0.1, alpha=0.02, steps=2, seed=0)
    assert all(p.grad is None for p in probe.parameters())


def test_mode_restored_when_attack_raises(mlp, digits):
    probe = ModeProbe(mlp).train()

    def bad_loss(logits, y):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        attacks.pgd(
            probe, digits.test.x[:4], digits.test.y[:4], eps=0.1, alpha=0.1, steps=1, loss=bad_loss
        )
    assert probe.training and probe.drop.training


def test_gradient_per_sample_does_not_depend_on_batch(mlp, digits):
    x, y = digits.test.x[:40], digits.test.y[:40]

    def obj(logits):
        return attacks.per_sample_loss(logits, y[: len(logits)], "ce").sum()

    g_all = attacks.input_gradient(mlp, x, obj)
    for i in (0, 17, 39):
        gi = attacks.input_gradient(
            mlp, x[i : i + 1], lambda lg, i=i: attacks.per_sample_loss(lg, y[i : i + 1]).sum()
        )
        torch.testing.assert_close(g_all[i : i + 1], gi, atol=1e-7, rtol=1e-5)


def test_restarts_keep_per_sample_worst(mlp, digits):
    x, y = digits.test.x[:200], digits.test.y[:200]
    kw = dict(eps=0.08, alpha=0.02, steps=3)
    seeds = np.random.default_rng(11)
    runs = [attacks.pgd(mlp, x, y, restarts=1, seed=seeds, **kw) for _ in range(4)]
    best = attacks.pgd(mlp, x, y, restarts=4, seed=np.random.default_rng(11), **kw)
    with torch.no_grad():
        logits = [mlp(r) for r in runs]
    wrong = torch.stack([lg.argmax(1) != y for lg in logits])  # (4, n)
    loss = torch.stack([F.cross_entropy(lg, y, reduction="none") for lg in logits])
    # expected choice: a misclassifying run first, then the highest loss (first on ties)
    score = wrong.double() * 1e6 + loss.double()
    pick = score.argmax(0)
    expected = torch.stack([runs[int(k)][i] for i, k in enumerate(pick)])
    torch.testing.assert_close(best, expected, atol=0, rtol=0)
    assert len(set(pick.tolist())) > 1  # different samples took different restarts
    with torch.no_grad():
        assert (mlp(best).argmax(1) != y).float().mean() >= wrong.float().mean(1).max()


def test_targeted_reaches_target(mlp, digits):
    x = digits.test.x[:100]
    target = (digits.test.y[:100] + 1) % 10
    xa = attacks.pgd(mlp, x, target, eps=1.0, alpha=0.05, steps=40, targeted=True, seed=0)
    with torch.no_grad():
        hit = float((mlp(xa).argmax(1) == target).float().mean())
        before = float((mlp(x).argmax(1) == target).float().mean())
    assert before < 0.1 and hit > 0.9


def test_fgsm_and_pgd_on_linear_model_match_closed_form(binary_linear):
    """For f(x) = w·x + b and the logistic loss, the worst l∞ perturbation in the box is
    coordinate-wise clip(x − ε·y·sign(w)) (Tsipras et al. Table 4 / notes)."""
    model, d = binary_linear
    x, y = d.test.x, d.test.y
    w = model[-1].weight.detach().view(1, *x.shape[1:])
    eps = 0.2
    exact = (x - eps * y.view(-1, 1, 1, 1) * torch.sign(w)).clamp(0, 1)
    torch.testing.assert_close(attacks.fgsm(model, x, y, eps=eps), exact, atol=1e-6, rtol=0)
    xa = attacks.pgd(model, x, y, eps=eps, alpha=0.06, steps=8, seed=0)
    torch.testing.assert_close(xa, exact, atol=1e-6, rtol=0)
    with torch.no_grad():
        margin = (model(exact).squeeze(1) * y).min()
    assert float(margin) < 0  # ε = 0.2 breaks some sample of a standard linear model


def test_cw_and_custom_losses(mlp, digits):
    x, y = digits.test.x[:64], digits.test.y[:64]
    cw = attacks.pgd(mlp, x, y, eps=0.1, alpha=0.02, steps=10, loss="cw", seed=0)
    assert accuracy(mlp, cw, y) < accuracy(mlp, x, y)

    def mine(logits, labels):
        return F.cross_entropy(logits, labels, reduction="none")

    a = attacks.pgd(mlp, x, y, eps=0.1, alpha=0.02, steps=5, loss=mine, seed=4)
    b = attacks.pgd(mlp, x, y, eps=0.1, alpha=0.02, steps=5, loss="ce", seed=4)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    with pytest.raises(ValueError, match="one value per sample"):
        attacks.pgd(mlp, x, y, eps=0.1, alpha=0.02, steps=1, loss=lambda lg, t: mine(lg, t).mean())


def eager_trades_inner(model, x, start, *, eps, alpha, steps, norm="linf"):
    """The reference trades.py loop from a given start, written out eagerly: the KL summed
    over the batch, clean logits recomputed at every step, eval mode; l2 with a
    normalised-gradient step and a renorm of x' − x to ε (see the attack's docstring)."""
    model.eval()
    xa = start.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        kl = F.kl_div(F.log_softmax(model(xa), dim=1), F.softmax(model(x), dim=1), reduction="sum")
        (g,) = torch.autograd.grad(kl, xa)
        with torch.no_grad():
            if norm == "linf":
                xa = xa + alpha * torch.sign(g)
                xa = torch.min(torch.max(xa, x - eps), x + eps).clamp(0.0, 1.0)
            else:
                d = xa + alpha * g / g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) - x
                dn = d.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                xa = (x + d * torch.clamp(eps / dn, max=1.0)).clamp(0.0, 1.0)
    return xa.detach()


@pytest.mark.parametrize("norm, eps, alpha", [("linf", 0.1, 0.02), ("l2", 0.8, 0.2)])
def test_trades_inner_max_matches_reference_loop(mlp, digits, norm, eps, alpha):
    """Pixels moved into [0.25, 0.75] so that the 0.001·N(0, I) start is never clipped:
    ``steps=0`` then returns the unclipped start, from which the eager loop runs. (From
    init_std=0 the KL gradient at x' = x is zero up to rounding, so a test from there
    would compare rounding noise.)"""
    x = (0.25 + 0.5 * digits.test.x[:100]).double()
    m64 = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    m64.load_state_dict(mlp.state_dict())
    m64 = m64.double().train()
    kw = dict(eps=eps, alpha=alpha, norm=norm, seed=7)
    start = attacks.trades_inner_max(m64, x, steps=0, **kw)
    noise = (start - x) / 0.001
    assert abs(float(noise.mean())) < 0.05 and abs(float(noise.std()) - 1) < 0.05
    ours = attacks.trades_inner_max(m64, x, steps=6, **kw)
    assert m64.training  # the caller's mode is restored (the reference leaves train mode)
    ref = eager_trades_inner(m64, x, start, steps=6, eps=eps, alpha=alpha, norm=norm)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    dist = (
        (ours - x).flatten(1).abs().amax(1) if norm == "linf" else (ours - x).flatten(1).norm(dim=1)
    )
    assert float(dist.max()) <= eps * (1 + 1e-12) and float(dist.mean()) > 0.5 * eps
    with torch.no_grad():
        kl = attacks.trades_kl(m64(ours), m64(x)).mean()
    assert float(kl) > 0.05
    assert torch.equal(ours, attacks.trades_inner_max(m64, x, steps=6, **kw))  # seeded


def test_trades_inner_max_start_and_zero_steps(mlp, digits):
    x = digits.test.x[:100]
    zero = attacks.trades_inner_max(mlp, x, eps=0.0005, alpha=0.01, steps=0, seed=0)
    assert float((zero - x).abs().max()) <= 0.0005 + 1e-7 and float(zero.min()) >= 0.0


def test_trades_kl_binary_is_bernoulli_kl():
    a, b = torch.tensor([[0.3], [-2.0], [40.0]]), torch.tensor([[1.0], [0.5], [-40.0]])
    p, q = torch.sigmoid(b).double(), torch.sigmoid(a).double()
    want = p * torch.log(p / q) + (1 - p) * torch.log((1 - p) / (1 - q))
    got = attacks.trades_kl(a, b).double()
    torch.testing.assert_close(got[:2], want[:2].squeeze(1), atol=1e-6, rtol=1e-5)
    # at logits a = 40, b = -40: KL = p·log(p/q) + (1−p)·log((1−p)/(1−q)) → log(1 + e^40)
    # − log(1 + e^-40) + (terms of size 1e-16) ≈ 40; the naive formula overflows to inf in float32
    assert abs(float(got[2]) - 40.0) < 1e-4


def test_bad_arguments(mlp, digits):
    x, y = digits.test.x[:4], digits.test.y[:4]
    with pytest.raises(ValueError, match="eps"):
        attacks.pgd(mlp, x, y, eps=-0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError, match="norm"):
        attacks.pgd(mlp, x, y, eps=0.1, alpha=0.1, steps=1, norm="l3")
    with pytest.raises(ValueError, match="outside clip"):
        attacks.pgd(mlp, x * 2 - 1, y, eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(ValueError, match="restarts"):
        attacks.pgd(mlp, x, y, eps=0.1, alpha=0.1, steps=1, restarts=0)
    with pytest.raises(TypeError, match="seed"):
        attacks.pgd(mlp, x, y, eps=0.1, alpha=0.1, steps=1, seed="a")
    with pytest.raises(ValueError, match="alpha"):
        attacks.PGD(eps=0.1, alpha=-1.0, steps=3)
    with pytest.raises(TypeError, match="x must be a float32 or float64 tensor"):
        half = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0).half()
        attacks.pgd(half, x.half(), y, eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        attacks.pgd(mlp, x, y, eps=0.1, alpha=0.1, steps=1.5)
    with warnings.catch_warnings():  # an input that requires grad: no autograd warning
        warnings.simplefilter("error")
        xa = attacks.pgd(mlp, x.clone().requires_grad_(True), y, eps=0.1, alpha=0.1, steps=1)
    assert not xa.requires_grad
    # a different pixel range is fine when stated
    xa = attacks.pgd(mlp, x * 2 - 1, y, eps=0.2, alpha=0.1, steps=2, clip=(-1.0, 1.0), seed=0)
    assert float(xa.min()) >= -1.0 and float((xa - (x * 2 - 1)).abs().max()) <= 0.2 + 1e-6


def test_fast_model_is_an_equivalent_frozen_copy():
    net = nets.build("madry_mnist", seed=0).train()
    x = torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(1))
    fast = attacks.fast_model(net)
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert net[0].weight.is_contiguous()  # the original keeps its layout
    assert not fast.training and not any(p.requires_grad for p in fast.parameters())
    assert fast[0].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), net.eval()(x), atol=1e-4, rtol=1e-4)
    a = attacks.pgd(net, x, y, eps=0.1, alpha=0.02, steps=3, seed=0)
    b = attacks.pgd(fast, x, y, eps=0.1, alpha=0.02, steps=3, seed=0)
    # same iterates except where a gradient coordinate is within rounding of zero
    assert float((a != b).float().mean()) < 0.01


_TINY = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))


@given(
    eps=st.sampled_from([0.0, 1e-3, 0.05, 0.3, 2.0]),
    alpha=st.floats(0.0, 1.0),
    steps=st.integers(0, 3),
    norm=st.sampled_from(["linf", "l2"]),
    restarts=st.integers(1, 2),
    clip=st.sampled_from([(0.0, 1.0), (-1.0, 1.0), (-0.1, 0.7), (0.0, 0.1)]),
    random_start=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_pgd_invariants_property(eps, alpha, steps, norm, restarts, clip, random_start, seed):
    gen = torch.Generator().manual_seed(seed)
    # bounds as float32 holds them (float32(0.1) > 0.1): the box a float32 batch can be in
    lo, hi = (float(torch.tensor(c, dtype=torch.float32)) for c in clip)
    x = (lo + (hi - lo) * torch.rand(6, 3, 2, 2, generator=gen)).clamp(lo, hi)
    y = torch.randint(0, 3, (6,), generator=gen)
    xa = attacks.pgd(
        _TINY,
        x,
        y,
        eps=eps,
        alpha=alpha,
        steps=steps,
        norm=norm,
        restarts=restarts,
        random_start=random_start,
        seed=seed,
        clip=clip,
    )
    assert xa.shape == x.shape and torch.isfinite(xa).all()
    assert float(xa.min()) >= lo and float(xa.max()) <= hi
    d = (xa - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5) + 1e-6
    if eps == 0.0 or (steps == 0 and not random_start):
        assert torch.equal(xa, x)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_random_start_is_uniform_in_the_ball(norm):
    """steps=0 returns the start: l∞ coordinates ~ U(−ε, ε); l2 radius R with
    P(R ≤ rε) = r^d (uniform in the ball, not on the sphere: Madry et al.'s library
    starts on the sphere), direction uniform. Kolmogorov–Smirnov against the closed forms."""
    from scipy import stats

    n, d, eps = 2000, 16, 0.2
    x = torch.full((n, 1, 4, 4), 0.5)  # ε < 0.5: no clipping
    identity = nn.Flatten()
    y = torch.zeros(n, dtype=torch.long)
    xa = attacks.pgd(identity, x, y, eps=eps, alpha=0.1, steps=0, norm=norm, seed=5)
    delta = (xa - x).flatten(1).double()
    if norm == "linf":
        u = (delta[:, :3].flatten() / eps).numpy()  # independent coordinates
        assert stats.kstest(u, stats.uniform(-1, 2).cdf).pvalue > 1e-3
    else:
        r = (delta.norm(dim=1) / eps).numpy()
        assert r.max() <= 1 + 1e-6
        assert stats.kstest(r**d, "uniform").pvalue > 1e-3
        # direction: the first coordinate of z/‖z‖ has density ∝ (1 − t²)^((d−3)/2)
        t = (delta[:, 0] / delta.norm(dim=1)).numpy()
        beta = stats.beta((d - 1) / 2, (d - 1) / 2, loc=-1, scale=2)
        assert stats.kstest(t, beta.cdf).pvalue > 1e-3


def test_targeted_restarts_keep_lowest_loss_among_hits(mlp, digits):
    """Targeted restarts: classified as the target first, then the lowest loss; expected
    choice computed here from the single runs."""
    x = digits.test.x[:200]
    target = (digits.test.y[:200] + 3) % 10
    kw = dict(eps=0.15, alpha=0.03, steps=4, targeted=True)
    seeds = np.random.default_rng(21)
    runs = [attacks.pgd(mlp, x, target, restarts=1, seed=seeds, **kw) for _ in range(3)]
    best = attacks.pgd(mlp, x, target, restarts=3, seed=np.random.default_rng(21), **kw)
    with torch.no_grad():
        logits = [mlp(r) for r in runs]
    hit = torch.stack([lg.argmax(1) == target for lg in logits])
    loss = torch.stack([F.cross_entropy(lg, target, reduction="none") for lg in logits])
    pick = (hit.double() * 1e6 - loss.double()).argmax(0)
    expected = torch.stack([runs[int(k)][i] for i, k in enumerate(pick)])
    assert 0 < int(hit.any(0).sum()) < len(x)  # the rule is exercised both ways
    assert len(set(pick.tolist())) > 1
    torch.testing.assert_close(best, expected, atol=0, rtol=0)


def test_float64_model_and_mismatched_inputs(mlp, digits):
    x, y = digits.test.x[:32], digits.test.y[:32]
    m64 = nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10, seed=0)
    m64.load_state_dict(mlp.state_dict())
    m64 = m64.double().eval()
    for fn in (
        lambda m, xx: attacks.pgd(m, xx, y, eps=0.1, alpha=0.02, steps=2, seed=0),
        lambda m, xx: attacks.trades_inner_max(m, xx, eps=0.1, alpha=0.02, steps=2, seed=0),
    ):
        with pytest.raises(TypeError, match=r"x has dtype torch.float32.*float64"):
            fn(m64, x)
        with pytest.raises(ValueError, match=r"x is on cpu.*meta"):
            fn(nets.build("toy_mlp", input_shape=(1, 8, 8), num_classes=10).to("meta"), x)
    ours = attacks.pgd(m64, x.double(), y, eps=0.1, alpha=0.02, steps=5, random_start=False)
    ref = eager_pgd(m64, x.double(), y, eps=0.1, alpha=0.02, steps=5, norm="linf")
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


def test_bad_labels(mlp, digits, binary_linear):
    x, y = digits.test.x[:4], digits.test.y[:4]
    kw = dict(eps=0.1, alpha=0.1, steps=1)
    with pytest.raises(TypeError, match=r"y must be a torch\.Tensor"):
        attacks.pgd(mlp, x, y.tolist(), **kw)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        attacks.pgd(mlp, x, torch.zeros(4, 2, dtype=torch.long), **kw)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        attacks.pgd(mlp, x, y[:3], **kw)
    with pytest.raises(TypeError, match="integer class indices"):
        attacks.pgd(mlp, x, y.float(), **kw)
    model, d = binary_linear
    xb = d.test.x[:4]
    with pytest.raises(ValueError, match=r"labels y in \{-1, \+1\}"):
        attacks.pgd(model, xb, torch.tensor([0.0, 1.0, 0.0, 1.0]), **kw)
    # integer labels of any width give the same attack as int64 ones (ce and cw)
    for loss in ("ce", "cw"):
        ref = attacks.pgd(mlp, x, y, seed=0, loss=loss, restarts=2, **kw)
        for dt in (torch.int32, torch.int16, torch.uint8):
            got = attacks.pgd(mlp, x, y.to(dt), seed=0, loss=loss, restarts=2, **kw)
            torch.testing.assert_close(got, ref, atol=0, rtol=0)
    # (n, 1) labels are accepted and equal (n,) ones
    a = attacks.pgd(mlp, x, y.view(4, 1), seed=0, **kw)
    torch.testing.assert_close(a, attacks.pgd(mlp, x, y, seed=0, **kw), atol=0, rtol=0)


def test_restarts_without_random_start_run_once(mlp, digits):
    """Restarts from x itself are identical: one run, the same result as restarts=1."""
    x, y = digits.test.x[:32], digits.test.y[:32]
    calls = []
    counted = ModeProbe(mlp)
    counted.register_forward_hook(lambda *a: calls.append(1))
    kw = dict(eps=0.1, alpha=0.02, steps=4, random_start=False)
    many = attacks.pgd(counted, x, y, restarts=5, **kw)
    assert len(calls) == 4  # one forward per step, no restarts, no selection pass
    torch.testing.assert_close(many, attacks.pgd(mlp, x, y, restarts=1, **kw), atol=0, rtol=0)
