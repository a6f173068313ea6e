"""``tradeoff eval`` on a model written by ``train --save``, a training checkpoint and a
foreign ``state_dict``; ``evaluate`` on a ``DataLoader``; the zero-gradient check."""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from tradeoff.torch import attacks, cli, data, nets, train  # noqa: E402

DIGITS = ["--data", "digits", "--quiet"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A linear model trained by ``tradeoff train --save`` on digits, and its results."""
    folder = tmp_path_factory.mktemp("trained")
    argv = [*DIGITS, "--net", "linear", "--epochs", "3", "--optimizer", "adam", "--lr", "0.05"]
    argv += ["--eps", "0.05", "--save", str(folder / "m.pt"), "--json", str(folder / "r.json")]
    argv += ["--checkpoint", str(folder / "run.pt"), "--test-subset", "200"]
    assert cli.main(argv) == 0
    return folder, json.loads((folder / "r.json").read_text())


def one_error_line(argv, capsys) -> str:
    assert cli.eval_main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_eval_of_a_saved_model_finds_its_network_and_repeats_trains_numbers(saved, capsys):
    folder, trained = saved
    out = folder / "e.json"
    argv = [str(folder / "m.pt"), *DIGITS, "--eps", "0.05", "0.1", "--test-subset", "200"]
    assert cli.eval_main([*argv, "--json", str(out)]) == 0
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["net"] == "linear" and result["n_test"] == trained["n_test"] == 200
    assert result["clean_acc"] == trained["clean_acc"]
    first, second = result["attacks"]
    # the same PGD-20 at the training eps, the same seed: the same robust accuracy
    assert first["attack"] == trained["attack"] and first["robust_acc"] == trained["robust_acc"]
    assert second["eps"] == 0.1 and second["robust_acc"] <= first["robust_acc"]
    assert set(first["checks"]) >= {"eps0_equals_clean", "large_eps", "zero_gradient"}
    for row in (first, second):
        assert row["attack"] in table and f"{row['robust_acc']:.4f}" in table


def test_eval_of_a_training_checkpoint(saved, capsys):
    folder, trained = saved
    argv = [str(folder / "run.pt"), *DIGITS, "--test-subset", "200", "--json"]
    assert cli.eval_main([*argv, str(folder / "c.json")]) == 0
    result = json.loads((folder / "c.json").read_text())
    assert result["clean_acc"] == trained["clean_acc"] and result["attacks"] == []
    assert result["pixel_range"] == trained["config"]["clip"]


def test_eval_of_a_foreign_state_dict_with_net(tmp_path, capsys):
    d = data.load("digits", test_subset=120)
    model = nets.build("toy_mlp", input_shape=d.input_shape, seed=3)
    foreign = {"epoch": 7, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}
    torch.save(foreign, tmp_path / "theirs.pt")
    out = tmp_path / "e.json"
    argv = [str(tmp_path / "theirs.pt"), "--net", "toy_mlp", *DIGITS, "--test-subset", "120"]
    assert cli.eval_main([*argv, "--eps", "0.1", "--steps", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    atk = attacks.PGD(eps=0.1, alpha=0.05, steps=5, seed=0)
    want = train.evaluate(model, d, attack=atk, warn=False)
    assert result["clean_acc"] == want.clean_acc
    assert result["attacks"][0]["robust_acc"] == want.robust_acc


def test_eval_mistakes_are_one_line(saved, tmp_path, capsys):
    folder, _ = saved
    model = str(folder / "m.pt")
    line = one_error_line([model, "--net", "toy_mlp", *DIGITS], capsys)
    assert line.startswith("error: --net toy_mlp: checkpoint") and "another network" in line
    line = one_error_line([model, "--data", "fashion_mnist", "--quiet"], capsys)
    assert "fits none of the built-in networks" in line and "(1, 28, 28)" in line
    assert "does not exist" in one_error_line([str(tmp_path / "none.pt"), *DIGITS], capsys)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    assert "torch.load" in one_error_line([str(tmp_path / "junk.pt"), *DIGITS], capsys)
    torch.save([1, 2], tmp_path / "list.pt")
    assert "holds no state_dict" in one_error_line([str(tmp_path / "list.pt"), *DIGITS], capsys)
    assert "--eps 2 is larger" in one_error_line([model, *DIGITS, "--eps", "2"], capsys)
    assert "--steps must be" in one_error_line(
        [model, *DIGITS, "--eps", ".1", "--steps", "0"], capsys
    )


def test_top_level_command_dispatches_eval(saved, capsys):
    from tradeoff.cli import main

    folder, _ = saved
    assert main(["eval", str(folder / "m.pt"), *DIGITS, "--test-subset", "50"]) == 0
    assert "(linear) on digits test, n=50" in capsys.readouterr().out


def test_evaluate_on_a_dataloader_equals_evaluate_on_the_split():
    d = data.load("digits", test_subset=300)
    model = nets.build("toy_mlp", input_shape=d.input_shape, seed=1)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(d.test.x, d.test.y), batch_size=64
    )
    atk = attacks.PGD(eps=0.1, alpha=0.05, steps=4, seed=0)
    a = train.evaluate(model, loader, attack=atk, warn=False, check_samples=100)
    b = train.evaluate(model, d, attack=atk, batch_size=64, warn=False, check_samples=100)
    assert (a.clean_acc, a.robust_acc, a.n, a.checks) == (b.clean_acc, b.robust_acc, b.n, b.checks)
    with pytest.raises(TypeError, match=r"data must yield \(x, y\) batches"):
        train.evaluate(model, [d.test.x])
    with pytest.raises(ValueError, match=r"data, batch 0: Split\.x contains NaN"):
        train.evaluate(model, [(d.test.x * float("nan"), d.test.y)])
    with pytest.raises(ValueError, match=r"y must hold class indices in \[0, 9\]"):
        train.evaluate(model, [(d.test.x, d.test.y + 10)])


def test_zero_gradient_check_flags_a_flat_model():
    d = data.load("digits", test_subset=100)
    inner = nets.build("toy_mlp", input_shape=d.input_shape, seed=1)

    class Rounded(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(torch.round(x))  # zero input gradient everywhere

    atk = attacks.PGD(eps=0.1, alpha=0.05, steps=4, seed=0)
    with pytest.warns(train.GradientMaskingWarning, match="exactly zero at 100.0%"):
        r = train.evaluate(Rounded(), d, attack=atk)
    assert r.checks["zero_gradient"][0] == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", train.GradientMaskingWarning)
        ok = train.evaluate(inner, d, attack=atk, checks=True, large_eps_max_acc=1.0)
    assert ok.checks["zero_gradient"][0] == 0.0


def test_evaluate_shows_progress_over_the_evaluation_and_the_checks(capsys):
    d = data.load("digits", test_subset=100)
    model = nets.build("toy_mlp", input_shape=d.input_shape, seed=1)
    atk = attacks.PGD(eps=0.1, alpha=0.05, steps=4, seed=0)
    train.evaluate(model, d, attack=atk, warn=False, progress=True, batch_size=50)
    err = capsys.readouterr().err.splitlines()  # not a terminal: one line per phase
    assert err[0].startswith("evaluate [########################] 2/2 clean ")
    assert err[1].startswith("gradient-masking checks [########################] 5/5 ")
    train.evaluate(model, d, attack=atk, warn=False, progress=False)
    assert capsys.readouterr().err == ""
