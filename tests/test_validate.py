"""Argument validation: every message names the parameter, the value and the allowed set."""

from __future__ import annotations

import numpy as np
import pytest

from tradeoff._validate import check_array, check_choice, check_int, check_real, check_rng


def test_check_real_messages_name_parameter_value_and_range():
    assert check_real("p", 0.7, low=0.5, high=1, low_open=True, high_open=True) == 0.7
    with pytest.raises(ValueError, match=r"p must be in \(0.5, 1\), got 0.5"):
        check_real("p", 0.5, low=0.5, high=1, low_open=True, high_open=True)
    with pytest.raises(ValueError, match=r"eps must be in \[0, inf\), got -1"):
        check_real("eps", -1, low=0)
    with pytest.raises(ValueError, match="finite"):
        check_real("eta", float("nan"))
    with pytest.raises(TypeError, match="eta must be a real number"):
        check_real("eta", "1.0")
    with pytest.raises(TypeError):
        check_real("eta", True)
    assert check_real("x", np.float32(2.0)) == 2.0
    assert check_real("x", np.array(3.0)) == 3.0


def test_check_int():
    assert check_int("d", 3, low=1) == 3
    assert check_int("d", np.int64(3), low=1) == 3
    with pytest.raises(ValueError, match=r"d must be an integer in \[1, inf\], got 0"):
        check_int("d", 0, low=1)
    with pytest.raises(TypeError, match="d must be an integer"):
        check_int("d", 2.0)


def test_check_choice_and_array_and_rng():
    assert check_choice("norm", "l2", ["linf", "l2"]) == "l2"
    with pytest.raises(ValueError, match="norm must be one of 'linf', 'l2'; got 'l1'"):
        check_choice("norm", "l1", ["linf", "l2"])
    with pytest.raises(ValueError, match=r"w must have shape \(3,\)"):
        check_array("w", [1, 2], shape=(3,))
    with pytest.raises(ValueError, match="w must contain only finite"):
        check_array("w", [1, np.inf])
    assert isinstance(check_rng(3), np.random.Generator)
    g = np.random.default_rng(0)
    assert check_rng(g) is g
    with pytest.raises(TypeError, match="rng must be"):
        check_rng(None)


@pytest.mark.parametrize("bad", ["0.3", ["0.3", "1"], [True, False], [1 + 2j], [None], object()])
def test_check_array_never_converts_non_reals(bad):
    with pytest.raises(TypeError, match="w must be an array of real numbers"):
        check_array("w", bad)


def test_check_array_accepts_integer_and_float_arrays():
    assert check_array("w", [1, 2]).dtype == np.float64
    assert check_array("w", np.arange(3, dtype=np.float32)).tolist() == [0.0, 1.0, 2.0]


def test_check_choice_rejects_unhashable_values_by_name():
    with pytest.raises(TypeError, match="norm must be one of"):
        check_choice("norm", np.array(["l2"]), ["linf", "l2"])
    with pytest.raises(TypeError, match="norm must be one of"):
        check_choice("norm", ["l2"], ["linf", "l2"])
