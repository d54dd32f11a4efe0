"""Depth-separation families (Arora et al.; reference B.5, B.6, 1.5, 1.6 and the table in 5)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import relucert
from relucert.errors import SpecError
from relucert.expressivity import families as fam
from relucert.regions import breakpoints_1d, compare_exact, count_pieces, linear_regions, pieces_1d

UNIT = relucert.Box([0.0], [1.0])


@pytest.mark.parametrize("w,k", [(2, 3), (3, 2), (3, 3), (2, 4), (4, 3), (5, 2), (3, 4)])
def test_hard_function_has_exactly_w_to_the_k_pieces(w, k):
    H = fam.hard_function(w, k)
    assert H.depth == k and H.widths == [w] * k
    assert count_pieces(H, 0, 1) == w ** k
    knots = fam.hard_function_breakpoints(w, k)
    assert len(knots) == w ** k + 1
    assert breakpoints_1d(H, 0, 1) == knots[1:-1]
    # H alternates 0, 1, 0, ... on its knots, exactly
    vals = [H.eval_exact([x])[0] for x in knots[:: max(1, len(knots) // 40)]]
    idx = list(range(0, len(knots), max(1, len(knots) // 40)))
    assert vals == [Fraction(i % 2) for i in idx]


def test_dyadic_breakpoints_make_every_weight_exact():
    assert fam.dyadic_breakpoints(3) == [Fraction(1, 4), Fraction(1, 2)]
    assert fam.dyadic_breakpoints(4) == [Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]
    assert fam.dyadic_breakpoints(5) == [Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(3, 4)]
    for w in range(2, 9):
        z = fam.zigzag(w=w)
        assert z.widths == [w]
        knots = [Fraction(0)] + fam.dyadic_breakpoints(w) + [Fraction(1)]
        assert [z.eval_exact([x])[0] for x in knots] == [Fraction(i % 2) for i in range(w + 1)]
    with pytest.raises(SpecError, match="not exactly a float64"):
        fam.zigzag(fam.uniform_breakpoints(3))
    z = fam.zigzag(fam.uniform_breakpoints(3), exact=False)     # rounded weights, allowed on request
    assert count_pieces(z, 0, 1) == 3


def test_custom_and_per_layer_breakpoints():
    H = fam.hard_function(3, 2, breakpoints=[["1/2", "3/4"], [0.25, 0.75]])
    assert count_pieces(H, 0, 1) == 9
    assert breakpoints_1d(H, 0, 1) == fam.hard_function_breakpoints(3, 2, breakpoints=[["1/2", "3/4"], [0.25, 0.75]])[1:-1]
    with pytest.raises(SpecError, match=r"breakpoints must increase strictly inside \(0, 1\)"):
        fam.zigzag([0.5, 0.25])
    with pytest.raises(SpecError, match="needs 2 breakpoints, got 1"):
        fam.hard_function(3, 2, breakpoints=[0.5])


def test_sawtooth_and_tent_worked_example():
    t = fam.tent_map()
    assert [t.eval_exact([x])[0] for x in (0, 0.25, 0.5, 1)] == [0, Fraction(1, 2), 1, 0]
    for k in (1, 3, 6):
        S = fam.sawtooth(k)
        assert S.widths == [2] * k and count_pieces(S, 0, 1) == 2 ** k
    # the sawtooth is the w = 2 hard function
    assert compare_exact(fam.sawtooth(5), fam.hard_function(2, 5), UNIT, relucert.EpsEquivalence(0.0)).verdict \
        == relucert.Verdict.EQUIVALENT


def test_piece_bounds_hold_for_the_family_and_random_nets():
    for w, k in [(2, 4), (3, 3), (4, 2)]:
        assert fam.max_pieces_1d([w] * k) >= w ** k
        assert fam.arora_max_pieces([w] * k) >= fam.max_pieces_1d([w] * k)
    for seed in range(6):
        net = relucert.Network.random([1, 5, 4, 3, 1], seed=seed)
        assert count_pieces(net, -50, 50) <= fam.max_pieces_1d(net.widths)


def test_size_lower_bounds_corollary_instance():
    ds = fam.depth_separation(3, 9, 3)
    assert ds.pieces == 19683 and ds.deep_size == 27
    assert ds.bound.integer == 78 and abs(ds.bound.real - 78) < 1e-9
    assert ceil_(ds.bound.paper) == 40                        # paper: >= 40 nodes
    assert ds.construction_widths == (27, 27, 27) and ds.construction_size == 81
    # the integer bound is exact for prod(w_i + 1): 77 units can never reach 19683 pieces
    assert fam.max_pieces_1d([26, 26, 26]) == 19683
    assert fam.max_pieces_1d([26, 26, 25]) < 19683
    b = fam.size_lower_bound(16, 2, w=2, k=4)
    assert b.integer == 6 and b.real == 6.0 and b.paper == 3.0
    assert fam.size_lower_bound(81, 1).integer == 80           # one hidden layer: p - 1 units


def ceil_(x):
    import math

    return math.ceil(x)


@pytest.mark.parametrize("w,k,depth", [(3, 4, 2), (2, 6, 3), (3, 3, 1), (2, 5, 2)])
def test_matching_shallow_construction_is_exactly_equal(w, k, depth):
    H = fam.hard_function(w, k)
    S = fam.shallow_hard_function(w, k, depth)
    assert S.depth == depth
    assert sum(S.widths) == fam.depth_separation(w, k, depth).construction_size
    assert sum(S.widths) >= fam.size_lower_bound(w ** k, depth).integer
    res = compare_exact(H, S, UNIT, relucert.EpsEquivalence(0.0))
    assert res.verdict == relucert.Verdict.EQUIVALENT and res.soundness == "exact"


def test_one_hidden_layer_needs_p_minus_one_units_exact_refutation():
    # B-hard-neg-exact: 3 HL x 3 (27 pieces) against 1 HL x 25 (at most 26 pieces)
    H = fam.hard_function(3, 3)
    assert count_pieces(H, 0, 1) == 27
    assert compare_exact(H, fam.shallow_hard_function(3, 3, 1), UNIT, relucert.EpsEquivalence(0.0)).verdict \
        == relucert.Verdict.EQUIVALENT
    g = fam.too_small_candidate(3, 3, 25, method="interpolate")
    res = relucert.verify(H, g, UNIT, relucert.EpsEquivalence(0.0), method="bab", time_limit=30)
    assert res.verdict == relucert.Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert H.eval_exact(x)[0] != g.eval_exact(x)[0]


@pytest.mark.parametrize("method", ["lstsq", "interpolate"])
@pytest.mark.parametrize("eps", [0.5, 0.49])
def test_approximation_lower_bound_refutes_too_small_candidate(method, eps):
    # B-hard-neg-approx: 4 HL x 3 (81 pieces) against 1 HL x 30 (<= 31 pieces < 41)
    H = fam.hard_function(3, 4)
    g = fam.too_small_candidate(3, 4, 30, method=method)
    assert count_pieces(g, 0, 1) < fam.approx_piece_lower_bound(3, 4) == 41
    assert fam.approx_piece_lower_bound(3, 4) >= 3 ** 4 / 2
    res = fam.refute_approximation(H, g, eps=eps)
    assert res.verdict == relucert.Verdict.NOT_EQUIVALENT
    ce = res.counterexample
    assert UNIT.contains(ce.x)
    gap = abs(H.eval_exact(ce.x)[0] - g.eval_exact(ce.x)[0])
    assert gap == ce.value and gap > Fraction(eps)


def test_approximation_threshold_is_one_half():
    # why eps = 1/2 is the threshold: the constant 1/2 (one piece) has sup |H - 1/2| = 1/2 exactly,
    # so it is within 1/2 (proved exactly) but refuted for any eps < 1/2
    H = fam.hard_function(2, 3)
    half = relucert.Network([(np.zeros((1, 1)), np.zeros(1)), (np.zeros((1, 1)), np.array([0.5]))])
    res = compare_exact(H, half, UNIT, relucert.EpsEquivalence(0.5))
    assert res.verdict == relucert.Verdict.EQUIVALENT and res.soundness == "exact"
    res = relucert.verify(H, half, UNIT, relucert.EpsEquivalence(0.49), method="bab", time_limit=30)
    assert res.verdict == relucert.Verdict.NOT_EQUIVALENT


def test_zonotope_family_region_count_n2():
    # B-zono-n2: gamma_Z with m = 4 generators, then 2 HL x 2: at least 2 m w**k = 32 regions
    G = fam.default_generators(4, 2)
    F = fam.zonotope_function(G, 2, 2)
    assert F.depth == 3 and F.widths == [8, 2, 2]
    assert fam.zonotope_vertex_count(4, 2) == 8
    box = relucert.Box([-1, -1], [1, 1])
    regions = linear_regions(F, box)
    maps = {(tuple(r.A.reshape(-1)), tuple(r.c)) for r in regions}
    assert len(maps) >= fam.zonotope_piece_lower_bound(4, 2, 2, 2) == 32
    assert all(r.certified for r in regions)
    # gamma_Z is the support function: on the box it equals sum |<b, x>|
    gamma = fam.zonotope_gamma(G)
    xs = np.random.default_rng(0).uniform(-1, 1, size=(50, 2))
    assert np.allclose(gamma(xs)[:, 0], np.abs(xs @ G.T).sum(axis=1))


def test_zonotope_vertex_formula():
    assert fam.zonotope_vertex_count(3, 2) == 6          # hexagon
    assert fam.zonotope_vertex_count(4, 3) == 14          # rhombic dodecahedron has 14 vertices
    assert fam.zonotope_vertex_count(3, 3) == 8           # parallelepiped


def test_block_sizes_and_errors():
    assert fam.block_sizes(9, 3) == [3, 3, 3]
    assert fam.block_sizes(5, 2) == [3, 2]
    with pytest.raises(SpecError, match="depth must be <= k, got depth=4 > k=3"):
        fam.block_sizes(3, 4)
    with pytest.raises(SpecError, match="w must be an integer >= 1, got w=0"):
        fam.dyadic_breakpoints(0)
    with pytest.raises(SpecError, match="units must be an integer >= 1"):
        fam.too_small_candidate(2, 2, 0)


@pytest.mark.slow
def test_gap_theorem_instance_k3_exact():
    # B-gap-k3: 9 HL x 3 (19683 pieces) and its 3 HL x 27 construction agree exactly piece by piece
    H = fam.hard_function(3, 9)
    S = fam.shallow_hard_function(3, 9, 3)
    a, b = pieces_1d(H, 0, 1), pieces_1d(S, 0, 1)
    assert len(a) == len(b) == 3 ** 9
    assert all(p.lo == q.lo and p.hi == q.hi and p.slope == q.slope and p.intercept == q.intercept
               for p, q in zip(a, b))
    assert sum(S.widths) == 81 >= fam.depth_separation(3, 9, 3).bound.integer == 78


def test_zonotope_family_region_count_n3():
    # n = 3, m = 4 generators in general position: |vert(Z)| = 2 (1 + 3 + 3) = 14; w = 2, k = 1
    G = fam.default_generators(4, 3)
    F = fam.zonotope_function(G, 2, 1)
    regions = linear_regions(F, relucert.Box([-1, -1, -1], [1, 1, 1]))
    maps = {(tuple(r.A.reshape(-1)), tuple(r.c)) for r in regions}
    assert len(maps) >= fam.zonotope_piece_lower_bound(4, 3, 2, 1) == 28


def test_integer_size_bound_is_the_exact_minimum_by_brute_force():
    from itertools import product

    for p in (2, 5, 9, 16, 27, 50):
        for d in (1, 2, 3):
            best = min(sum(ws) for ws in product(range(1, p + 1), repeat=d) if fam.max_pieces_1d(ws) >= p)
            assert fam.size_lower_bound(p, d).integer == best
            assert fam.size_lower_bound(p, d).real <= best + 1e-9


@pytest.mark.parametrize("k", [2, 3, 4])
def test_gap_theorem_paper_form_is_half_k_to_the_k_plus_one(k):
    # k**2 zig-zags of width k against nets with k hidden layers: size >= k**(k+1)/2 - 1 (paper)
    ds = fam.depth_separation(k, k * k, k)
    assert ds.pieces == k ** (k * k) and ds.deep_size == k ** 3
    assert ds.bound.paper == pytest.approx(0.5 * k ** (k + 1) - 1)
    assert ds.bound.integer >= ds.bound.paper
    assert ds.construction_size == k * k ** k >= ds.bound.integer


def test_gap_instance_k2_exact():
    H = fam.hard_function(2, 4)
    S = fam.shallow_hard_function(2, 4, 2)
    assert count_pieces(H, 0, 1) == count_pieces(S, 0, 1) == 16
    assert S.widths == [4, 4] and fam.size_lower_bound(16, 2).integer == 6
    assert compare_exact(H, S, UNIT, relucert.EpsEquivalence(0.0)).verdict == relucert.Verdict.EQUIVALENT


from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def _dyadic_zigzags(draw):
    """Breakpoints of zig-zags whose piece widths are powers of two (random binary splits)."""
    k = draw(st.integers(1, 3))
    w = draw(st.integers(2, 5))
    layers = []
    for _ in range(k):
        widths = [Fraction(1)]
        while len(widths) < w:
            i = draw(st.integers(0, len(widths) - 1))
            widths[i:i + 1] = [widths[i] / 2, widths[i] / 2]
        pts, acc = [], Fraction(0)
        for wd in widths[:-1]:
            acc += wd
            pts.append(acc)
        layers.append(pts)
    return w, k, layers


@settings(max_examples=30, deadline=None)
@given(_dyadic_zigzags())
def test_any_dyadic_hard_function_has_w_to_the_k_pieces(case):
    w, k, layers = case
    H = fam.hard_function(w, k, breakpoints=layers)
    knots = fam.hard_function_breakpoints(w, k, breakpoints=layers)
    assert count_pieces(H, 0, 1) == w ** k
    assert breakpoints_1d(H, 0, 1) == knots[1:-1]
    if k > 1:
        S = fam.shallow_hard_function(w, k, 1, breakpoints=layers)
        assert S.widths == [w ** k]
        assert pieces_1d(S, 0, 1) == pieces_1d(H, 0, 1)


def test_random_feature_fit_is_a_least_squares_fit_and_checks_its_arguments():
    target = lambda X: np.maximum(0, X.max(axis=1))                     # noqa: E731
    g = fam.random_feature_fit(target, 2, 64, seed=0)
    assert g.widths == [64] and g.n_inputs == 2
    X = np.random.default_rng(1).uniform(-1, 1, (2000, 2))
    err = np.abs(g(X)[:, 0] - target(X))
    assert err.mean() < 0.05 and err.max() > 0          # close on average, never exact
    same = fam.random_feature_fit(target, 2, 64, seed=0)
    assert all(np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
               for a, b in zip(g.layers, same.layers))
    with pytest.raises(SpecError, match="units must be"):
        fam.random_feature_fit(target, 2, 0)
    with pytest.raises(SpecError, match="need lo < hi"):
        fam.random_feature_fit(target, 2, 4, lo=1.0, hi=1.0)
    with pytest.raises(SpecError, match="target must map"):
        fam.random_feature_fit(lambda X: X, 2, 4)
