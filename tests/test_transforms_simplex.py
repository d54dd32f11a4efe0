"""Fan, Lai, Wang A-R-simplex in any dimension: wide (3 hidden layers) and deep (width 3d+4, 3K
hidden layers) simplex-indicator nets; exact off the collars, refuted in sup-norm (reference table
rows A-reg-simplex-sup / A-reg-simplex-offcollar, in 1D, 2D and 3D)."""

import math
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, Verdict, verify
from relucert import transforms as T
from relucert.regions import compare_exact
from relucert.regions._vertices import det_exact
from relucert.transforms.fan_simplex import triangulate_regions

X_PLUS_1 = Network.from_weights([[[1.0]], [[1.0]]], [[1.0], [0.0]])              # x + 1 on [-1, 1]
AFFINE_3D = Network.from_weights([[[1.0, 0.5, -0.25]], [[1.0]]], [[2.0], [0.0]])  # one region on [-1, 1]^3
KINK_3D = Network.from_weights([[[1.0, 0.5, -0.25]], [[1.0]]], [[0.25], [0.0]])   # two regions
NET_2D = Network.random([2, 2, 1], seed=4)      # 6 simplices on [-1, 1]^2: a small 2D instance


def _volume(S):
    d = len(S.vertices) - 1
    return abs(det_exact([[v[k] - S.vertices[0][k] for k in range(d)] for v in S.vertices[1:]])) / math.factorial(d)


def _assert_refuted(f, new, res, eps):
    assert res.verdict is Verdict.NOT_EQUIVALENT, res.summary()
    x = res.counterexample.x
    assert abs(f.eval_exact(x)[0] - new.eval_exact(x)[0]) > Fraction(eps)


@pytest.mark.parametrize("f, box", [(X_PLUS_1, Box.cube(1)),
                                    (Network.random([2, 3, 1], seed=3), Box.cube(2)),
                                    (KINK_3D, Box.cube(3))])
def test_triangulation_tiles_the_box_exactly(f, box):
    simp, info = triangulate_regions(f, box)
    assert info["skipped_regions"] == 0
    assert sum((_volume(S) for S in simp), Fraction(0)) == np.prod([Fraction(float(w)) for w in box.width])
    for S in simp:   # l_k is f on the simplex: check at the exact centroid
        c = [sum((v[k] for v in S.vertices), Fraction(0)) / len(S.vertices) for k in range(box.dim)]
        assert sum((a * x for a, x in zip(S.a, c)), Fraction(0)) + S.c == f.eval_exact(c)[0]


def test_1d_worked_example_deep():
    box = Box.cube(1)
    new, claim = T.fan_simplex_deep(X_PLUS_1, box, delta=1e-3, splits=2)
    assert claim.info["simplices"] == 2 and len(claim.excluded) == 4
    assert new.width == 3 * 1 + 4 == claim.formula["width"] and new.depth == 6 == claim.formula["hidden_layers"]
    assert new.eval_exact([0.0]) == [Fraction(0)]     # W(0) = 0 while f(0) = 1
    assert new.eval_exact([0.5]) == X_PLUS_1.eval_exact([0.5])
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact", res.summary()
    bad, bclaim = T.fan_simplex_deep_sup(X_PLUS_1, box, delta=1e-3, splits=2, eps=0.1)
    assert bclaim.known_bad
    _assert_refuted(X_PLUS_1, bad, T.check(bad, bclaim), 0.1)


@pytest.mark.parametrize("name", ["fan-simplex", "fan-simplex-deep"])
def test_2d_random_net_off_collars_and_sup(name):
    f = NET_2D
    box = Box.cube(2)
    new, claim = T.apply(name, f, box, delta=0.02)
    K = claim.info["simplices"]
    assert K == 6
    if name == "fan-simplex":
        assert new.depth == 3 and new.widths == [K * (2 * 2 + 4), 3 * K, 2 * K]
        assert new.width == claim.formula["width"]
    else:
        assert new.width == 3 * 2 + 4 == claim.formula["width"] and new.depth == 3 * K == claim.formula["hidden_layers"]
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact", res.summary()
    bad, bclaim = T.apply(name + "-sup", f, box, delta=0.02, eps=1e-3)
    _assert_refuted(f, bad, T.check(bad, bclaim), 1e-3)


def test_2d_collars_too_thin_are_refuted():
    """Collars of a smaller delta than the net's do not cover the ramps: refuted off them."""
    f = NET_2D
    box = Box.cube(2)
    new, _ = T.fan_simplex(f, box, delta=0.05)
    _, thin = T.fan_simplex(f, box, delta=0.01)
    res = compare_exact(f, new, box, EpsEquivalence(thin.eps, excluded=thin.excluded))
    assert res.verdict is Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert not any(P.interior_contains_exact(x) for P in thin.excluded)
    assert abs(f.eval_exact(x)[0] - new.eval_exact(x)[0]) > Fraction(thin.eps)


@pytest.mark.parametrize("name", ["fan-simplex", "fan-simplex-deep"])
def test_3d_sup_refuted(name):
    box = Box.cube(3)
    bad, bclaim = T.apply(name + "-sup", AFFINE_3D, box, delta=0.05, eps=0.1)
    assert bclaim.info["simplices"] >= 5
    _assert_refuted(AFFINE_3D, bad, T.check(bad, bclaim), 0.1)


@pytest.mark.slow
def test_3d_wide_off_collars_exact():
    # ~1.6 s CPU (738 exact-vertex cells, 6 simplices: a cube has no smaller triangulation); slow
    # as its wall time passes 2 s on a loaded machine
    box = Box.cube(3)
    new, claim = T.fan_simplex(AFFINE_3D, box, delta=0.05)
    K = claim.info["simplices"]
    assert new.widths == [K * (2 * 3 + 4), 3 * K, 2 * K]
    res = T.check(new, claim)      # auto: exact cells (vertices) refined by the collars' facets
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact", res.summary()
    assert res.method == "regions-exact"


@pytest.mark.slow
def test_3d_deep_off_collars_exact_and_thin_collars_refuted():
    box = Box.cube(3)
    new, claim = T.fan_simplex_deep(AFFINE_3D, box, delta=0.05)
    assert new.width == 3 * 3 + 4 and new.depth == 3 * claim.info["simplices"]
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact", res.summary()
    # thin collars refuted: the MILP finds it in ~0.1 s (the exact cells need 3088 of them, ~4 s;
    # the 2D test above refutes thin collars through the cells); the point is re-checked exactly
    _, thin = T.fan_simplex(AFFINE_3D, box, delta=0.02)
    res = verify(AFFINE_3D, new, box, EpsEquivalence(thin.eps, excluded=thin.excluded), method="milp", time_limit=60)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert not any(P.interior_contains_exact(x) for P in thin.excluded) and box.contains(x)
    assert abs(AFFINE_3D.eval_exact(x)[0] - new.eval_exact(x)[0]) > Fraction(thin.eps)


def test_bad_parameters():
    with pytest.raises(ValueError, match="delta must be > 0"):
        T.fan_simplex(X_PLUS_1, Box.cube(1), delta=0.0)
    with pytest.raises(ValueError, match="splits applies to 1-input"):
        T.fan_simplex_deep(KINK_3D, Box.cube(3), splits=2)
    with pytest.raises(ValueError, match="needs a box"):
        T.fan_simplex_deep(X_PLUS_1)


def test_3d_excluded_route_falls_back_to_the_milp_past_the_cell_limit(monkeypatch):
    """auto: 3D excluded sets go to the exact cells; past REGION_CELLS cells, to the MILP."""
    import importlib

    api = importlib.import_module("relucert.verify.api")
    claimcheck = importlib.import_module("relucert.transforms.claimcheck")

    box = Box.cube(3)
    new, claim = T.fan_simplex(AFFINE_3D, box, delta=0.05)
    calls = []
    sentinel = SimpleNamespace(verdict=Verdict.EQUIVALENT)

    def fake_verify(f, g, b, spec, method="auto", time_limit=None, **kw):
        calls.append(method)
        return sentinel

    monkeypatch.setattr(api, "verify", fake_verify)
    monkeypatch.setattr(claimcheck, "REGION_CELLS", 10)
    assert T.check(new, claim) is sentinel and calls == ["milp"]
