"""Decision claims of the De Morgan rewrites: the bound engines and MILP rows that make them fast
(neuron groups / ramps, near-stable neurons, bounds over a polytope, the split of a decision claim
by f's linear regions), each checked for soundness on sampled points, and the verdicts."""

from __future__ import annotations

import time
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, DecisionEquivalence, Network, Verdict, transforms, verify
from relucert.bounds.interval import interval_bounds
from relucert.bounds.linear import crown_bounds
from relucert.encode.milp import MilpBuilder
from relucert.encode.obbt import grouped_interval_bounds, neuron_groups, polytope_bounds
from relucert.examples import small_regressor


def _ramp_net(seed=0, d=2, k=6, delta=0.05):
    """OR-of-ramps net: ramps relu(t/delta + 1) - relu(t/delta) of k random half-planes, summed,
    then relu(1 - sum) (the De Morgan wide shape)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(k, d))
    c = rng.normal(size=k) * 0.3
    W1 = np.repeat(A / delta, 2, axis=0)
    b1 = np.empty(2 * k)
    b1[0::2] = c / delta + 1.0
    b1[1::2] = c / delta
    W2 = np.zeros((2, 2 * k))
    W2[0, 0::2], W2[0, 1::2] = 1.0, -1.0
    W2[1, : 2 * (k // 2): 2], W2[1, 1: 2 * (k // 2): 2] = 1.0, -1.0
    b2 = np.array([-(k - 1.0), -(k // 2 - 1.0)])
    W3 = -np.ones((1, 2))
    return Network([(W1, b1), (W2, b2), (W3, np.ones(1)), (-np.ones((1, 1)), np.ones(1))])


def _contains(bounds, net, X, tol=0.0):
    for (lo, hi), z in zip(bounds, net.pre_activations(X)):
        assert np.all(z >= lo[None] - tol) and np.all(z <= hi[None] + tol)


def test_neuron_groups_find_equal_rows_only():
    W = np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [1.0, 2.0 + 2.0 ** -51], [3.0, 4.0]])
    gs = sorted(tuple(g) for g in neuron_groups(W))
    assert gs == [(0, 2), (1, 4)]
    assert neuron_groups(np.eye(3)) == []


@pytest.mark.parametrize("seed", range(4))
def test_grouped_intervals_are_sound_and_see_ramps_in_0_1(seed):
    net = _ramp_net(seed)
    box = Box.cube(2)
    ib = interval_bounds(net, box)
    gb = grouped_interval_bounds(net, box, ib)
    X = box.sample(20000, np.random.default_rng(seed))
    _contains(gb, net, X)
    # layer 2 = AND of ramps: ramps in [0, 1] give pre-activations in [-(k-1), 1]
    lo, hi = gb[1]
    assert hi[0] <= 1.0 + 1e-9 and lo[0] >= -5.0 - 1e-9
    assert np.all(ib[1][1] > 10)           # plain intervals see the ramps' full width
    for (a, b), (c, d) in zip(gb, ib):
        assert np.all(a >= c) and np.all(b <= d)


@pytest.mark.parametrize("seed", range(4))
def test_polytope_bounds_are_sound_on_the_hull(seed):
    rng = np.random.default_rng(100 + seed)
    net = _ramp_net(seed)
    V = [tuple(Fraction(float(v)) for v in rng.uniform(-1, 1, size=2)) for _ in range(4)]
    Vf = np.array([[float(c) for c in v] for v in V])
    box = Box(Vf.min(axis=0), Vf.max(axis=0))
    pb = polytope_bounds(net, V, crown_bounds(net, box))
    Wts = rng.dirichlet(np.ones(len(V)), size=20000)
    X = np.vstack([Wts @ Vf, Vf])
    _contains(pb, net, X, tol=1e-12)


def test_milp_rows_with_pair_cuts_and_near_stable_neurons_keep_every_true_point():
    # a deep-net-like chain: carried inputs (unstable by a rounding hair), ramps, AND
    box = Box.cube(2)
    for seed in range(3):
        net = _ramp_net(seed, k=4)
        d = net.n_inputs
        W0 = np.vstack([np.eye(d), net.layers[0].weight])          # carry x + 1 (>= 0 exactly)
        b0 = np.concatenate([np.ones(d), net.layers[0].bias])
        W1 = np.hstack([np.zeros((2, d)), net.layers[1].weight])
        carried = Network([(W0, b0), (W1, net.layers[1].bias)] + [(L.weight, L.bias) for L in net.layers[2:]])
        bounds = crown_bounds(carried, box)
        bounds[0] = (bounds[0][0] - np.r_[1e-15, 1e-15, np.zeros(8)], bounds[0][1])   # a hair below 0
        b = MilpBuilder(box)
        F = b.add_network(carried, bounds, tag="f")
        p = b.build()
        assert any(name.startswith("f_pair") for name in p.row_names())
        assert any(name.startswith("f_near") for name in p.row_names())
        X = box.sample(3000, np.random.default_rng(seed))
        zs = carried.pre_activations(X)
        for i in range(len(X)):
            v = np.zeros(p.n_cols)
            v[p.input_cols] = X[i]
            for l, (hc, dc) in enumerate(zip(F.hidden, F.binaries)):
                z = zs[l][i]
                on = hc >= 0
                v[hc[on]] = np.maximum(z[on], 0.0)
                bn = dc >= 0
                v[dc[bn]] = (z[bn] > 0).astype(float)
            v[F.outputs] = zs[-1][i]
            assert p.max_violation(v) <= 1e-9


def _claim(d, w, net_seed, name, **kw):
    net = small_regressor((d, w, 1), seed=net_seed)
    box = Box.cube(d, -1.0, 1.0)
    new, claim = transforms.apply(name, net, box, **kw)
    return net, new, box, claim


@pytest.mark.parametrize("name", ["demorgan-wide", "demorgan-deep"])
def test_demorgan_3d_decided_by_the_region_split(name):
    net, new, box, claim = _claim(3, 4, 2, name)
    t = time.process_time()
    r = transforms.check(new, claim, time_limit=120)
    assert r.verdict is Verdict.EQUIVALENT, r.reason
    assert r.soundness in ("dual-bound-with-margin", "float-sound")
    assert r.stats.get("split") == "f-regions" and r.stats["f_regions"] >= 10
    assert r.upper < 0
    assert time.process_time() - t < 60


def test_split_refutes_a_margin_that_is_too_small():
    # gamma far below -min f over the relaxed polytopes: g = 1 where f is slightly negative
    net, new, box, claim = _claim(3, 4, 2, "demorgan-wide", gamma=1e-4)
    r = verify(net, new, box, DecisionEquivalence(tau_f=0.0, tau_g=0.5, gamma=1e-4), method="milp", time_limit=60)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    ce = r.counterexample
    fy, gy = net.eval_exact(ce.x), new.eval_exact(ce.x)
    assert fy[0] <= -Fraction(1e-4) and gy[0] > Fraction(1, 2)


def test_split_refutes_the_sampled_known_bad_rewrite():
    net, new, box, claim = _claim(3, 6, 1, "demorgan-sampled", samples=8, seed=0)
    r = transforms.check(new, claim, time_limit=60)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    ce = r.counterexample
    fy, gy = net.eval_exact(ce.x), new.eval_exact(ce.x)
    gm = Fraction(claim.gamma)
    assert (fy[0] >= gm and gy[0] <= Fraction(1, 2)) or (fy[0] <= -gm and gy[0] > Fraction(1, 2))
