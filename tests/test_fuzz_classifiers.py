"""Differential fuzzing of the classifier specs (top-1 and decision), next to the eps specs of
tests/test_fuzz_engines.py.

For generated classifier pairs and boxes every engine runs, and: every counterexample violates
the spec under exact evaluation; no engine says EQUIVALENT where another found a valid
counterexample; no dense exact sample contradicts an EQUIVALENT.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucert import Box, DecisionEquivalence, Network, Top1Equivalence
from relucert.verify import Verdict, verify

from test_fuzz_engines import boxes, dense_points, exact_eval, networks, nudge

F = Fraction
_SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _argmax(v):
    best = 0
    for j in range(1, len(v)):
        if v[j] > v[best]:
            best = j
    return best


def violates(spec, f, g, x) -> bool:
    fy, gy = exact_eval(f, x), exact_eval(g, x)
    if isinstance(spec, Top1Equivalence):
        i = _argmax(fy)
        if any(fy[i] - fy[j] < F(spec.margin) for j in range(len(fy)) if j != i):
            return False
        return _argmax(gy) != i
    tf, tg, gm = F(spec.tau_f), F(spec.tau_g), F(spec.gamma)
    return (fy[0] >= tf + gm and gy[0] <= tg) or (fy[0] <= tf - gm and gy[0] > tg)


@st.composite
def classifier_cases(draw):
    kind = draw(st.sampled_from(["top1", "decision"]))
    n_out = draw(st.integers(2, 3)) if kind == "top1" else 1
    f = draw(networks(n_in=draw(st.integers(1, 2)), n_out=n_out))
    g = draw(st.sampled_from(["same", "nudge", "other"]))
    if g == "same":
        g = f
    elif g == "nudge":
        g = nudge(f, draw(st.integers(0, 3)), draw(st.sampled_from([0.5, -0.25, 2.0**-20])))
    else:
        g = draw(networks(n_in=f.n_inputs, n_out=n_out))
    box = draw(boxes(f.n_inputs))
    if kind == "top1":
        spec = Top1Equivalence(margin=draw(st.sampled_from([0.0, 0.25, 1.0])))
    else:
        spec = DecisionEquivalence(tau_f=draw(st.sampled_from([0.0, 0.5])), tau_g=draw(st.sampled_from([0.0, 0.5])),
                                   gamma=draw(st.sampled_from([0.0, 0.125, 1.0])))
    return f, g, box, spec


def run_case(f: Network, g: Network, box: Box, spec):
    results = {}
    for method in ("auto", "milp", "smt"):
        res = verify(f, g, box, spec, method=method, time_limit=5.0)
        results[method] = res
        if res.verdict is Verdict.NOT_EQUIVALENT:
            x = res.counterexample.x
            assert box.contains(x), (method, x)
            assert violates(spec, f, g, x), (method, "counterexample does not violate the spec exactly")
    refuted = [m for m, r in results.items() if r.verdict is Verdict.NOT_EQUIVALENT]
    proved = [m for m, r in results.items() if r.verdict is Verdict.EQUIVALENT]
    assert not (refuted and proved), (refuted, proved)
    if proved:
        for x in dense_points(box, n_random=30):
            assert not violates(spec, f, g, x), (proved, x)
    return results


@settings(max_examples=25, **_SETTINGS)
@given(classifier_cases())
def test_classifier_engines_agree_and_never_lie(case):
    run_case(*case)


def test_known_top1_refutation():
    # f picks class 0 on x < 0 and class 1 on x > 0; g swaps at x = 1/2
    f = Network.affine([[-1.0], [1.0]])
    g = Network.affine([[-1.0], [1.0]], [0.5, -0.5])
    res = run_case(f, g, Box([-1.0], [1.0]), Top1Equivalence(margin=0.25))
    assert all(r.verdict is Verdict.NOT_EQUIVALENT for r in res.values())
    # with a margin of 1.5 the disagreement band |x| < 1/4 is excluded ... f leads by 2|x| >= 1.5
    res = run_case(f, g, Box([-1.0], [1.0]), Top1Equivalence(margin=1.5))
    assert any(r.verdict is Verdict.EQUIVALENT for r in res.values())
