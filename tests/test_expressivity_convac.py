"""ConvAC grid tensors and matricization ranks (Sharir & Shashua; reference section 4)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucert.errors import ShapeError, SpecError
from relucert.expressivity import modrank
from relucert.expressivity.convac import (
    ConvAC,
    cannot_replicate,
    fit_convac,
    grid_counterexample,
    matricize,
    one_layer_overlap_bound,
    partition,
    rank_report,
    rank_upper_bound,
    refute_replication,
)

# reference 4.7, 1D, N = 8, M = 2 (maximum 16): layers (kernel, stride, channels) -> (LR, OE)
TABLE_1D = [
    ("CP (8,8,4)", [(8, 8, 4)], 4, 4),
    ("HT (2,2,4)x3", [(2, 2, 4)] * 3, 4, 16),
    ("HT (2,2,2)x3", [(2, 2, 2)] * 3, 2, 16),
    ("overlap (2,1,4)", [(2, 1, 4)], 2, 16),
    ("overlap (3,1,4)", [(3, 1, 4)], 4, 16),
    ("overlap (4,1,4)", [(4, 1, 4)], 8, 16),
    ("overlap (3,1,4)x2", [(3, 1, 4), (3, 1, 4)], 16, 16),
]

# reference 4.7, 2D, H = 4, M = 2 (maximum M**(H*H/2) = 256): -> (LR, checkerboard)
TABLE_2D = [
    ("non-overlapping 2x2/2 -> 2x2/2", [(2, 2, 4), (2, 2, 4)], 4, 256),
    ("overlapping 2x2/1 -> global 3x3", [(2, 1, 4)], 16, 256),
    ("overlapping 3x3/1 -> global 2x2", [(3, 1, 4)], 256, 256),
    ("overlapping 2x2/1 -> 2x2/1 -> global", [(2, 1, 4), (2, 1, 4)], 256, 256),
]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("name,layers,lr,oe", TABLE_1D, ids=[t[0] for t in TABLE_1D])
def test_reference_table_1d(name, layers, lr, oe, shared):
    net = ConvAC.random((8,), 2, layers, seed=1, shared=shared)
    a = rank_report(net, "left-right", exact_check=not shared, float_check=True)
    b = rank_report(net, "odd-even")
    assert (a.rank, b.rank) == (lr, oe)
    # the certified lower bound meets the structural upper bound: the rank is established
    assert a.tight and b.tight
    assert a.maximum == b.maximum == 16
    if not shared:
        assert a.exact_rank == lr            # exact rational rank agrees with the modular one
    assert a.float_rank == lr                # well-conditioned at this size


@pytest.mark.parametrize("name,layers,lr,cb", TABLE_2D, ids=[t[0] for t in TABLE_2D])
def test_reference_table_2d(name, layers, lr, cb):
    net = ConvAC.random((4, 4), 2, layers, seed=1)
    a = rank_report(net, "left-right")
    b = rank_report(net, "checkerboard")
    assert (a.rank, b.rank) == (lr, cb)
    assert a.tight and b.tight and a.maximum == 256


def test_overlap_3x3_reaches_maximum_and_float_cross_check_small_rank():
    net = ConvAC.random((4, 4), 2, [(3, 1, 4)], seed=3)
    assert rank_report(net, "left-right").rank == 2 ** (16 // 2)
    small = ConvAC.random((4, 4), 2, [(2, 1, 4)], seed=3)
    rep = rank_report(small, "left-right", float_check=True)
    assert rep.rank == rep.float_rank == 16


def test_float_svd_underestimates_full_rank_of_deep_product_circuits():
    # why the modular rank is the certificate: the float grid tensor is too ill-conditioned
    net = ConvAC.random((4, 4), 2, [(2, 1, 4), (2, 1, 4)], seed=1)
    rep = rank_report(net, "left-right", float_check=True)
    assert rep.rank == 256
    assert rep.float_rank < 256
    assert rep.singular_values[-1] / rep.singular_values[0] < 1e-15


@pytest.mark.parametrize("R,expected", [(2, 2), (3, 4), (4, 8)])
def test_closed_form_one_overlapping_layer_1d(R, expected):
    net = ConvAC.random((8,), 2, [(R, 1, 4)], seed=5)
    assert one_layer_overlap_bound(8, R, 4, 2, dim=1) == expected
    assert rank_report(net, "left-right").rank == expected


@pytest.mark.parametrize("R,r,expected", [(2, 4, 16), (2, 2, 8), (3, 4, 256), (3, 2, 16)])
def test_closed_form_one_overlapping_layer_2d(R, r, expected):
    # min(r**K, M**|dI|) with K = (H-R+1)(R-1), |dI| = H(R-1)
    assert one_layer_overlap_bound(4, R, r, 2, dim=2) == expected
    net = ConvAC.random((4, 4), 2, [(R, 1, r)], seed=7)
    rep = rank_report(net, "left-right")
    assert rep.rank == rep.upper_bound == expected


def _worked_example():
    # reference 4.6: h = prod_p x_p^T B x_{p+1}, B = [[1,2],[3,4]] = e1 (1,2)^T + e2 (3,4)^T
    u = np.array([[1, 0], [0, 1]])            # u^c as columns
    v = np.array([[1, 3], [2, 4]])            # v^c as columns
    W1 = np.zeros((3, 2, 2, 2), dtype=np.int64)
    W1[:, 0] = u
    W1[:, 1] = v
    W2 = np.ones((1, 3, 2, 1), dtype=np.int64)
    return ConvAC.from_weights((4,), 2, [(2, 1, 2), (3, 3, 1)], [W1, W2], np.array([1]))


def test_worked_example_matricizations_exact():
    net = _worked_example()
    A = net.grid_tensor(arithmetic="exact")
    B = np.array([[1, 2], [3, 4]])
    for d in np.ndindex(2, 2, 2, 2):
        assert A[d] == B[d[0], d[1]] * B[d[1], d[2]] * B[d[2], d[3]]
    lr = matricize(A, *partition((4,), "left-right"))
    oe = matricize(A, *partition((4,), "odd-even"))
    assert lr.tolist() == [[1, 2, 6, 8], [6, 12, 24, 32], [3, 6, 18, 24], [12, 24, 48, 64]]
    assert oe.tolist() == [[1, 2, 6, 12], [6, 8, 24, 32], [3, 6, 12, 24], [18, 24, 48, 64]]
    assert modrank.rank_exact(lr) == 2 and modrank.rank_exact(oe) == 4
    assert rank_report(net, "left-right").rank == 2
    assert rank_report(net, "odd-even").rank == 4


@pytest.mark.parametrize("arith", ["mod", "exact", "float"])
def test_grid_tensor_matches_pointwise_evaluation(arith):
    net = ConvAC.random((3, 3), 3, [(2, 1, 3)], seed=2, bound=50)
    A = net.grid_tensor(arithmetic=arith)
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 3, size=(40, 9))
    vals = net.evaluate(digits, arithmetic=arith)
    for d, v in zip(digits, vals):
        if arith == "float":
            assert np.isclose(A[tuple(d)], v, rtol=1e-12, atol=0)
        else:
            assert A[tuple(d)] == v
    if arith == "mod":
        E = net.grid_tensor(arithmetic="exact")
        assert all(int(e) % modrank.DEFAULT_PRIME == int(m) for e, m in zip(E.reshape(-1), A.reshape(-1)))


def test_non_overlapping_cannot_replicate_overlapping_with_counterexample():
    # D-replicate-neg: a non-overlapping 2x2/2 -> 2x2/2 (r_top = 4) candidate *fitted* to the
    # overlapping 3x3/1 target by alternating least squares; the rank gap 256 > 4 says no weights
    # can work, and the fitted candidate is refuted at a template point re-evaluated exactly
    target = ConvAC.random((4, 4), 2, [(3, 1, 4)], seed=11)
    fit = fit_convac(target, [(2, 2, 4), (2, 2, 4)], sweeps=1, seed=0)
    cand = fit.candidate
    assert not cand.overlapping and not cand.integer
    flag, r, ub = cannot_replicate(target, cand, "left-right")
    assert flag and r == 256 and ub == fit.rank_bound == 4
    # fitted: far better than the zero function and than its random start ...
    assert fit.residual < 0.75 < fit.initial_residual
    # ... but never below the Eckart-Young floor of any LR-rank-4 tensor (float, small slack)
    assert 0.1 < fit.floor <= fit.residual + 1e-9
    ce = refute_replication(target, cand)
    assert ce is not None and ce["a"] != ce["b"]
    d = np.array([ce["digits"]])
    assert int(target.evaluate(d, arithmetic="exact")[0]) == ce["a"]
    assert Fraction(cand.evaluate(d, arithmetic="exact")[0]) == ce["b"]
    # the integer path: a random integer candidate, first differing residue, exact scores
    rnd = ConvAC.random((4, 4), 2, [(2, 2, 4), (2, 2, 4)], seed=12)
    ce = grid_counterexample(target, rnd)
    assert ce is not None and ce["a"] != ce["b"]
    assert int(rnd.evaluate(np.array([ce["digits"]]), arithmetic="exact")[0]) == ce["b"]
    assert grid_counterexample(target, target) is None
    assert refute_replication(target, target) is None


def test_fit_refuses_overlapping_candidates():
    target = ConvAC.random((4,), 2, [(2, 1, 2)], seed=1)
    with pytest.raises(SpecError, match="non-overlapping architectures only, got overlapping layer"):
        fit_convac(target, [(2, 1, 2)])


def test_fit_approaches_a_target_of_its_own_architecture():
    # a target the architecture can represent: the floor is 0 and alternating least squares gets
    # close (it converges slowly, as ALS does, so only a good fit is asserted, not an exact one)
    target = ConvAC.random((4,), 2, [(2, 2, 2), (2, 2, 2)], seed=3, bound=5)
    fit = fit_convac(target, [(2, 2, 2), (2, 2, 2)], sweeps=6, seed=1)
    assert fit.floor < 1e-12
    assert fit.residual < 0.1 < 0.9 < fit.initial_residual


def test_upper_bound_holds_for_degenerate_weights():
    # bounds hold for every weight choice: zeroing channels only lowers the rank
    net = ConvAC.random((8,), 2, [(3, 1, 4), (3, 1, 4)], seed=4)
    W = [w.copy() for w in net.weights]
    W[0][..., 1:] = 0
    low = ConvAC(net.input_shape, 2, net.layers, W, net.output, shared=False)
    I, J = partition((8,), "left-right")
    rep = rank_report(low, "left-right")
    assert rep.rank <= rank_upper_bound(low, I, J) == 16
    assert rep.rank < 16


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.integers(0, 6), st.integers(0, 2**32 - 1))
def test_modular_rank_matches_exact_rank(n, m, k, seed):
    rng = np.random.default_rng(seed)
    A = rng.integers(-20, 21, size=(n, k)) @ rng.integers(-20, 21, size=(k, m)) if k else np.zeros((n, m), int)
    exact = modrank.rank_exact(A.astype(object))
    assert exact <= min(n, m, k)
    assert modrank.rank_mod_p(A) == exact          # no cancellation mod a 31-bit prime here
    assert modrank.rank_mod_p(A, 3) <= exact        # modular rank never exceeds the rational rank
    assert modrank.rank_float(A)[0] == exact


def test_mod_matmul_exact_against_python_integers():
    p = modrank.DEFAULT_PRIME
    rng = np.random.default_rng(1)
    a = rng.integers(0, p, size=(5, 40), dtype=np.int64)
    b = rng.integers(0, p, size=(40, 3), dtype=np.int64)
    got = modrank.mod_matmul(a, b, p)
    want = [[sum(int(a[i, t]) * int(b[t, j]) for t in range(40)) % p for j in range(3)] for i in range(5)]
    assert got.tolist() == want


def test_errors_name_the_value():
    with pytest.raises(ShapeError, match=r"stride 2 does not tile 4"):
        ConvAC.random((4,), 2, [(3, 2, 4)])
    with pytest.raises(SpecError, match="partition must be one of"):
        partition((4, 4), "diagonal")
    with pytest.raises(SpecError, match="checkerboard needs a 2-D grid"):
        partition((8,), "checkerboard")
    with pytest.raises(SpecError, match="prime must be a prime number, got prime=100"):
        modrank.rank_mod_p(np.eye(2, dtype=int), 100)
    with pytest.raises(SpecError, match="above the limit"):
        ConvAC.random((5, 5), 2, [(5, 5, 1)]).grid_tensor()
    with pytest.raises(SpecError, match="channels must be a positive integer"):
        ConvAC.random((4,), 2, [(2, 2, 0)])
    assert partition((4, 4), [0, 1]) == ((0, 1), tuple(range(2, 16)))


@st.composite
def _architectures(draw):
    N = draw(st.sampled_from([4, 5, 6, 8]))
    M = draw(st.sampled_from([2, 3])) if N <= 6 else 2
    layers, n = [], N
    for _ in range(draw(st.integers(1, 2))):
        pairs = [(k, s) for k in range(1, n + 1) for s in range(1, k + 1) if (n - k) % s == 0]
        k, s = draw(st.sampled_from(pairs))
        layers.append((k, s, draw(st.integers(1, 4))))
        n = (n - k) // s + 1
        if n == 1:
            break
    I = draw(st.sets(st.integers(0, N - 1), min_size=1, max_size=N - 1))
    return N, M, layers, sorted(I), draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=40, deadline=None)
@given(_architectures())
def test_structural_bound_holds_for_any_architecture_and_small_weights(arch):
    # the upper bound must hold for *every* weight choice: use tiny weights (|w| <= 2), which make
    # coincidences likely, and compare with the exact rational rank
    N, M, layers, I, shared, seed = arch
    net = ConvAC.random((N,), M, layers, shared=shared, seed=seed, bound=2)
    J = [i for i in range(N) if i not in I]
    exact = modrank.rank_exact(matricize(net.grid_tensor(arithmetic="exact"), I, J))
    mod = modrank.rank_mod_p(matricize(net.grid_tensor(), I, J))
    ub = rank_upper_bound(net, I, J)
    assert mod <= exact <= ub <= min(M ** len(I), M ** len(J))


def test_stride_larger_than_kernel_is_rejected():
    with pytest.raises(ShapeError, match="stride 3 > kernel 1 leaves input positions unused"):
        ConvAC.random((4,), 2, [(1, 3, 2)])
    # a window spanning the whole axis has no stride to speak of
    net = ConvAC.random((4,), 2, [(4, 1, 3)])
    assert net.layers[0].stride == (4,) and not net.overlapping


def test_three_templates_on_3x3_grid():
    # M = 3: one overlapping 2x2/1 layer with 9 channels, then global pooling
    net = ConvAC.random((3, 3), 3, [(2, 1, 9)], seed=1)
    lr = rank_report(net, "left-right")
    cb = rank_report(net, "checkerboard")
    assert (lr.rank, lr.maximum) == (27, 27)        # |I| = 3 (first column): 3**3
    assert (cb.rank, cb.maximum) == (81, 81)        # |I| = 5, |J| = 4: 3**4
    assert lr.tight and cb.tight
