"""LP bound tightening: rigorous (safe) bounds that contain every sampled pre-activation and
are never looser than the input bounds."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from relucert import Box, Network
from relucert.bounds.linear import crown_bounds
from relucert.encode import tighten_bounds_lp
from relucert.encode.obbt import safe_lp_upper
from relucert.errors import SpecError


@pytest.mark.parametrize("safe", [True, False])
def test_tightened_bounds_contain_samples_and_shrink(safe):
    net = Network.random([2, 12, 12, 12, 1], seed=7)
    box = Box.cube(2)
    cb = crown_bounds(net, box)
    stats = {}
    tb = tighten_bounds_lp(net, box, cb, safe=safe, stats=stats)
    assert stats["lps"] > 0 and len(tb) == len(cb)
    X = box.sample(20000, np.random.default_rng(0))
    zs = net.pre_activations(X)
    gain = 0.0
    for (lo, hi), (clo, chi), z in zip(tb, cb, zs):
        assert np.all(lo >= clo) and np.all(hi <= chi)
        assert np.all(z >= lo[None] - 1e-12) and np.all(z <= hi[None] + 1e-12)
        gain += float(np.sum(chi - clo) - np.sum(hi - lo))
    assert gain > 0


def test_safe_lp_upper_is_a_valid_bound_for_any_multipliers():
    # max x0 + x1 s.t. x0 + 2 x1 <= 2, 0 <= x <= 1.5: optimum 1.75 at (1.5, 0.25)
    from relucert.encode.milp import MilpProblem, _Block

    A = sp.csr_matrix(np.array([[1.0, 2.0]]))
    p = MilpProblem(c=np.array([1.0, 1.0]), offset=0.0, A=A, row_lo=np.array([-np.inf]), row_hi=np.array([2.0]),
                    col_lo=np.zeros(2), col_hi=np.full(2, 1.5), integer=np.zeros(2, bool),
                    input_cols=np.arange(2), box=Box.cube(2, 0, 1.5), nets={},
                    col_blocks=(_Block(0, 2, "x"),), row_blocks=(_Block(0, 1, "r"),))
    c = np.array([1.0, 1.0])
    assert safe_lp_upper(p, c, np.array([0.5])) >= 1.75 - 1e-15      # the optimal dual: tight
    assert abs(safe_lp_upper(p, c, np.array([0.5])) - 1.75) < 1e-12
    for y in (0.0, 0.1, 1.0, 7.0, -3.0):
        assert safe_lp_upper(p, c, np.array([y])) >= 1.75


def test_options_are_validated():
    net = Network.random([2, 4, 4, 1], seed=1)
    box = Box.cube(2)
    with pytest.raises(SpecError, match="pad must be a finite number >= 0"):
        tighten_bounds_lp(net, box, crown_bounds(net, box), pad=-1)
    with pytest.raises(SpecError, match="layers must be in"):
        tighten_bounds_lp(net, box, crown_bounds(net, box), layers=[7])
