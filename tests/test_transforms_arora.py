"""Arora et al.: 1D one-hidden-layer rewrite, max-trees, Wang-Sun; the worked examples and the
expected verdicts of the reference table (B-*)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert import Box, EpsEquivalence, Network, Verdict
from relucert import transforms as T
from relucert.regions import compare_exact, count_pieces
from relucert.transforms._circuits import max_tree_widths
from relucert.transforms._wangsun import wang_sun_terms
from relucert.transforms.arora import max_affine_net, one_hidden_layer_1d
from relucert.transforms.base import network_from_fractions

ABS = Network.from_weights([[[1.0], [-1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [0.0]])
F = Fraction


def _w(net):
    return [(L.weight.tolist(), L.bias.tolist()) for L in net.layers]


def _exact_ce(f, g, res, eps=0.0):
    ce = res.counterexample
    assert ce is not None
    d = max(abs(a - b) for a, b in zip(f.eval_exact(ce.x), g.eval_exact(ce.x)))
    assert d > Fraction(eps) and d == ce.value
    return ce


def dyadic_net(sizes, data):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        W = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=a * b, max_size=a * b)), float).reshape(b, a) / 4
        c = np.array(data.draw(st.lists(st.integers(-4, 4), min_size=b, max_size=b)), float) / 8
        layers.append((W, c))
    return Network(layers)


def test_abs_one_hidden_layer_exact_weights():
    new, claim = T.arora_1d(ABS)
    assert _w(new) == [([[-1.0], [1.0]], [0.0, 0.0]), ([[1.0, 1.0]], [0.0])]
    assert claim.kind == "exact" and claim.eps == 0 and claim.sizes["width"] == 2
    assert T.check(new, claim, box=Box.cube(1)).verdict is Verdict.EQUIVALENT


def test_three_piece_worked_example():
    # f = |x| for x <= 1, 1 for x >= 1  =  relu(-x) + relu(x) - relu(x - 1)
    f = Network.from_weights([[[-1.0], [1.0], [1.0]], [[1.0, 1.0, -1.0]]], [[0, 0, -1.0], [0.0]])
    new, claim = T.arora_1d(f)
    assert _w(new) == [([[-1.0], [1.0], [1.0]], [0.0, 0.0, -1.0]), ([[1.0, 1.0, -1.0]], [0.0])]
    assert claim.info["pieces"] == 3 and claim.formula["width"] == 3


def test_affine_needs_two_units():
    f = Network.from_weights([[[1.0]], [[3.0]]], [[5.0], [1.0]])  # 3x + 16 for x > -5 ... on R two pieces
    new, _ = T.arora_1d(f, Box.cube(1))   # on [-1, 1] it is one affine piece
    assert new.widths == [2]
    assert compare_exact(f, new, Box.cube(1), EpsEquivalence(0)).verdict is Verdict.EQUIVALENT


def test_pwl_random_1d_p_units_and_short_rewrite_refuted():
    f = Network.random([1, 4, 4, 1], seed=8)
    box = Box.cube(1, -2.0, 2.0)
    p = count_pieces(f, -2.0, 2.0)
    new, claim = T.arora_1d(f, box)
    assert new.widths == [max(p, 2)] and claim.info["pieces"] == p
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT, res.summary()
    bad, bclaim = T.arora_1d_short(f, box)
    assert bad.widths == [max(p - 2, 1)] and bclaim.known_bad
    res = T.check(bad, bclaim)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    _exact_ce(f, bad, res, bclaim.eps)


def _zigzag(a1, a2):
    """w = 3 zig-zag on [0, 1] through (0,0), (a1,1), (a2,0), (1,1) (B.2 with 3 units)."""
    s = [1 / a1, -1 / (a2 - a1), 1 / (1 - a2)]
    layers = one_hidden_layer_1d([F(a1), F(a2)], [F(v) for v in s], F(1))
    return network_from_fractions(layers)[0]


def _compose(nets):
    layers = list(nets[0].layers)
    for n in nets[1:]:
        last, first = layers[-1], n.layers[0]
        layers[-1] = (first.weight @ last.weight, first.weight @ last.bias + first.bias)
        layers += list(n.layers[1:])
    return Network(layers)


def test_hard_function_w3_k3_has_27_pieces_and_rewrites():
    h = _zigzag(0.25, 0.5)
    H = _compose([h, h, h])
    assert H.depth == 3 and H.width == 3
    box = Box([0.0], [1.0])
    assert count_pieces(H, 0.0, 1.0) == 27
    new, claim = T.arora_1d(H, box)
    assert new.widths == [27]
    assert T.check(new, claim).verdict is Verdict.EQUIVALENT
    bad, bclaim = T.arora_1d_short(H, box)
    assert bad.widths == [25]
    res = T.check(bad, bclaim)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    _exact_ce(H, bad, res, bclaim.eps)


def test_max2_tree_weights_and_check():
    pieces = Network.affine(np.eye(2))  # outputs x1, x2
    new, claim = T.max_tree(pieces)
    assert _w(new) == [([[1.0, -1.0], [0.0, 1.0], [0.0, -1.0]], [0.0, 0.0, 0.0]), ([[1.0, 1.0, -1.0]], [0.0])]
    assert claim.reference is not pieces and claim.reference.n_outputs == 1
    assert T.check(new, claim, box=Box.cube(2)).verdict is Verdict.EQUIVALENT


@pytest.mark.parametrize("m,widths", [(3, [5, 3]), (4, [6, 3]), (5, [8, 5, 3])])
def test_max_tree_widths(m, widths):
    assert max_tree_widths(m) == widths
    rng = np.random.default_rng(m)
    A = rng.integers(-3, 4, (m, 4)).astype(float)
    b = rng.integers(-3, 4, m).astype(float)
    net, exact = max_affine_net(A, b)
    assert exact and net.widths == widths and net.depth == int(np.ceil(np.log2(m)))
    for x in rng.uniform(-2, 2, (30, 4)):
        xs = [Fraction(float(v)) for v in x]
        want = max(sum(F(float(a)) * v for a, v in zip(row, xs)) + F(float(c)) for row, c in zip(A, b))
        assert net.eval_exact(xs)[0] == want


def test_max5_tree_is_equivalent_on_a_box():
    # B-max5 uses d = 4; the widths do not depend on d, and d = 2 keeps the exact proof fast
    rng = np.random.default_rng(5)
    A = rng.integers(-3, 4, (5, 2)).astype(float)
    b = rng.integers(-3, 4, 5).astype(float)
    new, claim = T.max_tree(Network.affine(A, b))
    assert new.widths == [8, 5, 3]
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT, res.summary()


def test_linf_wang_sun_three_terms():
    slopes = np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    terms, k = wang_sun_terms(slopes, np.zeros(4))
    assert k == 2 and len(terms) == 3
    assert sorted((s, len(t)) for s, t in terms) == [(-1, 2), (1, 3), (1, 3)]
    rng = np.random.default_rng(0)
    for x in rng.uniform(-3, 3, (50, 2)):
        val = sum(s * max(slopes[i] @ x for i in t) for s, t in terms)
        assert val == pytest.approx(np.max(np.abs(x)), abs=1e-12)


def test_linf_arora_maxaffine_two_hidden_layers():
    linf, _ = max_affine_net(np.array([[1.0, 0], [-1, 0], [0, 1], [0, -1]]), np.zeros(4))
    new, claim = T.arora_maxaffine(linf)
    assert new.depth <= 2 == claim.formula["hidden_layers"]
    assert claim.info["max_arity"] <= 3
    assert T.check(new, claim, box=Box.cube(2)).verdict is Verdict.EQUIVALENT


def test_221_net_identity_rewrite_one_hidden_layer():
    f = Network.from_weights([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0]]], [[0, 0], [0]])
    new, claim = T.arora_maxaffine(f)
    assert new.depth == 1 and claim.info["max_arity"] == 2
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"


@settings(max_examples=8, deadline=None)
@given(st.data(), st.sampled_from([[1, 3, 2, 1], [2, 2, 2, 1], [2, 3, 1]]))
def test_exact_rewrites_on_random_dyadic_nets(data, sizes):
    f = dyadic_net(sizes, data)
    box = Box.cube(sizes[0])
    for name in ("arora-maxaffine", "fan-wide"):
        new, claim = T.apply(name, f)
        assert claim.weights_exact and claim.eps == 0
        assert new.depth <= (1 if sizes[0] == 1 else 2) or name == "fan-wide"
        res = compare_exact(f, new, box, EpsEquivalence(0))
        assert res.verdict is Verdict.EQUIVALENT, (name, res.summary())


def test_arora_maxaffine_3d_two_hidden_layers_exact_values():
    rng = np.random.default_rng(0)
    f = Network([(rng.integers(-3, 4, (3, 3)) / 2, rng.integers(-3, 4, 3) / 4),
                 (rng.integers(-3, 4, (2, 3)) / 2, rng.integers(-3, 4, 2) / 4),
                 (rng.integers(-3, 4, (1, 2)) / 2, np.zeros(1))])
    new, claim = T.arora_maxaffine(f)
    assert new.depth <= 2 == claim.formula["hidden_layers"] and claim.info["max_arity"] <= 4
    assert claim.weights_exact
    for x in rng.uniform(-3, 3, (30, 3)):
        assert new.eval_exact(x) == f.eval_exact(x)


def test_b_linf2_one_piece_dc_term_folded_widths_13_8():
    # B-linf2: ||x||_inf as 2-4-1 ((|x1 + x2| + |x1 - x2|) / 2).  The DC split has h = x1 + x2 (one
    # affine piece); it is folded into a g term rather than carried as a 4th term, so the rewrite
    # has the reference's 3 terms (arities 3, 3, 2) and sum-of-max-trees widths (13, 8), not (15, 10)
    linf = Network.from_weights([[[1, 1], [-1, -1], [1, -1], [-1, 1]], [[0.5, 0.5, 0.5, 0.5]]],
                                [[0, 0, 0, 0], [0]])
    new, claim = T.arora_maxaffine(linf)
    assert claim.info == {"pieces_g": 4, "pieces_h": 1, "terms": 3, "max_arity": 3}
    assert new.depth == 2 and new.widths == [13, 8]
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"
    res = compare_exact(linf, new, Box.cube(2, -5.0, 5.0), EpsEquivalence(0))
    assert res.verdict is Verdict.EQUIVALENT
    rng = np.random.default_rng(1)
    for x in rng.uniform(-4, 4, (40, 2)):
        assert new.eval_exact(x) == linf.eval_exact(x)


def test_single_piece_terms_folded_when_a_multi_piece_term_exists():
    # 221 identity-like net: f = relu(x1 + x2) - relu(x1 - x2); the rewrite stays exact and each
    # one-piece term is folded, so no term has arity 1 unless all do
    f = Network.from_weights([[[1.0, 1.0], [1.0, -1.0]], [[1.0, -1.0]]], [[0, 0], [0]])
    new, claim = T.arora_maxaffine(f)
    rng = np.random.default_rng(2)
    for x in rng.uniform(-3, 3, (30, 2)):
        assert new.eval_exact(x) == f.eval_exact(x)
    assert T.check(new, claim, box=Box.cube(2)).verdict is Verdict.EQUIVALENT
