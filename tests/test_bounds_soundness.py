"""Soundness, tightness sanity and exactness of the bound engines (interval, CROWN, forward
symbolic, differential by back-substitution, forward symbolic differential)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucert.bounds import (DiffPair, SymbolicDiff, crown_bounds_batch, diff_bounds_batch, interval_bounds_batch,
                             symbolic_bounds_batch)
from relucert.bounds._fp import add_down, add_up, center_radius, gamma, matmul_err, mm_up
from relucert.network import Network

SET = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _net(rng, sizes, scale):
    Ws = [scale * rng.normal(size=(m, n)) for n, m in zip(sizes[:-1], sizes[1:])]
    bs = [scale * rng.normal(size=m) for m in sizes[1:]]
    return Network.from_weights(Ws, bs)


def _noisy(rng, f, sigma):
    return Network.from_weights([L.weight + sigma * rng.normal(size=L.weight.shape) for L in f.layers],
                                [L.bias + sigma * rng.normal(size=L.bias.shape) for L in f.layers])


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2 ** 31 - 1))
    rng = np.random.default_rng(seed)
    n_in = draw(st.integers(1, 4))
    depth = draw(st.integers(1, 3))
    sizes = [n_in] + [draw(st.integers(1, 6)) for _ in range(depth)] + [draw(st.integers(1, 3))]
    scale = draw(st.sampled_from([1e-7, 1e-3, 1.0, 1e3, 1e6]))
    f = _net(rng, sizes, scale)
    sigma = draw(st.sampled_from([0.0, 1e-9, 1e-4, 1e-1])) * scale
    g = _noisy(rng, f, sigma)
    B = draw(st.integers(1, 3))
    c = rng.normal(size=(B, n_in)) * draw(st.sampled_from([1e-3, 1.0, 100.0]))
    w = np.abs(rng.normal(size=(B, n_in))) * draw(st.sampled_from([0.0, 1e-6, 0.1, 2.0]))
    w[rng.random(size=w.shape) < 0.25] = 0.0          # some degenerate (zero-width) coordinates
    return f, g, c - w, c + w


def _samples(lo, hi, rng, k=300):
    """Dense samples of each box: corners mixed with uniform points, shape (B, k, n)."""
    B, n = lo.shape
    U = rng.uniform(size=(B, k, n))
    U[:, : k // 3] = np.round(U[:, : k // 3])           # corners
    return lo[:, None, :] + U * (hi - lo)[:, None, :]


def _pre(net, X):
    out, h = [], X
    for i, L in enumerate(net.layers):
        z = h @ L.weight.T + L.bias
        out.append(z)
        h = np.maximum(z, 0.0)
    return out


def _slack(v):
    # float evaluation of the samples is itself rounded; the bounds are for the exact values
    return 1e-9 * (np.abs(v).max() + 1e-300)


def _exact_points(lo, hi):
    """The centre of each box (floats, taken exactly)."""
    return 0.5 * lo + 0.5 * hi


@SET
@given(cases())
def test_single_network_bounds_contain_samples(case):
    f, _, lo, hi = case
    rng = np.random.default_rng(0)
    X = _samples(lo, hi, rng)
    B, k, n = X.shape
    Z = [z.reshape(B, k, -1) for z in _pre(f, X.reshape(-1, n))]
    for name, pre in (("interval", interval_bounds_batch(f, lo, hi)),
                      ("crown", crown_bounds_batch(f, lo, hi)[0]),
                      ("symbolic", symbolic_bounds_batch(f, lo, hi))):
        assert len(pre) == len(f.layers), name
        for (l, u), z in zip(pre, Z):
            s = _slack(z)
            assert np.all(z.min(axis=1) >= l - s), name
            assert np.all(z.max(axis=1) <= u + s), name


@SET
@given(cases())
def test_crown_is_inside_interval(case):
    f, _, lo, hi = case
    ib = interval_bounds_batch(f, lo, hi)
    cb, _ = crown_bounds_batch(f, lo, hi)
    for (a, b), (c, d) in zip(ib, cb):
        # up to a few ulps: outward rounding of a tighter box is not monotone in the last bit
        tol = 1e-12 * (np.abs(a) + np.abs(b)) + 1e-300
        assert np.all(c >= a - tol) and np.all(d <= b + tol)


@SET
@given(cases())
def test_difference_bounds_contain_samples_and_exact_centre(case):
    f, g, lo, hi = case
    rng = np.random.default_rng(1)
    X = _samples(lo, hi, rng)
    B, k, n = X.shape
    D = (g(X.reshape(-1, n)) - f(X.reshape(-1, n))).reshape(B, k, -1)
    s = _slack(np.abs(g(X.reshape(-1, n))) + np.abs(f(X.reshape(-1, n))))
    _, (l1, h1) = diff_bounds_batch(DiffPair(f, g), lo, hi)
    l2, h2 = SymbolicDiff(f, g).bounds(lo, hi)
    l3, h3 = SymbolicDiff(f, g).bounds(lo, hi, backsub_output=False)
    stacked = Network.stack(f, g)
    m = f.n_outputs
    C = np.hstack([-np.eye(m), np.eye(m)])
    _, (l4, h4) = crown_bounds_batch(stacked, lo, hi, C=C)
    for name, (l, h) in {"backsub": (l1, h1), "symbolic": (l2, h2), "symbolic-fwd": (l3, h3),
                         "crown-stacked": (l4, h4)}.items():
        assert np.all(D.min(axis=1) >= l - s), name
        assert np.all(D.max(axis=1) <= h + s), name
        # the exact value at the centre of every box lies in the bounds, with no slack at all
        for b, x in enumerate(_exact_points(lo, hi)):
            xs = [Fraction(float(v)) for v in x]
            dy = [a - c for a, c in zip(g.eval_exact(xs), f.eval_exact(xs))]
            assert all(Fraction(float(l[b, j])) <= dy[j] <= Fraction(float(h[b, j])) for j in range(m)), name


def test_identical_networks_give_near_zero_difference_bounds():
    rng = np.random.default_rng(3)
    f = _net(rng, [3, 8, 8, 2], 1.0)
    lo, hi = -np.ones((4, 3)), np.ones((4, 3))
    _, (l1, h1) = diff_bounds_batch(DiffPair(f, f), lo, hi)
    l2, h2 = SymbolicDiff(f, f).bounds(lo, hi)
    for l, h in ((l1, h1), (l2, h2)):
        assert np.all(l <= 0) and np.all(h >= 0)
        assert np.all(h - l < 1e-10)      # only the float error allowance remains


def test_differential_bounds_are_much_tighter_than_stacked_crown_for_close_pairs():
    rng = np.random.default_rng(4)
    f = _net(rng, [2, 10, 10, 1], 0.5)
    g = _noisy(rng, f, 1e-5)
    lo, hi = np.array([[-0.2, -0.2]]), np.array([[0.2, 0.2]])
    _, (l1, h1) = diff_bounds_batch(DiffPair(f, g), lo, hi)
    stacked = Network.stack(f, g)
    _, (l4, h4) = crown_bounds_batch(stacked, lo, hi, C=np.array([[-1.0, 1.0]]))
    X = np.random.default_rng(0).uniform(lo, hi, size=(2000, 2))
    true_w = np.ptp(g(X) - f(X))
    assert (h1 - l1)[0, 0] < 1e-2 * (h4 - l4)[0, 0]
    assert (h1 - l1)[0, 0] < 50 * true_w + 1e-12


def test_linear_network_bounds_are_exact_up_to_rounding():
    # with all neurons stably active the network is affine: CROWN and symbolic bounds are exact
    W1 = np.array([[1.0, 2.0], [-1.0, 0.5]])
    b1 = np.array([10.0, 10.0])
    W2 = np.array([[0.25, -3.0]])
    b2 = np.array([1.0])
    f = Network.from_weights([W1, W2], [b1, b2])
    lo, hi = np.array([[-1.0, -1.0]]), np.array([[1.0, 1.0]])
    # output = 0.25(x0 + 2x1 + 10) - 3(-x0 + 0.5x1 + 10) + 1 = 3.25 x0 - x1 - 26.5
    for pre in (crown_bounds_batch(f, lo, hi)[0], symbolic_bounds_batch(f, lo, hi)):
        l, u = pre[-1]
        assert abs(l[0, 0] - (-26.5 - 4.25)) < 1e-12 and abs(u[0, 0] - (-26.5 + 4.25)) < 1e-12
        assert l[0, 0] <= -30.75 and u[0, 0] >= -22.25


def test_zero_width_box_bounds_the_point_value():
    rng = np.random.default_rng(5)
    f = _net(rng, [3, 6, 6, 2], 1.0)
    g = _noisy(rng, f, 1e-3)
    x = rng.normal(size=(1, 3))
    xs = [Fraction(float(v)) for v in x[0]]
    d = [a - c for a, c in zip(g.eval_exact(xs), f.eval_exact(xs))]
    _, (l1, h1) = diff_bounds_batch(DiffPair(f, g), x, x)
    l2, h2 = SymbolicDiff(f, g).bounds(x, x)
    for l, h in ((l1, h1), (l2, h2)):
        for j in range(2):
            assert Fraction(float(l[0, j])) <= d[j] <= Fraction(float(h[0, j]))
        assert np.all(h - l < 1e-12)
    for l, u in interval_bounds_batch(f, x, x):
        assert np.all(u - l < 1e-12)


def test_huge_weights_never_claim_finite_nonsense():
    # overflow to inf must give infinite (useless but sound) bounds, never a NaN that closes a box
    f = Network.from_weights([np.full((2, 2), 1e300), np.full((1, 2), 1e300)], [np.zeros(2), np.zeros(1)])
    lo, hi = np.array([[1.0, 1.0]]), np.array([[2.0, 2.0]])
    with np.errstate(all="ignore"):
        _huge_checks(f, lo, hi)


def _huge_checks(f, lo, hi):
    l, u = interval_bounds_batch(f, lo, hi)[-1]
    assert u[0, 0] == np.inf
    g = Network.from_weights([np.full((2, 2), 1e300), np.full((1, 2), -1e300)], [np.zeros(2), np.zeros(1)])
    # g - f = -2 * 1e300 * (sum of relu) overflows: no finite bound may be claimed
    _, (dl, dh) = diff_bounds_batch(DiffPair(f, g), lo, hi)
    sl, sh = SymbolicDiff(f, g).bounds(lo, hi)
    for v in (dl[0, 0], sl[0, 0]):
        assert not np.isfinite(v)


# -- the float helpers ---------------------------------------------------------------------------

def _exact_dot(a, b):
    return sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, b))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.integers(1, 40), st.sampled_from([1e-300, 1e-8, 1.0, 1e8, 1e150]))
def test_matmul_err_and_mm_up_bound_the_exact_product(seed, k, scale):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2, k)) * scale
    B = rng.normal(size=(k, 2)) * rng.choice([1e-10, 1.0, 1e10], size=(k, 2))
    C, E = matmul_err(A, B)
    P = mm_up(np.abs(A), np.abs(B))
    for i in range(2):
        for j in range(2):
            ex = _exact_dot(A[i], B[:, j])
            assert abs(Fraction(float(C[i, j])) - ex) <= Fraction(float(E[i, j]))
            assert Fraction(float(P[i, j])) >= _exact_dot(np.abs(A[i]), np.abs(B[:, j]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e300, 1e300, allow_nan=False), min_size=1, max_size=6))
def test_add_up_and_add_down_bracket_the_exact_sum(terms):
    arr = [np.float64(t) for t in terms]
    ex = sum(Fraction(float(t)) for t in terms)
    up_ = add_up(*arr)
    dn_ = add_down(*arr)
    if np.isfinite(up_):
        assert Fraction(float(up_)) >= ex
    if np.isfinite(dn_):
        assert Fraction(float(dn_)) <= ex


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e300, 1e300, allow_nan=False), st.floats(0, 1e300, allow_nan=False))
def test_center_radius_contains_the_box(a, w):
    lo = np.array([a])
    hi = np.array([a + w])
    if not np.isfinite(hi[0]):
        return
    c, r = center_radius(lo, hi)
    cf, rf = Fraction(float(c[0])), Fraction(float(r[0]))
    assert cf - rf <= Fraction(float(lo[0])) and Fraction(float(hi[0])) <= cf + rf


def test_gamma_dominates_the_textbook_constant():
    u = Fraction(1, 2 ** 53)
    for k in (1, 2, 10, 100, 10_000):
        assert Fraction(gamma(k)) >= k * u / (1 - k * u)


# -- outward rounding steps, box chunks, opposite-phase neurons ----------------------------------

@settings(max_examples=200, deadline=None)
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                 st.floats(min_value=-1e-300, max_value=1e-300, allow_nan=False),
                 st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 2.0 ** -1022, -(2.0 ** -1022), 1.0, -1.0,
                                  2.0 ** -1000, float(np.finfo(float).max), -float(np.finfo(float).max)])))
def test_up_and_down_step_at_least_one_ulp(x):
    from relucert.bounds._fp import down, up

    with np.errstate(over="ignore"):
        big = np.full(2048, x)                          # the arithmetic path (large arrays)
        for v in (up(x), up(np.array([x]))[0], up(big)[-1]):
            assert v >= np.nextafter(x, np.inf)
            assert v <= np.nextafter(np.nextafter(np.nextafter(x, np.inf), np.inf), np.inf)
        for v in (down(x), down(np.array([x]))[0], down(big)[-1]):
            assert v <= np.nextafter(x, -np.inf)
            assert v >= np.nextafter(np.nextafter(np.nextafter(x, -np.inf), -np.inf), -np.inf)


def test_up_and_down_of_infinities_and_nan():
    from relucert.bounds._fp import down, up

    a = np.tile([np.inf, -np.inf, np.nan], 1000)       # large: the arithmetic path
    u, d = up(a), down(a)
    assert u[0] == np.inf and u[1] == -np.inf and np.isnan(u[2])
    assert d[0] == np.inf and d[1] == -np.inf and np.isnan(d[2])
    assert up(np.inf) == np.inf and down(-np.inf) == -np.inf and np.isnan(up(np.nan))


def test_diff_bounds_are_the_same_in_any_chunking():
    rng = np.random.default_rng(7)
    f = _net(rng, [3, 9, 8, 7, 2], 1.0)
    g = _noisy(rng, f, 1e-3)
    B = 53
    c = rng.normal(size=(B, 3))
    w = np.abs(rng.normal(size=(B, 3))) * 0.3
    lo, hi = c - w, c + w
    pair = DiffPair(f, g)
    init = [tuple(np.stack([a_] * B) for a_ in (np.full(n, -50.0), np.full(n, 50.0), np.full(n, -1.0), np.full(n, 1.0)))
            for n in (9, 8, 7)]
    ref_st, (rl, rh) = diff_bounds_batch(pair, lo, hi, chunk=1000, init=init)
    for chunk in (1, 7, 24):
        st_, (l, h) = diff_bounds_batch(pair, lo, hi, chunk=chunk, init=init)
        assert l.shape == rl.shape and h.shape == rh.shape
        np.testing.assert_allclose(l, rl, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h, rh, rtol=1e-12, atol=1e-14)
        for name in ("zf", "dd", "zg"):
            for (a1, b1), (a2, b2) in zip(getattr(st_, name), getattr(ref_st, name)):
                assert a1.shape == a2.shape == (B, a2.shape[1])
                np.testing.assert_allclose(a1, a2, rtol=1e-12, atol=1e-14)
                np.testing.assert_allclose(b1, b2, rtol=1e-12, atol=1e-14)
    X = _samples(lo, hi, rng, k=200)
    D = (g(X.reshape(-1, 3)) - f(X.reshape(-1, 3))).reshape(B, 200, 2)
    assert np.all(D.min(axis=1) >= rl - 1e-9) and np.all(D.max(axis=1) <= rh + 1e-9)
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        diff_bounds_batch(pair, lo, hi, chunk=0)


def test_opposite_phase_neurons_are_exact_in_the_differential_bound():
    # on x in [0, 1]: f's hidden neurons x + 1, 2 - x are active and g's x - 3, -x - 1 inactive, so
    # phi = -z^f (the mixed stable case with a z coefficient); layer 2 is active in f (5 - x, 3) and
    # at 0 in g, so g - f = 0.5 - (5 - x - 3) = x - 1.5 is affine and the bound must be exact up to
    # rounding
    W1f = np.array([[1.0], [-1.0]])
    b1f = np.array([1.0, 2.0])
    W1g = np.array([[1.0], [-1.0]])
    b1g = np.array([-3.0, -1.0])
    W2 = np.array([[1.0, 2.0], [1.0, 1.0]])
    b2 = np.zeros(2)
    W3 = np.array([[1.0, -1.0]])
    f = Network.from_weights([W1f, W2, W3], [b1f, b2, np.zeros(1)])
    g = Network.from_weights([W1g, W2, W3], [b1g, b2, np.array([0.5])])
    lo, hi = np.array([[0.0], [0.25]]), np.array([[1.0], [0.5]])
    _, (l, h) = diff_bounds_batch(DiffPair(f, g), lo, hi)
    xs = np.linspace(lo[:, 0], hi[:, 0], 101).T                      # (2, 101)
    d = np.array([[g(np.array([[x]]))[0, 0] - f(np.array([[x]]))[0, 0] for x in row] for row in xs])
    assert np.all(d.min(axis=1) >= l[:, 0] - 1e-12) and np.all(d.max(axis=1) <= h[:, 0] + 1e-12)
    np.testing.assert_allclose(l[:, 0], d.min(axis=1), atol=1e-9)
    np.testing.assert_allclose(h[:, 0], d.max(axis=1), atol=1e-9)
