"""The entries of tradeoff.experiments.gradients (tsipras-fig3/4/5, kim-fig2) and
tradeoff.experiments.collins_deep (collins-fig1/fig3/table2/table3) at the smoke scale,
through the framework's run() with a temporary model cache: JSON, Markdown and PNG
written, values sane, the shared MNIST CNNs trained once. Plus the helpers' contracts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tradeoff import experiments as ex  # noqa: E402
from tradeoff.experiments import collins_deep as cd  # noqa: E402
from tradeoff.experiments import gradients as gr  # noqa: E402
from tradeoff.experiments.models import ModelCache  # noqa: E402
from tradeoff.experiments.tsipras_cnn import mnist_cnn_recipe  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ENTRIES = (
    "tsipras-fig5",
    "tsipras-fig3",
    "tsipras-fig4",
    "collins-fig1",
    "collins-fig3",
    "collins-table2",
    "collins-table3",
    "kim-fig2",
)


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory):
    """Every entry at smoke, in order, into one folder with one temporary model cache;
    the cache's (hits, misses) after each entry."""
    out = tmp_path_factory.mktemp("gradients_entries")
    cache = ModelCache(out / "cache")
    reg = ex.registry()
    results, counts = {}, {}
    for name in ENTRIES:
        ctx = ex.Context(scale="smoke", models=cache, workers=1, progress=False)
        results[name] = ex.run(reg[name], ctx, out / name)
        counts[name] = (cache.hits, cache.misses)
    return out, results, counts


def test_registered():
    reg = ex.registry()
    assert set(ENTRIES) <= set(reg)
    assert all(reg[n].needs_torch for n in ENTRIES)
    for n in ENTRIES:
        assert set(reg[n].scales) == {"smoke", "reduced", "paper"}


def test_files_written(smoke_runs):
    out, results, _ = smoke_runs
    for name in ENTRIES:
        folder = out / name
        saved = json.loads((folder / f"{name}.json").read_text())
        assert saved["name"] == name and saved["scale"] == "smoke"
        md = (folder / f"{name}.md").read_text()
        pngs = sorted(folder.glob("*.png"))
        assert pngs and all(p.stat().st_size > 10_000 for p in pngs), name
        for p in pngs:
            assert f"]({p.name})" in md
        # compact: the drawn images are packed, not lists of floats
        assert (folder / f"{name}.json").stat().st_size < 400_000, name
        assert results[name]["rows"]


def test_models_shared_through_the_cache(smoke_runs):
    _, _, counts = smoke_runs
    h5, m5 = counts["tsipras-fig5"]
    assert m5 == 3  # standard, ℓ∞ 0.3, ℓ2 1.5 trained once ...
    assert counts["tsipras-fig3"] == (h5 + 3, m5)  # ... and reused by fig3
    assert counts["tsipras-fig4"] == (h5 + 6, m5)  # ... and fig4
    h4, m4 = counts["tsipras-fig4"]
    assert counts["collins-fig1"] == (h4 + 2, m4)  # the Collins CNNs are the same models
    h1, m1 = counts["collins-fig1"]
    h3, m3 = counts["collins-fig3"]
    assert (h3 - h1, m3 - m1) == (1, 2)  # the robust CNN cached, the two FCs new
    ht, mt = counts["collins-table2"]
    # table 2: standard and ε 0.3 CNN cached, ε 0.1 new
    assert (ht - h3, mt - m3) == (2, 1)
    h33, m33 = counts["collins-table3"]
    assert (h33 - ht, m33 - mt) == (3, 1)  # FC standard / 0.3 and CNN 0.3 cached, FC 0.1 new


def _in01(v):
    return v is not None and -1e-9 <= v <= 1 + 1e-9


def test_fig5_values(smoke_runs):
    _, results, _ = smoke_runs
    d = results["tsipras-fig5"]["data"]
    for name in ("standard", "linf", "l2"):
        for key in ("mass_on_digit", "abs_corr", "sparsity"):
            mean, se, n = d["summary"][name][key]
            assert n == gr.SETTINGS["smoke"]["n_stats"]
            assert se >= 0 and math.isfinite(mean)
            if key != "abs_corr":
                assert _in01(mean)
        maps = gr.unpack_images(d["maps"][name])
        assert maps.shape == (10, 28, 28)
        assert np.abs(maps).max() == pytest.approx(1.0, abs=1e-9)  # each map on ±max|g|
    assert set(d["claims"]) == {"linf", "l2", "linf_sparser"}


def test_fig3_values(smoke_runs):
    _, results, _ = smoke_runs
    d = results["tsipras-fig3"]["data"]
    assert d["eps"] == {"linf": 0.3, "l2": 4.0}
    x0 = gr.unpack_images(d["images"])
    for norm, eps in d["eps"].items():
        for name in ("standard", "linf", "l2"):
            e = d["examples"][norm][name]
            assert _in01(e["summary"]["changed"][0])
            assert len(e["pred"]) == 10 and all(0 <= p <= 9 for p in e["pred"])
            xa = gr.unpack_images(e["images"])
            delta = (xa - x0).reshape(10, -1)
            tol = 2 / 254  # the packing's quantisation, on either image
            if norm == "linf":
                assert np.abs(delta).max() <= eps + tol
            else:
                assert np.linalg.norm(delta, axis=1).max() <= eps + 28 * tol
            assert e["summary"]["delta_l2"][0] <= (eps if norm == "l2" else 28 * eps) + 1e-6


def test_fig4_values(smoke_runs):
    _, results, _ = smoke_runs
    d = results["tsipras-fig4"]["data"]
    for name in ("standard", "linf", "l2"):
        p = d["paths"][name]
        assert len(p["path_pred"]) == 10 and len(p["path_pred"][0]) == d["points"]
        for v in p["curve_p_orig"] + p["curve_p_new"]:
            assert v[0] is None or _in01(v[0])
        assert p["path_pred"][0][-1] == p["new"][0]  # t = 1 is the large-ε example


def test_collins_figs(smoke_runs):
    _, results, _ = smoke_runs
    for name, keys in (("collins-fig1", {"standard", "robust"}), ("collins-fig3", None)):
        d = results[name]["data"]
        if keys is None:
            keys = {"standard", "robust", "robust_cnn"}
        assert set(d["models"]) == keys
        for m in d["models"].values():
            for w in ("clean", "adv"):
                assert _in01(m["summary"][w]["mass_on_digit"][0])
            assert gr.unpack_images(m["maps_adv"]).shape == (10, 28, 28)
    assert "fc_vs_cnn" in results["collins-fig3"]["data"]["claims"]


def test_collins_tables(smoke_runs):
    _, results, _ = smoke_runs
    for name, arch in (("collins-table2", "cnn"), ("collins-table3", "fc")):
        r = results[name]
        d = r["data"]
        assert d["arch"] == arch and d["eps"] == [0.1, 0.3]
        for e in d["eps"]:
            t = d["table"][str(e)]
            for k, v in t.items():
                assert 0 <= v <= 100, (name, e, k)
            # the cascade adds attacks: never above the paper's attack alone
            assert t["std_rob_strong"] <= t["std_rob"] and t["rob_rob_strong"] <= t["rob_rob"]
        with_paper = [row for row in r["rows"] if row["paper"] is not None]
        assert with_paper and all(row["verdict"] in ("matches", "differs") for row in with_paper)
        assert d["paper"]["0.3"]["rob_rob"] == (93.0 if arch == "cnn" else 48.1)
    assert results["collins-table3"]["data"]["cnn_vs_fc"] is not None


def test_kim_values(smoke_runs):
    _, results, _ = smoke_runs
    r = results["kim-fig2"]
    d = r["data"]
    assert "mnist" in d["datasets"]
    if "fashion_mnist" not in d["datasets"]:
        assert any("Fashion-MNIST is not available" in n for n in r["notes"])
    for v in d["datasets"].values():
        assert v["pixel_range"] == [-1.0, 1.0]
        x0 = gr.unpack_images(v["images"])
        assert x0.min() >= -1 and x0.max() <= 1
        for m in v["models"].values():
            assert _in01(m["summary"]["changed"][0])
            xa = gr.unpack_images(m["images"])
            dist = np.linalg.norm((xa - x0).reshape(len(xa), -1), axis=1)
            assert dist.max() <= gr.KIM_LARGE_EPS + 28 * 4 / 254


# --------------------------------------------------------------------------- helpers


def test_pack_roundtrip():
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (3, 28, 28))
    a[0, 0, 0] = 0.0
    d = gr.pack_images(a, -1.0, 1.0)
    b = gr.unpack_images(d)
    assert b.shape == a.shape and np.abs(a - b).max() <= 1 / 254 + 1e-12
    assert b[0, 0, 0] == 0.0  # zero stays exactly zero on a symmetric range
    assert json.loads(json.dumps(d)) == d


def test_hoyer_sparsity():
    one = np.zeros((1, 1, 4, 4))
    one[0, 0, 1, 2] = -3.0
    flat = np.ones((1, 1, 4, 4))
    both = np.concatenate([one, flat, np.zeros((1, 1, 4, 4))])
    assert gr.hoyer_sparsity(both) == pytest.approx([1.0, 0.0, 0.0])


def test_path_scores():
    t = np.linspace(0, 1, 11)
    p_orig = np.stack([1 - 0.98 * t, np.where(t < 0.45, 1.0, 0.0)], axis=1)  # gradual; a jump
    probs = np.zeros((11, 2, 3))
    probs[:, :, 0] = p_orig
    probs[:, :, 1] = 1 - p_orig
    s = gr.path_scores(probs, np.array([0, 0]), np.array([1, 1]))
    assert s["t_switch"] == pytest.approx([0.6, 0.5])
    assert s["max_jump"] == pytest.approx([0.098, 1.0])
    assert s["jump_share"] == pytest.approx([0.1, 1.0])
    assert s["width"] == pytest.approx([0.8, 0.0])
    assert s["monotone"].tolist() == [1.0, 1.0]


def test_collins_recipe_is_the_tsipras_recipe_below_paper():
    for scale in ("smoke", "reduced"):
        assert cd.collins_recipe(scale, "cnn", 0.3) == mnist_cnn_recipe(scale, "linf", 0.3)
        assert cd.collins_recipe(scale, "cnn", 0.0) == mnist_cnn_recipe(scale, None, 0.0)
        fc = cd.collins_recipe(scale, "fc", 0.2)
        cnn = cd.collins_recipe(scale, "cnn", 0.2)
        assert {k for k in fc if fc[k] != cnn[k]} == {"net", "format"}
        assert fc["net"] == "collins_fc"
    p = cd.collins_recipe("paper", "cnn", 0.3)
    assert p["net"] == "madry_mnist" and p["steps"] == 100 and p["batch_size"] == 64
    assert p["schedule"] == [{"eps": 0.3, "alpha": 0.01, "epochs": 10}]
    with pytest.raises(ValueError, match="arch"):
        cd.collins_recipe("reduced", "rnn", 0.3)


def test_kim_recipe():
    r = gr.kim_cnn_recipe("reduced", "fashion_mnist", 4.0)
    assert r["net"] == "kim_mnist" and r["data"]["pixel_range"] == [-1.0, 1.0]
    assert r["schedule"][-1]["eps"] == 4.0 and sum(p["epochs"] for p in r["schedule"]) == 5
    assert gr.kim_cnn_recipe("reduced", "mnist", 0.0)["method"] == "standard"
    with pytest.raises(ValueError, match="dataset"):
        gr.kim_cnn_recipe("reduced", "cifar10", 1.0)
    with pytest.raises(ValueError, match="eps"):
        gr.kim_cnn_recipe("reduced", "mnist", -1.0)
