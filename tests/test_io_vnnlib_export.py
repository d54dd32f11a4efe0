"""VNN-LIB 1.0 disjunctive properties, and writing relucert queries: VNN-LIB 2.0 + two ONNX files,
and the classic product form (f - g or [f, g] with a 1.0 property).  Exported queries read back
give the same verdict as relucert.verify; the product ONNX matches f - g under onnx's reference
evaluator."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, DecisionEquivalence, EpsEquivalence, Network, Top1Equivalence, verify
from relucert.errors import BoxError, SpecError
from relucert.io import load, read_vnnlib_box
from relucert.io.query_export import export_query, number, vnnlib1_text, vnnlib2_text
from relucert.io.vnnlib import read_vnnlib_property
from relucert.io.vnnlib2 import read_query
from relucert.vnncomp import solve_query

PROP = """\
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1)) (assert (<= X_0 1))
(assert (and (>= X_1 0) (<= X_1 0.5)))
(assert (or (and (>= Y_0 0.05)) (and (<= Y_0 -0.05))
            (and (> (- Y_1 Y_0) 1e-2) (<= Y_1 3))))
"""


def test_disjunctive_output_constraints_of_a_1_0_property():
    p = read_vnnlib_property(PROP)
    assert p.box == Box([-1, 0], [1, 0.5]) == read_vnnlib_box(PROP)
    assert p.n_outputs == 2 and len(p.disjuncts) == 3 and [len(c) for c in p.disjuncts] == [1, 1, 2]
    assert p.holds([0.05, 0]) and p.holds([-0.06, -1]) and not p.holds([0.0, 0.0])
    assert p.holds([0, 0.02]) and not p.holds([0, 3.5]) and not p.holds([0, 0.01])   # strict > on 0.01
    assert p.holds([Fraction(1, 20), 0]) is False  # the constant is the float64 nearest 0.05, above 1/20


@pytest.mark.parametrize("text,pattern", [
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 0))\n(assert (not (<= Y_0 1)))",
     r"<text>:2: 'not' is not supported"),
    ("(declare-const X_0 Real)(declare-const Y_1 Real)(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= Y_1 1))",
     r"<text>:1: outputs must be Y_0 .. Y_0; Y_0 is missing"),
    ("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))(assert (>= X_0 0))\n(assert (<= Y_0 Y_3))",
     r"<text>:2: Y_3 is used before it is declared"),
])
def test_1_0_property_errors(text, pattern):
    with pytest.raises(SpecError, match=pattern):
        read_vnnlib_property(text)


def test_numbers_read_back_exactly_in_the_grammars_syntax():
    for v in [0.1, -0.5, 1e-05, 1e20, 5e-324, 0.0, -0.0, 123456789.125, 2.0**-30, 1 / 3]:
        s = number(v)
        assert float(s) == v and "." in s.split("e")[0] and "+" not in s


@pytest.fixture(scope="module")
def pair():
    f = Network.random([3, 8, 6, 3], seed=11, name="f")
    # g: f with its last bias moved by a known amount, so sup |f - g| is 0.03 on output 1 exactly
    L = list(f.layers)
    last = L[-1]
    g = Network(L[:-1] + [(last.weight, last.bias + np.array([0.0, 0.03, -0.01]))], name="g")
    return f, g


BOX = Box([-1.0, 0.25, 0.0], [1.0, 0.25, 0.5])   # one zero-width coordinate


def same_verdict(res, out):
    return {"EQUIVALENT": "unsat", "NOT_EQUIVALENT": "sat"}[str(res.verdict)] == out.status


@pytest.mark.parametrize("eps,outputs,expected", [(0.05, None, "unsat"), (0.02, None, "sat"), (0.02, [0, 2], "unsat"),
                                                  (0.0, [2], "sat")])
def test_exported_eps_queries_read_back_with_the_same_verdict(pair, tmp_path, eps, outputs, expected):
    f, g = pair
    spec = EpsEquivalence(eps, outputs=outputs)
    res = verify(f, g, BOX, spec, time_limit=30)
    paths = export_query(f, g, BOX, spec, tmp_path, forms=("vnnlib2", "difference", "stack"), timeout=60)
    for key, models in (("vnnlib2", {"f": load(paths["f_onnx"]), "g": load(paths["g_onnx"])}),
                        ("difference_vnnlib", {"N": load(paths["difference_onnx"])}),
                        ("stack_vnnlib", {"N": load(paths["stack_onnx"])})):
        q = read_query(paths[key])
        assert q.box == BOX
        out = solve_query(q, models, time_limit=30)
        assert out.status == expected and same_verdict(res, out), (key, out.reason)
        if out.status == "sat":
            # the counterexample satisfies the query exactly and really violates the spec
            xs = out.x
            d = [abs(a - b) for a, b in zip(f.eval_exact(xs), g.eval_exact(xs))]
            ks = outputs or range(3)
            assert max(d[k] for k in ks) > Fraction(eps)


def test_exported_top1_and_decision_queries(pair, tmp_path):
    f, g = pair
    # identical networks: unsat (proved); g shifted on class 0: the argmax flips somewhere in a big box
    for spec in (Top1Equivalence(margin=0.0), Top1Equivalence(margin=0.5)):
        text = vnnlib2_text(spec, BOX, n_outputs=3)
        q = read_query(text)
        assert q.form == "top1" and q.parts[0].spec == spec
        assert solve_query(q, {"f": f, "g": f}, time_limit=30).status == "unsat"
        q1 = read_query(vnnlib1_text(spec, BOX, n_outputs=3, form="stack"))
        assert q1.form == "top1" and q1.parts[0].spec == spec
    shifted = f.post_affine(np.eye(3), [-100.0, 0.0, 0.0])
    big = Box.cube(3, -3.0, 3.0)
    out = solve_query(read_query(vnnlib2_text(Top1Equivalence(), big, n_outputs=3)), {"f": f, "g": shifted},
                      time_limit=30)
    if out.status == "sat":
        fy, gy = f.eval_exact(out.x), shifted.eval_exact(out.x)
        assert fy.index(max(fy)) != gy.index(max(gy))
    else:  # f never picks class 0 on the box: then the shift changes nothing
        assert all(np.argmax(f(big.sample(2000, np.random.default_rng(0))), axis=1) != 0)
    h = f.slice_outputs([0])
    spec = DecisionEquivalence(tau_f=0.1, tau_g=0.3, gamma=0.05)
    q = read_query(vnnlib2_text(spec, BOX, n_outputs=1))
    p = q.parts[0].spec
    assert q.form == "decision" and (p.tau_f, p.tau_g, p.gamma) == (0.1, 0.3, 0.05)
    q1 = read_query(vnnlib1_text(spec, BOX, n_outputs=1, form="stack"))
    assert q1.form == "decision" and q1.parts[0].spec == p
    # h against h + 1: h >= 0.15 somewhere with h + 1 > 0.3 ... a counterexample needs h <= 0.05 with h+1 > 0.3
    out = solve_query(q, {"f": h, "g": h.post_affine([[1.0]], [1.0])}, time_limit=30)
    if out.status == "sat":
        assert bool(q.bind({"f": h, "g": h.post_affine([[1.0]], [1.0])}).check(out.x)[0])


def test_product_onnx_matches_f_minus_g_under_the_reference_evaluator(pair, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    f, g = pair
    paths = export_query(f, g, BOX, EpsEquivalence(0.05), tmp_path, forms=("difference", "stack"))
    X = np.random.default_rng(5).uniform(-1, 1, size=(50, 3))
    for key, want in (("difference_onnx", f(X) - g(X)), ("stack_onnx", np.hstack([f(X), g(X)]))):
        model = onnx.load(str(paths[key]))
        sess = ReferenceEvaluator(model)
        name = model.graph.input[0].name
        dtype = np.float64 if model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE else np.float32
        got = np.vstack([sess.run(None, {name: x[None, :].astype(dtype)})[0] for x in X])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_export_files_and_instances_row(pair, tmp_path):
    f, g = pair
    paths = export_query(f, g, BOX, EpsEquivalence(0.05), tmp_path, name="acas1", timeout=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acas1.vnnlib", "acas1_f.onnx", "acas1_g.onnx",
                                                         "acas1_instances.csv"]
    assert paths["instances"].read_text() == "f=acas1_f.onnx;g=acas1_g.onnx,acas1.vnnlib,30\n"
    text = paths["vnnlib2"].read_text()
    assert "(isomorphic-to f)" in text and "(assert (== X[1] 0.25))" in text and "(assert (== X2[2] X[2]))" in text


def test_export_errors_leave_nothing_written(pair, tmp_path):
    f, g = pair
    with pytest.raises(SpecError, match="the difference form f - g expresses eps specs only"):
        export_query(f, g, BOX, Top1Equivalence(), tmp_path, forms=("vnnlib2", "difference"))
    with pytest.raises(SpecError, match="decision equivalence needs single-output networks"):
        export_query(f, g, BOX, DecisionEquivalence(), tmp_path)
    with pytest.raises(SpecError, match="forms must be among"):
        export_query(f, g, BOX, EpsEquivalence(1), tmp_path, forms=("onnx",))
    with pytest.raises(BoxError, match="box has 2 dimensions but the network has 3 inputs"):
        export_query(f, g, Box.cube(2), EpsEquivalence(1), tmp_path)
    assert list(tmp_path.iterdir()) == []


from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def boxes_and_specs(draw):
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, 4))
    lo = [draw(st.floats(-10, 10, allow_nan=False, allow_subnormal=False)) for _ in range(n)]
    w = [draw(st.sampled_from([0.0, 1e-3, 0.5, 3.0])) for _ in range(n)]
    box = Box(lo, [a + b for a, b in zip(lo, w)])
    eps = draw(st.floats(0, 5, allow_nan=False, allow_subnormal=False))
    outs = draw(st.one_of(st.none(), st.lists(st.integers(0, m - 1), min_size=1, max_size=m, unique=True)))
    return box, m, EpsEquivalence(eps, outputs=outs)


@settings(max_examples=40, deadline=None)
@given(boxes_and_specs())
def test_written_queries_read_back_to_the_same_box_and_spec(case):
    box, m, spec = case
    outs = tuple(sorted(spec.outputs_for(m)))
    texts = [(vnnlib2_text(spec, box, n_outputs=m), outs, outs),
             (vnnlib1_text(spec, box, n_outputs=m, form="stack"), outs, tuple(m + k for k in outs)),
             (vnnlib1_text(spec, box, n_outputs=m, form="difference"), outs, ())]
    for text, fo, go in texts:
        q = read_query(text)
        assert q.box == box and q.form == "eps"
        (part,) = q.parts
        assert part.spec.eps == spec.eps and part.f_outputs == fo and part.g_outputs == go


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([0.0, 0.05, 0.3]))
def test_round_trip_verdicts_on_random_pairs(seed, eps):
    f = Network.random([2, 6, 2], seed=seed)
    g = Network.random([2, 6, 2], seed=seed + 1, scale=0.05).post_affine(np.eye(2), [0.0, 0.0])
    g = Network.stack(f, g).post_affine(np.hstack([np.eye(2), np.eye(2)]))  # g = f + small net
    box = Box([-0.5, 0.0], [0.5, 0.0])
    spec = EpsEquivalence(eps)
    res = verify(f, g, box, spec, time_limit=20)
    q = read_query(vnnlib2_text(spec, box, n_outputs=2))
    out = solve_query(q, {"f": f, "g": g}, time_limit=20)
    if str(res.verdict) != "UNKNOWN" and out.status in ("sat", "unsat"):
        assert same_verdict(res, out)
    if out.status == "sat":
        d = [abs(a - b) for a, b in zip(f.eval_exact(out.x), g.eval_exact(out.x))]
        assert max(d) > Fraction(eps)


def test_slices_of_the_stacked_product_are_f_and_g_exactly(pair):
    f, g = pair
    q = read_query(vnnlib1_text(EpsEquivalence(0.05), BOX, n_outputs=3, form="stack"))
    F, G, _ = q.bind({"N": Network.stack(f, g)}).pairs[0]
    assert F.sizes == f.sizes and G.sizes == g.sizes   # g's units dropped from F and f's from G
    for x in BOX.sample(5, np.random.default_rng(1)):
        assert F.eval_exact(x) == f.eval_exact(x) and G.eval_exact(x) == g.eval_exact(x)
