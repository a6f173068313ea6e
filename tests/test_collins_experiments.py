"""The collins entries of ``tradeoff reproduce`` and the ``collins`` verify group run."""

from __future__ import annotations

import json

from tradeoff import verify
from tradeoff.experiments import collins, registry


def test_registered():
    reg = registry()
    assert {"collins-table1", "collins-fig2"} <= set(reg)


def test_table1_small(tmp_path):
    paths = collins.run_table1(tmp_path, 0, repeats=2, n=2000, tol=1e-3)
    assert [p.name for p in paths] == ["collins-table1.md", "collins-table1.json"]
    data = json.loads(paths[1].read_text())
    res = data["results"]["[0, 0.2]"]
    for eps in ("0.1", "0.2", "0.3", "0.4", "0.5"):
        row = res["mean_sd"][eps]
        # accuracies in percent; an attack can only lower a classifier's accuracy
        assert 0 <= row["std_train_rob"][0] <= row["std_train_std"][0] <= 100
        assert 0 <= row["rob_train_rob"][0] <= row["rob_train_std"][0] <= 100
        # robust training buys robust accuracy (Table 1's point) ...
        assert row["rob_train_rob"][0] > row["std_train_rob"][0]
    # ... and pays in standard accuracy once eps is large (at eps = 0.1 the 100 Adam
    # steps are not converged and robust training is as accurate as standard training)
    row = res["mean_sd"]["0.5"]
    assert row["rob_train_std"][0] < row["std_train_std"][0] - 1.0
    assert "paper" in data and "0.08 (=8)" in paths[0].read_text()


def test_fig2_small(tmp_path):
    paths = collins.run_fig2(tmp_path, 1, n=2000, d_values=(10, 20))
    assert {p.suffix for p in paths} == {".md", ".json", ".png"}
    assert paths[2].stat().st_size > 10_000
    data = json.loads(paths[1].read_text())
    assert data["tau_star_population_pure"] == 0.25
    assert 0.125 <= data["tau_star_population_mixed"] < 0.25
    assert data["finite_objective"]["kkt_residual"] <= 1e-9


def test_verify_group_runs():
    report = verify.run_checks("collins")
    assert report.checks and not report.failed
    ids = {c.id for c in report.checks}
    assert {"collins.tau_star.pure", "collins.tau_star.mixed", "collins.thm1.holds"} <= ids
