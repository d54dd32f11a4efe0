"""The network model: structure, digest, float and exact evaluation, composition, canonical form."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert import Layer, Network
from relucert.errors import ModelFormatError, RelucertError, ShapeError
from relucert.examples import permute_hidden, prune_smallest, small_regressor, tent, xor_classifier


def exact_reference(net: Network, x) -> list[Fraction]:
    """A deliberately naive Fraction forward pass, independent of relucert.exact."""
    h = [Fraction(float(v)) if not isinstance(v, Fraction) else v for v in x]
    for i, L in enumerate(net.layers):
        z = [sum((Fraction(float(w)) * hv for w, hv in zip(row, h)), Fraction(0)) + Fraction(float(b))
             for row, b in zip(L.weight, L.bias)]
        h = z if i == len(net.layers) - 1 else [max(v, Fraction(0)) for v in z]
    return h


# -- structure --------------------------------------------------------------------------------
def test_structure_numbers():
    net = Network.random([3, 5, 4, 2], seed=0)
    assert (net.n_inputs, net.n_outputs, net.depth, net.widths, net.width) == (3, 2, 2, [5, 4], 5)
    assert net.sizes == [3, 5, 4, 2]
    assert net.n_params == 3 * 5 + 5 + 5 * 4 + 4 + 4 * 2 + 2
    assert net.n_relus == 9
    s = net.summary()
    assert s["parameters"] == net.n_params and s["digest"] == net.digest


def test_weights_are_read_only_copies():
    W = np.ones((2, 2))
    net = Network([(W, np.zeros(2)), (np.ones((1, 2)), [0.0])])
    W[0, 0] = 5.0
    assert net.layers[0].weight[0, 0] == 1.0
    with pytest.raises(ValueError):
        net.layers[0].weight[0, 0] = 3.0


def test_digest_is_stable_and_sensitive():
    a = tent()
    assert a.digest == tent().digest
    # a fixed value guards the documented byte layout against accidental change
    assert a.digest == Network([(np.array([[1.0], [1.0], [1.0]]), [0.0, -0.5, -1.0]),
                                (np.array([[2.0, -4.0, 2.0]]), [0.0])]).digest
    b = Network([(np.array([[1.0], [1.0], [1.0]]), [0.0, -0.5, -1.0]),
                 (np.array([[2.0, -4.0, np.nextafter(2.0, 3.0)]]), [0.0])])
    assert a.digest != b.digest
    # -0.0 and 0.0 are the same weight
    c = Network([(np.array([[1.0], [1.0], [1.0]]), [-0.0, -0.5, -1.0]), (np.array([[2.0, -4.0, 2.0]]), [0.0])])
    assert c.digest == a.digest


@pytest.mark.parametrize("bad, message", [
    ([(np.ones((2, 2)), np.zeros(3))], "weight has 2 rows but bias has 3"),
    ([(np.ones((2, 2)), np.zeros(2)), (np.ones((1, 3)), [0.0])], "layer 1 expects 3 inputs but layer 0 has 2"),
    ([(np.array([[np.nan]]), [0.0])], "non-finite value nan at index (0, 0)"),
    ([(np.array([[1.0]]), [np.inf])], "non-finite value inf"),
    ([], "at least one affine layer"),
    ([(np.ones(3), [0.0])], "weight must have 2 dimension"),
])
def test_bad_networks_have_clear_errors(bad, message):
    with pytest.raises(RelucertError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        Network(bad)
    assert isinstance(info.value, (ShapeError, ModelFormatError))
    assert isinstance(info.value, ValueError)


# -- evaluation ----------------------------------------------------------------------------------
def test_tent_float_and_exact():
    net = tent()
    assert net(np.array([0.5]))[0] == 1.0
    np.testing.assert_array_equal(net(np.array([[0.0], [0.25], [1.0], [2.0]]))[:, 0], [0.0, 0.5, 0.0, 0.0])
    assert net.eval_exact([Fraction(1, 3)]) == [Fraction(2, 3)]
    assert net.eval_exact(["3/4"]) == [Fraction(1, 2)]


def test_exact_is_exact_on_dyadic_networks():
    net = small_regressor((3, 8, 8, 2), seed=3)
    rng = np.random.default_rng(1)
    for x in rng.uniform(-1, 1, (20, 3)):
        assert net.eval_exact(x) == exact_reference(net, x)
    # rational inputs that are not floats
    x = [Fraction(1, 3), Fraction(-2, 7), Fraction(5, 11)]
    assert net.eval_exact(x) == exact_reference(net, x)


def test_exact_sees_what_float_rounding_hides():
    # 1e16 + 1 - 1e16 = 1 exactly, but 0 in float64
    net = Network([(np.array([[1.0], [1.0]]), [1e16, 0.0]), (np.array([[1.0, 1.0]]), [-1e16])])
    assert net.eval_exact([1.0]) == [Fraction(2)]
    assert net(np.array([1.0]))[0] != 2.0


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5), seed=st.integers(0, 2**16),
       scale=st.sampled_from([None, 1e-3, 10.0]))
def test_exact_matches_float_within_rounding(sizes, seed, scale):
    net = Network.random(sizes, seed=seed, scale=scale)
    x = np.random.default_rng(seed).uniform(-2, 2, sizes[0])
    yf = net(x)
    ye = net.eval_exact(x)
    # a crude a-priori bound of float64 forward error: gamma_n * prod |W| |x| + ...
    h = np.abs(x)
    for L in net.layers:
        h = np.abs(L.weight) @ h + np.abs(L.bias)
    tol = 1e-12 * (1 + h) * len(net.layers)
    for a, b, t in zip(yf, ye, tol):
        assert abs(Fraction(float(a)) - b) <= Fraction(float(t))


def test_batched_eval_and_input_checks():
    net = xor_classifier()
    X = np.array([[0.5, 0.5], [0.5, -0.5], [-1, -1]])
    np.testing.assert_array_equal(net(X)[:, 0] > 0, [True, False, True])
    with pytest.raises(ShapeError, match="input must have 2 entries"):
        net(np.zeros(3))
    with pytest.raises(ShapeError, match="input must have 2 entries"):
        net.eval_exact([1.0])


# -- composition ---------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), extra=st.integers(0, 3))
def test_deepen_is_exact(seed, extra):
    net = small_regressor((2, 5, 3), seed=seed)
    deep = net.deepen(extra)
    assert deep.depth == net.depth + extra
    x = np.random.default_rng(seed).uniform(-3, 3, 2)
    assert deep.eval_exact(x) == net.eval_exact(x)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_stack_and_difference_are_exact(seed):
    rng = np.random.default_rng(seed)
    f = Network.random([2, 4, 2], seed=seed)
    g = Network.random([2, 3, 5, 2], seed=seed + 1)
    x = rng.uniform(-1, 1, 2)
    fx, gx = f.eval_exact(x), g.eval_exact(x)
    assert Network.stack(f, g).eval_exact(x) == fx + gx
    assert Network.difference(f, g).eval_exact(x) == [a - b for a, b in zip(fx, gx)]


def test_difference_of_affine_nets_with_rounding_bias():
    f = Network.affine([[1.0]], [1.0])
    g = Network.affine([[1.0]], [2.0**-60])
    d = Network.difference(f, g)
    assert d.eval_exact([0.0]) == [Fraction(1) - Fraction(2) ** -60]


def test_slice_outputs_and_errors():
    net = Network.random([2, 3, 4], seed=1)
    s = net.slice_outputs([3, 0])
    x = [0.25, -0.5]
    full = net.eval_exact(x)
    assert s.eval_exact(x) == [full[3], full[0]]
    with pytest.raises(ShapeError, match="output index 4 out of range"):
        net.slice_outputs([4])
    with pytest.raises(ShapeError):
        Network.stack(net, Network.random([3, 2], seed=0))


def test_pre_and_post_affine():
    net = tent()
    # x -> tent(2x): exact with dyadic maps
    pre = net.pre_affine([[2.0]], [0.0])
    assert pre.eval_exact([0.25]) == [Fraction(1)]
    post = net.post_affine([[-1.0], [3.0]], [1.0, 0.0])
    assert post.eval_exact([0.5]) == [Fraction(0), Fraction(3)]
    with pytest.raises(ShapeError):
        net.pre_affine(np.eye(2))


# -- canonical form --------------------------------------------------------------------------------
def test_canonical_catches_permutations_and_dead_units():
    f = small_regressor()
    g = permute_hidden(f, seed=5)
    assert f.digest != g.digest
    assert f.canonical().digest == g.canonical().digest
    # add a dead unit (zero weights, negative bias) and an unused one (zero outgoing weights)
    L0, L1 = f.layers[0], f.layers[1]
    W0 = np.vstack([L0.weight, np.zeros((1, 2)), np.ones((1, 2))])
    b0 = np.concatenate([L0.bias, [-1.0, 3.0]])
    W1 = np.hstack([L1.weight, np.ones((L1.n_out, 1)), np.zeros((L1.n_out, 1))])
    h = Network([(W0, b0), (W1, L1.bias)] + list(f.layers[2:]))
    assert h.canonical().digest == f.canonical().digest
    assert prune_smallest(f).canonical().digest != f.canonical().digest


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_canonical_is_the_same_function(seed):
    net = small_regressor((3, 6, 6, 2), seed=seed)
    W = np.array(net.layers[0].weight)
    W[seed % 6] = 0.0  # make one unit constant or dead
    net = Network([(W, net.layers[0].bias)] + list(net.layers[1:]))
    can = net.canonical()
    x = np.random.default_rng(seed).uniform(-1, 1, 3)
    assert can.eval_exact(x) == net.eval_exact(x)


def test_canonical_whole_layer_irrelevant():
    net = Network([(np.zeros((3, 2)), [-1.0, -2.0, 0.0]), (np.ones((1, 3)), [0.5])])
    can = net.canonical()
    assert can.widths == [1]
    assert can.eval_exact([1.0, 2.0]) == [Fraction(1, 2)]


def test_layer_accepts_only_pairs():
    with pytest.raises(ShapeError, match="layer 0 must be a Layer"):
        Network([5])
    assert Network([Layer(np.ones((1, 1)), [0.0])]).n_inputs == 1
