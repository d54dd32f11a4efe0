"""Fan, Lai, Wang: exact wide/deep regression rewrites, the simplex version with its collars, and
the De Morgan classifiers (A-* rows of the reference table)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert import Box, DecisionEquivalence, EpsEquivalence, Network, Verdict, verify
from relucert import transforms as T
from relucert.regions import compare_exact
from relucert.transforms.demorgan import positive_polytopes

ABS = Network.from_weights([[[1.0], [-1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [0.0]])
RELU_SUM = Network.from_weights([np.eye(2), [[1.0, 1.0]]], [[0.0, 0.0], [-1.0]])  # relu(x1) + relu(x2) - 1


def dyadic_net(sizes, data):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=a * b, max_size=a * b)), float).reshape(b, a) / 4
        c = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=b, max_size=b)), float) / 8
        layers.append((W, c))
    return Network(layers)


def test_deep_abs_worked_example_weights():
    new, claim = T.fan_deep(ABS, Box.cube(1))
    assert [L.weight.tolist() for L in new.layers] == [[[1.0]], [[1.0], [2.0]], [[-1.0, 1.0]]]
    assert [L.bias.tolist() for L in new.layers] == [[1.0], [0.0, -2.0], [1.0]]
    assert new.width == 2 and new.depth == 2
    for x, want in ((0.5, 0.5), (-0.5, 0.5)):
        assert new.eval_exact([x]) == [Fraction(want)]
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"


def test_deep_needs_a_box_and_is_only_exact_on_it():
    with pytest.raises(ValueError, match="needs a box"):
        T.fan_deep(ABS)
    new, claim = T.fan_deep(ABS, Box.cube(1))
    # outside the box the carried x - lo is clipped: not equal on [-2, 1]
    res = compare_exact(ABS, new, Box([-2.0], [1.0]), EpsEquivalence(0))
    assert res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample.x[0] < -1


def test_wide_and_deep_on_a_random_2d_net():
    f = Network.random([2, 3, 3, 1], seed=0)
    box = Box.cube(2, -3.0, 3.0)
    for name in ("fan-wide", "fan-deep"):
        new, claim = T.apply(name, f, box)
        if name == "fan-deep":
            assert new.width <= f.n_inputs + 2 == claim.formula["width"]
            assert new.depth == claim.formula["hidden_layers"]
        else:
            assert new.depth == claim.formula["hidden_layers"]
        res = T.check(new, claim)
        assert res.verdict is Verdict.EQUIVALENT, (name, res.summary())
        assert res.upper <= claim.eps


@settings(max_examples=8, deadline=None)
@given(st.data(), st.sampled_from([[1, 3, 3, 1], [2, 2, 2, 1], [2, 3, 1]]))
def test_fan_deep_exact_on_random_dyadic_nets(data, sizes):
    f = dyadic_net(sizes, data)
    box = Box.cube(sizes[0])
    new, claim = T.fan_deep(f, box)
    assert claim.eps == 0 and claim.kind == "exact-on-box"
    assert new.width <= sizes[0] + 2
    assert compare_exact(f, new, box, EpsEquivalence(0)).verdict is Verdict.EQUIVALENT


def test_simplex_sup_refuted_and_off_collar_proved():
    f = Network.from_weights([[[1.0]], [[1.0]]], [[1.0], [0.0]])  # x + 1 (relu is the identity on [-1, 1])
    box = Box.cube(1)
    bad, bclaim = T.fan_simplex_sup(f, box, delta=1e-3, splits=2, eps=0.1)
    assert bclaim.known_bad and bclaim.info["simplices"] == 2
    assert bad.eval_exact([0.0]) == [Fraction(0)]      # W(0) = 0 while f(0) = 1
    res = T.check(bad, bclaim)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    ce = res.counterexample
    assert abs(f.eval_exact(ce.x)[0] - bad.eval_exact(ce.x)[0]) > Fraction(0.1)
    good, claim = T.fan_simplex(f, box, delta=1e-3, splits=2)
    assert claim.kind == "eps-off-excluded" and len(claim.excluded) == 4
    res = T.check(good, claim)
    assert res.verdict is Verdict.EQUIVALENT, res.summary()


def test_simplex_2d_off_collars():
    f = Network.from_weights([[[1.0, 0.5]], [[1.0]]], [[0.25], [0.0]])  # two regions on the box
    box = Box.cube(2)
    new, claim = T.fan_simplex(f, box, delta=0.01)
    assert new.depth == 3 and claim.excluded
    res = T.check(new, claim)   # exact: arrangement vertices outside the collars
    assert res.verdict is Verdict.EQUIVALENT, res.summary()
    bad, bclaim = T.fan_simplex_sup(f, box, delta=0.01, eps=0.01)
    res = T.check(bad, bclaim)
    assert res.verdict is Verdict.NOT_EQUIVALENT


# -- De Morgan ----------------------------------------------------------------------------------
def test_positive_polytopes_of_worked_example():
    P = positive_polytopes(RELU_SUM, Box.cube(2, -2.0, 2.0))
    got = sorted(sorted((tuple(float(v) for v in a), float(c)) for a, c in poly) for poly in P)
    want = sorted([
        sorted([((1.0, 0.0), 0.0), ((0.0, 1.0), 0.0), ((1.0, 1.0), -1.0)]),
        sorted([((1.0, 0.0), -1.0), ((0.0, -1.0), 0.0)]),
        sorted([((0.0, 1.0), -1.0), ((-1.0, 0.0), 0.0)]),
    ])
    assert got == want


def test_demorgan_wide_worked_example():
    box = Box.cube(2, -2.0, 2.0)
    new, claim = T.demorgan_wide(RELU_SUM, box, delta=0.01, gamma=0.015)
    assert new.widths == [14, 3, 1]
    assert sorted(new.layers[1].bias.tolist()) == [-2.0, -1.0, -1.0]
    assert claim.kind == "margin" and claim.gamma == 0.015
    res = T.check(new, claim, method="regions")
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"
    # the computed margin is sqrt(2) delta (relaxed P1), just below 0.015
    _, c2 = T.demorgan_wide(RELU_SUM, box, delta=0.01)
    assert np.sqrt(2) * 0.01 < c2.gamma < 0.015
    # too small a margin is refuted (points with f <= -gamma where W = 1)
    low, lclaim = T.demorgan_wide(RELU_SUM, box, delta=0.01, gamma=0.005)
    res = T.check(low, lclaim, method="regions")
    assert res.verdict is Verdict.NOT_EQUIVALENT
    ce = res.counterexample
    assert RELU_SUM.eval_exact(ce.x)[0] <= Fraction(-0.005) and low.eval_exact(ce.x)[0] > Fraction(1, 2)


def test_demorgan_deep_worked_example():
    box = Box.cube(2, -2.0, 2.0)
    new, claim = T.demorgan_deep(RELU_SUM, box, delta=0.01, gamma=0.015)
    assert new.width == 6 and new.depth == 18 == claim.formula["hidden_layers"]
    res = T.check(new, claim, method="regions")
    assert res.verdict is Verdict.EQUIVALENT


@pytest.mark.slow   # ~8 s wall on a loaded 2-core machine (MILP)
def test_demorgan_wide_and_deep_random_net_via_milp():
    f = Network.random([2, 6, 6, 1], seed=2)
    box = Box.cube(2)
    for name in ("demorgan-wide", "demorgan-deep"):
        new, claim = T.apply(name, f, box)
        res = T.check(new, claim)   # auto: MILP for margin claims
        assert res.verdict is Verdict.EQUIVALENT, (name, res.summary())
    # the same claim through the public verifier API
    res = verify(f, new, box, DecisionEquivalence(tau_f=0.0, tau_g=0.5, gamma=claim.gamma), method="milp")
    assert res.verdict is Verdict.EQUIVALENT


def test_demorgan_sampled_is_refuted():
    f = Network.random([2, 6, 6, 1], seed=2)
    box = Box.cube(2)
    bad, claim = T.demorgan_sampled(f, box, samples=64, seed=0)
    assert claim.known_bad and claim.info["polytopes"] < len(positive_polytopes(f, box))
    res = T.check(bad, claim)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    ce = res.counterexample
    assert f.eval_exact(ce.x)[0] >= Fraction(claim.gamma) and bad.eval_exact(ce.x)[0] <= Fraction(1, 2)
