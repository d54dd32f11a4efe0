"""Exact eps checks off excluded polytopes (``compare_exact``): the vertex route of the cells
refined by the excluded facets against the 2D arrangement route (both exact sups), and 3D cases
with a known answer."""

import time
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, Verdict
from relucert.regions import compare_exact
from relucert.regions._compare import _eps_2d_excluded, _eps_nd_excluded
from relucert.verify.spec import Polytope


def _triangle(rng, n=2):
    """A random simplex inside [-1, 1]^n as ``A x <= b`` (facets through the other vertices)."""
    while True:
        V = rng.uniform(-0.9, 0.9, (n + 1, n)).round(3)
        c = V.mean(axis=0)
        A, b = [], []
        for i in range(n + 1):
            P = np.delete(V, i, axis=0)
            M = np.hstack([P, np.ones((n, 1))])
            _, _, vt = np.linalg.svd(M)
            a, beta = vt[-1][:n], -vt[-1][n]
            if a @ c > beta:
                a, beta = -a, -beta
            A.append(a)
            b.append(beta)
        if abs(np.linalg.det(V[1:] - V[0])) > 0.05:
            return Polytope(np.array(A), np.array(b))


@pytest.mark.parametrize("seed", range(3))
def test_vertex_route_equals_the_2d_arrangement_route(seed):
    rng = np.random.default_rng(seed)
    f = Network.random([2, 3, 1], seed=seed)
    g = Network.random([2, 3, 1], seed=seed + 10)
    box = Box.cube(2)
    ex = [_triangle(rng) for _ in range(2)] + [Polytope([[1.0, 0.0]], [-0.5])]   # + the slab x1 <= -1/2
    run = lambda route, eps: route(f, g, box, EpsEquivalence(eps, excluded=ex), [0], time.perf_counter(),
                                   max_cells=None)
    a, b = run(_eps_nd_excluded, 10.0), run(_eps_2d_excluded, 10.0)
    assert a.verdict is b.verdict is Verdict.EQUIVALENT and a.soundness == "exact"     # 10 >> |f - g|
    sup = a.upper
    assert sup == b.upper and 0 < sup < 10             # the same exact sup (rounded up)
    assert run(_eps_nd_excluded, sup).verdict is Verdict.EQUIVALENT
    for eps in (0.0, sup * (1 - 1e-6)):
        a = run(_eps_nd_excluded, eps)
        assert a.verdict is run(_eps_2d_excluded, eps).verdict is Verdict.NOT_EQUIVALENT
        x = a.counterexample.x
        assert not any(P.interior_contains_exact(x) for P in ex) and Box.cube(2).contains(x)
        assert abs(f.eval_exact(x)[0] - g.eval_exact(x)[0]) > Fraction(eps)
        assert a.lower <= sup <= a.upper


# f = relu(x1 + x2 + x3) and g = 0 differ only where x1 + x2 + x3 > 0
F3 = Network.from_weights([[[1.0, 1.0, 1.0]], [[1.0]]], [[0.0], [0.0]])
Z3 = Network.from_weights([[[0.0, 0.0, 0.0]], [[0.0]]], [[0.0], [0.0]])


def test_3d_excluding_the_halfspace_where_they_differ_proves_eps_zero():
    box = Box.cube(3)
    half = Polytope([[-1.0, -1.0, -1.0]], [0.0])          # x1 + x2 + x3 >= 0
    r = compare_exact(F3, Z3, box, EpsEquivalence(0.0, excluded=[half]))
    assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact" and r.upper == 0.0
    # excluding only part of it leaves points where f = 3 (the corner (1, 1, 1) is not excluded)
    part = Polytope([[-1.0, -1.0, -1.0], [1.0, 0.0, 0.0]], [0.0, 0.5])
    r = compare_exact(F3, Z3, box, EpsEquivalence(0.0, excluded=[part]))
    assert r.verdict is Verdict.NOT_EQUIVALENT and r.lower <= 3.0 <= r.upper
    x = r.counterexample.x
    assert not part.interior_contains_exact(x) and F3.eval_exact(x)[0] > 0
    # the sup off the excluded set is attained on its boundary x1 = 1/2, at (1/2, 1, 1): 5/2
    r = compare_exact(F3, Z3, box, EpsEquivalence(2.5, excluded=[part, Polytope([[-1.0, 0.0, 0.0]], [-0.5])]))
    assert r.verdict is Verdict.EQUIVALENT and r.upper == 2.5
    r = compare_exact(F3, Z3, box, EpsEquivalence(2.499, excluded=[part, Polytope([[-1.0, 0.0, 0.0]], [-0.5])]))
    assert r.verdict is Verdict.NOT_EQUIVALENT
