"""The BaB additions made for the hard ACAS Xu instances: strong branching on stalled nodes and
parent-bound reuse.  Small random pairs, fast; soundness is checked against sampled points and,
for proved claims, against exact rational evaluation at the worst sampled point."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relucert.bounds.symbolic import SymbolicDiff
from relucert.errors import SpecError
from relucert.network import Network
from relucert.verify.bab import DistanceBaB, _flat


def _pair(seed=0, sizes=(3, 12, 12, 2), sigma=1e-2):
    rng = np.random.default_rng(seed)
    Ws = [rng.normal(size=(m, n)) / np.sqrt(n) for n, m in zip(sizes[:-1], sizes[1:])]
    bs = [0.1 * rng.normal(size=m) for m in sizes[1:]]
    f = Network.from_weights(Ws, bs)
    g = Network.from_weights([W + sigma * rng.normal(size=W.shape) for W in Ws],
                             [b + sigma * rng.normal(size=b.shape) for b in bs])
    return f, g


def _samples(lo, hi, k=4000, seed=3):
    X = np.random.default_rng(seed).uniform(lo, hi, size=(k, lo.size))
    return np.vstack([X, lo, hi, 0.5 * (lo + hi)])


def _exact_gap(f, g, x, outputs):
    xs = [Fraction(float(v)) for v in x]
    fy, gy = f.eval_exact(xs), g.eval_exact(xs)
    return max(abs(gy[k] - fy[k]) for k in outputs)


def test_prior_intersection_is_sound_and_never_looser():
    """Hidden-layer bounds of a parent box, intersected into a child's forward pass, still contain
    every sampled value of the child, and the child's output bound does not get worse."""
    f, g = _pair(1, (4, 16, 16, 16, 3))
    sym = SymbolicDiff(f, g)
    plo, phi = -np.ones((1, 4)), np.ones((1, 4))
    sym.bounds(plo, phi, want_coef=False)
    parent = _flat(sym.last_layers)
    clo, chi = plo.copy(), phi.copy()
    chi[0, 2] = 0.0
    base_l, base_h = sym.bounds(clo, chi)
    from relucert.verify.bab import _unflat
    pl, ph = sym.bounds(clo, chi, prior=_unflat(parent, [16, 16, 16]))
    assert np.all(pl >= base_l) and np.all(ph <= base_h)
    X = _samples(clo[0], chi[0])
    d = g(X) - f(X)
    assert np.all(d >= pl[0] - 1e-15) and np.all(d <= ph[0] + 1e-15)
    # the intersected hidden-layer bounds still contain f's pre-activations and g - f
    zf, zg = X, X
    for k, (lay, Lf, Lg) in enumerate(zip(sym.last_layers, f.layers, g.layers)):
        zf = zf @ Lf.weight.T + Lf.bias
        zg = zg @ Lg.weight.T + Lg.bias
        fl, fh, dl, dh = (a[0] for a in lay)
        assert np.all(zf >= fl) and np.all(zf <= fh), k
        assert np.all(zg - zf >= dl) and np.all(zg - zf <= dh), k
        zf, zg = np.maximum(zf, 0.0), np.maximum(zg, 0.0)


@pytest.fixture(scope="module")
def pair2():
    """A close 3-input pair, the cube [-1, 1]^3 and its sampled sup distance (outputs 0 and 1)."""
    f, g = _pair(2)
    lo, hi = -np.ones(3), np.ones(3)
    X = _samples(lo, hi)
    return f, g, lo, hi, float(np.abs(g(X) - f(X)).max())


def _assert_refuted_below(bab, case):
    """A claim below the sampled distance is refuted with an exact counterexample, never proved."""
    f, g, lo, hi, smax = case
    out = bab.run(lo, hi, threshold=0.7 * smax, stop_value=0.7 * smax, time_limit=60)
    assert out.status == "found" and _exact_gap(f, g, out.best_x, [0, 1]) > Fraction(0.7 * smax)


@pytest.mark.parametrize("lookahead", ["off", "stall", "all"])
@pytest.mark.parametrize("reuse", [False, True])
def test_strong_branching_and_reuse_keep_verdicts_and_a_valid_tree(lookahead, reuse, pair2):
    f, g, lo, hi, smax = pair2
    bab = DistanceBaB(f, g, [0, 1], batch=8, lookahead=lookahead, reuse_parent=reuse)
    out = bab.run(lo, hi, threshold=1.5 * smax, time_limit=60)
    assert out.status == "below" and smax <= out.upper <= 1.5 * smax
    if lookahead == "all":
        assert out.stats["strong_branched"] > 0
    if lookahead == "off":
        assert out.stats["strong_branched"] == 0
    t = out.tree
    inner = np.flatnonzero(t.dim >= 0)
    for p in inner:
        kids = np.flatnonzero(t.parent == p)
        assert sorted(t.side[kids].tolist()) == [0, 1]
        assert hi[t.dim[p]] > lo[t.dim[p]]
    leaves = np.flatnonzero(~np.isnan(t.leaf_bound))
    assert leaves.size == t.n_nodes - inner.size and np.all(t.leaf_bound[leaves] <= 1.5 * smax)
    # a claim below the sampled distance is refuted, never proved
    _assert_refuted_below(DistanceBaB(f, g, [0, 1], lookahead=lookahead, reuse_parent=reuse), pair2)


def test_strong_branching_picks_the_split_that_helps():
    """Only input 0 matters (g - f depends on x0 alone): strong branching splits input 0 only."""
    rng = np.random.default_rng(4)
    W1 = np.zeros((8, 3))
    W1[:, 0] = rng.normal(size=8)
    b1 = 0.1 * rng.normal(size=8)
    W2 = rng.normal(size=(1, 8))
    f = Network.from_weights([W1, W2], [b1, np.zeros(1)])
    g = Network.from_weights([W1 * 1.01, W2], [b1, np.zeros(1)])
    lo, hi = -np.ones(3), np.ones(3)
    X = _samples(lo, hi)
    smax = float(np.abs(g(X) - f(X)).max())
    out = DistanceBaB(f, g, [0], lookahead="all", split="width").run(lo, hi, threshold=1.05 * smax, time_limit=60)
    assert out.status == "below"
    assert set(out.tree.dim[out.tree.dim >= 0].tolist()) == {0}


def test_bad_lookahead_is_rejected():
    f, g = _pair(5, (2, 4, 1))
    with pytest.raises(SpecError, match="lookahead must be one of"):
        DistanceBaB(f, g, [0], lookahead="sometimes")


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.3, 3.0))
def test_proved_claims_hold_at_sampled_points(seed, frac):
    """Property: whatever the settings decide, a proved bound is above every sampled (and the
    exact worst sampled) value, and a found point is an exact violation."""
    f, g = _pair(seed, (2, 8, 8, 1), sigma=5e-2)
    lo, hi = -np.ones(2), np.ones(2)
    X = _samples(lo, hi, k=1500, seed=seed)
    gap = np.abs(g(X) - f(X))[:, 0]
    eps = frac * float(gap.max())
    out = DistanceBaB(f, g, [0], batch=4, lookahead="stall", reuse_parent=True).run(
        lo, hi, threshold=eps, stop_value=eps, time_limit=20)
    if out.status == "below":
        assert _exact_gap(f, g, X[int(np.argmax(gap))], [0]) <= Fraction(out.upper)
    elif out.status == "found":
        assert _exact_gap(f, g, out.best_x, [0]) > Fraction(eps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skip_stable_rows_stay_sound_at_exact_points(seed):
    """``skip_stable`` (back-substitute only the neurons not stable in both nets): every hidden
    layer's ``z^f`` and ``D`` bounds still contain the exact rational values at sampled points, the
    output bound contains the exact difference, and it stays close to the full pass's."""
    from relucert.bounds.differential import DiffPair, diff_bounds_batch

    f, g = _pair(seed, (3, 10, 10, 10, 2), sigma=1e-2)
    pair = DiffPair(f, g)
    rng = np.random.default_rng(seed + 20)
    c = rng.normal(size=(4, 3))
    w = 0.3 * np.abs(rng.normal(size=(4, 3)))
    lo, hi = c - w, c + w
    st_all, (l0, h0) = diff_bounds_batch(pair, lo, hi)
    st, (l1, h1) = diff_bounds_batch(pair, lo, hi, skip_stable=True)
    # close to the full pass (a stable neuron's looser range can only loosen the next layer's
    # interval bounds, which the back-substitution mostly supersedes)
    wid = np.maximum(h0 - l0, 1e-12)
    assert np.all(np.abs(l1 - l0) <= 0.02 * wid) and np.all(np.abs(h1 - h0) <= 0.02 * wid)
    for bi in range(4):
        pts = [lo[bi], hi[bi], 0.5 * (lo[bi] + hi[bi])] + [lo[bi] + rng.uniform(size=3) * (hi[bi] - lo[bi])
                                                            for _ in range(4)]
        for x in pts:
            xs = [Fraction(float(v)) for v in x]
            hf, hg = xs, xs
            for k, (Lf, Lg) in enumerate(zip(f.layers, g.layers)):
                zf = [sum((Fraction(float(a)) * b for a, b in zip(row, hf)), Fraction(0)) + Fraction(float(bb))
                      for row, bb in zip(Lf.weight, Lf.bias)]
                zg = [sum((Fraction(float(a)) * b for a, b in zip(row, hg)), Fraction(0)) + Fraction(float(bb))
                      for row, bb in zip(Lg.weight, Lg.bias)]
                if k < len(st.zf):
                    fl, fh = st.zf[k]
                    dl, dh = st.dd[k]
                    for j in range(len(zf)):
                        assert Fraction(float(fl[bi, j])) <= zf[j] <= Fraction(float(fh[bi, j])), (k, j)
                        assert Fraction(float(dl[bi, j])) <= zg[j] - zf[j] <= Fraction(float(dh[bi, j])), (k, j)
                hf = [max(v, Fraction(0)) for v in zf]
                hg = [max(v, Fraction(0)) for v in zg]
            for j in range(len(zf)):
                assert Fraction(float(l1[bi, j])) <= zg[j] - zf[j] <= Fraction(float(h1[bi, j]))


@pytest.mark.parametrize("top", [1, 2, None])
def test_strong_branching_on_the_top_cheap_splits_keeps_verdicts(top, pair2):
    """``strong_top``: strong branching computes the back-substituted bound only for the splits
    whose cheap bounds rank best; verdicts and the tree stay valid, and the split choice still finds
    the one input that matters."""
    f, g, lo, hi, smax = pair2
    bab = DistanceBaB(f, g, [0, 1], batch=8, lookahead="all", strong_top=top)
    out = bab.run(lo, hi, threshold=1.5 * smax, time_limit=60)
    assert out.status == "below" and smax <= out.upper <= 1.5 * smax
    assert out.stats["strong_branched"] > 0
    leaves = np.flatnonzero(~np.isnan(out.tree.leaf_bound))
    assert np.all(out.tree.leaf_bound[leaves] <= 1.5 * smax)
    if top is not None:
        assert bab.n_tight < bab.n_cheap
    _assert_refuted_below(DistanceBaB(f, g, [0, 1], lookahead="all", strong_top=top), pair2)
    # only input 0 matters: the cheap ranking keeps strong branching on it
    rng = np.random.default_rng(4)
    W1 = np.zeros((8, 3))
    W1[:, 0] = rng.normal(size=8)
    b1 = 0.1 * rng.normal(size=8)
    W2 = rng.normal(size=(1, 8))
    f1 = Network.from_weights([W1, W2], [b1, np.zeros(1)])
    g1 = Network.from_weights([W1 * 1.01, W2], [b1, np.zeros(1)])
    X = _samples(lo, hi)
    smax = float(np.abs(g1(X) - f1(X)).max())
    out = DistanceBaB(f1, g1, [0], lookahead="all", split="width", strong_top=top).run(
        lo, hi, threshold=1.05 * smax, time_limit=60)
    assert out.status == "below"
    assert set(out.tree.dim[out.tree.dim >= 0].tolist()) == {0}


def test_bad_strong_top_is_rejected():
    f, g = _pair(5, (2, 4, 1))
    with pytest.raises(SpecError, match="strong_top must be >= 1"):
        DistanceBaB(f, g, [0], strong_top=0)
