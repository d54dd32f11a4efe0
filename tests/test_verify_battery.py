"""A shared battery of known-answer cases, run against every engine.

Each case is a hand-built pair with an exactly known sup distance ``D`` (a Fraction computed
from the stored float64 weights).  At ``eps`` slightly above ``D`` every deciding engine must
answer EQUIVALENT and at ``eps`` slightly below NOT_EQUIVALENT with an exact counterexample.
Engines may answer UNKNOWN only where documented:

* ``bounds`` (one bound pass, no search) may be UNKNOWN anywhere;
* ``bab`` (float-sound input splitting) cannot prove ``eps = 0`` between different networks,
  nor (in a few seconds) a small eps for pairs whose hidden units are permuted (its
  differential bounds pair unit j with unit j);
* ``milp`` answers UNKNOWN when the threshold lies within its stated safety margin of the true
  value (``result.margin``; reason says so) - the ``f + 1e-9`` and ``eps = 0`` cases;
* ``smt`` is exact and must decide everything here.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import (Box, DecisionEquivalence, EpsEquivalence, Network, Polytope, Top1Equivalence, Verdict,
                      verify)
from relucert.solvers import available_solvers

ENGINES = [("bab", "highs"), ("bounds", "highs"), ("milp", "highs"), ("milp", "pulp"), ("smt", "z3")]
SOLVER_ENGINES = [e for e in ENGINES if e[0] in ("milp", "smt")]


def _need(engine):
    method, solver = engine
    if method == "milp" and solver == "pulp" and "pulp" not in available_solvers():
        pytest.skip("PuLP with CBC (the 'pulp' extra) is not installed")


# ------------------------------------------------------------------------------------------
# cases: (name, f, g, box, D exact, where D is attained)
# ------------------------------------------------------------------------------------------
def _base():
    return Network.random([2, 4, 3, 1], seed=11)


def case_bias_shift(delta):
    f = _base()
    L = f.layers[-1]
    g = Network(list(f.layers[:-1]) + [(L.weight, L.bias + delta)])
    D = Fraction(float(g.layers[-1].bias[0])) - Fraction(float(L.bias[0]))
    return f, g, Box.cube(2), abs(D)


def case_corner():
    # f - g = 0.5 relu(x0 + x1): the sup 1 is attained only at the corner (1, 1)
    f = Network.from_weights([np.array([[1.0, 1.0]]), np.array([[1.0]])])
    g = Network.from_weights([np.array([[1.0, 1.0]]), np.array([[0.5]])])
    return f, g, Box.cube(2), Fraction(1)


def case_interior():
    # a hat: relu(x) - 2 relu(x - 0.5) on [0, 1] peaks at the interior point 0.5 with value 0.5
    f = Network.from_weights([np.array([[1.0], [1.0]]), np.array([[1.0, -2.0]])], [np.array([0.0, -0.5]), np.zeros(1)])
    g = Network.from_weights([np.array([[1.0], [1.0]]), np.zeros((1, 2))], [np.array([0.0, -0.5]), np.zeros(1)])
    return f, g, Box([0.0], [1.0]), Fraction(1, 2)


def case_deepen():
    f = Network.random([2, 3, 1], seed=5)
    return f, f.deepen(1), Box.cube(2), Fraction(0)


def case_reorder():
    f = Network.random([2, 4, 1], seed=6)
    p = np.array([2, 0, 3, 1])
    L1, L2 = f.layers
    g = Network([(L1.weight[p], L1.bias[p]), (L2.weight[:, p], L2.bias)])
    return f, g, Box.cube(2), Fraction(0)


POSITIVE = {
    "bias-shift-0.25": lambda: case_bias_shift(0.25),
    "corner": case_corner,
    "interior": case_interior,
    "bias-shift-1e-9": lambda: case_bias_shift(1e-9),
}
ZERO = {"deepen": case_deepen, "reorder": case_reorder}


def _check_ce(res, f, g, box, eps):
    ce = res.counterexample
    assert ce is not None
    assert box.contains(ce.x)
    fy, gy = f.eval_exact(ce.x), g.eval_exact(ce.x)
    assert fy == ce.f and gy == ce.g
    assert max(abs(a - b) for a, b in zip(fy, gy)) > Fraction(eps)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: "-".join(e))
@pytest.mark.parametrize("name", list(POSITIVE))
def test_eps_just_above_and_below(name, engine):
    _need(engine)
    method, solver = engine
    f, g, box, D = POSITIVE[name]()
    above, below = float(D) * 1.02, float(D) * 0.98
    r = verify(f, g, box, EpsEquivalence(above), method=method, solver=solver, time_limit=20)
    if r.verdict is Verdict.EQUIVALENT:
        assert r.soundness in ("exact", "float-sound", "dual-bound-with-margin")
        assert r.upper >= float(D) - 1e-12 and r.lower <= float(D)
        if r.soundness == "dual-bound-with-margin":
            assert r.margin is not None and r.margin > 0
    else:
        assert r.verdict is Verdict.UNKNOWN, r
        if method == "milp":
            assert "margin" in r.reason and above - float(D) < r.margin, r.reason
        else:
            assert method == "bounds", f"{method} must decide {name} above the distance: {r} {r.reason}"
    r = verify(f, g, box, EpsEquivalence(below), method=method, solver=solver, time_limit=20)
    if method == "bounds" and r.verdict is Verdict.UNKNOWN:
        return
    assert r.verdict is Verdict.NOT_EQUIVALENT, (r, r.reason)
    _check_ce(r, f, g, box, below)
    assert r.lower > below


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: "-".join(e))
@pytest.mark.parametrize("name", list(ZERO))
def test_exact_equality_pairs(name, engine):
    _need(engine)
    method, solver = engine
    f, g, box, D = ZERO[name]()
    r = verify(f, g, box, EpsEquivalence(0.0), method=method, solver=solver,
               time_limit=2 if method == "bab" else 20)
    assert r.verdict is not Verdict.NOT_EQUIVALENT, r
    if method == "smt":
        assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact", (r, r.reason)
        assert r.upper == 0.0
    # a small positive eps is decided by every searching engine (bab on the stacked deepened
    # pair narrows slowly: 1e-3 takes it ~55k nodes, so it gets 1e-2 here)
    small = 1e-2 if method == "bab" else 1e-3
    r = verify(f, g, box, EpsEquivalence(small), method=method, solver=solver,
               time_limit=2 if (method == "bab" and name == "reorder") else 20)
    if method == "bab" and name == "reorder":
        # documented limitation of bab's differential bounds: they pair hidden unit j of f
        # with unit j of g, so a permutation of the units leaves them loose
        assert r.verdict is not Verdict.NOT_EQUIVALENT
    elif method != "bounds":
        assert r.verdict is Verdict.EQUIVALENT, (r, r.reason)


@pytest.mark.parametrize("engine", SOLVER_ENGINES, ids=lambda e: "-".join(e))
def test_eps_zero_refuted_with_tiny_difference(engine):
    _need(engine)
    method, solver = engine
    f, g, box, D = case_bias_shift(1e-9)
    r = verify(f, g, box, EpsEquivalence(0.0), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    _check_ce(r, f, g, box, 0.0)
    assert r.counterexample.value == D


@pytest.mark.parametrize("engine", SOLVER_ENGINES, ids=lambda e: "-".join(e))
def test_excluded_polytope_known_distance(engine):
    _need(engine)
    method, solver = engine
    f, g, box, _ = case_corner()
    # outside {x0 + x1 >= 1} the sup of 0.5 relu(x0 + x1) is 0.5 (on the boundary x0 + x1 = 1)
    P = Polytope(A=[[-1.0, -1.0]], b=[-1.0])
    r = verify(f, g, box, EpsEquivalence(0.51, excluded=[P]), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.EQUIVALENT, (r, r.reason)
    r = verify(f, g, box, EpsEquivalence(0.49, excluded=[P]), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    x = r.counterexample.x
    assert x[0] + x[1] <= 1 and box.contains(x)
    assert r.counterexample.value > Fraction(0.49)


# ------------------------------------------------------------------------------------------
# top-1 and decision cases
# ------------------------------------------------------------------------------------------
def _pair_top1():
    # f = [x0, x1], g = [x0, x1 + 0.1], both as ReLU nets; on [-1, 1]^2
    f = Network.affine(np.eye(2)).deepen(1)
    g = Network.affine(np.eye(2), [0.0, 0.1]).deepen(1)
    return f, g, Box.cube(2)


@pytest.mark.parametrize("engine", SOLVER_ENGINES, ids=lambda e: "-".join(e))
def test_top1_known_answers(engine):
    _need(engine)
    method, solver = engine
    f, g, box = _pair_top1()
    r = verify(f, g, box, Top1Equivalence(margin=0.2), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.EQUIVALENT, (r, r.reason)
    r = verify(f, g, box, Top1Equivalence(margin=0.09), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    ce = r.counterexample
    fy, gy = f.eval_exact(ce.x), g.eval_exact(ce.x)
    assert fy[0] - fy[1] >= Fraction(0.09) and gy[1] > gy[0]
    # margin 0.1 exactly: the worst case is a tie in g, broken to the lowest index -> equivalent
    r = verify(f, g, box, Top1Equivalence(margin=0.1), method=method, solver=solver, time_limit=20)
    if method == "smt":
        assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact", (r, r.reason)
    else:
        assert r.verdict is not Verdict.NOT_EQUIVALENT
    r = verify(f, f, box, Top1Equivalence(), method=method, solver=solver, time_limit=20)
    assert r.verdict is not Verdict.NOT_EQUIVALENT


def _pair_decision():
    f = Network.affine([[1.0, 0.0]]).deepen(1)
    g = Network.affine([[1.0, 0.0]], [-0.1]).deepen(1)
    return f, g, Box.cube(2)


@pytest.mark.parametrize("engine", SOLVER_ENGINES, ids=lambda e: "-".join(e))
def test_decision_known_answers(engine):
    _need(engine)
    method, solver = engine
    f, g, box = _pair_decision()
    # f >= gamma => x0 - 0.1 > 0 holds iff gamma > 0.1; the negative side always holds
    r = verify(f, g, box, DecisionEquivalence(gamma=0.2), method=method, solver=solver, time_limit=20)
    assert r.verdict is Verdict.EQUIVALENT, (r, r.reason)
    for gamma in (0.05, 0.1):   # at 0.1 exactly, x0 = 0.1 gives g = 0, which is not > 0
        r = verify(f, g, box, DecisionEquivalence(gamma=gamma), method=method, solver=solver, time_limit=20)
        assert r.verdict is Verdict.NOT_EQUIVALENT, (gamma, r, r.reason)
        ce = r.counterexample
        fy, gy = f.eval_exact(ce.x), g.eval_exact(ce.x)
        assert fy[0] >= Fraction(gamma) and gy[0] <= 0
    # own thresholds: at x0 = 0.5, g = 0.5 - fl(0.1) is *below* fl(0.4) by 2.8e-17 in exact
    # arithmetic, so the claim fails on the boundary; only exact re-evaluation can tell
    r = verify(f, g, box, DecisionEquivalence(tau_f=0.5, tau_g=0.4, gamma=0.0), method=method, solver=solver,
               time_limit=20)
    if method == "smt":
        assert r.verdict is Verdict.NOT_EQUIVALENT, (r, r.reason)
    assert r.verdict is not Verdict.EQUIVALENT, (r, r.reason)
    if r.verdict is Verdict.NOT_EQUIVALENT:
        gy = g.eval_exact(r.counterexample.x)
        assert f.eval_exact(r.counterexample.x)[0] >= Fraction(0.5) and gy[0] <= Fraction(0.4)
