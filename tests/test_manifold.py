"""tradeoff.torch.manifold: d_π against exact projections computed by numpy, latent
optimisation against least squares, TensorFlow-SAME shapes, training below the mean-image
baseline, determinism, train/eval modes and validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from tradeoff.torch import manifold as M  # noqa: E402
from tradeoff.torch.train import DivergenceError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPE = (1, 28, 28)
D = 28 * 28


def patterns(n=256, k=4, noise=0.1, seed=0):
    """``n`` images in [−1, 1]: one of ``k`` fixed blocky patterns (7×7 upsampled ×4, the
    same for every ``seed``) plus Gaussian noise, clipped; ``seed`` draws the choice of
    pattern and the noise."""
    base = torch.rand((k, 1, 7, 7), generator=torch.Generator().manual_seed(1234)) * 2 - 1
    base = F.interpolate(base, scale_factor=4, mode="nearest")
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    x = base[labels] + noise * torch.randn((n, *SHAPE), generator=g)
    return x.clamp(-1.0, 1.0)


def modes(model):
    return [m.training for m in model.modules()]


# --------------------------------------------------------------------------- d_π


def test_distance_of_orthogonal_projector_equals_least_squares_residual():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((D, 7)))  # orthonormal, 7-dim subspace
    b = torch.from_numpy(basis)
    x = torch.from_numpy(rng.uniform(-1, 1, (13, *SHAPE)))

    def projector(v):
        flat = v.flatten(1)
        return ((flat @ b) @ b.T).reshape(v.shape)

    # independently: the residual of the least-squares fit of each image in the basis
    flat = x.numpy().reshape(13, D)
    coef, *_ = np.linalg.lstsq(basis, flat.T, rcond=None)
    expected = np.linalg.norm(flat.T - basis @ coef, axis=0)

    got = M.manifold_distance(x, projector, batch_size=4)  # chunks of 4, 4, 4, 1
    assert got.dtype == np.float64 and got.shape == (13,)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # the same numbers from the projected tensor
    np.testing.assert_allclose(M.manifold_distance(x, projector(x)), expected, rtol=1e-10)
    # and ‖x‖² = ‖Px‖² + d² (Pythagoras for an orthogonal projector)
    norms = np.linalg.norm(flat, axis=1)
    proj_norms = np.linalg.norm(projector(x).flatten(1).numpy(), axis=1)
    np.testing.assert_allclose(norms**2, proj_norms**2 + got**2, rtol=1e-10)


def test_distance_of_identity_is_zero_and_of_a_shift_is_its_norm():
    x = patterns(9)
    assert np.array_equal(M.manifold_distance(x, lambda v: v), np.zeros(9))
    # π(x) = x + c: d = |c|·sqrt(pixels) for every image
    got = M.manifold_distance(x, x + 0.5)
    np.testing.assert_allclose(got, np.full(9, 0.5 * math.sqrt(D)), rtol=1e-6)


def test_distance_validation():
    x = patterns(4)
    with pytest.raises(ValueError, match="projection must have x's shape"):
        M.manifold_distance(x, x[:3])
    with pytest.raises(ValueError, match="projection must return"):
        M.manifold_distance(x, lambda v: v.flatten(1))
    with pytest.raises(ValueError, match="NaN"):
        M.manifold_distance(x, lambda v: v * float("nan"))
    with pytest.raises(TypeError, match="projection must be"):
        M.manifold_distance(x, "identity")
    bad = x.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        M.manifold_distance(bad, lambda v: v)
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor"):
        M.manifold_distance(x.numpy(), lambda v: v)
    with pytest.raises(ValueError, match="batch_size"):
        M.manifold_distance(x, lambda v: v, batch_size=0)


# --------------------------------------------------------------------------- latent projection


def linear_model(k=5, seed=0):
    """A ManifoldModel whose decoder is z ↦ Wz + b (float64), W of full column rank."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn((D, k), generator=g, dtype=torch.float64))
    w = q * torch.linspace(1.0, 2.0, k, dtype=torch.float64)  # condition number 2
    lin = nn.Linear(k, D).double()
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(0.1 * torch.randn(D, generator=g, dtype=torch.float64))
    enc = nn.Sequential(nn.Flatten(), nn.Linear(D, 2 * k)).double()
    dec = nn.Sequential(lin, nn.Unflatten(1, SHAPE))
    return M.ManifoldModel(enc, dec, zdim=k, input_shape=SHAPE), w.numpy(), lin.bias.detach()


@pytest.mark.parametrize(
    "optimizer, steps, tol, z_tol", [("lbfgs", 50, 1e-8, 1e-6), ("adam", 1500, 1e-4, 1e-4)]
)
def test_latent_projection_of_linear_decoder_is_least_squares(optimizer, steps, tol, z_tol):
    model, w, bias = linear_model()
    x = patterns(6).double()
    target = (x.flatten(1) - bias).numpy()
    z_ls, *_ = np.linalg.lstsq(w, target.T, rcond=None)
    expected = (w @ z_ls).T + bias.numpy()
    before = modes(model)
    proj, z = M.project_latent(model, x, steps=steps, optimizer=optimizer, return_latent=True)
    assert proj.shape == x.shape and z.shape == (6, 5)
    np.testing.assert_allclose(proj.flatten(1).numpy(), expected, atol=tol)
    # L-BFGS stops on the projection's gradient: the latent itself is looser (seen: 2e-8
    # on another CPU), still far below the latents' size (≈ 0.1)
    np.testing.assert_allclose(z.numpy(), z_ls.T, atol=z_tol)
    # least squares is the optimum: no iterate may beat it
    d_ls = np.linalg.norm(target.T - w @ z_ls, axis=0)
    assert np.all(M.manifold_distance(x, proj) >= d_ls - 1e-9)
    assert modes(model) == before
    assert all(p.grad is None for p in model.parameters())


def test_latent_projection_validation():
    model, _, _ = linear_model()
    x = patterns(3).double()
    with pytest.raises(ValueError, match="optimizer"):
        M.project_latent(model, x, optimizer="sgd")
    with pytest.raises(ValueError, match="init"):
        M.project_latent(model, x, init="random")
    with pytest.raises(ValueError, match="init must have shape"):
        M.project_latent(model, x, init=torch.zeros(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="steps"):
        M.project_latent(model, x, steps=0)
    with pytest.raises(TypeError, match="dtype"):
        M.project_latent(model, x.float())
    with pytest.raises(TypeError, match="ManifoldModel"):
        M.project_latent(nn.Identity(), x)


# --------------------------------------------------------------------------- architecture


def test_tf_same_convolution_padding():
    # TensorFlow "SAME", stride 2, kernel 4 on 7×7: output 4×4, one zero row/column above
    # and left, two below and right
    conv = M._SameConv2d(1, 1, 4, 2).double()
    x = torch.randn((2, 1, 7, 7), dtype=torch.float64)
    manual = F.conv2d(F.pad(x, (1, 2, 1, 2)), conv.conv.weight, conv.conv.bias, stride=2)
    out = conv(x)
    assert out.shape == (2, 1, 4, 4)
    assert torch.equal(out, manual)
    for n in range(4, 33):
        assert M._SameConv2d(1, 1, 4, 2)(torch.zeros(1, 1, n, n)).shape[-1] == -(-n // 2)


@pytest.mark.parametrize("kind", M.KINDS)
@pytest.mark.parametrize("width", [1.0, 0.25])
def test_shapes(kind, width):
    model = M.build_manifold_model(kind, width=width, seed=0)
    assert model.kind == kind and model.gan == (kind == "vaegan") and model.width == width
    x = patterns(5)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 10)
    out = model.decode(mu)
    assert out.shape == x.shape and float(out.detach().abs().max()) <= 1.0
    assert model.project(x).shape == x.shape
    # the reference's flattened sizes: 4·4·256 (encoder) and 2·2·256 (discriminator)
    c256 = max(1, round(256 * width))
    linears = [m for m in model.encoder.modules() if isinstance(m, nn.Linear)]
    assert linears[0].in_features == 4 * 4 * c256
    if kind == "vaegan":
        assert model.discriminate(x).shape == (5,)
        linears = [m for m in model.discriminator.modules() if isinstance(m, nn.Linear)]
        assert linears[0].in_features == 2 * 2 * c256
        assert linears[-1].out_features == 1
    else:
        assert model.discriminator is None
        with pytest.raises(ValueError, match="no discriminator"):
            model.discriminate(x)


def test_width_scales_channels_and_other_shapes():
    full, half = M.build_manifold_model("vae"), M.build_manifold_model("vae", width=0.5)
    convs = [
        (a.out_channels, b.out_channels)
        for a, b in zip(full.encoder.modules(), half.encoder.modules())
        if isinstance(a, nn.Conv2d)
    ]
    assert convs and all(b * 2 == a for a, b in convs)
    model = M.build_manifold_model("vaegan", zdim=3, width=0.1, input_shape=(3, 28, 28))
    x = torch.rand((4, 3, 28, 28)) * 2 - 1
    assert model.encode(x)[0].shape == (4, 3)
    assert model.project(x).shape == x.shape
    assert model.discriminate(x).shape == (4,)


def test_seeded_build_is_reproducible_and_leaves_global_rng():
    state = torch.random.get_rng_state()
    a = M.build_manifold_model("vaegan", width=0.25, seed=3)
    b = M.build_manifold_model("vaegan", width=0.25, seed=3)
    c = M.build_manifold_model("vaegan", width=0.25, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_project_is_eval_mode_and_restores_modes():
    model = M.build_manifold_model("vaegan", width=0.25, seed=0)
    model.train()
    model.decoder.eval()
    before = modes(model)
    x = patterns(6)
    batch = model.project(x)
    # eval mode: an image's projection does not depend on the rest of its batch
    alone = model.project(x[:1])
    torch.testing.assert_close(alone, batch[:1], rtol=1e-5, atol=1e-6)
    assert modes(model) == before
    # differentiable in x
    xg = x.clone().requires_grad_(True)
    model.project(xg).sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    x = patterns(256, seed=0)
    out = {}
    for kind in M.KINDS:
        model = M.build_manifold_model(kind, width=0.25, seed=0)
        untrained = M.reconstruction_report(model, patterns(100, seed=1), x)
        res = M.train_manifold_model(model, x, epochs=8, batch_size=32, lr=2e-3, seed=0)
        out[kind] = model, res, untrained
    return x, out


@pytest.mark.parametrize("kind", M.KINDS)
def test_training_beats_mean_image_baseline(trained, kind):
    x_train, out = trained
    model, res, untrained = out[kind]
    assert len(res["history"]) == 8 and res["config"]["batches_per_epoch"] == 8
    hist = res["history"]
    assert all(math.isfinite(h["enc_loss"]) and h["seconds"] > 0 for h in hist)
    if kind == "vaegan":
        assert all(math.isfinite(h["dec_loss"]) and math.isfinite(h["disc_loss"]) for h in hist)
    else:
        assert all(h["dec_loss"] is None and h["disc_loss"] is None for h in hist)
    assert hist[-1]["reconstruction_l1"] < hist[0]["reconstruction_l1"]
    x_test = patterns(100, seed=1)  # same patterns, fresh noise
    rep = M.reconstruction_report(model, x_test, x_train)
    assert not untrained["converged"]
    assert rep["converged"] and rep["ratio"] < M.CONVERGED_RATIO
    assert rep["d_mean"] < rep["baseline_d_mean"] and rep["l1_mean"] < rep["baseline_l1_mean"]
    # four patterns lie in a 4-dimensional affine space: PCA with zdim=10 is near exact
    # (only the noise remains), so beating it is not expected here
    assert rep["pca_d_mean"] <= rep["baseline_d_mean"]


def test_report_baselines_against_numpy():
    model = M.build_manifold_model("vae", width=0.25, zdim=3, seed=0)
    x_train, x_test = patterns(64, seed=2), patterns(20, seed=3)
    rep = M.reconstruction_report(model, x_test, x_train)
    tr = x_train.double().flatten(1).numpy()
    te = x_test.double().flatten(1).numpy()
    mean = tr.mean(0)
    d = np.linalg.norm(te - mean, axis=1)
    assert rep["baseline"] == "train mean" and rep["n"] == 20
    np.testing.assert_allclose(rep["baseline_d_mean"], d.mean(), rtol=1e-10)
    np.testing.assert_allclose(rep["baseline_d_median"], np.median(d), rtol=1e-10)
    np.testing.assert_allclose(rep["baseline_l1_mean"], np.abs(te - mean).mean(), rtol=1e-10)
    with threadpool_limits(1):  # OpenBLAS threads spin against other processes
        _, _, vt = np.linalg.svd(tr - mean, full_matrices=False)
    top = vt[:3].T
    pca = np.linalg.norm((te - mean) - (te - mean) @ top @ top.T, axis=1)
    np.testing.assert_allclose(rep["pca_d_mean"], pca.mean(), rtol=1e-6)
    assert rep["beats_pca"] == (rep["d_mean"] < rep["pca_d_mean"])
    own = M.manifold_distance(x_test, model)
    np.testing.assert_allclose(rep["d_mean"], own.mean(), rtol=1e-12)
    assert rep["ratio"] == pytest.approx(rep["d_mean"] / rep["baseline_d_mean"])
    test_only = M.reconstruction_report(model, x_test)
    assert test_only["baseline"] == "test mean"
    np.testing.assert_allclose(
        test_only["baseline_d_mean"], np.linalg.norm(te - te.mean(0), axis=1).mean(), rtol=1e-10
    )


def test_latent_projection_never_worse_than_encoder(trained):
    _, out = trained
    model = out["vaegan"][0]
    x = patterns(8, seed=5)
    d_enc = M.manifold_distance(x, model)
    d_lat = M.manifold_distance(x, M.project_latent(model, x, steps=30))
    assert np.all(d_lat <= d_enc + 1e-5)
    assert d_lat.mean() < d_enc.mean()


@pytest.mark.parametrize("kind", M.KINDS)
def test_training_is_deterministic_and_restores_modes(kind):
    x = patterns(64, seed=4)

    def run(seed):
        model = M.build_manifold_model(kind, width=0.125, seed=0)
        model.eval()
        model.encoder.train()
        before = modes(model)
        res = M.train_manifold_model(model, x, epochs=1, batch_size=16, seed=seed)
        assert modes(model) == before
        assert all(p.grad is None for p in model.parameters())
        return model.state_dict(), res

    (a, ra), (b, rb), (c, _) = run(7), run(7), run(8)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["enc_loss"] for h in ra["history"]] == [h["enc_loss"] for h in rb["history"]]
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_divergence_is_reported_and_weights_kept_finite():
    model = M.build_manifold_model("vaegan", width=0.125, seed=0)
    with pytest.raises(DivergenceError, match="lr=1e"):
        M.train_manifold_model(model, patterns(64), epochs=3, batch_size=16, lr=1e30)
    assert all(bool(torch.isfinite(t).all()) for t in model.state_dict().values())


def test_callback_sees_records_and_can_stop():
    seen = []
    model = M.build_manifold_model("vae", width=0.125, seed=0)
    res = M.train_manifold_model(
        model, patterns(32), epochs=5, batch_size=16, callback=lambda r: seen.append(r) or True
    )
    assert len(res["history"]) == 1 and seen == res["history"]


# --------------------------------------------------------------------------- validation


def test_build_validation():
    with pytest.raises(ValueError, match="kind"):
        M.build_manifold_model("gan")
    with pytest.raises(ValueError, match="width"):
        M.build_manifold_model("vae", width=0)
    with pytest.raises(ValueError, match="width"):
        M.build_manifold_model("vae", width=-0.5)
    with pytest.raises(TypeError, match="width"):
        M.build_manifold_model("vae", width="1")
    with pytest.raises(ValueError, match="zdim"):
        M.build_manifold_model("vae", zdim=0)
    with pytest.raises(ValueError, match="input_shape"):
        M.build_manifold_model("vae", input_shape=(1, 32, 32))
    with pytest.raises(TypeError, match="input_shape"):
        M.build_manifold_model("vae", input_shape=28)
    with pytest.raises(ValueError, match="seed"):
        M.build_manifold_model("vae", seed=-1)


def test_train_and_project_validation():
    model = M.build_manifold_model("vae", width=0.125, seed=0)
    x = patterns(32)
    with pytest.raises(ValueError, match="epochs"):
        M.train_manifold_model(model, x, epochs=0)
    with pytest.raises(ValueError, match="x_train must have shape"):
        M.train_manifold_model(model, x.flatten(1), epochs=1)
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]"):
        M.train_manifold_model(model, x * 255, epochs=1)
    bad = x.clone()
    bad[3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="x_train contains NaN"):
        M.train_manifold_model(model, bad, epochs=1)
    with pytest.raises(ValueError, match="at least 2"):
        M.train_manifold_model(model, x[:1], epochs=1)
    with pytest.raises(ValueError, match="lr"):
        M.train_manifold_model(model, x, epochs=1, lr=0)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        M.train_manifold_model(model, x, epochs=1, betas=(0.5, 1.0))
    with pytest.raises(TypeError, match="callback"):
        M.train_manifold_model(model, x, epochs=1, callback=3)
    with pytest.raises(TypeError, match="ManifoldModel"):
        M.train_manifold_model(nn.Linear(2, 2), x, epochs=1)
    with pytest.raises(ValueError, match="x must have shape"):
        model.project(torch.zeros(2, 1, 32, 32))
    with pytest.raises(TypeError, match="dtype"):
        model.project(torch.zeros(2, 1, 28, 28, dtype=torch.int64))
    with pytest.raises(ValueError, match="x_test must have shape"):
        M.reconstruction_report(model, x[:, :, :14])
