"""The ``tradeoff`` command: help with examples, --version, the groups and entries in the
subcommands' help, ``verify --only`` refusing before computing, the torch hint."""

from __future__ import annotations

import pytest

import tradeoff
from tradeoff import cli, verify
from tradeoff import experiments as ex


def help_text(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_help_has_a_description_examples_and_every_command(capsys):
    text = help_text(["--help"], capsys)
    assert "robustness-accuracy trade-off" in text and "examples:" in text
    for command in ("verify", "reproduce", "train", "eval", "bench", "cache"):
        assert f"\n    {command}" in text
    assert help_text(["--version"], capsys).strip() == f"tradeoff {tradeoff.__version__}"


def test_verify_help_lists_the_groups_and_reproduce_help_the_entries(capsys):
    text = help_text(["verify", "--help"], capsys)
    assert "groups: " + ", ".join(g.prefix for g in verify.discover_groups()) in text
    text = help_text(["reproduce", "--help"], capsys)
    for name in ex.registry():
        assert f"  {name} " in text


def test_verify_only_a_glob_of_no_group_fails_before_computing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))  # no ids remembered

    def built(*args, **kwargs):
        raise AssertionError("a check was computed")

    monkeypatch.setattr(verify, "run_checks", built)
    for pattern in ("NOPE*", "x*.y", "[ab]*.thm1"):
        assert cli.main(["verify", "--only", pattern]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "matches no group of checks" in err[0] and pattern in err[0]


def test_verify_only_is_case_insensitive(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    groups = [g for g in verify.discover_groups() if g.prefix == "collins"]
    want = sorted(
        c.id for c in verify.run_checks(None, groups=groups).checks if "thm1" in c.id.lower()
    )
    assert want
    for pattern in ("collins.thm1", "COLLINS.THM1", "Collins.Thm1*"):
        report_ids = []

        def keep(report, verbose=False, ids=report_ids):
            ids.extend(c.id for c in report.checks)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(verify, "print_report", keep)
            assert cli.main(["verify", "--only", pattern]) == 0
        assert sorted(report_ids) == want, pattern


def test_reproduce_without_a_name_says_a_name_is_needed(capsys):
    assert cli.main(["reproduce"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: reproduce needs NAME(s)") and "--list" in err


def test_the_torch_hint_installs_this_clone():
    hint = cli._torch_hint()
    root = cli.Path(cli.__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        assert f"-e '{root}[torch]'" in hint
    else:
        assert "'tradeoff[torch]'" in hint
    assert "torch==2.13.0" in hint


def test_result_objects_holding_arrays_have_a_short_repr():
    import numpy as np

    from tradeoff import bernoulli

    model = bernoulli.BernoulliModel(np.linspace(0.05, 0.3, 200))
    result = bernoulli.robust_logistic(model, 0.1)
    for obj in (model, result):
        text = repr(obj)
        assert "\n" not in text and len(text) < 400, text
        assert "shape=(200,)" in text
    text = repr(result)
    assert f"objective={result.objective:.6g}" in text and f"iterations={result.iterations}" in text
    w = result.w
    assert f"{w[0]:.6g}, {w[1]:.6g}, {w[2]:.6g}, ..., {w[-3]:.6g}, {w[-2]:.6g}, {w[-1]:.6g}" in text
    assert str(result) == text


def test_verify_output_is_not_wrapped_at_80_columns_when_piped(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    cli.main(["verify", "--only", "collins"])
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) > 100  # rich assumes 80 without a terminal
    assert "COLUMNS" not in cli.os.environ


def test_a_missing_torch_gives_the_install_hint(monkeypatch):
    real = cli.importlib.import_module

    def no_torch(name, *args):
        if name.startswith("tradeoff.torch"):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real(name, *args)

    monkeypatch.setattr(cli.importlib, "import_module", no_torch)
    for command in ("train", "eval"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--help"])
        assert exc.value.code == cli._torch_hint()


def test_verify_only_a_word_of_no_id_fails_before_computing_once_ids_are_known(
    monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("TRADEOFF_CACHE", str(tmp_path))
    assert cli.main(["verify", "--only", "nonexistent"]) == 2  # builds every group once
    assert "no check matches 'nonexistent'" in capsys.readouterr().err
    real = verify.run_checks
    built: list[str] = []

    def recording(pattern=None, groups=None):
        built.extend(g.prefix for g in groups)
        return real(pattern, groups=groups)

    monkeypatch.setattr(verify, "run_checks", recording)
    assert cli.main(["verify", "--only", "NonExistent"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert built == [] and len(err) == 1 and "no check matches 'NonExistent'" in err[0]
    # a word found in the remembered ids builds only the groups that hold it
    monkeypatch.setattr(verify, "print_report", lambda report, verbose=False: None)
    assert cli.main(["verify", "--only", "THM1.HOLDS"]) == 0
    assert built == ["collins"]
