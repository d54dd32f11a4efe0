"""Solver backends behind one interface: early stop, honest statuses, option validation."""

from __future__ import annotations

import numpy as np
import pytest

from relucert import Box, Network
from relucert.bounds.linear import crown_bounds
from relucert.encode import MilpBuilder
from relucert.errors import SolverError, SpecError
from relucert.solvers import available_solvers, get_solver
from relucert.solvers.pulp_backend import parse_cbc_log


def _problem(seed=1, noise=1e-2):
    f = Network.random([2, 6, 5, 1], seed=seed)
    rng = np.random.default_rng(0)
    g = Network([(L.weight + rng.normal(0, noise, L.weight.shape), L.bias) for L in f.layers])
    box = Box.cube(2)
    b = MilpBuilder(box)
    F = b.add_network(f, crown_bounds(f, box), tag="f")
    G = b.add_network(g, crown_bounds(g, box), tag="g")
    b.set_objective({int(F.outputs[0]): 1.0, int(G.outputs[0]): -1.0})
    return b.build()


@pytest.fixture(scope="module")
def prob():
    return _problem()


@pytest.fixture(scope="module")
def optimum(prob):
    out = get_solver("highs").solve(prob)
    assert out.status == "optimal" and out.gap is not None and out.gap <= 1e-8
    return out.primal_value


def test_highs_early_stop_on_incumbent_and_on_bound(prob, optimum):
    s = get_solver("highs")
    out = s.solve(prob, stop_if_primal_above=0.5 * optimum)
    assert out.status in ("stopped_incumbent", "optimal")
    assert out.primal_value > 0.5 * optimum and out.dual_bound >= out.primal_value
    out = s.solve(prob, stop_if_dual_below=10 * optimum + 1.0)
    assert out.status in ("stopped_bound", "optimal") and out.dual_bound < 10 * optimum + 1.0
    assert out.dual_bound >= optimum - 1e-9


def test_time_limit_is_reported_as_such():
    p = _problem(seed=2, noise=1e-3)
    out = get_solver("highs").solve(p, time_limit=0.05)
    assert out.status in ("time_limit", "optimal")
    if out.status == "time_limit":
        assert out.dual_bound is None or out.primal_value is None or out.dual_bound >= out.primal_value


@pytest.mark.skipif("pulp" not in available_solvers(), reason="PuLP with CBC (the 'pulp' extra) is not installed")
def test_pulp_cbc_agrees_with_highs(prob, optimum):
    out = get_solver("pulp").solve(prob)
    assert out.status == "optimal"
    assert abs(out.primal_value - optimum) < 1e-6
    assert out.dual_bound >= optimum - 1e-9       # the bound read from CBC's log is rounded outward
    assert out.input_x is not None and prob.box.contains(out.input_x)


def test_cbc_log_parsing():
    log = "Result - Stopped on time limit\n\nObjective value:                0.01234567\n" \
          "Upper bound:                    0.05\nEnumerated nodes:               17\n"
    assert parse_cbc_log(log) == {"result": "Stopped on time limit", "objective": 0.01234567, "bound": 0.05,
                                  "nodes": 17}


def test_registry_and_validation(prob):
    assert {"highs", "z3"} <= set(available_solvers())
    with pytest.raises(SpecError, match="unknown solver 'gurobix'"):
        get_solver("gurobix")
    with pytest.raises(SpecError, match="time_limit must be a number of seconds > 0"):
        get_solver("highs").solve(prob, time_limit=-1)
    with pytest.raises(SpecError, match="stop_if_dual_below must be a finite number"):
        get_solver("highs").solve(prob, stop_if_dual_below=float("nan"))
    with pytest.raises(SolverError, match="mip_abs_gap must be a finite number >= 0"):
        get_solver("highs", mip_abs_gap=-1.0)
    caps = get_solver("highs").capabilities()
    assert caps == {"supports_early_stop": True, "supports_dual_bound": True, "exact": False}
    assert get_solver("z3").capabilities()["exact"] is True
