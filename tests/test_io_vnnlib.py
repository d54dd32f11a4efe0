"""VNN-LIB 1.0 input boxes and the S-expression parser."""

from __future__ import annotations

import pytest

from relucert import Box
from relucert.errors import BoxError, SpecError
from relucert.io import parse_sexprs, read_vnnlib_box
from relucert.io.vnnlib import Atom, SList, render

PROPERTY = """\
; ACAS-like property
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const X_2 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)

(assert (<= X_0 0.679857769))   ; upper bound
(assert (>= X_0 0.6))
(assert (<= 0.5 X_1))
(assert (>= 0.5 X_1))
(assert (and (>= X_2 -0.5) (<= X_2 (- 0.25)) (<= X_2 1)))

; the output property is not part of the box
(assert (or (and (<= Y_0 Y_1)) (and (>= Y_0 3.9911256459))))
"""


def test_box_from_all_bound_forms():
    box = read_vnnlib_box(PROPERTY)
    assert box == Box([0.6, 0.5, -0.5], [0.679857769, 0.5, -0.25])
    assert read_vnnlib_box(PROPERTY, n_inputs=3) == box


def test_box_from_file(tmp_path):
    path = tmp_path / "p.vnnlib"
    path.write_text(PROPERTY)
    assert read_vnnlib_box(path) == read_vnnlib_box(str(path)) == read_vnnlib_box(PROPERTY)


def test_repeated_bounds_intersect_and_scientific_notation():
    text = "(declare-const X_0 Real)(assert (<= X_0 1e-1))(assert (<= X_0 2))(assert (>= X_0 -1.5E-2))" \
           "(assert (>= X_0 -3))"
    assert read_vnnlib_box(text) == Box([-0.015], [0.1])


ERRORS = [
    ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n"
     "(assert (<= X_1 1))", BoxError, "<text>:2: input X_1 has no lower bound (unbounded inputs are not supported)"),
    ("(declare-const X_0 Real)\n(assert (or (<= X_0 1) (>= X_0 0)))", SpecError,
     "<text>:2: unsupported constraint on inputs (only <=, >= and 'and' of bounds): (or (<= X_0 1) (>= X_0 0))"),
    ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n\n(assert (<= (+ X_0 X_1) 1))", SpecError,
     "<text>:4: unsupported constraint on inputs (expected a bound 'X_i <= c' or 'X_i >= c'): (<= (+ X_0 X_1) 1)"),
    ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 Y_0))", SpecError,
     "<text>:3: constraints mixing inputs and outputs are not supported: (assert (<= X_0 Y_0))"),
    ("(declare-const X_0 Real)\n(assert (<= X_1 1))", SpecError, "<text>:2: X_1 is used before it is declared"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 1)", SpecError, "<text>:2: '(' is never closed"),
    ("(declare-const X_0 Real))", SpecError, "<text>:1: unexpected ')'"),
    ("(declare-const X_0 Int)", SpecError, "<text>:1: expected (declare-const NAME Real): (declare-const X_0 Int)"),
    ("(declare-const in0 Real)", SpecError,
     "<text>:1: unsupported constant name 'in0' (expected X_i or Y_j): (declare-const in0 Real)"),
    ("(declare-const X_0 Real)\n(declare-const X_0 Real)", SpecError,
     "<text>:2: X_0 is declared twice: (declare-const X_0 Real)"),
    ("(declare-const X_1 Real)\n(assert (<= X_1 1))\n(assert (>= X_1 0))", SpecError,
     "<text>:1: inputs must be X_0 .. X_0; X_0 is missing"),
    ("(declare-const Y_0 Real)", SpecError, "<text>: declares no inputs X_0, X_1, ..."),
    ("(declare-const X_0 Real)\n(assert (<= X_0 0))\n(assert (>= X_0 1))", BoxError,
     "<text>:1: input X_0 has an empty range [1.0, 0.0]"),
    ("(declare-const X_0 Real)\n(assert (< X_0 1))", SpecError,
     "<text>:2: unsupported constraint on inputs (only <=, >= and 'and' of bounds): (< X_0 1)"),
    ("(declare-const X_0 Real)\n(push 1)", SpecError, "<text>:2: unsupported command 'push': (push 1)"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 1e999))", SpecError, "<text>:2: bound is not finite: (<= X_0 1e999)"),
    ('(declare-const X_0 Real)\n(set-info :source "unterminated', SpecError, "<text>:2: unterminated string literal"),
]


@pytest.mark.parametrize("text,exc,message", ERRORS)
def test_errors_name_the_line(text, exc, message):
    with pytest.raises(exc) as err:
        read_vnnlib_box(text)
    assert str(err.value) == message


def test_wrong_input_count_and_file_name(tmp_path):
    path = tmp_path / "p.vnnlib"
    path.write_text(PROPERTY)
    with pytest.raises(BoxError, match=rf"^{path}: declares 3 inputs but the network has 5$"):
        read_vnnlib_box(path, n_inputs=5)
    path.write_text("(declare-const X_0 Real)\n(assert (<= X_0 1))\n")
    with pytest.raises(BoxError, match=rf"^{path}:1: input X_0 has no lower bound"):
        read_vnnlib_box(path)


def test_parse_sexprs_keeps_lines_and_ignores_comments():
    exprs = parse_sexprs('; c\n(a (b c)\n  |quoted sym| "s;tr")\nd ; tail\n(e)')
    assert exprs == [["a", ["b", "c"], "quoted sym", '"s;tr"'], "d", ["e"]]
    assert isinstance(exprs[0], SList) and exprs[0].line == 2
    assert exprs[0][1].line == 2 and exprs[0][2].line == 3 and isinstance(exprs[0][2], Atom)
    assert exprs[1].line == 4 and exprs[2].line == 5
    assert render(exprs[0]) == '(a (b c) quoted sym "s;tr")'
    assert parse_sexprs("") == []


def test_skips_smtlib_housekeeping():
    text = "(set-logic QF_LRA)\n(declare-const X_0 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(check-sat)"
    assert read_vnnlib_box(text) == Box([0.0], [1.0])
