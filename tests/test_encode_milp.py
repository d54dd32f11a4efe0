"""The MILP encoding: it represents the network exactly (up to float tolerances for HiGHS,
exactly for z3 in explicit mode), builds arrays, exports .lp/.mps, and rejects bad input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, Network
from relucert.bounds.interval import interval_bounds
from relucert.bounds.linear import crown_bounds
from relucert.encode import MilpBuilder
from relucert.encode._common import relu_phases
from relucert.errors import ShapeError, SpecError
from relucert.solvers import get_solver


def _tiny():
    # relu(x), relu(0.5 - x) -> y = h0 + 2 h1 + 0.25 on [-1, 1]; max 3.25 at x = -1
    return Network([(np.array([[1.0], [-1.0]]), np.array([0.0, 0.5])), (np.array([[1.0, 2.0]]), np.array([0.25]))])


@pytest.mark.parametrize("z_mode", ["implicit", "explicit"])
def test_point_box_reproduces_the_network(z_mode):
    net = Network.random([3, 6, 5, 2], seed=3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.uniform(-1, 1, 3)
        box = Box(x, x)
        b = MilpBuilder(box, z_mode=z_mode)
        F = b.add_network(net, crown_bounds(net, box), tag="f")
        b.set_objective({int(F.outputs[1]): 1.0})
        out = get_solver("highs").solve(b.build())
        assert out.status == "optimal"
        assert abs(out.primal_value - net(x)[1]) < 1e-9
        assert F.n_binaries == 0          # a point box makes every neuron stable


def test_max_over_box_matches_dense_sampling_and_exact_z3():
    net = _tiny()
    box = Box([-1.0], [1.0])
    b = MilpBuilder(box, z_mode="explicit")
    F = b.add_network(net, crown_bounds(net, box), tag="f")
    b.set_objective({int(F.outputs[0]): 1.0})
    p = b.build()
    assert p.n_integer == F.n_binaries == 2
    hi = get_solver("highs").solve(p)
    assert hi.status == "optimal" and abs(hi.primal_value - 3.25) < 1e-9
    # z3 takes every coefficient at its exact value; outward-rounded big-M right-hand sides keep
    # the true optimum feasible (they once cut x = -1 off by 1e-16)
    z = get_solver("z3").solve(p)
    assert z.status == "optimal" and z.details["exact_value"] == Fraction(13, 4)
    assert z.details["exact_x"] == [Fraction(-1)]


def test_stable_neurons_get_no_binary_and_bounds_never_constant():
    net = Network.random([2, 8, 8, 1], seed=4)
    box = Box.cube(2, -0.1, 0.1)
    bounds = crown_bounds(net, box)
    b = MilpBuilder(box)
    F = b.add_network(net, bounds, tag="f")
    unstable = sum(int(np.count_nonzero(relu_phases(lo, hi) == 0)) for lo, hi in bounds[:-1])
    assert F.n_binaries == F.n_unstable == unstable
    p = b.build()
    # every big-M coefficient is a propagated bound, not a constant
    ints = np.flatnonzero(p.integer)
    coefs = np.abs(p.A[:, ints].data)
    allb = np.abs(np.concatenate([np.concatenate(x) for x in bounds[:-1]]))
    assert np.all(np.isin(np.round(coefs, 12), np.round(allb, 12)))


def test_difference_rows_keep_the_true_optimum():
    f = Network.random([2, 6, 6, 1], seed=1)
    rng = np.random.default_rng(0)
    g = Network([(L.weight + rng.normal(0, 1e-2, L.weight.shape), L.bias) for L in f.layers])
    box = Box.cube(2)
    from relucert.bounds.differential import DiffPair, diff_bounds_batch

    st, (ol, oh) = diff_bounds_batch(DiffPair(f, g), box.lo[None], box.hi[None])
    dd = [(a[0], b[0]) for a, b in st.dd] + [(ol[0], oh[0])]
    vals = []
    for couple in (False, True):
        b = MilpBuilder(box)
        F = b.add_network(f, crown_bounds(f, box), tag="f")
        G = b.add_network(g, crown_bounds(g, box), tag="g")
        if couple:
            assert b.add_difference_bounds(F, G, dd) > 0
        b.set_objective({int(F.outputs[0]): 1.0, int(G.outputs[0]): -1.0})
        out = get_solver("highs").solve(b.build(), time_limit=30)
        assert out.status == "optimal"
        vals.append(out.primal_value)
    assert abs(vals[0] - vals[1]) < 1e-7
    X = box.sample(20000, np.random.default_rng(1))
    assert (f(X) - g(X)).max() <= vals[1] + 1e-7


def test_excluded_polytope_and_max_objective():
    net = Network.affine([[1.0, 1.0]]).deepen(1)
    box = Box.cube(2)
    b = MilpBuilder(box)
    F = b.add_network(net, crown_bounds(net, box), tag="f")
    b.add_excluded_polytopes([(np.array([[-1.0, -1.0]]), np.array([-1.0]))])  # outside x0 + x1 >= 1
    lo, hi = crown_bounds(net, box)[-1]
    b.set_max_objective([{int(F.outputs[0]): 1.0}, {int(F.outputs[0]): -1.0}], lower=[lo[0], -hi[0]],
                        upper=[hi[0], -lo[0]])
    out = get_solver("highs").solve(b.build())
    assert out.status == "optimal" and abs(out.primal_value - 2.0) < 1e-9   # |x0 + x1| max at (-1, -1)
    assert out.input_x.sum() <= 1 + 1e-9


def test_export_lp_and_mps(tmp_path):
    net = _tiny()
    box = Box([-1.0], [1.0])
    b = MilpBuilder(box)
    F = b.add_network(net, interval_bounds(net, box), tag="f")
    b.set_objective({int(F.outputs[0]): 1.0})
    p = b.build()
    lp = p.to_lp(tmp_path / "m.lp")
    mps = p.to_mps(tmp_path / "m.mps")
    text = open(lp).read()
    assert "f_d1_0" in text and "x_0" in text and "max" in text.lower()
    assert "f_y_0" in open(mps).read()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["m.lp", "m.mps"]   # no temporary left
    with pytest.raises(SpecError, match="must end with .lp"):
        p.to_lp(tmp_path / "m.txt")
    # the exported model solves to the same optimum
    import highspy

    h = highspy.Highs()
    h.silent()
    h.readModel(str(mps))
    h.run()
    assert abs(h.getInfo().objective_function_value - 3.25) < 1e-9


def test_bad_input_is_rejected_with_clear_messages():
    net = _tiny()
    box = Box([-1.0], [1.0])
    b = MilpBuilder(box)
    with pytest.raises(SpecError, match="z_mode must be one of"):
        MilpBuilder(box, z_mode="dense")
    with pytest.raises(SpecError, match="bounds are required"):
        b.add_network(net, None, tag="f")
    with pytest.raises(ShapeError, match=r"bounds\[0\] must have 2 entries"):
        b.add_network(net, [(np.zeros(3), np.ones(3))], tag="f")
    with pytest.raises(SpecError, match="lo <= hi"):
        b.add_network(net, [(np.ones(2), np.zeros(2))], tag="f")
    with pytest.raises(SpecError, match="must be finite"):
        b.add_network(net, [(np.array([-np.inf, 0]), np.ones(2))], tag="f")
    with pytest.raises(SpecError, match="tag must be"):
        b.add_network(net, interval_bounds(net, box), tag="1bad")
    b.add_network(net, interval_bounds(net, box), tag="f")
    with pytest.raises(SpecError, match="already used"):
        b.add_network(net, interval_bounds(net, box), tag="f")
    with pytest.raises(SpecError, match="refers to column 999"):
        b.set_objective({999: 1.0})
    with pytest.raises(SpecError, match="needs -inf <= lo <= hi <= inf"):
        b.add_linear_constraint({0: 1.0}, lo=2.0, hi=1.0)
