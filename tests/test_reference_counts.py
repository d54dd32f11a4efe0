"""Counts and sizes stated in /work/shared/reference/seed-constructions.md that no other test asserts
exactly: the prototype tables of B.4 and A-R-deep-exact, the section-5 rows B-ws-2441, B-ws-3431,
B-linf2, B-max3-1HL-neg, A-reg-wide, A-reg-deep, A-cls-2661, C-L16-literal, C-T7 (paper bounds),
C-T2, C-bitext, the B.7 dichotomy count and the 4.3 receptive-field bookkeeping (D-ovl-deep).

Every assertion is relucert's own value, exactly.  Where the reference quotes a prototype built
from a random net whose seed it does not record, relucert's value for its own seeded net is
asserted, together with the reference's rough size where it gives one ("~"); any disagreement
is written down next to the assertion.  The random nets are the ones relucert's benchmarks use:
``small_regressor(sizes, seed)`` (seeded Gaussian weights rounded to multiples of 2**-10).

Already asserted elsewhere (not repeated here): hard-function pieces, depth separation and the
gap instance (test_expressivity_families.py), B-zono-n2 (test_zonotope_ws.py), max-tree widths,
B-abs1d, B-pwl8, B-max2, B-max5, B-hard-w3k3 (test_transforms_arora.py), the worked examples of
A (test_transforms_fan.py), Lemma 16 and Theorem 7 sizes (test_transforms_vardi.py), all ConvAC
tables (test_expressivity_convac.py), B-erm programs (test_expressivity_erm.py).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, Verdict, verify
from relucert import transforms as T
from relucert.examples import small_regressor
from relucert.regions import dc_decomposition, linear_regions
from relucert.transforms._wangsun import wang_sun_terms
from relucert.transforms.demorgan import positive_polytopes

F = Fraction


# -- the reference's formulas, written out independently of relucert's helpers --------------------
def ref_tree_widths(m: int, depth: int) -> list[int]:
    """B.3: layer j of the tournament for max of m has 3 floor(v/2) + 2 (v mod 2) units,
    v_j = ceil(v_{j-1}/2); a finished term is carried as relu(v), relu(-v) (2 units)."""
    out, v = [], m
    for _ in range(depth):
        out.append(3 * (v // 2) + 2 * (v % 2) if v > 1 else 2)
        v = (v + 1) // 2
    return out


def ref_sum_of_maxes_widths(arities: list[int]) -> list[int]:
    depth = max(math.ceil(math.log2(a)) if a > 1 else 0 for a in arities) or 1
    cols = [ref_tree_widths(a, depth) for a in arities]
    return [sum(c[j] for c in cols) for j in range(depth)]


def boundary_and_interior(slopes) -> tuple[int, int]:
    """b, i of B.4 step 2.4: pieces whose slope lies on the boundary / in the interior of Q."""
    from scipy.spatial import ConvexHull

    P = np.array([[float(v) for v in a] for a in slopes])
    hull = ConvexHull(P)
    scale = float(np.abs(P).max()) or 1.0
    on = [bool(np.min(np.abs(hull.equations[:, :-1] @ p + hull.equations[:, -1])) <= 1e-9 * scale) for p in P]
    return sum(on), len(P) - sum(on)


def ws_terms(net):
    """relucert's Wang-Sun terms of net's DC parts: (g, h, [(sign, arity)], k_g, k_h)."""
    g, h = dc_decomposition(net)
    tg, kg = wang_sun_terms(g.slopes, g.intercepts)
    th, kh = wang_sun_terms(h.slopes, h.intercepts)
    return g, h, tg, th, kg, kh


def roughly(value: float, ref: float, rel: float) -> bool:
    return abs(value - ref) <= rel * ref


# -- B.4 prototype table and rows B-ws-2441 / B-ws-3431 ---------------------------------------------
def test_ws_1441_one_hidden_layer_width():
    # B.4 table: 1-4-4-1 -> 1 HL, width 71 (prototype, seed not recorded).  relucert's 1-4-4-1 (the
    # benchmarks' arora-1d instance, small_regressor seed 4): p_g = 7, p_h = 8, T = 2N - 3 terms per
    # part (n = 1), width 5 (p_g + p_h) - 14 = 61.  DISCREPANCY 61 vs 71: seed-dependent -- the
    # reference's 71 = 5 * 17 - 14 means its net had p_g + p_h = 17 pieces; other seeds give 51-66.
    f = small_regressor((1, 4, 4, 1), seed=4)
    new, claim = T.arora_maxaffine(f)
    assert (claim.info["pieces_g"], claim.info["pieces_h"]) == (7, 8)
    assert new.depth == 1 and new.widths == [61]
    g, h, tg, th, kg, kh = ws_terms(f)
    assert (kg, kh) == (1, 1)
    assert len(tg) == 2 * len(g) - 3 and len(th) == 2 * len(h) - 3 and claim.info["terms"] == 24
    assert new.widths == ref_sum_of_maxes_widths([len(t) for _, t in tg + th]) == [5 * (7 + 8) - 14]
    assert roughly(new.widths[0], 71, 0.2)


@pytest.mark.slow
def test_ws_2441_two_hidden_layers_sizes():
    # B-ws-2441: 2-4-4-1 random, 2 HL (~550, ~361).  relucert's 2-4-4-1 is the benchmarks'
    # fan-deep instance (small_regressor seed 3): 142 terms of arity <= 3, widths (516, 338), about
    # 6 % below the reference's prototype (seed-dependent; Network.random seeds 0-5 give 448-516).
    # ~3 s CPU (DC decomposition and the exact Fraction layers), done twice: slow.
    f = small_regressor((2, 4, 4, 1), seed=3)
    new, claim = T.arora_maxaffine(f)
    assert new.depth == 2 == math.ceil(math.log2(2 + 1)) == claim.formula["hidden_layers"]
    assert new.widths == [516, 338]
    assert claim.info == {"pieces_g": 29, "pieces_h": 11, "terms": 142, "max_arity": 3}
    assert roughly(new.widths[0], 550, 0.1) and roughly(new.widths[1], 361, 0.1)
    # widths are exactly the B.3/B.4 formula over the terms; terms T = 2b + 6i - 5 per part (n = 2)
    g, h, tg, th, kg, kh = ws_terms(f)
    assert (kg, kh) == (2, 2)
    for m, t in ((g, tg), (h, th)):
        b, i = boundary_and_interior(m.slopes)
        assert len(t) == 2 * b + 6 * i - 5
    assert len(tg) + len(th) == 142
    assert new.widths == ref_sum_of_maxes_widths([len(t) for _, t in tg + th])


@pytest.mark.slow
def test_ws_3431_layer_sizes_and_fan_deep():
    # B-ws-3431: 3-4-3-1 random, 2 HL (~2.6k, ~1.5k); B.4 table (2559, 1478).  relucert's
    # small_regressor seed 0: 622 terms of arity <= 4, widths (2945, 1707), 13-15 % above the
    # reference (seed-dependent: Network.random seed 1 gives 2291, 1321).  The count depends on the
    # triangulation qhull picks where the perturbed upper hull is nearly flat, which changed with
    # the qhull inside scipy: 622 terms (2945, 1707) were seen with an earlier scipy, 614 terms
    # (2907, 1685) with scipy 1.17.1.  Every triangulation gives a valid decomposition (the Euler
    # check in wang_sun_terms), so the test pins the band and the exact width formula, not one count.
    # Converting the 2945 x 1707 Fraction matrix to float64 (network_from_fractions) takes 20-80 s
    # on this machine, so the layer shapes are read from relucert's exact layers (sum_of_maxes, the
    # same call arora-maxaffine makes) instead of from the float network.
    from relucert.transforms._circuits import sum_of_maxes

    f = small_regressor((3, 4, 3, 1), seed=0)
    g, h, tg, th, kg, kh = ws_terms(f)
    assert (len(g), len(h)) == (21, 35) and (kg, kh) == (3, 3)
    terms = [(s, [g.pieces[i] for i in t]) for s, t in tg] + [(-s, [h.pieces[i] for i in t]) for s, t in th]
    assert 600 <= len(terms) <= 640 and max(len(t) for _, t in terms) == 4
    layers = sum_of_maxes(3, terms)
    widths = [W.shape[0] for W, _ in layers[:-1]]
    assert widths == ref_sum_of_maxes_widths([len(t) for _, t in terms])
    assert (len(terms), widths) in ((622, [2945, 1707]), (614, [2907, 1685]))
    assert len(widths) == 2 == math.ceil(math.log2(3 + 1))
    assert roughly(widths[0], 2600, 0.15) and roughly(widths[1], 1500, 0.15)
    # A-R-deep-exact [P]: 3-4-3-1 -> width 5, 37 HL.  relucert: width 5 = d + 2, HL = max(p_g, p_h)
    # = 35.  DISCREPANCY 35 vs 37 HL: seed-dependent (HL is the larger DC piece count of the net;
    # Network.random seeds 0-3 give 35, 35, 47, 29).
    new, claim = T.fan_deep(f, Box.cube(3))
    assert (new.width, new.depth) == (5, 35) == (claim.formula["width"], claim.formula["hidden_layers"])


@pytest.mark.slow
def test_ws_4331_sizes():
    # B.4 table: 4-3-3-1 -> 2 HL (<= ceil(log2 5) = 3), widths (808, 463).  relucert's
    # small_regressor seed 0: max arity 4, so 2 HL, widths (634, 358) from 126 terms with an earlier
    # scipy, (615, 347) from 122 terms with scipy 1.17.1 (qhull's triangulation, see above).
    # DISCREPANCY (22-25 % below): seed-dependent -- Network.random seeds 0-2 give (596, 336),
    # (487, 274), (397, 223).
    f = small_regressor((4, 3, 3, 1), seed=0)
    new, claim = T.arora_maxaffine(f)
    info = dict(claim.info)
    terms = info.pop("terms")
    assert info == {"pieces_g": 14, "pieces_h": 16, "max_arity": 4}
    assert new.depth == 2 < math.ceil(math.log2(4 + 1)) == claim.formula["hidden_layers"] == 3
    assert (terms, new.widths) in ((126, [634, 358]), (122, [615, 347]))
    assert roughly(new.widths[0], 808, 0.3) and roughly(new.widths[1], 463, 0.3)


# -- B-linf2 and B-max3-1HL-neg -----------------------------------------------------------------
def test_linf2_from_the_2_4_1_net():
    # B-linf2: ||x||_inf as 2-4-1 ((|x1 + x2| + |x1 - x2|) / 2) -> 3 terms, 2 HL.  relucert: the
    # DC part g has exactly the reference's 3 terms (arities 3, 3, 2; the 1.5 form), 2 HL, max
    # arity 3.  h = x1 + x2 is a one-piece (affine) max-affine: it is folded into a term of g, not
    # emitted as a 4th term, so the rewrite has the reference's widths (13, 8).
    linf = Network.from_weights([[[1, 1], [-1, -1], [1, -1], [-1, 1]], [[0.5, 0.5, 0.5, 0.5]]],
                                [[0, 0, 0, 0], [0]])
    new, claim = T.arora_maxaffine(linf)
    g, h, tg, th, kg, kh = ws_terms(linf)
    assert (len(g), len(h)) == (4, 1) and kg == 2
    assert sorted((s, len(t)) for s, t in tg) == [(-1, 2), (1, 3), (1, 3)]
    assert th == [(1, [0])]
    assert claim.info == {"pieces_g": 4, "pieces_h": 1, "terms": 3, "max_arity": 3}
    assert new.depth == 2 and new.widths == [13, 8] == ref_sum_of_maxes_widths([3, 3, 2])
    res = T.check(new, claim, box=Box.cube(2))
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"


def test_max3_exact_two_layer_net_and_64_unit_one_layer_fit_refuted():
    # B-max3-1HL-neg: max(0, x1, x2) as an exact 2-HL net (B.3, m = 3: widths (5, 3)) against a
    # 64-unit 1-HL least-squares fit; eps = 0 -> COUNTEREXAMPLE, re-checked in exact arithmetic
    from relucert.transforms.arora import max_affine_net

    f, exact = max_affine_net(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), np.zeros(3))
    assert exact and f.widths == [5, 3] == ref_tree_widths(3, 2)
    from relucert.expressivity import random_feature_fit

    g = random_feature_fit(lambda X: np.maximum(0, X.max(axis=1)), 2, 64, seed=0)
    assert g.widths == [64]
    box = Box.cube(2)
    res = verify(f, g, box, EpsEquivalence(0.0), time_limit=30)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert box.contains(x)
    gap = abs(f.eval_exact(x)[0] - g.eval_exact(x)[0])
    assert gap == res.counterexample.value and gap > 0


# -- A-reg-wide / A-reg-deep ----------------------------------------------------------------------
@pytest.mark.slow
def test_fan_wide_and_deep_2441():
    # A-reg-wide: ceil(log2 max(p_g, p_h)) HL, "= 5 for our seed: p_g = 11, p_h = 29"; A-reg-deep
    # (box [-3, 3]^2) and A-R-deep-exact [P]: width 4, 29 HL.  relucert's 2-4-4-1 (small_regressor
    # seed 3, the benchmarks' fan-deep instance): p_g = 29, p_h = 11 -- the reference's two counts
    # with g and h swapped (the DC of -f; relucert's net is not the prototype's: its Wang-Sun
    # widths differ, see test_ws_2441_two_hidden_layers_sizes).  max(p_g, p_h) = 29, so the sizes
    # agree exactly: wide 5 HL, deep width 4 = d + 2 and 29 HL.  ~3 s CPU per transform: slow.
    f = small_regressor((2, 4, 4, 1), seed=3)
    box = Box.cube(2, -3.0, 3.0)
    deep, dclaim = T.fan_deep(f, box)
    assert (dclaim.info["pieces_g"], dclaim.info["pieces_h"]) == (29, 11)
    assert (deep.width, deep.depth) == (4, 29) == (dclaim.formula["width"], dclaim.formula["hidden_layers"])
    assert dclaim.formula["params"] == (2 + 2) ** 2 * 29 == 464
    wide, wclaim = T.fan_wide(f, box)
    assert wide.depth == 5 == math.ceil(math.log2(29)) == wclaim.formula["hidden_layers"]
    # B.3 widths with m = p_g plus m = p_h, the shorter tree carried (2 units) in its last layer
    assert wclaim.info["tree_widths_g"] == ref_tree_widths(29, 5) == [44, 23, 12, 6, 3]
    assert wclaim.info["tree_widths_h"] == ref_tree_widths(11, 4) == [17, 9, 5, 3]
    assert wide.widths == [61, 32, 17, 9, 5] == ref_sum_of_maxes_widths([29, 11])


# -- A-cls-2661 -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demorgan_2661_sizes():
    # A-cls-2661 and 2.3 [P]: a random 2-6-6-1 on [-1, 1]^2: "24 regions, 306 half-spaces (sampled
    # enumeration); wide 3 HL, width 612 (~600); deep width 6, 637 HL (~640)".
    # DISCREPANCY, by construction and by seed: relucert keeps only *irredundant* half-spaces of
    # each positive polytope (certified LP), while 306 / 24 = 12.75 means the prototype kept every
    # pattern constraint (12 units + l_r >= 0 = 13 per region, minus zero rows).  Widths are then
    # (2 sum m_r, R, 1) and 2 sum m_r + R + 1 HL with far smaller sum m_r:
    # * relucert's test instance (Network.random seed 2; test_transforms_fan.py) has 69 regions but
    #   only 2 positive polytopes, 4 half-spaces: wide (8, 2, 1), deep width 6, 11 HL;
    # * seed 7 has 24 positive polytopes like the prototype: 81 half-spaces, wide (162, 24, 1),
    #   deep width 6 = d + 4 and 187 HL -- about a quarter of the reference's ~600 / ~640.
    box = Box.cube(2)
    f2 = Network.random([2, 6, 6, 1], seed=2)
    assert len(linear_regions(f2, box)) == 69
    wide, wc = T.demorgan_wide(f2, box)
    assert (wc.info["polytopes"], wc.info["half_spaces"]) == (2, 4)
    assert wide.widths == [8, 2, 1] == [2 * 4, 2, 1]
    f7 = Network.random([2, 6, 6, 1], seed=7)
    P = positive_polytopes(f7, box)
    assert len(P) == 24 and sum(len(p) for p in P) == 81
    wide, wc = T.demorgan_wide(f7, box)
    assert wide.depth == 3 and wide.widths == [162, 24, 1] == [2 * 81, 24, 1]
    deep, dc = T.demorgan_deep(f7, box)
    assert (deep.width, deep.depth) == (6, 187) == (2 + 4, 2 * 81 + 24 + 1)
    assert deep.depth == dc.formula["hidden_layers"]
    assert wide.widths[0] < 612 / 2 and deep.depth < 637 / 2      # the recorded discrepancy


# -- C rows -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes,paper_width,paper_depth", [([2, 4, 1], 6, 10), ([2, 3, 3, 1], 8, 38),
                                                           ([3, 3, 3, 3, 1], 12, 218)])
def test_theorem7_paper_bounds(sizes, paper_width, paper_depth):
    # 3.4 table: width (paper) 7 (6), 9 (8), 13 (12); HL (paper bound) 9 (10), 25 (38), 79 (218).
    # Paper: width 2(d + L - 1), depth (2n)^(L-1) + 2; corrected width 2d + 2L - 1.
    f = Network.random(sizes, seed=0)
    d, L, n = sizes[0], len(sizes) - 1, max(sizes[:-1])
    new, claim = T.vardi_deep(f)
    assert claim.formula["paper_width"] == paper_width == 2 * (d + L - 1)
    assert claim.formula["paper_depth_bound"] == paper_depth == (2 * n) ** (L - 1) + 2
    assert new.width == 2 * d + 2 * L - 1 == paper_width + 1
    assert new.depth < paper_depth


def test_lemma16_printed_width_3_6_1():
    # C-L16-literal: width 2d + 2 -- for the 3-6-1 net of C-L16-fixed that is 8 (the |x| case, 4, is
    # in test_transforms_vardi.py).  n + 1 = 7 hidden layers, like the corrected version (width 9).
    f = Network.random([3, 6, 1], seed=0)
    bad, claim = T.vardi_lemma16_printed(f)
    assert claim.known_bad and bad.width == 2 * 3 + 2 == 8 and bad.depth == 7


def test_theorem2_toy_instance_sizes():
    # C-T2 / 3.5: d = 1, A = 1, N0 = relu(x) - relu(x - 1/2), c0 = 5 (32 cells), "c = 15, so
    # n c = 30-bit packed integers"; error on good cells "~ 1/16 + 1/32 ... compute it exactly";
    # table: C-T2-full eps = 1/16, C-T2-good eps ~ 1/16 + 2^-c0.
    # relucert: field widths are exact bit lengths (5, 10), so at most 2 * 10 = 20 bits, not the
    # paper's worst case c = 15 (30 bits) -- NOTE the module docstring says c is recorded in
    # info["c_paper"], but info has no such key.  The exact good-set error is
    # 1/16 - 2^-12 (cell side 1/16 minus the slab, f has slope 1 and dyadic weights quantise
    # exactly): below 1/16, so the reference's "1/16 + 2^-c0" is a bound that is not attained here.
    N0 = Network([(np.array([[1.0], [1.0]]), np.array([0.0, -0.5])), (np.array([[1.0, -1.0]]), np.zeros(1))])
    new, claim = T.vardi_approx(N0, Box([-1.0], [1.0]), c0=5)
    assert claim.info["c0"] == 5 and claim.info["field_bits"] == [5, 10]
    assert claim.info["delta"] == 1 / 64          # the default budget, a power of two
    assert "c_paper" not in claim.info
    assert len(claim.excluded) == 2 ** 5 == 32   # one bad slab below each cell's upper end
    assert new.width == 7 == max(5 * 1, 7) and claim.formula["width"] == 10
    exact = F(1, 16) - F(1, 2 ** 12)
    assert exact <= F(claim.eps) <= exact + F(1, 10 ** 9)
    assert claim.eps < 1 / 16 < 1 / 16 + 2 ** -5
    # the paper's c0 for this net (3.2 formula), far beyond float64 packing
    from relucert.transforms.vardi_approx import paper_c0

    assert paper_c0(N0, 1.0, 1 / 16) == 30
    # 3.7: "even d = 1, n = 2, L = 2, eps = 1 gives c0 ~ 14"
    assert paper_c0(N0, 1.0, 1.0) == 14


def test_bit_extractor_bad_measure():
    # C-bitext / 3.3: Lemma 9 with c = 6, delta = 0.02: "bad measure < delta (analytic)"; the
    # prototype measured a bad fraction 0.0087 and a max error of 63 of 64 levels on 2e6 points.
    # relucert (the vardi-approx encoder on f(x) = x over [0, 1], c0 = 6): delta is rounded down
    # to 1/64; 64 slabs of width delta/256 (the top one delta/128, it reaches x = 1), total
    # 65/16384 = 0.00397 < delta.  On a 1e5-point grid every wrong output lies in a slab; the
    # wrong fraction is ~0.0017 (0.001708 on 2e6 points) and the largest error is 64 levels (the
    # top slab).  DISCREPANCY with the prototype's 0.0087: not comparable (different delta, and
    # the prototype's bad set is an empirical one; both are < delta, which is the claim).
    ident = Network([(np.array([[1.0]]), np.zeros(1)), (np.array([[1.0]]), np.zeros(1))])
    new, claim = T.vardi_approx(ident, Box([0.0], [1.0]), c0=6, delta=0.02)
    dl = claim.info["delta"]
    assert dl == 1 / 64 and len(claim.excluded) == 64
    slabs = [(-float(p.b[1]), float(p.b[0])) for p in claim.excluded]
    measure = sum(hi - lo for lo, hi in slabs)
    assert abs(measure - 65 / 16384) < 64 * 3e-9 and measure < 0.02
    xs = (np.arange(100_000) + 0.5) / 100_000
    out = new(xs.reshape(-1, 1))[:, 0]
    want = np.floor((xs + dl / 256) * 64) / 64   # code of x + delta/2^(c0+2), value code / 64
    wrong = np.abs(out - want) > 1e-9
    inside = np.zeros(xs.size, bool)
    for lo, hi in slabs:
        inside |= (xs >= lo) & (xs <= hi)
    assert not np.any(wrong & ~inside)
    assert 0.001 < wrong.mean() < measure < 0.02
    assert round(float(np.max(np.abs(out - want))) * 64) == 64


# -- B.7 and 4.3 --------------------------------------------------------------------------------------
def test_erm_dichotomies_per_unit():
    # B.7: <= 2 sum_{t <= n} C(D - 1, t) dichotomies per unit; D = 6, n = 1: 12.  relucert: active
    # on all points, on a suffix or a prefix (2 (q - 1)), plus the dead unit: exactly 12; with a
    # sign each, 23 choices per unit and C(23 + 1, 2) = 276 multisets for w = 2.
    from relucert.expressivity import erm

    x, y = erm.tiny_dataset(6, seed=1, kind="random")
    q = np.unique(x).size
    assert q == 6
    opts = erm._unit_options(np.unique(x))
    assert len(opts) + 1 == 2 * sum(math.comb(6 - 1, t) for t in range(2)) == 12
    assert math.comb(2 * len(opts) + 1 + 1, 2) == 276


def test_receptive_field_bookkeeping_trf5():
    # 4.3: TRF_l = TRF_{l-1} + (R_l - 1) TS_{l-1}; D-ovl-deep "(3,1,4) x 2 -> global (TRF 5)" on N = 8
    from relucert.expressivity import ConvAC, rank_report

    net = ConvAC.random((8,), 2, [(3, 1, 4), (3, 1, 4)], seed=1)
    rf = net.receptive_fields()
    trf, ts = 1, 1
    for layer, fields in zip(net.layers[:2], rf[1:3]):
        trf, ts = trf + (layer.kernel[0] - 1) * ts, ts * layer.stride[0]
        assert {len(s) for s in fields} == {trf}
    assert trf == 5 and {len(s) for s in rf[-1]} == {8}
    assert rank_report(net, "left-right").rank == 16
