"""The one tolerant reading of a metric: every JSON value gives a finite float or None, never an error."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from nni.metrics import metric_default, metric_number, not_a_number_reason, short_repr
from nni.utils import extract_scalar_reward, is_finite_number

NOT_NUMBERS = [10**400, -10**400, float("nan"), float("inf"), float("-inf"), "1.0", "NaN", True, False, None,
               [1.0], {"loss": 1.0}, {"default": 10**400}, {"default": "1"}, {"default": None},
               {"default": {"nested": 1}}, {"default": [1]}, {"default": True}, {}]


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_odd_values_are_not_a_number_and_say_why(value):
    assert metric_default(value) is None
    reason = not_a_number_reason(value)
    assert reason and len(reason) < 700


@pytest.mark.parametrize(("value", "number"), [(0.5, 0.5), (-0.0, 0.0), (1e308, 1e308), (3, 3.0), (10**300, 1e300),
                                               ({"default": 2, "loss": "x"}, 2.0), (np.float32(0.25), 0.25),
                                               (np.int64(7), 7.0), (Fraction(1, 4), 0.25)])
def test_finite_numbers_are_read(value, number):
    assert metric_default(value) == number and not_a_number_reason(value) is None


def test_other_keys_and_scalars():
    assert metric_number({"default": 1, "loss": 0.25}, "loss") == 0.25
    assert metric_number({"loss": 10**400}, "loss") is None
    assert metric_number(0.5, "loss") is None  # a scalar is only its 'default'


def test_short_repr_cuts_long_values_and_never_raises():
    assert short_repr("x" * 10).startswith("'xxx")
    cut = short_repr({"blob": "z" * 100_000})
    assert len(cut) < 600 and "characters)" in cut
    assert "digits" in short_repr(10**100_000)  # repr would pass Python's digit limit


def test_nni_utils_helpers_take_huge_integers():
    assert extract_scalar_reward(10**400) == math.inf and extract_scalar_reward({"default": -10**400}) == -math.inf
    assert not is_finite_number(10**400) and is_finite_number(1e308)
    with pytest.raises(RuntimeError, match="Incorrect final result"):
        extract_scalar_reward({"default": True})
