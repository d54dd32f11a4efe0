"""method="auto": structural rewrites need no solver, eps = 0 is decided exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import relucert
from relucert.verify import api
from relucert import Box, DecisionEquivalence, EpsEquivalence, Network, Top1Equivalence, Verdict, verify
from relucert.cli import main
from relucert.examples import example_pairs, permute_hidden, prune_smallest, small_regressor, tent, xor_classifier


def test_permutation_and_deepen_are_structural():
    f = small_regressor()
    for g in (permute_hidden(f, seed=3), f.deepen(2), permute_hidden(f).deepen(1)):
        res = relucert.verify(f, g, Box.cube(2), EpsEquivalence(0.0))
        assert str(res.verdict) == "EQUIVALENT"
        assert res.method == "structural" and res.soundness == "exact"
        assert (res.lower, res.upper) == (0.0, 0.0)


def test_structural_top1_and_decision():
    f = xor_classifier()
    g = permute_hidden(f)
    assert relucert.verify(f, g, Box.cube(2), Top1Equivalence()).method == "structural"
    # tau_g inside f's margin band: implied by f == g
    res = relucert.verify(f, g, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=0.1))
    assert res.method == "structural" and str(res.verdict) == "EQUIVALENT"
    # tau_g outside the band: f == g does not imply it; a solver must decide (and refute it)
    res = relucert.verify(f, g, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.5, gamma=0.1))
    assert res.method != "structural"
    assert str(res.verdict) == "NOT_EQUIVALENT"


def test_eps_zero_in_1d_goes_to_exact_regions():
    f = tent()
    # the tent as relu(1 - |2x - 1|), two hidden layers: the same function on R, not a structural rewrite
    g = Network([(np.array([[2.0], [-2.0]]), [-1.0, 1.0]), (np.array([[-1.0, -1.0]]), [1.0]),
                 (np.array([[1.0]]), [0.0])])
    res = relucert.verify(f, g, Box([-1.0], [2.0]), EpsEquivalence(0.0))
    assert str(res.verdict) == "EQUIVALENT" and res.soundness == "exact"
    assert res.method.startswith("regions")
    # a bias nudged by 2**-40 is refuted exactly
    h = Network([(np.array([[2.0], [-2.0]]), [-1.0, 1.0]), (np.array([[-1.0, -1.0]]), [1.0]),
                 (np.array([[1.0]]), [2.0**-40])])
    res = relucert.verify(f, h, Box([-1.0], [2.0]), EpsEquivalence(0.0))
    assert str(res.verdict) == "NOT_EQUIVALENT"
    ce = res.counterexample
    assert abs(f.eval_exact(ce.x)[0] - h.eval_exact(ce.x)[0]) == Fraction(2) ** -40


def test_eps_zero_in_3d_goes_to_z3():
    f = small_regressor((3, 4, 1), seed=5)
    g = f.deepen(1)
    # break the structure so no structural proof applies: split one output weight in two exact halves
    L = g.layers[-1]
    W = np.hstack([L.weight, np.zeros((1, 1))])
    prev = g.layers[-2]
    Wp = np.vstack([prev.weight, prev.weight[:1] * 0.0])
    g2 = Network(list(g.layers[:-2]) + [(Wp, np.concatenate([prev.bias, [0.0]])), (W, L.bias)])
    res = relucert.verify(f, g2, Box.cube(3), EpsEquivalence(0.0), time_limit=60)
    assert str(res.verdict) == "EQUIVALENT" and res.soundness == "exact"
    res = relucert.verify(f, prune_smallest(f), Box.cube(3), EpsEquivalence(0.0), time_limit=60)
    assert str(res.verdict) == "NOT_EQUIVALENT"


def test_regions_method_on_request():
    f = small_regressor((2, 6, 1), seed=1)
    res = relucert.verify(f, prune_smallest(f), Box.cube(2), EpsEquivalence(1e-3), method="regions")
    assert str(res.verdict) == "NOT_EQUIVALENT"
    x = res.counterexample.x
    assert abs(f.eval_exact(x)[0] - prune_smallest(f).eval_exact(x)[0]) > Fraction(1, 1000)


def test_examples_reach_their_expected_verdicts():
    for pair in example_pairs():
        res = relucert.verify(pair.f, pair.g, pair.box, EpsEquivalence(pair.eps), time_limit=60)
        assert str(res.verdict) == pair.expected, pair.name


def test_demo_command(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "all verdicts as expected" in out and "UNEXPECTED" not in out


def test_eps_zero_on_a_degenerate_box():
    f = small_regressor((2, 5, 1), seed=2)
    g = prune_smallest(f)
    box = Box([0.25, -1.0], [0.25, 1.0])  # zero width in input 0: no region cells, z3 decides
    res = relucert.verify(f, g, box, EpsEquivalence(0.0), time_limit=60)
    assert str(res.verdict) == "NOT_EQUIVALENT"
    x = res.counterexample.x
    assert x[0] == Fraction(1, 4) and f.eval_exact(x) != g.eval_exact(x)


def test_identical_nets_do_not_prove_a_decision_claim_with_zero_margin():
    # found by tests/test_fuzz_classifiers.py: with gamma = 0, f(x) = tau_f = 0 must give g(x) > 0,
    # which fails for g = f wherever f(x) = 0; the identical-weights shortcut used to say EQUIVALENT
    f = Network.affine([[1.0]])
    for method in ("auto", "milp", "smt"):
        res = relucert.verify(f, f, Box([-1.0], [1.0]), DecisionEquivalence(gamma=0.0), method=method)
        assert str(res.verdict) == "NOT_EQUIVALENT", method
        assert f.eval_exact(res.counterexample.x) == [Fraction(0)]


def _vardi_narrow_pair():
    from relucert import transforms
    from relucert.examples import small_regressor

    net = small_regressor((2, 8, 1), seed=8)
    box = Box.cube(2, -1.0, 1.0)
    new, claim = transforms.apply("vardi-narrow", net, box)
    return (claim.reference if claim.reference is not None else net), new, box


@pytest.mark.parametrize("eps, last", [(1e-3, "milp-highs"), (1e-6, "milp-highs"), (1e-8, "regions")])
def test_auto_portfolio_settles_an_exact_rewrite_bab_alone_cannot(eps, last):
    """A deep narrow rewrite of a shallow net (different shapes, so no differential bounds):
    BaB with separate bounds stalls (the compare suite saw it stop at 1.4e-3 after 20 s); auto
    gives a pair this small (53 ReLUs) to the MILP first (it proves 1e-6: safety margin 8.8e-7 with
    16 binaries) and, below the MILP's safety margin, to the exact region comparison."""
    f, g, box = _vardi_narrow_pair()
    assert f.sizes != g.sizes and f.n_relus + g.n_relus <= api.PORTFOLIO_MILP_FIRST_RELUS
    res = verify(f, g, box, EpsEquivalence(eps), time_limit=4)
    assert res.verdict is Verdict.EQUIVALENT
    assert res.method == f"auto:{last}"
    phases = [p["method"] for p in res.stats["portfolio"]]
    assert phases == (["milp-highs"] if last == "milp-highs" else ["milp-highs", "regions-exact"])
    assert 0.0 <= res.upper <= eps


def test_auto_portfolio_on_a_larger_pair_starts_with_bab_then_milp():
    from relucert import transforms
    from relucert.examples import small_regressor

    net = small_regressor((2, 40, 1), seed=3)
    box = Box.cube(2, -1.0, 1.0)
    g, claim = transforms.apply("vardi-narrow", net, box)
    f = claim.reference if claim.reference is not None else net
    assert f.n_relus + g.n_relus > api.PORTFOLIO_MILP_FIRST_RELUS
    res = verify(f, g, box, EpsEquivalence(1e-3), time_limit=8)
    phases = [p["method"] for p in res.stats["portfolio"]]
    assert phases[:2] == ["bab-crown-stacked", "milp-highs"]     # (then the region comparison)
    assert res.verdict is Verdict.EQUIVALENT and res.upper <= 1e-3


def test_auto_portfolio_in_one_dimension_starts_with_the_exact_breakpoints():
    from relucert import transforms
    from relucert.examples import small_regressor

    net = small_regressor((1, 8, 8, 1), seed=8)
    box = Box.cube(1, -1.0, 1.0)
    g, claim = transforms.apply("arora-1d", net, box)
    f = claim.reference if claim.reference is not None else net
    res = verify(f, g, box, EpsEquivalence(1e-9), time_limit=10)
    assert res.verdict is Verdict.EQUIVALENT and res.method == "auto:regions" and res.soundness == "exact"
    assert [p["method"] for p in res.stats["portfolio"]] == ["regions-exact"]
    bad = Network.from_weights(g.weights, [b + (0.01 if i == len(g.biases) - 1 else 0) for i, b in
                                           enumerate(np.array(b, float) for b in g.biases)])
    res = verify(f, bad, box, EpsEquivalence(0.005), time_limit=10)
    assert res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample.value > Fraction(1, 200)


def test_auto_portfolio_on_a_shifted_rewrite_proves_and_refutes():
    f, g, box = _vardi_narrow_pair()
    biases = [np.array(b, dtype=float) for b in g.biases]
    biases[-1][0] += 0.25                          # |f - g2| = 1/4 everywhere (up to float rounding)
    g2 = Network.from_weights(g.weights, biases)
    res = verify(f, g2, box, EpsEquivalence(0.3), time_limit=4)
    assert res.verdict is Verdict.EQUIVALENT and res.upper <= 0.3
    res = verify(f, g2, box, EpsEquivalence(0.2), time_limit=4)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    assert res.counterexample.value > Fraction(1, 5)


def test_verify_runs_blas_on_one_thread_and_restores_it(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return sorted({i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"})

    seen, inner = [], api._verify

    def spy(*args, **kw):
        seen.append(blas_threads())
        return inner(*args, **kw)

    monkeypatch.setattr(api, "_verify", spy)
    f = small_regressor((3, 16, 16, 1), seed=1)
    g = prune_smallest(f, 0)
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == [2]                # numpy's bundled OpenBLAS
        res = verify(f, g, Box.cube(3), EpsEquivalence(10.0))
        assert blas_threads() == [2]                # restored after the call
        monkeypatch.setattr(api, "BLAS_THREADS", None)
        verify(f, g, Box.cube(3), EpsEquivalence(10.0))
    assert res.verdict is Verdict.EQUIVALENT
    assert seen == [[1], [2]]                       # one thread inside; None leaves BLAS alone
