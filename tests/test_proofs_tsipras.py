"""Tests of tradeoff.proofs_check.tsipras and of the ``tsipras.*`` verify group."""

from __future__ import annotations

import math

import pytest
import sympy as sp
from scipy.special import ndtr

from tradeoff.proofs_check import tsipras as proofs
from tradeoff.verify import Status, run_checks


def _g(t: float) -> float:
    return t * float(ndtr(t)) + math.exp(-t * t / 2) / math.sqrt(2 * math.pi)


def test_theorem_2_1_algebra_holds():
    results = proofs.theorem_2_1_algebra()
    assert {r.id for r in results} == {
        "thm2_1.standard",
        "thm2_1.adversarial",
        "thm2_1.inequality",
        "thm2_1.paper_step",
        "thm2_1.tight_vertex",
    }
    assert all(r.expected == "true" and r.status is Status.PASS for r in results)


def test_zero_test_is_not_vacuous():
    p, a = sp.symbols("p a", positive=True)
    assert proofs._is_zero((p**2 - 1) / (p - 1) - p - 1)
    assert not proofs._is_zero(p - p**2)
    # The proof's coefficient with a wrong sign is caught.
    q = 1 - p
    gap = p / q * (p * a) / 2 - (q * a) / 2
    assert proofs._is_zero(gap - a * (2 * p - 1) / (2 * q))
    assert not proofs._is_zero(gap - a * (1 - 2 * p) / (2 * q))


def test_svm_algebra_holds():
    results = proofs.svm_algebra()
    assert {r.id for r in results} == {"svm.closed_form", "svm.kink_threshold"}
    assert all(r.status is Status.PASS for r in results)


def test_lemma_constants_match_closed_forms():
    by_key = {r.id: r for r in proofs.lemma_constants()}
    r2 = 1 / math.sqrt(2)
    expected = {
        # 0.3 E max(0, c - N(m, s^2)) = 0.3 s g((c - m)/s)
        "c2.wrong_x1_loss": 0.3 * r2 * _g((1 + r2 - 4 * r2) / r2),
        "c2.v_only_loss": _g(-3.0),
        "c3.probability": float(ndtr(3.0)),
        "c4.probability": float(ndtr(3.0)),
        "avg.standard": float(ndtr(3.0)),
        "avg.adversarial": float(ndtr(-3.0)),
    }
    assert set(by_key) == set(expected)
    for key, value in expected.items():
        r = by_key[key]
        relation, bound = r.expected.split()
        assert r.status is Status.PASS
        assert r.value == pytest.approx(value, rel=1e-13)
        bound = float(bound)
        holds = {"<": r.value < bound, ">": r.value > bound, ">=": r.value >= bound}
        assert holds[relation]


def test_svm_accuracy_mp_matches_closed_form():
    from tradeoff.gaussian import GaussianModel
    from tradeoff.svm import svm_optimum

    m = GaussianModel(10_000, 0.04)
    opt = svm_optimum(m)
    for eps in (0.0, 0.04, 0.08):
        mp_acc = proofs.svm_accuracy_mp(opt.w1, opt.v, m.mu, m.p, eps, math.sqrt(m.d))
        assert mp_acc == pytest.approx(opt.accuracy(eps), rel=1e-12)


def test_verify_group_has_no_fail_and_the_expected_ids():
    report = run_checks("tsipras.*")
    ids = [c.id for c in report.checks]
    assert len(ids) == len(set(ids)) and all(i.startswith("tsipras.") for i in ids)
    assert not report.failed, [(c.id, c.detail) for c in report.failed]
    for needed in (
        "tsipras.avg.standard",
        "tsipras.avg.adversarial",
        "tsipras.thm2_1.bound",
        "tsipras.thm2_1.tight",
        "tsipras.thm2_1.beyond",
        "tsipras.thm2_2.standard",
        "tsipras.thm2_2.adversarial",
        "tsipras.thm2_2.robust_unit_norm",
        "tsipras.thm2_2.robust_penalized",
        "tsipras.lemma_c1.equal_weights",
        "tsipras.lemma_c2.v_star",
        "tsipras.lemma_c3.standard_accuracy",
        "tsipras.lemma_c4.adversarial_accuracy",
        "tsipras.lemma_c5.threshold_unit",
        "tsipras.lemma_c5.confirmed",
        "tsipras.proof.thm2_1.inequality",
        "tsipras.proof.c2.wrong_x1_loss",
    ):
        assert needed in ids
    by_id = {c.id: c for c in report.checks}
    # The threshold row reports eta, not the paper's 2 eta, for d = 1e4, eta = 4/sqrt(d).
    assert by_id["tsipras.lemma_c5.threshold_unit"].status is Status.NOTE
    assert by_id["tsipras.lemma_c5.threshold_unit"].value == pytest.approx(0.04)
    assert by_id["tsipras.thm2_1.beyond"].value == pytest.approx(0.7)
    for c in report.checks:
        if c.status is Status.NOTE:
            assert c.detail  # every NOTE carries its number
