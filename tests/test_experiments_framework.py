"""The reproduction framework: compute → result → render, the trained-model cache, the
sweep runner and ``tradeoff reproduce``."""

from __future__ import annotations

import json
import os
import warnings

import pytest

from tradeoff import experiments as ex
from tradeoff.cli import main


def _toy_experiment(calls: list) -> ex.Experiment:
    def compute(ctx: ex.Context) -> dict:
        calls.append(ctx.scale)
        value = ctx.pick(smoke=1.0, reduced=2.0, paper=3.0)
        return {
            "rows": [
                ex.row("a", value, 1.0, unit="%", tol=0.5),
                ex.row("b", 10.0, 20.0, tol=1.0, why="known reason"),
                ex.row("c", 5.0),
            ],
            "config": {"value": value},
            "notes": ["a note"],
            "data": {"xs": [0, 1, 2], "ys": [value, value, value]},
        }

    def figures(result: dict) -> dict:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(result["data"]["xs"], result["data"]["ys"])
        return {"toy": fig}

    return ex.Experiment(
        "toy", "Nobody 2026", "Table 0", "A toy entry.", compute, {"smoke": "seconds"}, figures
    )


def test_rows_and_verdicts():
    assert ex.row("q", 1.2, 1.0, tol=0.5)["verdict"] == "matches"
    r = ex.row("q", 3.0, 1.0, tol=0.5, why="reason")
    assert r["verdict"] == "differs" and r["deviation"] == 2.0 and r["why"] == "reason"
    assert ex.row("q", 3.0)["verdict"] == "ours only"
    assert ex.row("q", float("nan"), 1.0, tol=1)["verdict"] == "no verdict"
    assert ex._overall([ex.row("q", 1, 1, tol=0), ex.row("r", 2, 1, tol=0)]) == "partly"
    assert ex._overall([ex.row("q", 2, 1, tol=0)]) == "differs"


def test_run_writes_json_markdown_figure_and_render_only_does_not_recompute(tmp_path):
    calls: list = []
    exp = _toy_experiment(calls)
    result = ex.run(exp, ex.Context(scale="smoke", progress=False), tmp_path)
    assert calls == ["smoke"] and result["verdict"] == "partly"
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert saved["scale"] == "smoke" and saved["config"] == {"value": 1.0}
    assert saved["versions"]["tradeoff"] and saved["wall_s"] >= 0
    md = (tmp_path / "toy.md").read_text()
    assert "| a | 1.00% | 1.00% | +0.00 | matches (tol ±0.5) |" in md
    assert "differs (tol ±1): known reason" in md and "![toy.png](toy.png)" in md
    (tmp_path / "toy.png").unlink()
    (tmp_path / "toy.md").unlink()
    paths = ex.render(exp, tmp_path, pdf=True)
    assert calls == ["smoke"]  # not recomputed
    assert {p.name for p in paths} >= {"toy.png", "toy.pdf", "toy.md"}
    assert (tmp_path / "toy.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="scale"):
        ex.run(exp, ex.Context(scale="huge"), tmp_path)
    with pytest.raises(ValueError, match="no setting for scale 'paper'"):
        ex.Context(scale="paper").pick(smoke=1)
    with pytest.raises(FileNotFoundError, match="run the entry first"):
        ex.render(exp, tmp_path / "nothing")


def test_report_has_summary_and_sections(tmp_path):
    exp = _toy_experiment([])
    r = ex.run(exp, ex.Context(scale="smoke", progress=False), tmp_path / "toy")
    path = ex.report([r], tmp_path)
    text = path.read_text()
    assert "| toy | Nobody 2026, Table 0 | smoke | partly |" in text
    assert "## toy — Nobody 2026, Table 0" in text and "](toy/toy.png)" in text


def test_reproduce_command_errors(capsys):
    assert main(["reproduce"]) == 2
    assert "needs NAME(s) or 'all'" in capsys.readouterr().err
    assert main(["reproduce", "nope"]) == 2
    assert "unknown experiment(s) nope" in capsys.readouterr().err
    assert main(["reproduce", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "collins-table1" in listing and "Table 1" in listing
    assert main(["reproduce", "collins-fig2", "--workers", "0"]) == 2


def test_reproduce_all_at_smoke_scale_writes_the_report(tmp_path, monkeypatch, capsys):
    # Every entry end to end at smoke scale, as CI runs them; then re-rendered from JSON.
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["reproduce", "all", "--scale", "smoke", "--out", str(out), "-q"]) == 0
    text = (out / "REPORT.md").read_text()
    names = list(ex.registry())
    for name in names:
        assert f"| {name} |" in text
        result = json.loads((out / name / f"{name}.json").read_text())
        assert result["scale"] == "smoke" and result["rows"]
    summary = capsys.readouterr().out
    assert "| entry | paper item | scale | verdict | time (s) |" in summary
    md = out / names[0] / f"{names[0]}.md"
    md.unlink()
    assert main(["reproduce", names[0], "--render-only", "--out", str(out)]) == 0
    assert md.exists()


# ------------------------------------------------------------------------ model cache
torch = pytest.importorskip("torch")
from tradeoff.experiments.models import CacheCorruptWarning, ModelCache  # noqa: E402
from tradeoff.torch import data as tdata  # noqa: E402
from tradeoff.torch import nets, train  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return tdata.load("digits", seed=0, subset=200, test_subset=100)


def _recipe(**change):
    r = {"net": "toy_mlp", "method": "standard", "epochs": 1, "lr": 0.01, "seed": 0}
    r.update(change)
    return r


def _cached(cache, digits, recipe):
    trained = []

    def build():
        return nets.build("toy_mlp", input_shape=digits.input_shape, seed=recipe["seed"])

    def fit(model):
        trained.append(1)
        train.fit(
            model,
            digits,
            epochs=recipe["epochs"],
            lr=recipe["lr"],
            optimizer="adam",
            seed=recipe["seed"],
            progress=False,
        )
        return {"note": "trained"}

    model, info = cache.get_or_train(recipe, build, fit, data=digits)
    return model, info, bool(trained)


def test_model_cache_hit_miss_and_corruption(tmp_path, digits):
    cache = ModelCache(tmp_path)
    m1, info1, trained = _cached(cache, digits, _recipe())
    assert trained and not info1["cached"] and info1["note"] == "trained"
    m2, info2, trained = _cached(cache, digits, _recipe())
    assert not trained and info2["cached"] and info2["key"] == info1["key"]
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert (cache.hits, cache.misses) == (1, 1)
    # any change of the recipe or of the data is another model
    for change in ({"lr": 0.02}, {"epochs": 2}, {"seed": 1}, {"method": "madry"}):
        assert _cached(cache, digits, _recipe(**change))[2], change
    other = tdata.load("digits", seed=1, subset=200, test_subset=100)
    assert _cached(cache, other, _recipe())[2]
    # a flipped byte in the weights, a truncated file: refused, retrained, rewritten
    pt, meta = cache.paths(info1["key"])
    blob = bytearray(pt.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    pt.write_bytes(bytes(blob))
    with pytest.warns(CacheCorruptWarning, match="SHA-256"):
        assert _cached(cache, digits, _recipe())[2]
    assert not _cached(cache, digits, _recipe())[2]  # rewritten, whole again
    pt.write_bytes(pt.read_bytes()[:100])
    with pytest.warns(CacheCorruptWarning):
        assert _cached(cache, digits, _recipe())[2]
    # a record whose key differs (e.g. a hash collision or a hand-edited file): refused
    record = json.loads(meta.read_text())
    record["key"]["recipe"]["lr"] = 99
    meta.write_text(json.dumps(record))
    with pytest.warns(CacheCorruptWarning, match="key differs"):
        assert _cached(cache, digits, _recipe())[2]
    assert not list(tmp_path.rglob("*.tmp"))


def test_model_cache_refuses_a_malicious_pickle(tmp_path, digits):
    import pickle

    cache = ModelCache(tmp_path)
    _, info, _ = _cached(cache, digits, _recipe())
    pt, meta = cache.paths(info["key"])
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    blob = pickle.dumps(Evil())
    pt.write_bytes(blob)
    record = json.loads(meta.read_text())
    import hashlib

    record["sha256"] = hashlib.sha256(blob).hexdigest()  # even with a matching digest
    meta.write_text(json.dumps(record))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _cached(cache, digits, _recipe())[2]
    assert any(issubclass(w.category, CacheCorruptWarning) for w in caught)
    assert not marker.exists()


# ------------------------------------------------------------------------ sweep runner
from tradeoff.experiments import sweep  # noqa: E402


def test_sweep_results_do_not_depend_on_the_number_of_workers():
    tasks = [{"seed": s, "epochs": 2} for s in range(4)]
    one = sweep.run_sweep(sweep.example_task, tasks, workers=1, progress=False)
    two = sweep.run_sweep(sweep.example_task, tasks, workers=2, progress=False)
    assert one == two  # bit for bit: every task runs on one torch thread, seeded by itself
    assert [r["seed"] for r in one] == [0, 1, 2, 3]
    assert len({r["weight_sum"] for r in one}) == 4 and all(r["accuracy"] > 0.3 for r in one)
    assert torch.get_num_threads() >= 1
    with pytest.raises(ValueError, match="workers"):
        sweep.run_sweep(sweep.example_task, tasks, workers=0)
    assert sweep.default_workers(1) >= 1 and sweep.default_workers(1000) == 1


def test_sweep_on_a_dask_local_cluster():
    distributed = pytest.importorskip("distributed", reason="the [cluster] extra is not installed")
    import joblib

    tasks = [{"seed": s, "epochs": 1} for s in range(2)]
    local = sweep.run_sweep(sweep.example_task, tasks, workers=1, progress=False)
    # LocalCluster writes its workers' settings (OMP_NUM_THREADS=1, ...) into this
    # process's environment and leaves them: restore it, or later tests' children inherit
    saved = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster),
            joblib.parallel_config(backend="dask"),
        ):
            remote = sweep.run_sweep(sweep.example_task, tasks, workers=2, progress=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert remote == local
