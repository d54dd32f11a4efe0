"""VNN-LIB 2.0 equivalence queries: hand-written files for every supported form, the standard's
examples, tied inputs and zero-width intervals, and the errors of unsupported constructs."""

from __future__ import annotations

import numpy as np
import pytest

from relucert import Box, DecisionEquivalence, EpsEquivalence, Network, Top1Equivalence
from relucert.errors import BoxError, ShapeError, SpecError
from relucert.io.vnnlib2 import read_query, read_vnnlib2
from relucert.vnncomp import solve_query

HEAD = """\
(vnnlib-version <2.0>)
(declare-network f
    (declare-input  X Real [1,3])
    (declare-output Y Real [2]))
(declare-network g
    (isomorphic-to f)
    (declare-input  X2 Real [1,3])
    (declare-output Y2 Real [2]))
"""
BOX = """\
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0)))
(assert (<= X[0,1] 0.5))
(assert (>= 0.5 X [0, 1]))
(assert (>= X[0,1] 0.5))
(assert (== X[0,2] 0.25))
(assert (== X2[0,0] X[0,0]))
(assert (== X[0,1] X2[0,1]))
(assert (== X2[0,2] X[0,2]))
"""
EPS = "(assert (or (> (- Y[0] Y2[0]) 0.05) (< (- Y[0] Y2[0]) -0.05) (> Y2[1] (+ Y[1] 0.05)) (< Y2[1] (- Y[1] 0.05))))\n"


def test_eps_bands_on_every_output_with_zero_width_intervals_and_tied_inputs():
    q = read_vnnlib2(HEAD + BOX + EPS)
    assert q.form == "eps" and q.names == ["f", "g"]
    assert q.box == Box([-1.0, 0.5, 0.25], [1.0, 0.5, 0.25])   # X[0,1] and X[0,2] are zero-width
    assert q.input_maps == ((0, 1, 2), (0, 1, 2))
    (part,) = q.parts
    assert isinstance(part.spec, EpsEquivalence) and part.spec.eps == 0.05
    assert (part.f_net, part.f_outputs, part.g_net, part.g_outputs) == (0, (0, 1), 1, (0, 1))
    assert q.networks[1].equiv == ("isomorphic-to", "f")
    assert q.warnings == []


def test_per_output_band_subset_and_different_eps_give_one_part_each():
    text = HEAD + BOX + "(assert (or (> (- Y2[1] Y[1]) 0.5) (< (- Y2[1] Y[1]) -0.5)))\n"
    (part,) = read_vnnlib2(text).parts
    assert part.f_outputs == (1,) and part.g_outputs == (1,) and part.spec.eps == 0.5
    text = HEAD + BOX + ("(assert (or (> (- Y[0] Y2[0]) 0.1) (< (- Y[0] Y2[0]) -0.1) "
                         "(>= (- Y[1] Y2[1]) 0.2) (<= (- Y[1] Y2[1]) -0.2)))\n")
    parts = read_vnnlib2(text).parts
    assert [(p.f_outputs, p.spec.eps) for p in parts] == [((0,), 0.1), ((1,), float(np.nextafter(0.2, 0)))]


def test_non_strict_violation_is_proved_with_the_float_just_below_eps():
    text = HEAD + BOX + "(assert (or (>= (- Y[0] Y2[0]) 0.05) (<= (- Y[0] Y2[0]) -0.05) " \
                        "(>= (- Y[1] Y2[1]) 0.05) (<= (- Y[1] Y2[1]) -0.05)))\n"
    (part,) = read_vnnlib2(text).parts
    assert part.spec.eps == float(np.nextafter(0.05, 0)) < 0.05


def test_permuted_ties_and_float_element_types():
    head = HEAD.replace("Real", "float32")
    box = ("(assert (and (>= X[0,0] 0) (<= X[0,0] 1)))\n(assert (and (>= X[0,1] 2) (<= X[0,1] 3)))\n"
           "(assert (and (>= X[0,2] 4) (<= X[0,2] 5)))\n"
           "(assert (== X2[0,0] X[0,2]))\n(assert (== X2[0,1] X[0,0]))\n(assert (== X2[0,2] X[0,1]))\n")
    q = read_vnnlib2(head + box + EPS)
    assert q.input_maps == ((0, 1, 2), (2, 0, 1))
    assert q.box == Box([0, 2, 4], [1, 3, 5])
    assert len(q.warnings) == 1 and "float32" in q.warnings[0]
    # g applied to the permuted shared input: f(x) = g(P x) exactly for g built that way
    f = Network.random([3, 6, 2], seed=3)
    P = np.zeros((3, 3))
    P[[0, 1, 2], [2, 0, 1]] = 1  # x2 = P x
    g = f.pre_affine(np.linalg.inv(P))  # g(x2) = f(P^-1 x2) = f(x)
    assert solve_query(q, {"f": f, "g": g}, time_limit=30).status == "unsat"


def test_untied_zero_width_inputs_of_both_networks_count_as_tied():
    box = ("(assert (and (>= X[0,0] -1) (<= X[0,0] 1)))\n(assert (== X2[0,0] X[0,0]))\n"
           "(assert (== X[0,1] 0.5))\n(assert (== X2[0,1] 0.5))\n(assert (== X[0,2] 0))\n(assert (== X2[0,2] 0.0))\n")
    q = read_vnnlib2(HEAD + box + EPS)
    assert q.input_maps[1] == (0, 1, 2) and q.box == Box([-1, 0.5, 0], [1, 0.5, 0])


def test_sup_norm_on_scalar_outputs_and_one_index_dimension():
    text = """(vnnlib-version 2.0)
(declare-network a (declare-input A Real [2]) (declare-output B Real []))
(declare-network b (declare-input C Real [2]) (declare-output D Real []))
(assert (and (<= -1 A[0]) (<= A[0] 1) (<= 0 A[1]) (<= A[1] 2) (== C[0] A[0]) (== C[1] A[1])))
(assert (or (> D (+ B 1e-3)) (< D (- B 1e-3))))
"""
    q = read_vnnlib2(text)
    assert q.version == "2.0" and q.form == "eps" and q.parts[0].spec.eps == 1e-3
    assert q.box == Box([-1, 0], [1, 2])


TOP1 = """\
(assert (or
  (and (>= Y[0] Y[1]) (> Y2[1] Y2[0]))
  (and (> Y[1] Y[0]) (>= Y2[0] Y2[1]))))
"""


def test_top1_agreement_with_ties_to_the_lowest_index():
    q = read_vnnlib2(HEAD + BOX + TOP1)
    assert q.form == "top1"
    (part,) = q.parts
    assert isinstance(part.spec, Top1Equivalence) and part.spec.margin == 0.0
    assert (part.f_net, part.g_net) == (0, 1)


def test_top1_with_margin_and_three_classes():
    q = read_vnnlib2(top1_query(3, margin=0.25))
    assert q.form == "top1" and q.parts[0].spec.margin == 0.25
    with pytest.raises(SpecError, match="not one of the forms"):  # class 2 missing
        read_vnnlib2(top1_query(3, margin=0.25).replace("(and (>= (- Y[2] Y[0]) 0.25) (>= (- Y[2] Y[1]) 0.25) "
                                                        "(> Y2[0] Y2[2]))", ""))


def top1_query(m: int, *, margin: float = 0.0, strict_low: bool = True) -> str:
    conj = []
    for i in range(m):
        if margin:
            region = " ".join(f"(>= (- Y[{i}] Y[{l}]) {margin})" for l in range(m) if l != i)
        else:
            region = " ".join(f"({'>' if l < i and strict_low else '>='} Y[{i}] Y[{l}])" for l in range(m) if l != i)
        for j in range(m):
            if j != i:
                conj.append(f"(and {region} (> Y2[{j}] Y2[{i}]))")
    return HEAD.replace("[2]", f"[{m}]") + BOX + "(assert (or " + " ".join(conj) + "))\n"


def test_top1_with_margin_zero_needs_strict_lower_indices():
    assert read_vnnlib2(top1_query(3)).parts[0].spec.margin == 0.0
    with pytest.raises(SpecError, match=r"top-1 with margin 0 and f_1 >= f_0: at a tie two classes win"):
        read_vnnlib2(top1_query(3, strict_low=False))
    # with two classes the non-strict file still has a sound reading: g's top class (ties low) against f
    bad = TOP1.replace("(> Y[1] Y[0])", "(>= Y[1] Y[0])")
    (part,) = read_vnnlib2(HEAD + BOX + bad).parts
    assert (part.f_net, part.g_net) == (1, 0)


DECISION_HEAD = HEAD.replace("[2]", "[1]")
DECISION = "(assert (or (and (>= Y[0] 0.6) (<= Y2[0] 0.25)) (and (<= Y[0] 0.4) (> Y2[0] 0.25))))\n"


def test_decision_thresholds():
    q = read_vnnlib2(DECISION_HEAD + BOX + DECISION)
    assert q.form == "decision"
    spec = q.parts[0].spec
    assert isinstance(spec, DecisionEquivalence) and spec.tau_g == 0.25
    from fractions import Fraction

    # the spec's regions contain the query's (sound): tau_f + gamma <= 0.6, tau_f - gamma >= 0.4
    assert Fraction(spec.tau_f) + Fraction(spec.gamma) <= Fraction(0.6)
    assert Fraction(spec.tau_f) - Fraction(spec.gamma) >= Fraction(0.4)
    assert abs(spec.tau_f - 0.5) < 1e-15 and abs(spec.gamma - 0.1) < 1e-15


def test_decision_needs_a_strict_g_in_the_low_branch():
    with pytest.raises(SpecError, match=r"write \(> g tau_g\)"):
        read_vnnlib2(DECISION_HEAD + BOX + DECISION.replace("(> Y2[0] 0.25)", "(>= Y2[0] 0.25)"))


def test_the_safe_band_is_read_as_asserted_and_warned_about():
    band = "(assert (and (<= Y2[0] (+ Y[0] 0.05)) (>= Y2[0] (- Y[0] 0.05)) (<= Y2[1] (+ Y[1] 0.05)) " \
           "(>= Y2[1] (- Y[1] 0.05))))\n"
    q = read_vnnlib2(HEAD + BOX + band)
    assert q.form == "band" and q.parts == () and q.inverted
    assert len(q.warnings) == 1 and q.warnings[0].startswith("the query looks inverted")
    f = Network.random([3, 6, 2], seed=1)
    out = solve_query(q, {"f": f, "g": f}, time_limit=10)
    # standard reading: a point inside the band exists (f = g there), so sat, and it is not a verdict
    assert out.status == "sat" and out.verdict == "UNKNOWN"
    ok, _ = out_check(q, f, f, out.x)
    assert ok
    g = f.post_affine(np.eye(2), [1.0, 0.0])  # g = f + 1 on output 0: the band holds nowhere
    out = solve_query(q, {"f": f, "g": g}, time_limit=10)
    assert out.status == "unknown" and "inverted" in out.reason


def out_check(q, f, g, x):
    return q.bind({"f": f, "g": g}).check(x)


def test_equal_to_network_needs_no_second_model():
    text = HEAD.replace("(isomorphic-to f)", "(equal-to f)") + BOX + EPS
    q = read_vnnlib2(text)
    f = Network.random([3, 5, 2], seed=9)
    out = solve_query(q, {"f": f}, time_limit=10)
    assert out.status == "unsat"


def test_the_standards_isomorphic_example():
    # the standard's figure: two networks g (isomorphic-to f) of shape [1,10] -> [1,2]
    text = """(vnnlib-version <2.0>)
(declare-network f
    (declare-input  A float32 [1,10])
    (declare-output B float32 [1,2])
)
(declare-network g
    (isomorphic-to f)
    (declare-input  C float32 [1,10])
    (declare-output D float32 [1,2])
)
""" + "".join(f"(assert (>= A[0,{i}] 0.0))\n(assert (<= A[0,{i}] 1.0))\n(assert (== C[0,{i}] A[0,{i}]))\n"
              for i in range(10)) + \
        "(assert (or (> (- B[0,0] D[0,0]) 0.1) (< (- B[0,0] D[0,0]) -0.1) (> (- B[0,1] D[0,1]) 0.1) " \
        "(< (- B[0,1] D[0,1]) -0.1)))\n"
    q = read_vnnlib2(text)
    assert q.box == Box.cube(10, 0.0, 1.0) and q.parts[0].spec.eps == 0.1
    assert q.networks[0].input.element(7) == "A[0,7]"


def test_one_network_difference_and_stacked_queries():
    text = """(vnnlib-version <2.0>)
(declare-network d (declare-input X Real [2]) (declare-output D Real [2]))
(assert (and (>= X[0] 0) (<= X[0] 1) (>= X[1] 0) (<= X[1] 1)))
(assert (or (> D[0] 0.01) (< D[0] -0.01) (> D[1] 0.01) (< D[1] -0.01)))
"""
    (part,) = read_vnnlib2(text).parts
    assert part.g_net is None and part.f_outputs == (0, 1)
    text = text.replace("D Real [2]", "D Real [4]").replace(
        "(assert (or (> D[0] 0.01) (< D[0] -0.01) (> D[1] 0.01) (< D[1] -0.01)))",
        "(assert (or (> (- D[0] D[2]) 0.01) (< (- D[0] D[2]) -0.01) (> (- D[1] D[3]) 0.01) (< (- D[1] D[3]) -0.01)))")
    (part,) = read_vnnlib2(text).parts
    assert (part.f_net, part.f_outputs, part.g_net, part.g_outputs) == (0, (0, 1), 0, (2, 3))


def test_a_file_on_disk_and_auto_detection(tmp_path):
    p = tmp_path / "q.vnnlib"
    p.write_text(HEAD + BOX + EPS)
    assert read_query(p).form == "eps" and read_query(str(p)).where == str(p)


ERRORS = [
    # (replace what, with what, error class, message regex)
    (EPS, "(assert (or (> (- Y[0] Y2[0]) 0.05) (> (- Y[1] Y2[1]) 0.05)))\n", SpecError,
     r"^<text>:17: one-sided band on Y\[0\] - Y2\[0\]: relucert decides two-sided bands"),
    (EPS, "(assert (or (> (- Y[0] Y2[0]) 0.05) (< (- Y[0] Y2[0]) -0.1)))\n", SpecError,
     r"the two sides of the band on Y\[0\] - Y2\[0\] differ"),
    (EPS, "(assert (<= (* Y[0] Y2[0]) 1))\n", SpecError, r":17: product of two variables: only linear"),
    (EPS, "(assert (!= Y[0] Y2[0]))\n", SpecError, r":17: '!=' is not supported"),
    (EPS, "(assert (<= Y[0] Z[0]))\n", SpecError, r":17: unknown variable 'Z' \(declared: X, Y, X2, Y2\)"),
    (EPS, "(assert (<= Y[2] 1))\n", SpecError, r":17: Y\[2\] is out of range for shape \[2\]"),
    (EPS, "(assert (<= Y 1))\n", SpecError, r":17: Y has shape \[2\]: write Y\[i,...\]"),
    (EPS, "(assert (<= (+ X[0,0] Y[0]) 1))\n", SpecError, r":17: constraints mixing inputs and outputs"),
    (EPS, "(assert (not (<= Y[0] 1)))\n", SpecError, r":17: 'not' is not supported"),
    (EPS, "(assert (<= Y[0] Y2[0]))\n", SpecError, r":17: the output constraint is not one of the forms"),
    ("(assert (== X2[0,2] X[0,2]))\n", "", SpecError,
     r":7: input X2\[0,2\] of 'g' is not tied to an input of 'f'.*add \(assert \(== X2\[0,2\] X\[0,2\]\)\)"),
    ("(assert (== X2[0,2] X[0,2]))\n", "(assert (<= X2[0,2] X[0,2]))\n", SpecError,
     r":16: a one-sided comparison of two inputs is not a box"),
    ("(assert (== X[0,2] 0.25))\n", "(assert (or (<= X[0,2] 0) (>= X[0,2] 1)))\n", SpecError,
     r":13: disjunctive input constraints \(or\) are not a box"),
    ("(assert (== X[0,2] 0.25))\n", "(assert (<= X[0,2] 0.25))\n", BoxError,
     r":3: input X\[0,2\] of 'f' has no lower bound"),
    ("(assert (== X[0,2] 0.25))\n", "(assert (<= (+ X[0,2] X[0,1]) 0.25))\n", SpecError,
     r":13: unsupported constraint on inputs"),
    ("(assert (>= X[0,1] 0.5))\n", "(assert (>= X[0,1] 0.75))\n", BoxError, r"input X\[0,1\] has an empty range"),
    ("    (isomorphic-to f)\n", "    (isomorphic-to h)\n", SpecError,
     r":6: isomorphic-to names 'h', which is not declared before it"),
    ("    (declare-output Y Real [2]))", "    (declare-hidden H Real [4] \"h\")\n    (declare-output Y Real [2]))",
     SpecError, r":4: declare-hidden is not supported"),
    ("(declare-input  X2 Real [1,3])", "(declare-input  X2 int8 [1,3])", SpecError,
     r":7: element type int8 is not supported"),
    ("(declare-input  X2 Real [1,3])", "(declare-input  X Real [1,3])", SpecError,
     r":5: variable name 'X' is used twice"),
    ("(vnnlib-version <2.0>)", "(vnnlib-version <1.0>)", SpecError, r":1: this reader reads VNN-LIB 2.x"),
    ("(vnnlib-version <2.0>)", "(declare-const X_0 Real)", SpecError, r":1: declare-const is VNN-LIB 1.0"),
    ("(declare-input  X2 Real [1,3])", "(declare-input  X2 Real [1,3)", SpecError, r":7: unterminated shape"),
    ("(declare-input  X2 Real [1,3])", "(declare-input  X2 Real [1,4])", SpecError,
     r":5: isomorphic-to 'f': shapes differ"),
]


@pytest.mark.parametrize("old,new,exc,pattern", ERRORS, ids=[e[3][:40] for e in ERRORS])
def test_unsupported_constructs_name_the_line(old, new, exc, pattern):
    text = HEAD + BOX + EPS
    assert old in text
    with pytest.raises(exc, match=pattern):
        read_vnnlib2(text.replace(old, new, 1))


def test_three_networks_and_untied_two_network_queries_are_refused():
    third = "(declare-network h (declare-input X3 Real [1,3]) (declare-output Y3 Real [2]))\n"
    with pytest.raises(SpecError, match=r":9: relucert decides queries over one or two networks, got 3"):
        read_vnnlib2(HEAD + third + BOX + EPS)
    # the standard's multiple-networks test file: boxes split across two untied networks
    text = """(vnnlib-version <2.0>)
(declare-network AcasXu (declare-input A Real [5]) (declare-output B Real [5]))
(declare-network AcasYu (declare-input C Real [5]) (declare-output D Real [5]))
(assert (<= A[0] 0.679857769))
(assert (>= A[0] 0.6))
(assert (<= C[1] 0.5))
(assert (>= C[1] -0.5))
(assert (>= D[0] 3.991125645861615))
"""
    with pytest.raises(SpecError, match=r"input C\[0\] of 'AcasYu' is not tied to an input of 'AcasXu'"):
        read_vnnlib2(text)


def test_binding_checks_the_models():
    q = read_vnnlib2(HEAD + BOX + EPS)
    f = Network.random([3, 4, 2], seed=0)
    with pytest.raises(SpecError, match=r"no model given for network 'g' \(declared on line 5\)"):
        q.bind({"f": f})
    with pytest.raises(ShapeError, match=r":4: network 'f' declares 2 outputs \(shape \[2\]\) but its model has 3"):
        q.bind({"f": Network.random([3, 4, 3], seed=0), "g": f})
    with pytest.raises(SpecError, match=r"declares no network named 'h'"):
        q.bind({"f": f, "g": f, "h": f})
    b = q.bind({"f": f, "g": Network.random([3, 5, 2], seed=1)})
    assert any("isomorphic-to" in w for w in b.warnings)


def test_the_standards_single_network_acc_example_is_refused_at_its_linear_input_constraint():
    # VNNLIB-Standard test/acc.vnnlib (2.0 syntax): a safety property with a linear input constraint
    text = """(vnnlib-version <2.0>)
(declare-network acc (declare-input X Real [3]) (declare-output Y Real []))
(assert (<= (* -1.0 X[0]) 0.0))
(assert (<= X[0] 50.0))
(assert (<= (* -1.0 X[1]) 50.0))
(assert (<= X[1] 50.0))
(assert (<= (* -1.0 X[2]) 0.0))
(assert (<= X[2] 150.0))
(assert (<= (+ (* -1.5 X[1]) X[2]) -15.0))
(assert (or (<= Y -3.0) (>= Y 0.0)))
"""
    with pytest.raises(SpecError, match=r"^<text>:9: unsupported constraint on inputs"):
        read_vnnlib2(text)
    # without the linear constraint the box is read (scaled bounds); the output property is read as
    # the nearest form (a band of the single output around 0) and refused for its asymmetry
    with pytest.raises(SpecError, match=r"^<text>:9: the two sides of the band on Y differ"):
        read_vnnlib2(text.replace("(assert (<= (+ (* -1.5 X[1]) X[2]) -15.0))\n", ""))


def test_the_standards_equal_to_example_needs_a_valid_name():
    text = """(vnnlib-version <2.0>)
(declare-network f
    (declare-input  A float32 [1,10])
    (declare-output B float32 [1,2]))
(declare-network f-copy
    (equal-to f)
    (declare-input  C float32 [1,10])
    (declare-output D float32 [1,2]))
"""
    with pytest.raises(SpecError, match=r"^<text>:5: network name 'f-copy' must start with a letter"):
        read_vnnlib2(text)
