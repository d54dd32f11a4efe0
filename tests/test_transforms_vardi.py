"""Vardi, Yehudai, Shamir: corrected Lemma 16 and Theorem 7 (exact), the printed Lemma 16 (known
bad), the power-of-two rescaling (C-* rows of the reference table)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert import Box, EpsEquivalence, Network, Verdict
from relucert import transforms as T
from relucert.regions import compare_exact
from relucert.transforms.vardi import theorem7_depth

ABS = Network.from_weights([[[1.0], [-1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [0.0]])


def hidden_states(net, x):
    h = np.array([x], dtype=float)
    out = []
    for L in net.layers[:-1]:
        h = np.maximum(L.weight @ h + L.bias, 0.0)
        out.append(h.tolist())
    return out


def test_corrected_lemma16_abs_hidden_states():
    new, claim = T.vardi_narrow(ABS)
    assert new.width == 5 == claim.formula["width"] and new.depth == 3
    for x in (1.0, -1.0, 0.5, -0.25):
        sp, sn = max(x, 0.0), max(-x, 0.0)
        h0, h1, h2 = hidden_states(new, x)
        assert h0 == [sp, sn, sp, 0.0, 0.0]
        assert h1 == [sp, sn, sn, sp, 0.0]
        assert h2 == [sp, sn, 0.0, sp + sn, 0.0]
    assert claim.eps == 0 and claim.kind == "exact"
    assert T.check(new, claim, box=Box.cube(1)).verdict is Verdict.EQUIVALENT


def test_printed_lemma16_is_refuted_at_one():
    bad, claim = T.vardi_lemma16_printed(ABS)
    assert claim.known_bad and bad.width == 4
    assert bad.eval_exact([1.0]) == [Fraction(0)]          # relu(-x) instead of |x|
    res = T.check(bad, claim, box=Box.cube(1))
    assert res.verdict is Verdict.NOT_EQUIVALENT
    assert res.counterexample.x == [Fraction(1)] or res.counterexample.value > 0
    ce = res.counterexample
    assert abs(ABS.eval_exact(ce.x)[0] - bad.eval_exact(ce.x)[0]) == ce.value > 0


def test_lemma16_on_a_box_uses_d_plus_3():
    f = Network.random([2, 5, 1], seed=3)
    box = Box.cube(2)
    new, claim = T.vardi_narrow(f, box)
    assert new.width == 5 == f.n_inputs + 3 and new.depth == 6
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT, res.summary()


def test_corrected_lemma16_random_3_6_1_exact_points():
    f = Network.random([3, 6, 1], seed=0)
    new, claim = T.vardi_narrow(f)
    assert new.width == 9 and new.depth == 7
    assert claim.weights_exact and claim.eps == 0
    rng = np.random.default_rng(0)
    for x in rng.uniform(-3, 3, (25, 3)):
        assert new.eval_exact(x) == f.eval_exact(x)
    bad, _ = T.vardi_lemma16_printed(f)
    assert any(bad.eval_exact(x) != f.eval_exact(x) for x in rng.uniform(-3, 3, (25, 3)))


@pytest.mark.parametrize("sizes,width,depth", [([2, 4, 1], 7, 9), ([2, 3, 3, 1], 9, 25), ([3, 3, 3, 3, 1], 13, 79)])
def test_theorem7_sizes_and_exact_values(sizes, width, depth):
    f = Network.random(sizes, seed=0)
    new, claim = T.vardi_deep(f)
    assert (new.width, new.depth) == (width, depth) == (claim.formula["width"], claim.formula["hidden_layers"])
    assert theorem7_depth(f.widths) == depth <= claim.formula["paper_depth_bound"]
    assert claim.weights_exact
    rng = np.random.default_rng(1)
    for x in rng.uniform(-2, 2, (10, sizes[0])):
        assert new.eval_exact(x) == f.eval_exact(x)


def test_theorem7_proved_on_a_box():
    f = Network.random([2, 3, 3, 1], seed=0)
    new, claim = T.vardi_deep(f)
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"


@settings(max_examples=10, deadline=None)
@given(st.data(), st.sampled_from([[1, 3, 1], [2, 3, 1], [1, 2, 2, 1], [2, 2, 2, 1]]))
def test_vardi_exact_rewrites_on_random_nets(data, sizes):
    rng = np.random.default_rng(data.draw(st.integers(0, 10 ** 6)))
    layers = [(rng.integers(-3, 4, (b, a)) / 2.0, rng.integers(-3, 4, b) / 4.0) for a, b in zip(sizes[:-1], sizes[1:])]
    f = Network(layers)
    box = Box.cube(sizes[0])
    names = ["vardi-deep", "vardi-rescale"] + (["vardi-narrow"] if len(sizes) == 3 else [])
    for name in names:
        new, claim = T.apply(name, f)
        assert claim.eps == 0
        res = compare_exact(f, new, box, EpsEquivalence(0))
        assert res.verdict is Verdict.EQUIVALENT, (name, res.summary())
    if len(sizes) == 3:
        bad, _ = T.vardi_lemma16_printed(f)
        res = compare_exact(f, bad, box, EpsEquivalence(0))
        if res.verdict is Verdict.NOT_EQUIVALENT:   # the printed update is right only by luck
            ce = res.counterexample
            assert f.eval_exact(ce.x) != bad.eval_exact(ce.x)


def test_rescale_bounds_weights_and_inverts():
    f = Network.random([2, 8, 8, 1], seed=0, scale=3.0)
    new, claim = T.vardi_rescale(f)
    k = claim.info["k"]
    assert k >= 1 and claim.eps == 0 and claim.weights_exact
    assert max(float(np.max(np.abs(L.weight))) for L in new.layers) <= 2
    assert max(float(np.max(np.abs(L.bias))) for L in new.layers) <= 2
    assert new.depth == f.depth + k * len(f.layers)
    rng = np.random.default_rng(2)
    for x in rng.uniform(-1, 1, (10, 2)):
        assert new.eval_exact(x) == f.eval_exact(x)
    assert T.get("vardi-rescale").invert(new, claim).same_weights(f)
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT
