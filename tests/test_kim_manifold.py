"""The kim-fig1 entry (Kim et al. Fig. 1, distance to a learned manifold): its statistics
against independent computations (the distribution-free order-statistic interval for a
median, exact shifts), its recipe, and the entry end to end at smoke scale (only
successful attacks counted, medians and orderings consistent with the stored distances,
an unconverged generative model flagged)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from tradeoff import experiments as ex  # noqa: E402
from tradeoff.experiments import kim_manifold  # noqa: E402
from tradeoff.experiments.models import ModelCache  # noqa: E402
from tradeoff.torch import manifold  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bootstrap_median_agrees_with_the_order_statistic_interval():
    # Distribution-free 95 % interval for a median: order statistics at the binomial(n, ½)
    # quantiles. The percentile bootstrap of the median converges to the same ranks.
    rng = np.random.default_rng(3)
    v = rng.lognormal(size=801)
    med, lo, hi = kim_manifold.bootstrap_median(v, n_boot=4000, seed=0)
    assert med == pytest.approx(np.median(v))
    s = np.sort(v)
    k_lo = int(stats.binom.ppf(0.025, v.size, 0.5))
    k_hi = int(stats.binom.isf(0.025, v.size, 0.5))
    assert lo <= med <= hi
    # within two order statistics of the exact ranks
    assert s[k_lo - 3] <= lo <= s[k_lo + 2]
    assert s[k_hi - 3] <= hi <= s[k_hi + 2]


def test_bootstrap_median_edge_cases_and_seed():
    assert kim_manifold.bootstrap_median([], n_boot=10, seed=0) == [None, None, None]
    assert kim_manifold.bootstrap_median([2.5] * 7, n_boot=50, seed=0) == [2.5, 2.5, 2.5]
    v = np.arange(31.0)
    a = kim_manifold.bootstrap_median(v, n_boot=200, seed=5)
    assert a == kim_manifold.bootstrap_median(v, n_boot=200, seed=5)


def test_median_difference_of_a_shift_is_exact():
    rng = np.random.default_rng(1)
    a = rng.normal(size=400)
    d, lo, hi = kim_manifold.median_difference(a - 1.5, a, n_boot=2000, seed=0)
    assert d == pytest.approx(-1.5)
    assert lo < -1.5 < hi
    # the interval of two independent samples is wider than either median's own
    own = kim_manifold.bootstrap_median(a, n_boot=2000, seed=0)
    assert hi - lo > own[2] - own[1]
    assert kim_manifold.median_difference([], a, n_boot=10, seed=0) == [None, None, None]


def test_manifold_recipe():
    r = kim_manifold.manifold_recipe("paper", "fashion_mnist")
    assert (r["kind"], r["width"], r["zdim"], r["epochs"]) == ("vaegan", 1.0, 10, 60)
    assert r["lam"] == manifold.REFERENCE_LAMBDA["fashion_mnist"]
    assert kim_manifold.manifold_recipe("paper", "mnist")["epochs"] == 30
    red = kim_manifold.manifold_recipe("reduced", "mnist", seed=2)
    assert red["kind"] == "vae" and red["seed"] == 2 and red["data"]["dataset"] == "mnist5k"
    assert red["epochs"] == 60
    assert kim_manifold.manifold_recipe("reduced", "fashion_mnist")["epochs"] == 30
    with pytest.raises(ValueError, match="scale"):
        kim_manifold.manifold_recipe("huge", "mnist")
    with pytest.raises(ValueError, match="dataset"):
        kim_manifold.manifold_recipe("smoke", "cifar10")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("kim_fig1")
    cache = ModelCache(out / "cache")
    ctx = ex.Context(scale="smoke", models=cache, workers=1, progress=False)
    result = ex.run(ex.registry()["kim-fig1"], ctx, out / "fig1")
    return out, cache, result


def test_smoke_writes_json_markdown_and_figure(smoke):
    out, _, result = smoke
    folder = out / "fig1"
    saved = json.loads((folder / "kim-fig1.json").read_text())
    assert saved["scale"] == "smoke" and saved["rows"]
    assert (folder / "kim-fig1.md").exists() and (folder / "kim-fig1.png").exists()
    assert set(result["data"]["datasets"]) == set(saved["config"]["datasets"])


def test_smoke_statistics_are_consistent_with_the_distances(smoke):
    _, _, result = smoke
    assert result["data"]["datasets"], "no dataset ran at smoke"
    for v in result["data"]["datasets"].values():
        rep = v["report"]
        assert rep["converged"] == (rep["ratio"] < manifold.CONVERGED_RATIO)
        flagged = any("has not converged" in n and v["name"] in n for n in result["notes"])
        assert flagged == (not rep["converged"])
        assert np.all(np.asarray(v["d_test"]) >= 0)
        for name, m in v["models"].items():
            assert len(m["d_adv"]) == m["n_success"]  # failed attacks removed
            n = kim_manifold.FIG1_SETTINGS["smoke"]["n_stats"]
            assert m["success"] == pytest.approx(m["n_success"] / n)
            if m["n_success"]:
                # d_adv is rounded to 4 decimals when stored
                assert m["median"][0] == pytest.approx(np.median(m["d_adv"]), abs=1e-4)
                assert m["median"][1] <= m["median"][0] <= m["median"][2]
            if name == "standard":
                assert m["minus_standard"] == [0.0, 0.0, 0.0]
        for norm, o in v["order"].items():
            seq = [
                "standard",
                *(f"{norm}/{e:g}" for e in kim_manifold.FIG1_SETTINGS["smoke"]["eps"][norm]),
            ]
            assert o["medians"] == [v["models"][n]["median"][0] for n in seq]
            med = o["medians"]
            if all(x is not None for x in med):
                assert o["decreasing"] == all(a > b for a, b in itertools.pairwise(med))


def test_smoke_generative_model_is_cached(smoke):
    _, cache, _ = smoke
    misses = cache.misses
    ctx = ex.Context(scale="smoke", models=cache, workers=1, progress=False)
    again = kim_manifold._manifold_models(ctx, ["fashion_mnist"])
    assert cache.misses == misses
    assert again["fashion_mnist"][1]["cached"] is True
