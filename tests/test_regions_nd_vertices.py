"""Cells with exact vertices in d >= 3 (``enumerate_cells``): every vertex and every tight set is
checked against a brute-force exact vertex enumeration (all n-subsets of the cell's rows solved in
rational arithmetic), and the activation patterns against the LP-checked enumeration."""

from fractions import Fraction
from itertools import combinations

import numpy as np
import pytest

from relucert import Box, Network
from relucert.regions import _enum
from relucert.regions._enum import enumerate_cells, linear_regions
from relucert.regions._exactlp import dot_exact


def _solve(A, b):
    """The exact solution of a square system (Gauss-Jordan over Q), None when singular."""
    M = [list(r) + [c] for r, c in zip(A, b)]
    n = len(M)
    for c in range(n):
        p = next((i for i in range(c, n) if M[i][c] != 0), None)
        if p is None:
            return None
        M[c], M[p] = M[p], M[c]
        pv = M[c][c]
        M[c] = [v / pv for v in M[c]]
        for i in range(n):
            if i != c and M[i][c] != 0:
                f = M[i][c]
                M[i] = [a - f * w for a, w in zip(M[i], M[c])]
    return tuple(M[i][n] for i in range(n))


def _brute_vertices(rows, rhs, n):
    V = set()
    for S in combinations(range(len(rows)), n):
        x = _solve([list(rows[i]) for i in S], [rhs[i] for i in S])
        if x is not None and all(dot_exact(r, x) <= h for r, h in zip(rows, rhs)):
            V.add(x)
    return V


def _check_cells(cells, n):
    for c in cells:
        assert c.vertices is not None and c.tight is not None and c.certified
        assert set(c.vertices) == _brute_vertices(c.rows, c.rhs, n)
        assert len(set(c.vertices)) == len(c.vertices)
        for v, t in zip(c.vertices, c.tight):
            assert set(t) == {i for i, (r, h) in enumerate(zip(c.rows, c.rhs)) if dot_exact(r, v) == h}


def _dyadic(sizes, seed):
    rng = np.random.default_rng(seed)
    return Network([(rng.integers(-2, 3, (b, a)) / 2, rng.integers(-2, 3, b) / 2)
                    for a, b in zip(sizes[:-1], sizes[1:])])


# degenerate on purpose: x1+x2+x3 = 1 passes through three corners of [-1, 1]^3, the second unit
# through an edge (x1 = x2, x3 free), the third repeats the first, the fourth is parallel to it
DEGENERATE = Network([(np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [2.0, 2.0, 2.0], [1.0, 1.0, 1.0]]),
                       np.array([-1.0, 0.0, -2.0, 0.5])),
                      (np.array([[1.0, -1.0, 0.5, 2.0]]), np.zeros(1))])


@pytest.mark.parametrize("net", [DEGENERATE, _dyadic([3, 4, 3, 1], 0), Network.random([3, 3, 2, 1], seed=2),
                                 _dyadic([4, 4, 1], 1)], ids=["degenerate", "dyadic-3d", "float-3d", "dyadic-4d"])
def test_vertices_and_tight_sets_are_exact(net):
    n = net.n_inputs
    box = Box.cube(n)
    cells, st = enumerate_cells([net], box)
    assert st["lps"] == 0 and st["uncertified"] == 0       # decided at the vertices, no LP
    _check_cells(cells, n)
    pats = [c.patterns[0] for c in cells]
    assert len(set(pats)) == len(pats)
    # every sampled point of the box lies in a cell whose exact map is the net
    R = linear_regions(net, box)
    for x in box.sample(20, np.random.default_rng(0)):
        xs = [Fraction(float(v)) for v in x]
        hit = [r for r in R if r.contains_exact(xs)]
        assert hit and all(r.value_exact(xs) == net.eval_exact(xs) for r in hit)
    for r in R:     # the exact centroid of the vertices is strictly inside
        assert all(dot_exact(h, r.point) < hh for h, hh in zip(r.H, r.h))


@pytest.mark.parametrize("net", [DEGENERATE, _dyadic([3, 4, 3, 1], 0)], ids=["degenerate", "dyadic-3d"])
def test_patterns_match_the_lp_checked_enumeration(net):
    box = Box.cube(3)
    pats = {c.patterns[0] for c in enumerate_cells([net], box)[0]}
    lp_cells, lst = enumerate_cells([net], box, exact_vertices=False)
    assert lst["uncertified"] == 0 and lst["lps"] > 0
    assert pats == {c.patterns[0] for c in lp_cells}


def test_degenerate_counts():
    # x1+x2+x3 = 1 (twice, scaled) and = -1/2 and x1 = x2: 3 slabs along (1,1,1), each cut by x1 = x2
    cells, _ = enumerate_cells([DEGENERATE], Box.cube(3))
    assert len(cells) == 6


def test_more_vertices_than_the_cap_continue_with_lp_splits(monkeypatch):
    net = _dyadic([3, 4, 3, 1], 0)
    box = Box.cube(3)
    exact = {c.patterns[0] for c in enumerate_cells([net], box)[0]}
    monkeypatch.setattr(_enum, "MAX_VERTICES", 8)
    cells, st = enumerate_cells([net], box)
    assert st["lps"] > 0 and st["uncertified"] == 0
    assert any(c.vertices is None for c in cells)
    _check_cells([c for c in cells if c.vertices is not None], 3)
    assert {c.patterns[0] for c in cells} == exact


def test_high_dimensional_box_does_not_list_its_corners():
    # 2^20 corners: the root goes to LP-checked splits at once
    net = Network.random([20, 2, 1], seed=0)
    cells, st = enumerate_cells([net], Box.cube(20))
    assert all(c.vertices is None for c in cells) and 1 <= len(cells) <= 4 and st["lps"] > 0
