"""``tradeoff train``: mistakes end in one line and exit status 2 before any data are
loaded; settings that do nothing warn; defaults, presets and config files have one source."""

from __future__ import annotations

import json
import re

import pytest

torch = pytest.importorskip("torch")

from tradeoff.torch import cli, data, nets, train  # noqa: E402

BASE = ["--data", "digits", "--net", "linear", "--quiet"]


class _Reached(BaseException):
    """Raised by the stand-in for data loading: every argument was accepted."""


@pytest.fixture
def no_loading(monkeypatch):
    def reached(*args, **kwargs):
        raise _Reached

    monkeypatch.setattr(cli.data_mod, "load", reached)


def one_error_line(argv, capsys, before_loading: bool = True) -> str:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    if before_loading:  # nothing printed: the data description comes after loading
        assert out == ""
    return lines[0]


MISTAKES = [
    (["--eps", "-1"], r"--eps must be in \[0, inf\)"),
    (["--resume"], "--resume needs --checkpoint"),
    (["--data", "digits", "--net", "kim_cifar"], r"--net kim_cifar: .*\(3, 32, 32\)"),
    (["--eps", "1.5"], r"--eps 1.5 is larger than the linf diameter 1 of the pixel range"),
    (["--eval-eps", "2"], "--eval-eps 2 is larger than"),
    (["--pixel-range", "-1,1", "--eps", "2.5"], r"pixel range \[-1, 1\]"),
    (["--norm", "l2", "--eps", "9"], "l2 diameter 8 "),  # 8x8 digits: sqrt(64)
    (["--method", "madry", "--eps", "0.1"], "--steps is 0"),
    (["--method", "trades", "--steps", "5"], "--eps is 0"),
    (["--device", "tpu"], "--device must be cpu, cuda, cuda:N or auto, got 'tpu'"),
    (["--device", "cuda:99"], "--device cuda:99"),
    (["--milestones", "0"], "--milestones must be"),
    (["--gamma", "0"], "--gamma must be"),
    (["--preset", "trades_cifar10", "--data", "digits"], "made for cifar10 data"),
]


@pytest.mark.parametrize(("extra", "message"), MISTAKES)
def test_mistakes_are_one_line_and_exit_2_before_loading(extra, message, no_loading, capsys):
    argv = [a for a in BASE if a not in ("--data", "digits")] if "--data" in extra else BASE
    line = one_error_line([*argv, *extra], capsys)
    assert re.search(message, line), line


def test_debug_shows_the_traceback(no_loading):
    with pytest.raises(ValueError, match=r"--eps 1\.5 is larger"):
        cli.main([*BASE, "--eps", "1.5", "--debug"])


def test_config_file_mistakes_name_the_file_and_key(tmp_path, no_loading, capsys):
    missing = tmp_path / "none.toml"
    assert "cannot be read" in one_error_line([*BASE, "--config", str(missing)], capsys)
    cases = {
        "lr = [": "is not valid TOML",
        "learning_rate = 0.1": "unknown key(s) learning_rate; the keys are method,",
        'lr = "fast"': "lr must be a real number",
        'method = "pgd"': "method must be one of",
        "epochs = 2.5": "epochs must be an integer",
        "milestones = 3": "milestones must be a list of epochs",
        "eps = 8": "eps 8 is larger than the linf diameter 1",
    }
    for text, message in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(text + "\n")
        line = one_error_line([*BASE, "--config", str(path)], capsys)
        assert message in line and str(path) in line, (text, line)


def test_a_checkpoint_of_another_network_is_refused_on_resume(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    argv = [*BASE, "--subset", "64", "--epochs", "1", "--eval-eps", "0"]
    assert cli.main([*argv, "--checkpoint", str(ckpt)]) == 0
    capsys.readouterr()
    other = ["toy_mlp" if a == "linear" else a for a in argv]
    resume = [*other, "--epochs", "2", "--checkpoint", str(ckpt), "--resume"]
    line = one_error_line(resume, capsys, before_loading=False)
    assert "holds another network" in line and str(ckpt) in line


def _warnings(argv, capsys) -> list[str]:
    with pytest.raises(_Reached):
        cli.main(argv)
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning: ")]


def test_settings_that_do_nothing_warn(no_loading, capsys):
    assert _warnings([*BASE, "--epochs", "1"], capsys) == []
    got = _warnings([*BASE, "--epochs", "0", "--beta", "3", "--steps", "4"], capsys)
    assert any("--epochs 0: no training" in w for w in got)
    assert any("--beta has no effect with --method standard" in w for w in got)
    assert any("--steps has no effect with --method standard" in w for w in got)
    got = _warnings([*BASE, "--optimizer", "adam", "--momentum", "0.9"], capsys)
    assert got == ["warning: --momentum has no effect with --optimizer adam"]
    got = _warnings([*BASE, "--epochs", "3", "--milestones", "2,3,7"], capsys)
    assert got == ["warning: --milestones 3,7: at or after the last epoch (3), no effect"]


def test_a_subset_larger_than_the_data_warns(capsys):
    n_train = len(data.load("digits").train)
    big = n_train + 1000
    argv = [*BASE, "--subset", str(big), "--epochs", "0", "--eval-eps", "0"]
    assert cli.main([*argv, "--test-subset", "100000"]) == 0
    err = capsys.readouterr().err
    assert f"--subset {big} is more than the {n_train} training samples of digits" in err
    assert "--test-subset 100000 is more than the" in err


def _plan(argv):
    return cli._plan(cli.build_parser().parse_args(argv))


def test_a_preset_brings_its_dataset_and_network():
    for name, recipe in train.PRESETS.items():
        plan = _plan(["--preset", name])
        assert plan.net == cli.PRESET_NETS.get(name, cli.DEFAULT_NET)
        assert plan.name == (recipe.datasets[0] if recipe.datasets else cli.DEFAULT_DATA)
    plan = _plan(["--preset", "trades_cifar10"])
    assert plan.name == "cifar10" and plan.net == "kim_cifar"
    assert any("WideResNet-34-10 is not built in" in n for n in plan.notes)
    assert _plan(["--preset", "trades_mnist", "--net", "linear"]).net == "linear"


def test_help_defaults_are_those_fit_trains_with(capsys):
    """One source of truth: what ``train --help`` prints as the default of each Recipe
    field is what ``fit`` uses when given nothing."""
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split()).split("model and training:")[1]
    d = data.load("digits", subset=8)
    model = nets.build("linear", input_shape=d.input_shape, seed=0)
    used = train.fit(model, d, epochs=0, progress=False).config
    for key in cli.RECIPE_FIELDS:
        if key == "epochs":
            continue  # given above, to train nothing
        flag = "--" + key.replace("_", "-")
        m = re.search(re.escape(flag) + r" [A-Z_]+ .*?default: the preset's, else (\S+?)\)", text)
        if m is None:  # a choice option: "--method {standard,...} ... else standard)"
            m = re.search(
                re.escape(flag) + r" \{.*?\} .*?default: the preset's, else (\S+?)\)", text
            )
        assert m is not None, flag
        want = used[key]
        assert (m.group(1) == want) if isinstance(want, str) else float(m.group(1)) == want, key


def test_show_preset_is_a_config_file_that_reproduces_the_preset(tmp_path, capsys):
    for name, recipe in train.PRESETS.items():
        assert cli.main(["--show-preset", name]) == 0
        path = tmp_path / f"{name}.toml"
        path.write_text(capsys.readouterr().out)
        from_file = _plan(["--config", str(path)])
        from_preset = _plan(["--preset", name])
        method = from_file.fit_kw["method"]
        resolved = train._resolve(None, method, {k: from_file.fit_kw[k] for k in cli.RECIPE_FIELDS})
        want = train._resolve(name, recipe.method, {})
        for key in cli.RECIPE_FIELDS:
            assert getattr(resolved, key) == getattr(want, key), (name, key)
        assert from_preset.fit_kw["preset"] == name
    # the command line overrides the file
    plan = _plan(["--config", str(tmp_path / "madry_mnist.toml"), "--epochs", "3"])
    assert plan.fit_kw["epochs"] == 3 and plan.fit_kw["lr"] == train.PRESETS["madry_mnist"].lr


def test_schedule_device_and_csv_log(tmp_path):
    out = tmp_path / "r.json"
    argv = [*BASE, "--subset", "256", "--epochs", "3", "--milestones", "1,2", "--gamma", "0.5"]
    argv += ["--lr", "0.2", "--device", "cpu", "--eval-eps", "0", "--json", str(out)]
    assert cli.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["device"] == "cpu" and result["config"]["milestones"] == [1, 2]
    assert [h["lr"] for h in result["history"]] == pytest.approx([0.1, 0.05, 0.05])
    rows = out.with_suffix(".csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "loss", "clean_acc"]
    assert len(rows) == 4
    for row, h in zip(rows[1:], result["history"]):
        assert float(row.split(",")[1]) == pytest.approx(h["loss"])
