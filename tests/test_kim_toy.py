"""The ``kim-fig3b`` entry (Kim et al. 2019 §2.2, Fig. 3b): the toy data's moments and
rescaling, determinism, the angle to the high-variance axis, the attack's ε-ball, bad
input, and the smoke run end to end through the framework."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradeoff import experiments as ex  # noqa: E402
from tradeoff.experiments import kim_toy as kt  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------------------- data
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_toy_data_moments_match_the_stated_gaussians(seed):
    n = 3000
    x, y, raw, order = kt.toy_data(n, seed)
    assert x.shape == raw.shape == (2 * n, 2) and y.shape == (2 * n,)
    assert np.array_equal(np.bincount(y), [n, n])
    cov = np.asarray(kt.COV)
    for c, mean in enumerate(kt.MEANS):
        pts = raw[y == c]
        # sample mean: standard error sqrt(σ_ii / n) per coordinate; 5 SE
        se_mean = np.sqrt(np.diag(cov) / n)
        assert np.all(np.abs(pts.mean(0) - mean) < 5 * se_mean)
        # sample covariance of a Gaussian: Var(s_ij) ≈ (σ_ii σ_jj + σ_ij²) / (n − 1); 5 SE
        s = np.cov(pts.T)
        se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / (n - 1))
        assert np.all(np.abs(s - cov) < 5 * se_cov), (s, cov)
    # one global min/max over both coordinates of all points, to [−1, 1] exactly
    assert x.min() == -1.0 and x.max() == 1.0
    lo, hi = raw.min(), raw.max()
    np.testing.assert_allclose(x, (raw - lo) / (hi - lo) * 2 - 1, rtol=0, atol=1e-12)
    # an isotropic rescaling keeps the directions: same principal axis before and after
    for c in (0, 1):
        np.testing.assert_allclose(
            kt.principal_axis(x[y == c]), kt.principal_axis(raw[y == c]), atol=1e-9
        )
    # class 1 (label 0) is the one with mean [1.2, 0.1]: on the right after rescaling
    assert x[y == 0, 0].mean() > 0 > x[y == 1, 0].mean()
    assert sorted(order) == list(range(2 * n))


def test_toy_data_is_deterministic_in_the_seed():
    a = kt.toy_data(100, 3)
    b = kt.toy_data(100, 3)
    c = kt.toy_data(100, 4)
    for u, v in zip(a, b):
        assert np.array_equal(u, v)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[3], c[3])


def test_training_is_deterministic_in_the_seed():
    x, y, _, order = kt.toy_data(60, 0)
    probe = np.random.default_rng(0).uniform(-1, 1, (50, 2))

    def probs(seed):
        net = kt.train_net(x, y, order, eps=0.25, seed=seed, epochs=1, steps=3)
        return kt._prob2(net, probe)

    p1, p2, p3 = probs(5), probs(5), probs(6)
    assert np.array_equal(p1, p2)
    assert not np.allclose(p1, p3)


# ----------------------------------------------------------------------------- angles
def test_axis_angle_on_known_directions():
    axis = (1.0, 0.0)
    deltas = np.array(
        [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [-2.0, -2.0], [0.0, -3.0], [1, -1]]
    )
    np.testing.assert_allclose(kt.axis_angle(deltas, axis), [0, 90, 45, 0, 45, 90, 45], atol=1e-9)
    # sign-free in the axis too, and scale-free
    np.testing.assert_allclose(
        kt.axis_angle(deltas, (-5.0, 0.0)), kt.axis_angle(deltas, axis), atol=1e-12
    )
    # a tilted axis: 30° off it, either side, and its normal
    t = np.radians(20.0)
    ax = (np.cos(t), np.sin(t))
    d = [[np.cos(t + np.radians(30)), np.sin(t + np.radians(30))]]
    d += [[np.cos(t - np.radians(30)), np.sin(t - np.radians(30))], [-np.sin(t), np.cos(t)]]
    np.testing.assert_allclose(kt.axis_angle(np.array(d), ax), [30, 30, 90], atol=1e-9)
    # a zero perturbation has no direction
    assert np.isnan(kt.axis_angle(np.zeros((1, 2)), axis)[0])


def test_principal_axis_of_known_data():
    rng = np.random.default_rng(1)
    t = np.radians(-35.0)
    u = np.array([np.cos(t), np.sin(t)])
    pts = rng.normal(size=(2000, 1)) * 1.0 * u + rng.normal(size=(2000, 1)) * 0.05 * u[::-1]
    v = kt.principal_axis(pts)
    assert abs(np.linalg.norm(v) - 1) < 1e-12
    assert kt.axis_angle(v[None], u)[0] < 1.0
    # the population axis of the stated covariance is ≈ −5.8° from x₁
    _, vecs = np.linalg.eigh(np.asarray(kt.COV))
    assert kt.axis_angle(vecs[:, -1][None], (1.0, 0.0))[0] == pytest.approx(5.77, abs=0.05)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="n_per_class"):
        kt.toy_data(1, 0)
    with pytest.raises(ValueError, match="eps"):
        kt.train_net(*kt.toy_data(10, 0)[:2], np.arange(20), eps=-0.1, seed=0)
    with pytest.raises(ValueError, match="epochs"):
        kt.train_net(*kt.toy_data(10, 0)[:2], np.arange(20), eps=0.1, seed=0, epochs=0)
    net = kt.train_net(*kt.toy_data(10, 0)[:2], np.arange(20), eps=0.0, seed=0, epochs=1)
    x = torch.zeros(2, 2)
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="eps"):
        kt.attack(net, x, y, eps=-1.0)
    with pytest.raises(ValueError, match="steps"):
        kt.attack(net, x, y, eps=1.0, steps=-1)
    with pytest.raises(ValueError, match="delta"):
        kt.axis_angle(np.ones((3, 3)), (1.0, 0.0))
    with pytest.raises(ValueError, match="axis"):
        kt.axis_angle(np.ones((3, 2)), (0.0, 0.0))
    with pytest.raises(ValueError, match="scale"):
        kt.compute(ex.Context(scale="huge", progress=False))


# ----------------------------------------------------------------------------- attack
@pytest.mark.parametrize("eps", [0.1, 0.25, 1.0])
def test_adversarial_examples_lie_in_the_ball_and_the_box(eps):
    x, y, _, order = kt.toy_data(100, 2)
    net = kt.train_net(x, y, order, eps=0.0, seed=2, epochs=3)
    xt = torch.as_tensor(x, dtype=torch.float32)
    adv = kt.attack(net, xt, torch.as_tensor(y), eps=eps, steps=10).numpy()
    norms = np.linalg.norm(adv - x, axis=1)
    assert np.all(norms <= eps + 1e-5)
    assert adv.min() >= -1.0 and adv.max() <= 1.0
    # the attack moves the points (it is not a no-op): most reach the sphere
    assert np.median(norms) > 0.9 * eps
    assert np.array_equal(kt.attack(net, xt, torch.as_tensor(y), eps=0.0).numpy(), xt.numpy())


# ----------------------------------------------------------------------- the entry, smoke
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("kim_toy")
    exp = ex.registry()["kim-fig3b"]
    result = ex.run(exp, ex.Context(scale="smoke", seed=0, progress=False), out)
    return exp, out, result


def test_registered(smoke):
    exp, _, _ = smoke
    assert exp.needs_torch and set(exp.scales) == set(ex.SCALES)


def test_smoke_writes_files_and_sane_values(smoke):
    _, out, _ = smoke
    for name in ("kim-fig3b.json", "kim-fig3b.md", "kim-fig3b.png", "kim-fig3b-angles.png"):
        assert (out / name).stat().st_size > 1000, name
    saved = json.loads((out / "kim-fig3b.json").read_text())
    assert saved["scale"] == "smoke" and saved["config"]["n_per_class"] == 200
    rows = saved["rows"]
    angles = [r["ours"] for r in rows if r["unit"] == "°"]
    pcts = [r["ours"] for r in rows if r["unit"] == "%"]
    assert len(angles) == 9 and all(0.0 <= a <= 90.0 for a in angles)
    assert pcts and all(0.0 <= p <= 100.0 for p in pcts)
    assert all(r["paper"] is None for r in rows)  # the paper shows a picture only
    md = (out / "kim-fig3b.md").read_text()
    assert "Does the paper's ordering" in md and "0.002" in md and "0.0002" in md
    # per-seed numbers: as many as seeds, the summary is their mean
    d = saved["data"]
    seeds = saved["config"]["seeds"]
    assert len(d["per_seed"]) == len(d["per_seed_fit"]) == len(seeds) == 2
    for net in kt.NETS:
        vals = [r[net]["classes"][0]["angle_mean"] for r in d["per_seed"]]
        assert d["summary"][net]["classes"][0]["angle_mean"][0] == pytest.approx(np.mean(vals))


def test_smoke_figure_data_adversarial_examples_in_the_ball(smoke):
    _, _, result = smoke
    f = result["data"]["figure"]
    x = np.asarray(f["x"])
    size = result["config"]["grid"]
    for net in kt.NETS:
        adv = np.asarray(f[net]["adv"])
        assert adv.shape == x.shape
        # stored rounded to 4 decimals: ε = 1 plus the rounding
        assert np.all(np.linalg.norm(adv - x, axis=1) <= kt.VIS_EPS + 2e-4)
        assert adv.min() >= -1.0 and adv.max() <= 1.0
        grid = f[net]["pred_class"]
        assert len(grid) == size and all(len(r) == size and set(r) <= {"0", "1"} for r in grid)
        # the regions of both classes appear
        assert 0 < kt.decode_grid(grid).mean() < 1


def test_render_only_from_the_saved_json(smoke):
    exp, out, _ = smoke
    (out / "kim-fig3b.png").unlink()
    paths = ex.render(exp, out)
    assert (out / "kim-fig3b.png").exists() and out / "kim-fig3b.png" in paths
