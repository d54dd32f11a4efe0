"""Property-based tests: random small pairs and boxes.

* z3, MILP (HiGHS) and input-splitting BaB never contradict each other where they decide;
* no sampled point violates a proved eps;
* every counterexample is exact-valid (re-checked with ``eval_exact``) and lies in the box.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucert import Box, Distance, EpsEquivalence, Network, Top1Equivalence, Verdict, verify

ENGINES = (("bab", "highs"), ("milp", "highs"), ("smt", "z3"))


@st.composite
def pairs(draw):
    seed = draw(st.integers(0, 10_000))
    n_in = draw(st.integers(1, 2))
    w = draw(st.integers(2, 4))
    n_out = draw(st.integers(1, 2))
    f = Network.random([n_in, w, n_out], seed=seed)
    rng = np.random.default_rng(seed + 1)
    noise = draw(st.sampled_from([1e-3, 1e-2, 1e-1]))
    g = Network([(L.weight + rng.normal(0, noise, L.weight.shape), L.bias + rng.normal(0, noise, L.bias.shape))
                 for L in f.layers])
    c = rng.uniform(-1, 1, n_in)
    r = draw(st.sampled_from([0.1, 0.5, 1.0]))
    return f, g, Box(c - r, c + r)


def _valid_ce(res, f, g, box, eps):
    ce = res.counterexample
    assert box.contains(ce.x)
    fy, gy = f.eval_exact(ce.x), g.eval_exact(ce.x)
    assert fy == ce.f and gy == ce.g
    assert max(abs(a - b) for a, b in zip(fy, gy)) > Fraction(eps)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs(), st.sampled_from([0.5, 0.9, 1.0, 1.1, 2.0]))
def test_engines_agree_and_proofs_hold(pair, scale):
    f, g, box = pair
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-6), method="bab", time_limit=10)
    eps = max(float(d.lower) * scale, 1e-9)
    verdicts = {}
    for method, solver in ENGINES:
        r = verify(f, g, box, EpsEquivalence(eps), method=method, solver=solver, time_limit=10)
        verdicts[method] = r.verdict
        if r.verdict is Verdict.NOT_EQUIVALENT:
            _valid_ce(r, f, g, box, eps)
        if r.verdict is Verdict.EQUIVALENT:
            X = box.sample(2000, np.random.default_rng(0))
            assert np.abs(f(X) - g(X)).max() <= eps * (1 + 1e-12) + 1e-15
            assert float(d.lower) <= eps
    decided = {v for v in verdicts.values() if v is not Verdict.UNKNOWN}
    assert len(decided) <= 1, verdicts
    if scale < 0.95:   # a known point beats eps: every engine must refute
        assert all(v is Verdict.NOT_EQUIVALENT for v in verdicts.values()), verdicts


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs(), st.sampled_from([0.0, 0.05]))
def test_top1_milp_and_z3_agree(pair, margin):
    f, g, box = pair
    if f.n_outputs < 2:
        f = Network(list(f.layers[:-1]) + [(np.vstack([f.layers[-1].weight, -f.layers[-1].weight]),
                                            np.concatenate([f.layers[-1].bias, [0.0]]))])
        g = Network(list(g.layers[:-1]) + [(np.vstack([g.layers[-1].weight, -g.layers[-1].weight]),
                                            np.concatenate([g.layers[-1].bias, [0.0]]))])
    out = {}
    for method in ("milp", "smt"):
        r = verify(f, g, box, Top1Equivalence(margin=margin), method=method, time_limit=10)
        out[method] = r.verdict
        if r.verdict is Verdict.NOT_EQUIVALENT:
            ce = r.counterexample
            assert box.contains(ce.x)
            fy, gy = f.eval_exact(ce.x), g.eval_exact(ce.x)
            i = max(range(len(fy)), key=lambda k: (fy[k], -k))
            j = max(range(len(gy)), key=lambda k: (gy[k], -k))
            assert i != j and all(fy[i] - fy[k] >= Fraction(margin) for k in range(len(fy)) if k != i)
    decided = {v for v in out.values() if v is not Verdict.UNKNOWN}
    assert len(decided) <= 1, out
