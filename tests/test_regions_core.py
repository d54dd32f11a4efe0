"""Exact linear regions, 1D breakpoints, DC decomposition and the exact region prover."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert import Box, EpsEquivalence, Network, Verdict
from relucert.regions import (
    MaxAffine,
    breakpoints_1d,
    compare_exact,
    count_pieces,
    count_regions,
    dc_decomposition,
    linear_regions,
    pieces_1d,
)

ABS = Network.from_weights([[[1.0], [-1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [0.0]])
TENT = Network.from_weights([[[1.0], [-1.0]], [[-2.0, -2.0]]], [[-0.5, 0.5], [1.0]])


def compose(nets):
    layers = list(nets[0].layers)
    for n in nets[1:]:
        last, first = layers[-1], n.layers[0]
        layers[-1] = (first.weight @ last.weight, first.weight @ last.bias + first.bias)
        layers += list(n.layers[1:])
    return Network(layers)


def dyadic_net(sizes, data):
    """A net with small dyadic weights (all arithmetic on them is exact in float64)."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=a * b, max_size=a * b)), float).reshape(b, a) / 4
        c = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=b, max_size=b)), float) / 8
        layers.append((W, c))
    return Network(layers)


def test_abs_breakpoint_and_pieces():
    assert breakpoints_1d(ABS, -1, 1) == [Fraction(0)]
    ps = pieces_1d(ABS, -1, 1)
    assert [(p.slope, p.intercept) for p in ps] == [((Fraction(-1),), (Fraction(0),)), ((Fraction(1),), (Fraction(0),))]
    assert count_pieces(ABS, 0.5, 1) == 1


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_tent_composed_has_two_to_the_k_pieces(k):
    net = compose([TENT] * k)
    assert count_pieces(net, 0, 1) == 2 ** k
    bps = breakpoints_1d(net, 0, 1)
    assert bps == [Fraction(i, 2 ** k) for i in range(1, 2 ** k)]


def test_inactive_kink_is_not_a_breakpoint():
    # the second unit has output weight 0: an activation change but no slope change
    net = Network.from_weights([[[1.0], [1.0]], [[1.0, 0.0]]], [[0.0, -0.5], [0.0]])
    assert breakpoints_1d(net, -1, 1) == [Fraction(0)]


def test_regions_of_relu_sum_2d():
    net = Network.from_weights([np.eye(2), [[1.0, 1.0]]], [[0.0, 0.0], [0.0]])
    R = linear_regions(net, Box.cube(2))
    assert len(R) == 4 and all(r.certified for r in R)
    maps = sorted(tuple(r.A[0]) for r in R)
    assert maps == [(0, 0), (0, 1), (1, 0), (1, 1)]
    for r in R:
        assert r.contains_exact(r.point)
        assert r.value_exact(r.point) == net.eval_exact(list(r.point))


def test_duplicate_and_parallel_hyperplanes_do_not_split():
    net = Network.from_weights([[[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0]], [[1.0, 1.0, 1.0]]], [[0, 0, 0], [0]])
    R = linear_regions(net, Box.cube(2))
    assert len(R) == 2 and all(r.certified for r in R)


def test_box_cuts_regions():
    net = Network.from_weights([[[1.0, 0.0]], [[1.0]]], [[-2.0], [0.0]])  # kink at x1 = 2, outside
    assert count_regions(net, Box.cube(2)) == 1


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_regions_cover_the_box_with_exact_maps(data):
    net = dyadic_net([2, 3, 3, 1], data)
    box = Box.cube(2)
    R = linear_regions(net, box)
    assert all(r.certified for r in R)
    pats = [r.pattern for r in R]
    assert len(set(pats)) == len(pats)
    rng = np.random.default_rng(0)
    for x in box.sample(20, rng):
        xs = [Fraction(float(v)) for v in x]
        hit = [r for r in R if r.contains_exact(xs)]
        assert hit, "a point of the box is in no region"
        assert all(r.value_exact(xs) == net.eval_exact(xs) for r in hit)


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_dc_decomposition_is_exact(data):
    net = dyadic_net([2, 3, 2, 1], data)
    g, h = dc_decomposition(net)
    rng = np.random.default_rng(1)
    for x in rng.uniform(-4, 4, (15, 2)):
        xs = [Fraction(float(v)) for v in x]
        assert g.eval_exact(xs) - h.eval_exact(xs) == net.eval_exact(xs)[0]


def test_dc_of_abs_and_221_net():
    # relu(x) + relu(-x): relu(-x) = max(0, x) - x, so g = max(2x, 0) (x is pruned), h = x
    g, h = dc_decomposition(ABS)
    assert g.pieces == [((Fraction(2),), Fraction(0)), ((Fraction(0),), Fraction(0))]
    assert h.pieces == [((Fraction(1),), Fraction(0))]
    net = Network.from_weights([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0]]], [[0, 0], [0]])
    g, h = dc_decomposition(net)
    F = Fraction
    assert g.pieces == [((F(1), F(2)), F(0)), ((F(0), F(1)), F(0))]   # x2 + max(x1 + x2, 0)
    assert h.pieces == [((F(1), F(0)), F(0)), ((F(0), F(1)), F(0))]   # x2 + max(x1 - x2, 0)


def test_pruning_drops_only_dominated_pieces():
    m = MaxAffine(2, [((1, 0), 0), ((-1, 0), 0), ((0, 1), 0), ((0, -1), 0), ((0, 0), 0), ((0, 0), -1)])
    assert len(m) == 4  # the origin piece is a convex combination at the same height


def test_compare_exact_verdicts():
    f = Network.random([2, 4, 4, 1], seed=1)
    r = compare_exact(f, f.deepen(2), Box.cube(2), EpsEquivalence(0))
    assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact"
    g = Network.random([2, 4, 4, 1], seed=2)
    r = compare_exact(f, g, Box.cube(2), EpsEquivalence(0.01))
    assert r.verdict is Verdict.NOT_EQUIVALENT
    ce = r.counterexample
    assert abs(f.eval_exact(ce.x)[0] - g.eval_exact(ce.x)[0]) > Fraction(0.01)


def test_compare_exact_1d_with_excluded_interval():
    from relucert import Polytope

    f = Network.from_weights([[[1.0]], [[1.0]]], [[0.0], [0.0]])  # relu(x)
    g = Network.affine([[0.0]], [0.0]).deepen(1)                   # 0
    box = Box.cube(1)
    assert compare_exact(f, g, box, EpsEquivalence(0.5)).verdict is Verdict.NOT_EQUIVALENT
    ex = [Polytope([[1.0], [-1.0]], [2.0, -0.25])]  # 0.25 <= x <= 2 excluded
    r = compare_exact(f, g, box, EpsEquivalence(0.25, excluded=ex))
    assert r.verdict is Verdict.EQUIVALENT and r.upper == 0.25


def test_activation_intervals_1d_integer_arithmetic_matches_exact_eval():
    # the interval enumeration works on integer numerators over one denominator per layer; each
    # interval's affine map must equal the exact network value inside it and at its ends
    from fractions import Fraction as Fr

    from relucert.regions._oned import activation_intervals_1d

    rng = np.random.default_rng(7)
    for sizes in ([1, 5, 1], [1, 4, 3, 2], [1, 6, 6, 1]):
        net = Network([(rng.integers(-8, 9, (m, k)) / 4, rng.integers(-8, 9, m) / 8)
                       for k, m in zip(sizes[:-1], sizes[1:])])
        ivs = activation_intervals_1d(net, -3, 2)
        assert ivs[0][0] == -3 and ivs[-1][1] == 2
        for (a, b, s, t), nxt in zip(ivs, ivs[1:] + [None]):
            assert a < b and (nxt is None or nxt[0] == b)
            assert all(isinstance(v, Fr) for v in s + t)
            for x in (a, b, (a + b) / 2, a + (b - a) / 3):
                assert [sv * x + tv for sv, tv in zip(s, t)] == list(net.eval_exact([x]))
