"""Input boxes: validation, parsing, exact containment, splitting."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box
from relucert.errors import BoxError


def test_basic_properties():
    b = Box([-1, 0], [1, 0.5])
    assert b.dim == 2 and len(b) == 2
    np.testing.assert_array_equal(b.center, [0.0, 0.25])
    np.testing.assert_array_equal(b.width, [2.0, 0.5])
    assert b == Box.from_string("-1:1,0:0.5")
    assert hash(b) == hash(Box.from_string("-1:1,0:0.5"))


@pytest.mark.parametrize("text, dim, lo, hi", [
    ("-1:1,0:0.5", None, [-1, 0], [1, 0.5]),
    ("-1:1", 3, [-1, -1, -1], [1, 1, 1]),
    (" 0.3 ", None, [0.3], [0.3]),
    ("-1e-3:2E2, 5:5", None, [-1e-3, 5], [200, 5]),
])
def test_parse(text, dim, lo, hi):
    b = Box.from_string(text, dim=dim)
    np.testing.assert_array_equal(b.lo, lo)
    np.testing.assert_array_equal(b.hi, hi)


@pytest.mark.parametrize("text, dim, message", [
    ("", None, "non-empty string"),
    ("1:0", None, "lo <= hi, got lo=1.0 > hi=0.0 for input 0"),
    ("0:1,a:2", None, "interval 1 'a:2': bounds must be numbers"),
    ("0:1:2", None, "cannot parse box interval 0"),
    ("0:inf", None, "must be finite"),
    ("nan:1", None, "must be finite"),
    ("0:1,0:1", 3, "box has 2 dimensions but the network has 3 inputs"),
])
def test_parse_errors(text, dim, message):
    with pytest.raises(BoxError, match=message.replace("(", r"\(")) as info:
        Box.from_string(text, dim=dim)
    assert isinstance(info.value, ValueError)


def test_constructor_errors():
    with pytest.raises(BoxError, match="lo has 2 entries but hi has 1"):
        Box([0, 0], [1])
    with pytest.raises(BoxError, match="at least one dimension"):
        Box([], [])
    with pytest.raises(BoxError, match="must be numbers"):
        Box(["x"], [1])
    with pytest.raises(BoxError, match="radius must be >= 0, got radius=-1"):
        Box.linf_ball([0.0], -1)


def test_contains_is_exact():
    b = Box([0.1], [0.2])
    assert b.contains([0.1]) and b.contains([Fraction(0.2)])
    # the real 1/10 is not the float 0.1 (which is slightly larger): outside
    assert not b.contains([Fraction(1, 10)])
    assert not b.contains([0.1, 0.1])


def test_split_and_hull_and_ball():
    b = Box.cube(2)
    left, right = b.split(0)
    assert left == Box([-1, -1], [0, 1]) and right == Box([0, -1], [1, 1])
    assert Box.hull([left, right]) == b
    ball = Box.linf_ball([0.5, 0.9], 0.2, clip=(0.0, 1.0))
    np.testing.assert_allclose(ball.lo, [0.3, 0.7])
    np.testing.assert_allclose(ball.hi, [0.7, 1.0])
    assert Box([0, 1], [0, 2]).vertices_count() == 2
    assert Box.from_string(b.to_string()) == b
    s = b.sample(50, np.random.default_rng(0))
    assert s.shape == (50, 2) and np.all((s >= -1) & (s <= 1))
