"""tradeoff.torch.attribution: gradients against finite differences, autograd by hand and
Captum; integrated gradients' completeness; display conventions on known inputs; the
attack contract of large_eps_examples."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from tradeoff.torch import attribution as A  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(dtype=torch.float64, k=3, seed=0):
    torch.manual_seed(seed)
    m = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.Tanh(),
        nn.Linear(16, k),
    ).to(dtype)
    return m


def _batch(n=5, dtype=torch.float64, seed=1, k=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n, 1, 6, 6), generator=g, dtype=dtype)
    y = torch.randint(0, k, (n,), generator=g)
    return x, y


def test_loss_gradient_against_finite_differences_and_autograd():
    m, (x, y) = _model(), _batch()
    g = A.saliency(m, x, y, "grad")
    # by hand: autograd of the summed cross-entropy
    xr = x.clone().requires_grad_(True)
    F.cross_entropy(m(xr), y, reduction="sum").backward()
    torch.testing.assert_close(g, xr.grad, rtol=0, atol=1e-14)
    # central differences on a few coordinates
    h = 1e-6
    for idx in [(0, 0, 2, 3), (3, 0, 5, 0), (4, 0, 1, 1)]:
        xp, xm = x.clone(), x.clone()
        xp[idx] += h
        xm[idx] -= h
        with torch.no_grad():
            fp = F.cross_entropy(m(xp), y, reduction="sum")
            fd = (fp - F.cross_entropy(m(xm), y, reduction="sum")) / (2 * h)
        assert abs(float(fd) - float(g[idx])) < 1e-8


def test_batch_independence_mode_and_grads_untouched():
    m, (x, y) = _model(), _batch()
    m.train()
    for p in m.parameters():
        p.grad = torch.full_like(p, 7.0)
    full = A.saliency(m, x, y, "grad")
    one = A.saliency(m, x[2:3], y[2:3], "grad")
    torch.testing.assert_close(full[2:3], one, rtol=0, atol=1e-15)
    assert m.training and all(bool((p.grad == 7).all()) for p in m.parameters())
    gx = A.saliency(m, x, y, "grad_x_input")
    assert torch.equal(gx, full * x)


def test_integrated_gradients_completeness():
    m, (x, y) = _model(), _batch()
    for target, base in (("loss", None), ("logit", 0.5)):
        ig = A.saliency(m, x, y, "integrated_gradients", target=target, steps=64, baseline=base)
        b = torch.zeros_like(x) if base is None else torch.full_like(x, base)
        with torch.no_grad():
            if target == "loss":
                fx = F.cross_entropy(m(x), y, reduction="none")
                fb = F.cross_entropy(m(b), y, reduction="none")
            else:
                fx = m(x).gather(1, y.view(-1, 1)).squeeze(1)
                fb = m(b).gather(1, y.view(-1, 1)).squeeze(1)
        torch.testing.assert_close(ig.sum(dim=(1, 2, 3)), fx - fb, rtol=0, atol=1e-9)


def test_against_captum():
    captum = pytest.importorskip("captum.attr", reason="captum (test extra) not installed")
    m, (x, y) = _model(), _batch()

    def loss_forward(inp):
        return F.cross_entropy(m(inp), y, reduction="none")

    # internal_batch_size = n: each forward holds one quadrature node for every sample
    ig = captum.IntegratedGradients(loss_forward).attribute(
        x, baselines=0.0, n_steps=40, internal_batch_size=len(x)
    )
    ours = A.saliency(m, x, y, "integrated_gradients", steps=40)
    # Captum rounds its quadrature nodes and weights to float32: agreement to ~1e-8 relative
    torch.testing.assert_close(ours, ig, rtol=1e-7, atol=1e-9)
    ig_logit = captum.IntegratedGradients(m).attribute(x, baselines=0.2, target=y, n_steps=30)
    ours = A.saliency(m, x, y, "integrated_gradients", target="logit", steps=30, baseline=0.2)
    torch.testing.assert_close(ours, ig_logit, rtol=1e-7, atol=1e-9)
    ixg = captum.InputXGradient(loss_forward).attribute(x)
    torch.testing.assert_close(A.saliency(m, x, y, "grad_x_input"), ixg, rtol=0, atol=1e-14)
    sal = captum.Saliency(m).attribute(x, target=y, abs=False)
    torch.testing.assert_close(A.saliency(m, x, y, "grad", target="logit"), sal, rtol=0, atol=1e-14)
    # SmoothGrad: Captum draws its own noise; with many samples both approach the same mean
    torch.manual_seed(0)
    nt = captum.NoiseTunnel(captum.Saliency(m)).attribute(
        x, nt_type="smoothgrad", nt_samples=400, stdevs=0.05, target=y, abs=False
    )
    ours = A.smoothgrad(m, x, y, target="logit", samples=400, noise=0.05, seed=1)
    cos = F.cosine_similarity(ours.flatten(1), nt.flatten(1), dim=1)
    assert bool((cos > 0.99).all()), cos


def test_smoothgrad_is_the_mean_gradient_over_its_noise():
    m, (x, y) = _model(), _batch()
    sg = A.smoothgrad(m, x, y, samples=7, noise=0.1, seed=3)
    gen = torch.Generator().manual_seed(3)
    ref = torch.zeros_like(x)
    for _ in range(7):
        xn = (x + 0.1 * torch.randn(x.shape, generator=gen, dtype=x.dtype)).requires_grad_(True)
        F.cross_entropy(m(xn), y, reduction="sum").backward()
        ref += xn.grad
    torch.testing.assert_close(sg, ref / 7, rtol=0, atol=1e-13)
    assert torch.equal(sg, A.smoothgrad(m, x, y, samples=7, noise=0.1, seed=3))
    torch.testing.assert_close(
        A.smoothgrad(m, x, y, samples=3, noise=0.0), A.saliency(m, x, y), rtol=0, atol=1e-14
    )
    # saliency passes noise as a fraction of the pixel range
    torch.testing.assert_close(
        A.saliency(m, 2 * x - 1, y, "smoothgrad", clip=(-1.0, 1.0), noise=0.05, samples=2, seed=4),
        A.smoothgrad(m, 2 * x - 1, y, noise=0.1, samples=2, seed=4),
        rtol=0,
        atol=0,
    )


def test_bad_arguments():
    m, (x, y) = _model(), _batch()
    with pytest.raises(ValueError, match="method must be one of"):
        A.saliency(m, x, y, "occlusion")
    with pytest.raises(ValueError, match="target must be one of"):
        A.saliency(m, x, y, target="prob")
    with pytest.raises(ValueError, match="steps"):
        A.saliency(m, x, y, "integrated_gradients", steps=0)
    with pytest.raises(ValueError, match="baseline must have shape"):
        A.saliency(m, x, y, "integrated_gradients", baseline=x[:2])
    with pytest.raises(ValueError, match="outside clip"):
        A.saliency(m, x + 2, y)
    with pytest.raises(ValueError, match="n must be"):
        A.interpolate(x, x, 1)


def test_display_conventions_on_known_inputs():
    rgb = A.signed_map(np.array([[2.0, -2.0, 0.0, 1.0]]))
    assert rgb.shape == (1, 4, 3)
    blue, red, white, half = rgb[0]
    assert blue[2] > blue[0] and red[0] > red[2] and np.all(white > 0.95)
    assert half[2] > half[0] and np.all(half > blue - 1e-12)  # lighter than full blue
    batch = A.signed_map(torch.tensor([[[[1.0, -3.0]]], [[[0.0, 0.0]]]]))
    assert batch.shape == (2, 1, 2, 3) and np.all(batch[1] > 0.95)  # zero map is white
    g = np.zeros((3, 2, 2))
    g[0, 0, 0] = 100.0  # an outlier is clipped at mean + 3σ
    out = A.clip_sigma(g)
    assert out.shape == (2, 2, 3) and out.min() >= 0 and out.max() == 1.0
    assert np.allclose(out[..., 1], out[1, 1, 1])  # the other pixels share one value
    cs = A.channel_sum_percentile(np.arange(2 * 10 * 10, dtype=float).reshape(2, 10, 10))
    assert cs.shape == (10, 10) and cs.min() == 0.0 and cs.max() == 1.0
    s = np.arange(100.0).reshape(10, 10)
    lo, hi = np.percentile(2 * s + 100, [0.5, 99.5])
    np.testing.assert_allclose(cs, (np.clip(2 * s + 100, lo, hi) - lo) / (hi - lo))
    fig = A.grid_figure([("input", np.zeros((3, 4, 4))), ("std.", rgb.repeat(3, 0)[:, :, :1])])
    assert len(fig.axes) == 6


def test_scores_on_known_maps():
    g = np.array([[[[1.0, 3.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    mask = np.array([[[[True, False], [False, False]]]] * 2)
    np.testing.assert_allclose(A.mass_on_mask(g, mask), [0.25, 0.0])
    x = np.array([[[[0.0, 1.0], [0.0, 0.0]]]] * 2)
    c = A.abs_correlation(g, x)
    assert c[0] == pytest.approx(np.corrcoef([1, 3, 0, 0], [0, 1, 0, 0])[0, 1]) and c[1] == 0


def test_large_eps_examples_contract_and_targeting():
    from tradeoff.torch import data, nets, train

    d = data.load("digits", seed=0, subset=300, test_subset=60)
    m = nets.build("toy_mlp", input_shape=d.input_shape, seed=0)
    train.fit(m, d, epochs=3, optimizer="adam", lr=1e-2, progress=False)
    x, y = d.test.x[:20], d.test.y[:20]
    m.train()
    for p in m.parameters():
        p.grad = torch.ones_like(p)
    for norm, eps in (("l2", 4.0), ("linf", 0.3)):
        xa = A.large_eps_examples(m, x, y, eps, norm, steps=30)
        dist = (
            (xa - x).flatten(1).norm(dim=1) if norm == "l2" else (xa - x).abs().flatten(1).amax(1)
        )
        assert bool((dist <= eps * (1 + 1e-5) + 1e-5).all()) and xa.min() >= 0 and xa.max() <= 1
        assert m.training and all(bool((p.grad == 1).all()) for p in m.parameters())
        with torch.no_grad():
            assert (m(xa).argmax(1) == y).float().mean() < (m(x).argmax(1) == y).float().mean()
    target = torch.full_like(y, 3)
    xa = A.large_eps_examples(m, x, y, 4.0, "l2", steps=30, targeted=target)
    with torch.no_grad():
        assert (m(xa).argmax(1) == 3).float().mean() > 0.8 > (m(x).argmax(1) == 3).float().mean()
    path = A.interpolate(x, xa, 5)
    assert path.shape == (5, *x.shape) and torch.equal(path[0], x) and torch.allclose(path[-1], xa)
    probs = A.interpolation_probabilities(m, x, xa, 5)
    assert probs.shape == (5, 20, 10) and torch.allclose(probs.sum(-1), torch.ones(5, 20))
    assert m.training
