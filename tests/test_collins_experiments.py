"""The collins entries of ``tradeoff reproduce`` and the ``collins`` verify group run."""

from __future__ import annotations

import json

from tradeoff import experiments as ex
from tradeoff import verify
from tradeoff.experiments import collins


def test_registered():
    reg = ex.registry()
    assert {"collins-table1", "collins-fig2"} <= set(reg)
    assert reg["collins-table1"].item == "Table 1" and not reg["collins-table1"].needs_torch


def test_table1_smoke(tmp_path):
    exp = ex.registry()["collins-table1"]
    result = ex.run(exp, ex.Context(scale="smoke", progress=False), tmp_path)
    data = json.loads((tmp_path / "collins-table1.json").read_text())["data"]
    res = data["results"]["[0, 0.2]"]
    for eps in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        row = res["mean_sd"][eps]
        # accuracies in percent; an attack can only lower a classifier's accuracy
        assert 0 <= row["std_train_rob"][0] <= row["std_train_std"][0] <= 100
        assert 0 <= row["rob_train_rob"][0] <= row["rob_train_std"][0] <= 100
        # robust training buys robust accuracy (Table 1's point) ...
        assert row["rob_train_rob"][0] > row["std_train_rob"][0]
    # ... and pays in standard accuracy once eps is large
    row = res["mean_sd"]["0.5"]
    assert row["rob_train_std"][0] < row["std_train_std"][0] - 1.0
    assert len(result["rows"]) == 20 and all(r["paper"] is not None for r in result["rows"])
    md = (tmp_path / "collins-table1.md").read_text()
    assert "0.08 (=8)" in md and "## τ in [0, 0.25] (stated)" in md


def test_fig2_smoke(tmp_path):
    exp = ex.registry()["collins-fig2"]
    result = ex.run(exp, ex.Context(scale="smoke", seed=1, progress=False), tmp_path)
    assert (tmp_path / "collins-fig2.png").stat().st_size > 10_000
    data = result["data"]
    assert data["tau_star_population_pure"] == 0.25
    assert 0.125 <= data["tau_star_population_mixed"] < 0.25
    assert data["finite_objective"]["kkt_residual"] <= 1e-9
    assert collins.EPSILONS[-1] == data["eps"]


def test_verify_group_runs():
    report = verify.run_checks("collins")
    assert report.checks and not report.failed
    ids = {c.id for c in report.checks}
    assert {"collins.tau_star.pure", "collins.tau_star.mixed", "collins.thm1.holds"} <= ids
