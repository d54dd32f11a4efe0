"""Reference row B-zono-n2: gamma_Z (m = 4 generators in R^2) then 2 HL x 2 zig-zags; exact region
count (>= 2 m w**k = 32) and the Wang-Sun rewrite with ceil(log2(n+1)) = 2 hidden layers, eps = 0."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import relucert
from relucert.expressivity import families as fam
from relucert.regions import compare_exact, linear_regions

BOX = relucert.Box([-1.0, -1.0], [1.0, 1.0])


@pytest.fixture(scope="module")
def rewrite():
    return fam.zonotope_ws_rewrite(m=4, n=2, w=2, k=2)


def _maps(regions):
    return {(tuple(r.A.reshape(-1)), tuple(r.c)) for r in regions}


def test_region_count_is_exactly_40_with_33_affine_maps():
    F = fam.zonotope_function(fam.default_generators(4, 2), 2, 2)
    assert F.depth == 3 and F.widths == [8, 2, 2]
    regions = linear_regions(F, BOX)
    assert all(r.certified for r in regions)
    # 8 cones of gamma_Z, each swept by gamma from 0 to 1 through the 2**2 = 4 pieces of H (32
    # regions, 32 different affine maps), plus the 8 cone pieces of {gamma_Z > 1}, where F = 0
    assert len(regions) == 40
    maps = _maps(regions)
    assert len(maps) == 33 >= fam.zonotope_piece_lower_bound(4, 2, 2, 2) == 2 * 4 * 2 ** 2 == 32
    outer = [r for r in regions if not np.any(r.A) and not np.any(r.c)]
    assert len(outer) == 8
    G = fam.default_generators(4, 2)
    for r in outer:   # gamma_Z > 1 at the exact interior point of each outer region
        assert sum(abs(sum(Fraction(float(b)) * x for b, x in zip(row, r.point))) for row in G) > 1


def test_other_instances_exact_counts():
    # m = 3 (hexagon, 6 vertices): 6 * 4 = 24 inner maps + the zero map outside
    F = fam.zonotope_function(fam.default_generators(3, 2), 2, 2)
    regions = linear_regions(F, BOX)
    assert (len(regions), len(_maps(regions))) == (30, 25)
    # n = 3, m = 4: |vert(Z)| = 14, w = 2, k = 1: 28 regions, each its own affine map
    F = fam.zonotope_function(fam.default_generators(4, 3), 2, 1)
    regions = linear_regions(F, relucert.Box([-1.0] * 3, [1.0] * 3))
    assert len(regions) == len(_maps(regions)) == 28 == fam.zonotope_piece_lower_bound(4, 3, 2, 1)


def test_ws_rewrite_has_two_hidden_layers_and_exact_weights(rewrite):
    z = rewrite
    n = 2
    assert z.network.depth == math.ceil(math.log2(n + 1)) == 2
    assert z.F.depth == 3
    assert z.info["max_arity"] <= n + 1
    assert z.claim.construction == "arora-maxaffine" and z.claim.kind == "exact"
    assert z.claim.weights_exact and z.claim.eps == 0.0
    # every weight is a float64 exactly: the rewrite is the Wang-Sun sum itself, not a rounding
    assert z.network.widths == [136, 290] and z.info["terms"] == 172
    # the intermediate 2-hidden-layer net (gamma_Z, then H in one hidden layer) equals F exactly
    res = compare_exact(z.F, z.two_layer, BOX, relucert.EpsEquivalence(0.0))
    assert res.verdict == relucert.Verdict.EQUIVALENT and res.soundness == "exact"


def test_ws_rewrite_perturbed_is_refuted_exactly(rewrite):
    z = rewrite
    last = z.network.layers[-1]
    bad = relucert.Network([(L.weight, L.bias) for L in z.network.layers[:-1]]
                           + [(last.weight, last.bias + 2.0 ** -20)])
    res = relucert.verify(z.F, bad, BOX, relucert.EpsEquivalence(0.0), method="bab", time_limit=60)
    assert res.verdict == relucert.Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert BOX.contains(x)
    assert z.F.eval_exact(x)[0] != bad.eval_exact(x)[0]
    assert abs(z.F.eval_exact(x)[0] - bad.eval_exact(x)[0]) == Fraction(2) ** -20


@pytest.mark.slow
def test_ws_rewrite_is_equivalent_eps0(rewrite):
    # the row's query: sup |F - rewrite| <= 0 on [-1, 1]^2, proved exactly region by region
    z = rewrite
    res = relucert.verify(z.F, z.network, BOX, relucert.EpsEquivalence(0.0), method="regions")
    assert res.verdict == relucert.Verdict.EQUIVALENT
    assert res.soundness == "exact"
    assert res.upper == 0


@pytest.mark.slow
def test_cli_zonotope_rewrite_and_check(tmp_path, capsys):
    # relucert zonotope --m 4 --rewrite MODEL --check: the whole row from the command line
    import json

    from relucert import io as rio
    from relucert.cli import main

    out = tmp_path / "ws.onnx"
    rc = main(["zonotope", "--m", "4", "--rewrite", str(out), "--check", "--json"])
    text = capsys.readouterr().out
    data = json.loads(text[:text.rindex("}") + 1])
    assert rc == 0
    assert (data["regions"], data["affine_pieces"], data["lower_bound"]) == (40, 33, 32)
    assert data["rewrite"]["hidden_layers"] == data["rewrite"]["expected_hidden_layers"] == 2
    assert data["rewrite"]["verdict"] == "EQUIVALENT"
    net = rio.load(str(out))
    assert net.depth == 2 and net.widths == data["rewrite"]["widths"]
    res = relucert.verify(fam.zonotope_ws_rewrite().network, net, BOX, relucert.EpsEquivalence(0.0))
    assert res.verdict == relucert.Verdict.EQUIVALENT     # the written model is the rewrite itself
