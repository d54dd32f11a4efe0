"""verify(method="milp"|"smt"): results, statistics, time limits, option errors."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, DecisionEquivalence, Distance, EpsEquivalence, Network, Top1Equivalence, Verdict, verify
from relucert.errors import SpecError
from relucert.verify.result import StopReason


def _pair(noise=1e-2, sizes=(2, 5, 4, 1), seed=1):
    f = Network.random(list(sizes), seed=seed)
    rng = np.random.default_rng(0)
    g = Network([(L.weight + rng.normal(0, noise, L.weight.shape), L.bias) for L in f.layers])
    return f, g, Box.cube(sizes[0])


def test_milp_result_fields_and_stats():
    f, g, box = _pair()
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-7), method="bab", time_limit=5)  # upper is sound either way
    seen = []
    r = verify(f, g, box, EpsEquivalence(d.upper * 1.05), method="milp", progress=lambda **kw: seen.append(kw))
    assert r.verdict is Verdict.EQUIVALENT and r.stop_reason is StopReason.PROVED
    assert r.soundness in ("dual-bound-with-margin", "float-sound")
    for k in ("time_s", "nodes", "lps", "method", "n_binaries", "milps"):
        assert k in r.stats
    assert r.method == "milp-highs" and r.lower <= d.upper <= r.upper + 1e-12
    js = r.to_dict()
    assert js["verdict"] == "EQUIVALENT" and js["soundness"] == r.soundness
    assert "proof:" in r.summary()
    if r.soundness == "dual-bound-with-margin":
        assert seen and {"nodes", "lower", "upper", "elapsed"} <= set(seen[-1])


def test_milp_distance_brackets_the_bab_distance():
    f, g, box = _pair()
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-7), method="bab", time_limit=5)  # upper is sound either way
    m = verify(f, g, box, Distance(atol=1e-5, rtol=1e-4), method="milp")
    assert m.stop_reason is StopReason.TOLERANCE
    assert m.lower <= d.upper + 1e-12 and m.upper >= d.lower - 1e-12
    assert m.upper - m.lower <= max(1e-5, 1e-4 * m.upper)


def test_smt_counterexample_is_exact_and_eps_zero_is_exact():
    f, g, box = _pair()
    r = verify(f, g, box, EpsEquivalence(0.0), method="smt")
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert max(abs(a - b) for a, b in zip(f.eval_exact(r.counterexample.x), g.eval_exact(r.counterexample.x))) > 0
    h = Network.random([2, 3, 2], seed=2)
    r = verify(h, h.deepen(1), box, EpsEquivalence(0.0), method="smt", time_limit=30)
    assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact" and r.upper == 0.0


def test_time_limit_gives_unknown_with_bracket():
    f = Network.random([2, 20, 20, 1], seed=0)
    rng = np.random.default_rng(1)
    g = Network([(L.weight + rng.normal(0, 1e-3, L.weight.shape), L.bias) for L in f.layers])
    box = Box.cube(2)
    r = verify(f, g, box, EpsEquivalence(0.0069), method="milp", time_limit=0.5)
    assert r.verdict in (Verdict.UNKNOWN, Verdict.NOT_EQUIVALENT)
    if r.verdict is Verdict.UNKNOWN:
        assert r.stop_reason is StopReason.TIME_LIMIT and r.lower <= r.upper
    assert r.time_s < 5


def test_top1_single_output_and_decision_errors():
    f, g, box = _pair()
    r = verify(f, g, box, Top1Equivalence(), method="milp")
    assert r.verdict is Verdict.EQUIVALENT and r.soundness == "exact"
    f2 = Network.random([2, 3, 2], seed=0)
    with pytest.raises(SpecError, match="decision equivalence needs single-output networks"):
        verify(f2, f2, box, DecisionEquivalence(), method="milp")
    with pytest.raises(SpecError, match="solver must be 'highs', 'pulp'"):
        verify(f, g, box, EpsEquivalence(0.1), method="milp", solver="z3")
    with pytest.raises(SpecError, match="method must be one of"):
        verify(f, g, box, EpsEquivalence(0.1), method="lp")


def test_lp_tightening_keeps_the_answer():
    f, g, box = _pair(sizes=(2, 6, 6, 1))
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-7), method="bab", time_limit=5)  # upper is sound either way
    for fac, want in ((1.05, Verdict.EQUIVALENT), (0.95, Verdict.NOT_EQUIVALENT)):
        r = verify(f, g, box, EpsEquivalence(d.lower * fac), method="milp", tighten=True)
        assert r.verdict is want
        assert "lp" in r.stats["bounds"]


def test_gaps_beyond_the_float_range_and_refused_models_do_not_raise():
    box = Box.cube(1)
    big = Network.affine([[1e308]]).deepen(1)
    neg = Network.affine([[-1e308]]).deepen(1)
    r = verify(big, neg, box, EpsEquivalence(1.0), method="milp")
    assert r.verdict is Verdict.NOT_EQUIVALENT
    assert r.counterexample.value > 10 ** 308 and r.lower == 1.7976931348623157e308
    assert "> 1.8e308" in r.counterexample.detail
    # HiGHS refuses coefficients above 1e15: an honest UNKNOWN, not an exception
    f = Network.from_weights([np.array([[1e300]]), np.array([[1.0]])])
    g = Network.from_weights([np.array([[1e300]]), np.array([[1.0 + 2 ** -52]])])
    r = verify(f, g, Box([-1e-300], [1e-300]), EpsEquivalence(1e-3), method="milp")
    assert r.verdict is not Verdict.NOT_EQUIVALENT
    if r.verdict is Verdict.UNKNOWN:
        assert r.stop_reason is StopReason.SOLVER_ERROR and "HiGHS" in r.reason


@pytest.mark.parametrize("method", ["milp", "smt"])
def test_outputs_subset(method):
    # output 0 differs by exactly 0.25 (a bias shift), output 1 by up to 2 * 3 = 6
    f = Network.affine([[1.0, 1.0], [1.0, -1.0]]).deepen(1)
    g = Network.affine([[1.0, 1.0], [-2.0, 2.0]], [0.25, 0.0]).deepen(1)
    box = Box.cube(2)
    r = verify(f, g, box, EpsEquivalence(0.26, outputs=[0]), method=method, time_limit=20)
    assert r.verdict is Verdict.EQUIVALENT, (r, r.reason)
    r = verify(f, g, box, EpsEquivalence(0.24, outputs=[0]), method=method, time_limit=20)
    assert r.verdict is Verdict.NOT_EQUIVALENT and r.counterexample.value == Fraction(1, 4)
    r = verify(f, g, box, EpsEquivalence(5.9), method=method, time_limit=20)
    assert r.verdict is Verdict.NOT_EQUIVALENT and r.counterexample.value > Fraction(5.9)


@pytest.mark.parametrize("method", ["milp", "smt"])
def test_crashed_backend_is_unknown_not_a_verdict(monkeypatch, method):
    from relucert.solvers import highs, z3_backend

    def boom(self, *a, **kw):
        raise RuntimeError("injected crash")

    monkeypatch.setattr(highs.HighsSolver if method == "milp" else z3_backend.Z3Solver,
                        "solve" if method == "milp" else "check", boom)
    f, g, box = _pair(noise=1e-3, sizes=(3, 8, 8, 1), seed=3)
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-7), method="bab", time_limit=5)  # upper is sound either way
    r = verify(f, g, box, EpsEquivalence(float(d.upper) * 1.001), method=method, time_limit=10)
    assert r.verdict is not Verdict.NOT_EQUIVALENT
    if r.verdict is Verdict.UNKNOWN:
        assert "injected crash" in r.reason and r.stop_reason is StopReason.SOLVER_ERROR
    else:
        assert r.soundness == "float-sound"


def test_false_infeasible_claim_is_not_a_proof(monkeypatch):
    from relucert.solvers import highs
    from relucert.solvers.base import MilpOutcome

    def liar(self, problem, **kw):
        return MilpOutcome(status="infeasible", stop_reason="injected", primal_value=None, primal_x=None,
                           input_x=None, dual_bound=-np.inf, gap=None, nodes=0, time_s=0.0, solver="highs")

    monkeypatch.setattr(highs.HighsSolver, "solve", liar)
    f, g, box = _pair(noise=1e-3, sizes=(3, 8, 8, 1), seed=3)
    d = verify(f, g, box, Distance(atol=1e-7, rtol=1e-7), method="bab", time_limit=5)  # upper is sound either way
    r = verify(f, g, box, EpsEquivalence(float(d.upper) * 1.001), method="milp", time_limit=10)
    if r.verdict is Verdict.EQUIVALENT:
        assert r.soundness == "float-sound"
    else:
        assert r.verdict is Verdict.UNKNOWN and "infeasible" in r.reason and r.upper >= d.lower
