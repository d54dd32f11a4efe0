"""Input-splitting branch and bound: verdicts on known pairs, brackets, the split tree, options."""

from __future__ import annotations

import numpy as np
import pytest

import relucert
from relucert.box import Box
from relucert.errors import SpecError
from relucert.network import Network
from relucert.verify.bab import DistanceBaB


def _pair(seed=0, sizes=(2, 20, 20, 1), sigma=1e-3):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.normal(size=m) for m in sizes[1:]]
    f = Network.from_weights(Ws, bs)
    g = Network.from_weights([W + sigma * rng.normal(size=W.shape) for W in Ws],
                             [b + sigma * rng.normal(size=b.shape) for b in bs])
    return f, g


def _sampled_max(f, g, lo, hi, k=20000):
    X = np.random.default_rng(9).uniform(lo, hi, size=(k, lo.size))
    return float(np.abs(g(X) - f(X)).max())


def test_noisy_copy_decided_on_both_sides_of_the_true_distance():
    f, g = _pair()
    box = Box(-np.ones(2), np.ones(2))
    ref = relucert.distance(f, g, box, atol=0.0, rtol=1e-4)
    assert ref.lower <= ref.upper <= ref.lower * (1 + 2e-4)
    assert _sampled_max(f, g, box.lo, box.hi) <= ref.upper
    above = relucert.verify(f, g, box, relucert.EpsEquivalence(1.02 * ref.upper))
    below = relucert.verify(f, g, box, relucert.EpsEquivalence(0.98 * ref.lower))
    assert above.verdict.name == "EQUIVALENT" and above.upper <= 1.02 * ref.upper
    assert below.verdict.name == "NOT_EQUIVALENT"
    ce = below.counterexample
    assert max(abs(a - b) for a, b in zip(ce.f, ce.g)) > 0.98 * ref.lower   # exact rationals


@pytest.mark.parametrize("split", ["sensitivity", "width"])
@pytest.mark.parametrize("cascade", [0.0, 100.0, np.inf])
def test_split_rules_and_cascade_settings_agree(split, cascade):
    f, g = _pair(1, (3, 12, 12, 2))
    lo, hi = -np.ones(3), np.ones(3)
    smax = _sampled_max(f, g, lo, hi)
    bab = DistanceBaB(f, g, [0, 1], split=split, cascade_factor=cascade)
    out = bab.run(lo, hi, threshold=3 * smax, time_limit=60)
    assert out.status == "below" and out.upper <= 3 * smax
    out = DistanceBaB(f, g, [0, 1], split=split, cascade_factor=cascade).run(
        lo, hi, threshold=0.5 * smax, stop_value=0.5 * smax, time_limit=60)
    assert out.status == "found" and out.best_value > 0.5 * smax


def test_split_tree_is_consistent():
    f, g = _pair(2)
    lo, hi = -np.ones(2), np.ones(2)
    smax = _sampled_max(f, g, lo, hi)
    out = DistanceBaB(f, g, [0], batch=4).run(lo, hi, threshold=1.5 * smax, time_limit=60)
    t = out.tree
    assert out.status == "below" and t.n_nodes == out.nodes > 1
    parent = t.parent
    assert parent[0] == -1
    inner = np.flatnonzero(t.dim >= 0)
    # every split node has exactly two children, low and high side, and its split point inside the root box
    for p in inner:
        kids = np.flatnonzero(parent == p)
        assert sorted(t.side[kids].tolist()) == [0, 1]
        assert lo[t.dim[p]] <= t.at[p] <= hi[t.dim[p]]
    leaves = np.flatnonzero(~np.isnan(t.leaf_bound))
    assert t.n_leaves == leaves.size == t.n_nodes - inner.size
    assert np.all(t.leaf_bound[leaves] <= 1.5 * smax)


def test_different_shapes_use_the_stacked_engine():
    f, _ = _pair(3, (2, 6, 1))
    g, _ = _pair(4, (2, 5, 5, 1))
    b = DistanceBaB(f, g, [0])
    assert b.engine == "crown-stacked" and b.split == "width"
    lo, hi = -np.ones(2), np.ones(2)
    smax = _sampled_max(f, g, lo, hi)
    out = b.run(lo, hi, atol=1e-3, rtol=0.0, time_limit=60)
    assert out.status == "tolerance"
    assert out.best_value - 1e-9 <= out.upper and smax <= out.upper + 1e-12
    assert out.upper - out.best_value <= 1e-3 + 1e-12


def test_zero_width_coordinates_are_never_split():
    f, g = _pair(5, (3, 10, 10, 1))
    lo = np.array([-1.0, 0.25, -1.0])
    hi = np.array([1.0, 0.25, 1.0])
    smax = _sampled_max(f, g, lo, hi)
    out = DistanceBaB(f, g, [0], split="sensitivity").run(lo, hi, threshold=2 * smax, time_limit=60)
    assert out.status == "below"
    assert not np.any(out.tree.dim == 1)


def test_time_and_node_limits_stop_with_a_valid_bracket():
    f, g = _pair(6, (2, 30, 30, 1))
    lo, hi = -np.ones(2), np.ones(2)
    out = DistanceBaB(f, g, [0], batch=2).run(lo, hi, threshold=1e-12, node_limit=5)
    assert out.status == "node_limit" and out.upper >= _sampled_max(f, g, lo, hi)


@pytest.mark.parametrize("kw, msg", [({"batch": 0}, "batch must be >= 1"), ({"pgd_steps": -1}, "pgd_steps"),
                                     ({"split": "random"}, "split must be one of"),
                                     ({"cascade_factor": -1.0}, "cascade_factor must be >= 0")])
def test_bad_options_are_rejected_early(kw, msg):
    f, g = _pair(7, (2, 4, 1))
    with pytest.raises(SpecError, match=msg):
        DistanceBaB(f, g, [0], **kw)


def test_open_node_pool_keeps_every_node_exactly_once():
    # push / take / top of the open-node pool against a dict of what was pushed (take swaps rows,
    # so the order changes but no node is lost, duplicated or mixed with another's fields)
    from relucert.verify.bab import _Open

    rng = np.random.default_rng(0)
    pool, ref, nxt = _Open(), {}, 0
    for step in range(200):
        k = int(rng.integers(1, 40))
        ids = np.arange(nxt, nxt + k)
        nxt += k
        lo, ub, lay = rng.normal(size=(k, 3)), rng.normal(size=k), rng.normal(size=(k, 7))
        pool.push(lo, lo + 1, ub, ids, ids % 3, 2 * ub, 3 * ub, lay)
        ref.update({int(i): (lo[j], ub[j], lay[j]) for j, i in enumerate(ids)})
        mask = pool.top(int(rng.integers(1, 30))) if step % 2 else (pool.ub < -0.5)
        if step % 2 and len(pool):
            kept = pool.ub[~mask]
            assert kept.size == 0 or pool.ub[mask].min() >= kept.max()
        out = pool.take(mask)
        for j, nid in enumerate(out[3]):
            lo_, ub_, lay_ = ref.pop(int(nid))
            assert np.array_equal(out[0][j], lo_) and np.array_equal(out[1][j], lo_ + 1)
            assert out[2][j] == ub_ and out[5][j] == 2 * ub_ and np.array_equal(out[7][j], lay_)
        assert len(pool) == len(ref) and sorted(pool.nid.tolist()) == sorted(ref)
        for j, nid in enumerate(pool.nid):
            lo_, ub_, lay_ = ref[int(nid)]
            assert np.array_equal(pool.lo[j], lo_) and pool.ub[j] == ub_ and np.array_equal(pool.lay[j], lay_)
        if len(pool):
            assert pool.max_ub() == max(v[1] for v in ref.values())
    assert nxt > 1000 and len(pool) > 100
