"""Reduction-style ``invert``: structural rewrites map networks back (bit-exact), and every
transform maps a verdict about the rewritten network back to the original problem
(counterexamples re-evaluated exactly on the original weights; EQUIVALENT only through a proved
claim)."""

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, Verdict, verify
from relucert.verify.spec import Polytope
from relucert import transforms as T
from relucert.transforms.structural import _permuted


def _net_with_dead_and_duplicate():
    net = Network.random([2, 4, 4, 1], seed=1)
    L0, L1, L2 = net.layers
    W1 = np.vstack([L0.weight, [[0.0, 0.0]], L0.weight[1:2]])        # unit 4 dead, unit 5 = unit 1
    b1 = np.concatenate([L0.bias, [-1.0], L0.bias[1:2]])
    W2 = np.hstack([L1.weight, np.ones((4, 1)), 0.5 * np.ones((4, 1))])
    return Network([(W1, b1), (W2, L1.bias), L2])


@pytest.mark.parametrize("name, params", [("deepen", {"extra": 3}), ("widen", {"layer": 1, "unit": 2, "parts": 4}),
                                          ("permute", {"seed": 3}), ("prune", {}), ("vardi-rescale", {})])
def test_structural_round_trip_is_bit_exact(name, params):
    net = _net_with_dead_and_duplicate()
    if name == "vardi-rescale":
        net = Network([(8.0 * L.weight, 8.0 * L.bias) for L in net.layers])
    box = Box.cube(2)
    new, claim = T.apply(name, net, box, **params)
    assert not new.same_weights(net)
    if name == "prune":
        assert claim.info["dead"] == 1 and claim.info["duplicates"] == 1
    if name == "vardi-rescale":
        assert claim.info["k"] > 0
    back = T.get(name).invert(new, claim)
    assert back.same_weights(net)


def test_permute_inverse_applies_to_other_networks_of_the_shape():
    net = Network.random([3, 5, 4, 2], seed=0)
    other = Network.random([3, 5, 4, 2], seed=9)
    new, claim = T.permute(net, seed=4)
    perms = claim.info["permutations"]
    assert T.get("permute").invert(_permuted(other, perms), claim).same_weights(other)


def test_invert_refuses_the_wrong_shape_and_constructions_without_inverse():
    net = Network.random([2, 3, 1], seed=0)
    new, claim = T.deepen(net, extra=2)
    with pytest.raises(ValueError, match="deepened shape"):
        T.get("deepen").invert(Network.random([2, 3, 3, 1], seed=1), claim)
    new, claim = T.fan_deep(net, Box.cube(2))
    with pytest.raises(ValueError, match="no network inverse"):
        T.get("fan-deep").invert(new, claim)


def test_counterexample_maps_back_exactly():
    f = Network.random([1, 4, 4, 1], seed=5)
    box = Box.cube(1)
    new, claim = T.fan_deep(f, box)
    other, _ = T.mutate_bias(f, box, seed=0, scale=0.5)
    res = verify(new, other, box, EpsEquivalence(1e-3))
    assert res.verdict is Verdict.NOT_EQUIVALENT
    back = T.get("fan-deep").invert_result(res, claim, other)
    assert back.verdict is Verdict.NOT_EQUIVALENT and back.f_digest == f.digest
    x = back.counterexample.x
    assert x == T.get("fan-deep").invert_point(res.counterexample.x, claim)
    assert abs(f.eval_exact(x)[0] - other.eval_exact(x)[0]) > Fraction(1e-3)
    assert back.counterexample.f == f.eval_exact(x)
    assert back.lower == float(back.counterexample.value) or back.lower < back.counterexample.value
    assert back.upper == math.inf          # without a proof of the claim the upper end does not carry over
    with pytest.raises(ValueError, match="not about the network"):
        T.get("fan-deep").invert_result(res, claim, f)


def test_counterexample_of_a_wrong_rewrite_does_not_transfer():
    f = Network.random([1, 4, 4, 1], seed=5)
    box = Box.cube(1)
    bad, claim = T.arora_1d_short(f, box)          # known bad: differs from f somewhere
    res = verify(bad, f, box, EpsEquivalence(0.0))
    assert res.verdict is Verdict.NOT_EQUIVALENT
    back = T.get("arora-1d-short").invert_result(res, claim, f)   # the original problem: f vs f
    assert back.verdict is Verdict.UNKNOWN and "does not violate" in back.reason


def test_equivalent_transfers_only_through_a_proved_claim():
    f = Network.random([2, 3, 3, 1], seed=0)
    box = Box.cube(2)
    new, claim = T.fan_deep(f, box)
    other, _ = T.permute(f, seed=1)
    assert claim.eps > 0            # float weights of a random net: eps is the float tolerance
    res = verify(new, other, box, EpsEquivalence(claim.eps), method="regions")   # exact cells (BaB cannot close 1e-9)
    assert res.verdict is Verdict.EQUIVALENT
    tr = T.get("fan-deep")
    assert tr.invert_result(res, claim, other).verdict is Verdict.UNKNOWN        # no proof of the claim
    proof = T.check(new, claim)
    assert proof.verdict is Verdict.EQUIVALENT
    back = tr.invert_result(res, claim, other, claim_check=proof)
    assert back.verdict is Verdict.EQUIVALENT and back.f_digest == f.digest
    assert 2 * claim.eps <= back.spec.eps <= 2 * claim.eps * (1 + 1e-12)    # |f - other| <= eps + claim eps
    assert back.upper >= res.upper + claim.eps
    # the eps transferred is the one the proof proved, not the one the claim states
    wider = replace(proof, spec=EpsEquivalence(10 * claim.eps))
    assert tr.invert_result(res, claim, other, claim_check=wider).spec.eps >= 11 * claim.eps
    # a proof with an excluded set or of another result's network is not accepted
    excl = replace(proof, spec=EpsEquivalence(claim.eps, excluded=[Polytope([[1.0, 0.0]], [0.0])]))
    assert tr.invert_result(res, claim, other, claim_check=excl).verdict is Verdict.UNKNOWN
    # a proof about another rewrite is not accepted
    new2, claim2 = T.deepen(f, box, extra=1)
    proof2 = T.check(new2, claim2)
    assert proof2.verdict is Verdict.EQUIVALENT and proof2.f_digest == f.digest
    assert tr.invert_result(res, claim, other, claim_check=proof2).verdict is Verdict.UNKNOWN
    # a proof on a smaller box does not cover the result's box
    small = T.check(new, claim, box=Box.cube(2, -0.5, 0.5))
    assert tr.invert_result(res, claim, other, claim_check=small).verdict is Verdict.UNKNOWN
