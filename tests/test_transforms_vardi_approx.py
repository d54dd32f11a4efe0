"""vardi-approx (Vardi-Yehudai-Shamir Theorem 2): proved off its bad slabs, refuted on the full box."""

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, Network, transforms
from relucert.transforms.base import TransformError
from relucert.transforms.vardi_approx import paper_c0, paper_width
from relucert.verify.result import Verdict

ABS = Network([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])  # |x|
BOX = Box([-1.0], [1.0])


@pytest.fixture(scope="module")
def abs_c2():
    return transforms.apply("vardi-approx", ABS, BOX, c0=2)


def test_registered():
    assert "vardi-approx" in transforms.names() and "vardi-approx-sup" in transforms.names()
    assert transforms.get("vardi-approx-sup").known_bad


def test_claim_proved_off_bad_slabs_c0_1():
    new, claim = transforms.vardi_approx(ABS, BOX, c0=1)
    assert claim.kind == "eps-off-excluded" and len(claim.excluded) == 2 and claim.weights_exact
    res = transforms.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT


@pytest.mark.slow   # ~9-11 s wall on a loaded 2-core machine (exact 1D breakpoints of a depth-23 net)
def test_claim_proved_off_bad_slabs_c0_2(abs_c2):
    new, claim = abs_c2
    assert len(claim.excluded) == 4
    # the staircase has 4 cells of side 1/2 on [-1, 1]: worst error 1/2 (|x| at the top of a cell)
    assert 0.49 <= claim.eps <= 0.5
    res = transforms.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT


def test_staircase_values_on_good_cells(abs_c2):
    new, claim = abs_c2
    # good points: codes k = floor((u + delta/16) * 4), value 2^-4 floor(...) of the quantised |x|
    for x, want in [(-0.9, 1.0), (-0.25, 0.5), (0.1, 0.0), (0.7, 0.5)]:
        assert new.eval_exact([x])[0] == Fraction(want)


@pytest.mark.slow   # ~17-21 s wall on a loaded 2-core machine (exact 1D breakpoints of a depth-23 net)
def test_full_box_claim_refuted_with_exact_counterexample(abs_c2):
    new, claim = transforms.apply("vardi-approx-sup", ABS, BOX, c0=2)
    assert claim.kind == "eps-on-box" and claim.eps == abs_c2[1].eps
    res = transforms.check(new, claim)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    ce = res.counterexample
    gap = abs(ABS.eval_exact(ce.x)[0] - new.eval_exact(ce.x)[0])
    assert gap > Fraction(claim.eps)
    assert BOX.lo[0] <= float(ce.x[0]) <= BOX.hi[0]
    # the counterexample lies in one of the excluded bad slabs
    inside = [p for p in abs_c2[1].excluded if np.all(p.A @ np.array([float(ce.x[0])]) <= p.b)]
    assert inside


@pytest.mark.parametrize("d", [1, 2, 3])
def test_width_against_paper_formula(d):
    net = Network.random([d, 2, 1], seed=d)
    box = Box([-1.0] * d, [1.0] * d)
    new, claim = transforms.vardi_approx(net, box, c0=3)
    assert claim.formula["width"] == paper_width(d) == max(5 * d, 10)
    assert new.width <= paper_width(d)
    # encoder 5 per coordinate (Lemma 9), integer simulation 7 (Lemmas 10-12; paper: 10)
    assert new.width == max(5 * d, 7)
    assert len(claim.excluded) == 8 * d


def test_paper_c0_formula():
    # L = 2, A = 1, B = 1, n = 2, d = 1, eps = 0.1: 2L log2(5 * 2 / 0.1) = 4 log2(100) -> 27
    assert paper_c0(ABS, 1.0, 0.1) == 27
    _, claim = transforms.vardi_approx(ABS, BOX, c0=1)
    assert claim.info["c0_paper"] == 27 and claim.info["c0"] == 1


def test_errors():
    with pytest.raises(TransformError, match="needs a box"):
        transforms.vardi_approx(ABS)
    with pytest.raises(TransformError, match="eps must be > 0"):
        transforms.vardi_approx(ABS, BOX, eps=0.0)
    with pytest.raises(TransformError, match="c0 must be >= 1"):
        transforms.vardi_approx(ABS, BOX, c0=0)
    with pytest.raises(TransformError, match="encoder cells"):
        transforms.vardi_approx(ABS, BOX)  # the paper's c0 = 27 is far too large to build
    with pytest.raises(TransformError, match="single-output"):
        transforms.vardi_approx(Network.random([1, 2, 2], seed=0), BOX, c0=1)


@pytest.mark.slow   # ~10-13 s wall on a loaded 2-core machine (exact 1D breakpoints of a depth-23 net)
def test_claimed_eps_is_tight_off_the_slabs(abs_c2):
    # the slabs do not hide everything: a claim 10% below the staircase error is refuted on good cells
    import dataclasses

    new, claim = abs_c2
    tighter = dataclasses.replace(claim, eps=0.9 * claim.eps)
    res = transforms.check(new, tighter)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    x = np.array([float(res.counterexample.x[0])])
    assert not any(np.all(p.A @ x < p.b) for p in claim.excluded)  # not in a slab's interior
    assert abs(ABS.eval_exact(res.counterexample.x)[0] - new.eval_exact(res.counterexample.x)[0]) > Fraction(tighter.eps)


@pytest.mark.slow   # ~8-10 s wall on a loaded 2-core machine
def test_2d_proved_off_slabs_and_refuted_on_the_box():
    f = Network([(np.eye(2), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])  # relu(x1) + relu(x2)
    box = Box([0.0, 0.0], [1.0, 1.0])
    new, claim = transforms.vardi_approx(f, box, c0=1)
    assert new.n_inputs == 2 and len(claim.excluded) == 4 and claim.eps < 1.0
    assert new.eval_exact([0.75, 0.25])[0] == Fraction(1, 2)  # codes (1, 0): (k1 + k2) / 2
    assert transforms.check(new, claim).verdict is Verdict.EQUIVALENT
    new2, bad = transforms.apply("vardi-approx-sup", f, box, c0=1)
    res = transforms.check(new2, bad)
    assert res.verdict is Verdict.NOT_EQUIVALENT
    x = res.counterexample.x
    assert abs(f.eval_exact(x)[0] - new2.eval_exact(x)[0]) > Fraction(bad.eps)
