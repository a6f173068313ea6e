"""ROAR / KAR (tradeoff.torch.roar) and the kim-fig4 / kim-fig5 entries: exact occlusion
counts, deterministic tie-breaking checked against an independent numpy ranking, areas on
known curves, an oracle attribution that ROAR must destroy and KAR keep, and the entries
at smoke scale (independent of the number of workers, kim-fig5 reusing kim-fig4's
retrainings)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from tradeoff import experiments as ex  # noqa: E402
from tradeoff.experiments import kim_roar  # noqa: E402
from tradeoff.experiments.models import ModelCache  # noqa: E402
from tradeoff.torch import roar  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reference_mask(attr: np.ndarray, fraction: float, mode: str) -> np.ndarray:
    """Independent ranking: numpy lexsort on (−importance, index), then count with a
    decimal round half up."""
    from decimal import ROUND_HALF_UP, Decimal

    n, _, h, w = attr.shape
    d = h * w
    score = np.abs(attr).sum(axis=1).reshape(n, d)
    k = int((Decimal(repr(fraction)) * d).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    out = np.zeros((n, d), dtype=bool)
    for i in range(n):
        order = np.lexsort((np.arange(d), -score[i]))  # last key primary
        chosen = order[:k] if mode == "roar" else order[d - k :]
        out[i, chosen] = True
    return out.reshape(n, 1, h, w)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    fraction=st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 1.0]),
    mode=st.sampled_from(roar.MODES),
    levels=st.integers(1, 4),
)
def test_mask_matches_independent_ranking_with_ties(seed, fraction, mode, levels):
    rng = np.random.default_rng(seed)
    # few distinct integer levels over two channels with signs: many ties, |·| and Σ_c matter
    a = rng.integers(-levels, levels + 1, size=(3, 2, 5, 6)).astype(np.float32)
    got = roar.occlusion_mask(torch.from_numpy(a), fraction, mode).numpy()
    assert got.shape == (3, 1, 5, 6)
    np.testing.assert_array_equal(got, _reference_mask(a, fraction, mode))
    assert (got.reshape(3, -1).sum(1) == roar.n_occluded(fraction, 30)).all()


def test_exact_counts_and_ties_broken_by_index():
    assert [roar.n_occluded(f, 784) for f in roar.FRACTIONS] == [78, 235, 392, 549, 706]
    assert roar.n_occluded(0.5, 5) == 3 and roar.n_occluded(0.1, 5) == 1  # halves round up
    flat = torch.zeros(2, 1, 4, 4)  # all tied: ROAR takes the first k in row-major order
    m = roar.occlusion_mask(flat, 0.25, "roar").reshape(2, -1)
    assert m[:, :4].all() and not m[:, 4:].any()
    m = roar.occlusion_mask(flat, 0.25, "kar").reshape(2, -1)
    assert m[:, -4:].all() and not m[:, :-4].any()


def test_roar_and_kar_complement_and_order():
    a = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for f in roar.FRACTIONS:
        r = roar.occlusion_mask(a, f, "roar")
        k = roar.occlusion_mask(a, round(1 - f, 10), "kar")
        assert torch.equal(r, ~k)  # one total order: ROAR at f and KAR at 1 − f split it
    order = roar.importance_order(a)
    score = a.abs().sum(1).flatten(1)
    ranked = score.gather(1, order)
    assert (ranked[:, :-1] >= ranked[:, 1:]).all()


def test_occlude_sets_exactly_the_mask_to_the_value():
    x = torch.rand(5, 3, 6, 6, generator=torch.Generator().manual_seed(2))
    a = torch.randn(5, 1, 6, 6, generator=torch.Generator().manual_seed(3))
    before = x.clone()
    value = [0.1, 0.2, 0.3]
    y = roar.occlude(x, a, 0.3, "roar", value)
    assert torch.equal(x, before)  # the input is untouched
    m = roar.occlusion_mask(a, 0.3, "roar").expand_as(x)
    assert torch.equal(y[~m], x[~m])
    fill = torch.tensor(value).view(1, 3, 1, 1).expand_as(x)
    assert torch.equal(y[m], fill[m])


def test_random_attribution_is_seeded():
    a = roar.random_attribution((2, 1, 4, 4), 7)
    assert torch.equal(a, roar.random_attribution((2, 1, 4, 4), 7))
    assert not torch.equal(a, roar.random_attribution((2, 1, 4, 4), 8))
    assert ((a >= 0) & (a < 1)).all()


def test_areas_on_known_curves():
    f = roar.FRACTIONS
    assert roar.area_under_curve(f, [0.5] * 5) == pytest.approx(0.4)
    assert roar.area_over_curve(f, [0.5] * 5) == pytest.approx(0.4)
    # a straight line: trapezoids are exact; ∫_{0.1}^{0.9} (1 − t) dt = 0.8 − 0.4
    assert roar.area_under_curve(f, [1 - t for t in f]) == pytest.approx(0.4)
    # non-uniform spacing against numpy's trapezoid on a quadratic's samples
    g = [0.0, 0.2, 0.3, 0.75, 1.0]
    acc = [1 - t * t for t in g]
    assert roar.area_under_curve(g, acc) == pytest.approx(float(np.trapezoid(acc, g)))
    rand = [0.9, 0.8, 0.7, 0.6, 0.5]
    lower = [v - 0.1 for v in rand]
    assert roar.interpretability_score("roar", f, lower, rand) == pytest.approx(0.08)
    assert roar.interpretability_score("kar", f, lower, rand) == pytest.approx(-0.08)
    assert roar.interpretability_score("kar", f, rand, rand) == 0.0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: roar.n_occluded(1.5, 10), "fraction"),
        (lambda: roar.occlusion_mask(torch.zeros(1, 1, 2, 2), 0.5, "keep"), "mode"),
        (lambda: roar.occlusion_mask(torch.zeros(2, 2), 0.5, "roar"), "attr"),
        (lambda: roar.occlusion_mask(torch.full((1, 1, 2, 2), float("nan")), 0.5, "roar"), "NaN"),
        (lambda: roar.area_under_curve([0.1, 0.1], [0.5, 0.5]), "increase"),
        (lambda: roar.area_under_curve([0.1, 0.2], [0.5, 50.0]), r"\[0, 1\]"),
        (
            lambda: roar.occlude(
                torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2), 0.5, "roar", [0.0, 1.0]
            ),
            "value",
        ),
        (lambda: roar.random_attribution((2, 2), 0), "shape"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_oracle_attribution_roar_destroys_and_kar_keeps():
    # The class is written only in the top-left 3×3 block; noise elsewhere. An attribution
    # that marks that block: ROAR at 0.15 (10 of 64 pixels) removes all class information
    # (chance accuracy), KAR at 0.85 keeps it (near-perfect). A random ranking does neither.
    gen = torch.Generator().manual_seed(0)
    n = 600
    y = torch.randint(0, 2, (n,), generator=gen)
    x = torch.rand(n, 1, 8, 8, generator=gen)
    x[:, :, :3, :3] = y.view(-1, 1, 1, 1).float()
    attr = torch.zeros(n, 1, 8, 8)
    attr[:, :, :3, :3] = 1.0
    tr, te = slice(0, 400), slice(400, None)

    def acc(mode, f, a):
        xo = roar.occlude(x, a, f, mode, 0.5)
        return roar.retrain_accuracy(
            xo[tr], y[tr], xo[te], y[te], net="linear", epochs=30, seed=0, lr=0.05
        )

    assert acc("roar", 0.15, attr) < 0.65
    assert acc("kar", 0.85, attr) > 0.95
    rand = roar.random_attribution((n, 1, 8, 8), 1)
    assert acc("roar", 0.15, rand) > 0.95  # some of the 9 informative pixels survive


def test_retrain_accuracy_is_seeded():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(120, 1, 4, 4, generator=gen)
    y = torch.randint(0, 3, (120,), generator=gen)
    a = roar.retrain_accuracy(x[:80], y[:80], x[80:], y[80:], net="linear", epochs=2, seed=3)
    b = roar.retrain_accuracy(x[:80], y[:80], x[80:], y[80:], net="linear", epochs=2, seed=3)
    assert a == b and 0.0 <= a <= 1.0


def test_correlations():
    c = kim_roar.correlations([0, 1, 2, 3], [1, 3, 5, 7])
    assert c["pearson"] == pytest.approx(1.0) and c["spearman"] == pytest.approx(1.0)
    c = kim_roar.correlations([0, 1, 2, 3], [0, 1, 8, 27])
    assert c["spearman"] == pytest.approx(1.0) and c["pearson"] < 1.0
    assert kim_roar.correlations([0, 1], [1, 2]) == {"pearson": None, "spearman": None}


# ------------------------------------------------------------------------ the entries


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("kim_roar")
    cache = ModelCache(out / "cache")
    reg = ex.registry()
    ctx = ex.Context(scale="smoke", models=cache, workers=2, progress=False)
    fig4 = ex.run(reg["kim-fig4"], ctx, out / "fig4")
    misses = cache.misses
    ctx = ex.Context(scale="smoke", models=cache, workers=1, progress=False)
    fig5 = ex.run(reg["kim-fig5"], ctx, out / "fig5")
    return out, cache, fig4, fig5, misses


def test_entries_write_results_and_figures(smoke):
    out, _, fig4, _, _ = smoke
    for name in ("kim-fig4", "kim-fig5"):
        folder = out / name.split("-")[1]
        assert (folder / f"{name}.json").exists() and (folder / f"{name}.md").exists()
        assert (folder / f"{name}.png").exists()
        saved = json.loads((folder / f"{name}.json").read_text())
        assert saved["rows"] and saved["scale"] == "smoke"
    assert (out / "fig4" / "kim-fig4-curves.png").exists()
    raw = fig4["data"]["raw"]
    for key, curve in raw["curves"].items():
        acc = np.asarray(curve["accuracy"])
        assert acc.shape == (5, 1) and ((acc >= 0) & (acc <= 1)).all(), key
    assert set(raw["test_acc"]) == {"standard", "l2/4", "linf/0.2"}


def test_fig5_reuses_the_memoised_retrainings(smoke):
    _, cache, fig4, fig5, misses = smoke
    assert cache.misses == misses  # no model trained twice
    assert fig5["data"]["raw"]["n_retrainings"] == 0
    assert fig5["data"]["raw"]["curves"] == fig4["data"]["raw"]["curves"]


def test_curves_do_not_depend_on_the_number_of_workers(smoke):
    _, cache, fig4, _, _ = smoke
    shutil.rmtree(cache.root.parent / "roar")  # forget the memo, keep the models
    ctx = ex.Context(scale="smoke", models=cache, workers=1, progress=False)
    again = kim_roar.roar_kar_curves(ctx)
    assert again["n_retrainings"] > 0
    assert again["curves"] == fig4["data"]["raw"]["curves"]


def test_recipe_validation():
    with pytest.raises(ValueError, match="scale"):
        kim_roar.roar_model_recipe("huge", None, 0.0)
    with pytest.raises(ValueError, match="eps"):
        kim_roar.roar_model_recipe("smoke", "l2", 0.0)
    r = kim_roar.roar_model_recipe("paper", "linf", 0.004)
    assert r["net"] == "kim_cifar" and r["data"]["dataset"] == "cifar10"
    assert r["schedule"][0]["alpha"] == pytest.approx(2.5 * 0.004 / 40)


def test_standard_error_of_mu_from_the_retrainings():
    f = list(roar.FRACTIONS)
    levels = np.array([0.6, 0.7, 0.8])  # three retrainings, each a flat curve
    acc = np.tile(levels, (len(f), 1))
    width = f[-1] - f[0]
    expected = np.std(width * levels, ddof=1) / np.sqrt(3)  # AUC of a flat curve
    assert kim_roar._area_se("kar", f, acc.tolist()) == pytest.approx(expected)
    assert kim_roar._area_se("roar", f, acc.tolist()) == pytest.approx(expected)
    assert kim_roar._area_se("kar", f, acc[:, :1].tolist()) is None
