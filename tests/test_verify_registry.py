"""The check registry and the ``tradeoff verify`` / ``reproduce`` command line."""

from __future__ import annotations

import json
import math
import sys

import pytest

from tradeoff import cli, verify
from tradeoff.verify import Check, Group, Status


def test_close_passes_within_tolerance_and_fails_outside():
    assert Check.close("g.a", "s", "c", 1.0 + 1e-10, 1.0, 1e-9).status is Status.PASS
    assert Check.close("g.a", "s", "c", 1.1, 1.0, 1e-9).status is Status.FAIL
    assert Check.close("g.a", "s", "c", 1.1, 1.0, 1e-9, note_if_fail=True).status is Status.NOTE
    assert Check.close("g.a", "s", "c", 2.0 + 1e-9, 2.0, 1e-9, relative=True).status is Status.PASS
    assert Check.close("g.a", "s", "c", math.nan, 1.0, 1.0).status is Status.FAIL


@pytest.mark.parametrize(
    ("value", "relation", "bound", "tol", "status"),
    [
        (0.5, "<=", 0.5, 0.0, Status.PASS),
        (0.5, "<", 0.5, 0.0, Status.FAIL),
        (0.5 + 1e-12, "<=", 0.5, 1e-9, Status.PASS),
        (0.4, ">=", 0.5, 0.0, Status.FAIL),
        (0.4, ">=", 0.5, 0.2, Status.PASS),
        (0.6, ">", 0.5, 0.0, Status.PASS),
        (math.inf, ">", 0.5, 0.0, Status.FAIL),
    ],
)
def test_bound_status_follows_the_relation(value, relation, bound, tol, status):
    assert Check.bound("g.b", "s", "c", value, relation, bound, tol=tol).status is status


def test_bound_rejects_unknown_relation():
    with pytest.raises(ValueError, match="relation"):
        Check.bound("g.b", "s", "c", 1.0, "=<", 1.0)


def _groups():
    def good():
        return [
            Check.close("alpha.one", "paper", "one equals one", 1.0, 1.0, 0.0),
            Check.note("alpha.loose", "paper", "a loose bound", 0.3, "<= 0.7", "slack 0.4"),
        ]

    def bad():
        return [Check.bound("beta.fails", "paper", "a false claim", 2.0, "<=", 1.0)]

    return [Group("alpha", "m.alpha", good), Group("beta", "m.beta", bad)]


def test_patterns_select_checks_and_skip_groups():
    built = []

    def tracking(prefix, fn):
        def wrapped():
            built.append(prefix)
            return fn()

        return wrapped

    groups = [Group(g.prefix, g.module, tracking(g.prefix, g.build)) for g in _groups()]
    report = verify.run_checks("alpha.*", groups)
    assert [c.id for c in report.checks] == ["alpha.one", "alpha.loose"]
    assert built == ["alpha"]
    assert [c.id for c in verify.run_checks("loose", _groups()).checks] == ["alpha.loose"]
    built.clear()
    verify.run_checks("alpha", groups)
    assert built == ["alpha"]
    built.clear()
    verify.run_checks("al*.one", groups)
    assert built == ["alpha"]
    assert verify.run_checks("beta.fails", _groups()).failed


def test_check_ids_must_carry_the_group_prefix():
    groups = [Group("alpha", "m", lambda: [Check.boolean("other.x", "s", "c", True)])]
    with pytest.raises(ValueError, match=r"must start with 'alpha\.'"):
        verify.run_checks(None, groups)


def test_duplicate_ids_are_rejected():
    groups = [Group("a", "m", lambda: [Check.boolean("a.x", "s", "c", True)] * 2)]
    with pytest.raises(ValueError, match="duplicate"):
        verify.run_checks(None, groups)


def test_json_and_markdown_outputs(tmp_path):
    report = verify.run_checks(None, _groups())
    verify.write_outputs(report, tmp_path / "r.json", tmp_path / "r.md")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["counts"] == {"PASS": 1, "FAIL": 1, "NOTE": 1}
    assert {c["id"] for c in data["checks"]} == {"alpha.one", "alpha.loose", "beta.fails"}
    md = (tmp_path / "r.md").read_text()
    assert "| beta.fails | FAIL |" in md and "3 checks" in md


def test_cli_verify_exit_code_is_one_on_fail(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(verify, "discover_groups", _groups)
    assert cli.main(["verify", "--only", "alpha"]) == 0
    assert cli.main(["verify", "--json", str(tmp_path / "out.json")]) == 1
    assert json.loads((tmp_path / "out.json").read_text())["counts"]["FAIL"] == 1
    assert cli.main(["verify", "--only", "nothing-matches-this"]) == 2
    out = capsys.readouterr()
    assert "alpha.one" in out.out and "no check matches" in out.err


def test_discovered_groups_are_the_check_modules():
    groups = verify.discover_groups()
    assert len({g.prefix for g in groups}) == len(groups)
    for g in groups:
        assert g.prefix.isidentifier() and g.module == f"tradeoff.checks.{g.prefix}"
    if groups:
        built = groups[0].build()
        assert built and all(c.id.startswith(groups[0].prefix + ".") for c in built)


def test_group_module_must_declare_its_prefix(tmp_path, monkeypatch):
    (tmp_path / "wrongprefix.py").write_text("PREFIX = 'other'\ndef checks():\n    return []\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from tradeoff import checks as package

    monkeypatch.setattr(package, "__path__", [str(tmp_path)])
    monkeypatch.setattr(package, "__name__", "tradeoff.checks")
    groups = verify.discover_groups()
    assert [g.prefix for g in groups] == ["wrongprefix"]
    with pytest.raises(ValueError, match="must define PREFIX = 'wrongprefix'"):
        groups[0].build()
    monkeypatch.delitem(sys.modules, "tradeoff.checks.wrongprefix", raising=False)


def test_cli_reproduce_rejects_unknown_names(capsys):
    assert cli.main(["reproduce", "no-such-experiment"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_cli_bench_lists_targets(capsys):
    assert cli.main(["bench", "--list"]) == 0
    assert "kernels" in capsys.readouterr().out
