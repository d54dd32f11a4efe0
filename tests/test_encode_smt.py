"""The exact z3 encoding: sat models agree with exact evaluation, unsat is exact."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, Network
from relucert.bounds.linear import crown_bounds
from relucert.encode.smt import SmtBuilder
from relucert.errors import SpecError
from relucert.solvers import get_solver


def test_sat_model_matches_exact_evaluation_and_unsat_is_exact():
    net = Network([(np.array([[1.0], [-1.0]]), np.array([0.0, 0.5])), (np.array([[1.0, 2.0]]), np.array([0.25]))])
    box = Box([-1.0], [1.0])
    for bounds in (None, crown_bounds(net, box)):
        b = SmtBuilder(box)
        F = b.add_network(net, bounds, tag="f")
        b.add_atom({F.outputs[0]: 1}, ">=", Fraction(13, 4))         # the max is 3.25 at x = -1
        out = get_solver("z3").check(b.build())
        assert out.status == "sat" and out.x == [Fraction(-1)] and out.outputs["f"] == [Fraction(13, 4)]
        b = SmtBuilder(box)
        F = b.add_network(net, bounds, tag="f")
        b.add_atom({F.outputs[0]: 1}, ">", Fraction(13, 4))
        assert get_solver("z3").check(b.build()).status == "unsat"


def test_deepened_net_is_exactly_equal():
    f = Network.random([2, 3, 1], seed=5)
    g = f.deepen(1)
    box = Box.cube(2)
    b = SmtBuilder(box)
    F = b.add_network(f, crown_bounds(f, box), tag="f")
    G = b.add_network(g, crown_bounds(g, box), tag="g")
    b.add_any([({F.outputs[0]: 1, G.outputs[0]: -1}, ">", 0), ({F.outputs[0]: -1, G.outputs[0]: 1}, ">", 0)])
    assert get_solver("z3").check(b.build(), time_limit=20).status == "unsat"
    assert "check-sat" in b.build().to_smtlib()


def test_errors():
    box = Box.cube(2)
    b = SmtBuilder(box)
    with pytest.raises(SpecError, match="relu must be one of"):
        SmtBuilder(box, relu="max")
    with pytest.raises(SpecError, match="op must be one of"):
        b.add_atom({0: 1}, "!=", 0)
    with pytest.raises(SpecError, match="refers to handle 7"):
        b.add_atom({7: 1}, ">", 0)
    with pytest.raises(SpecError, match="z3 Boolean expression"):
        b.add_expr(3)
