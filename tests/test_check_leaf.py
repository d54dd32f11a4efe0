"""The checker's leaf bound is sound (an upper bound of the exact objective), its float and exact
arithmetics agree closely, and the checker stays independent of the bound engines and solvers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relucert import Network
from relucert.check import _leaf

CHECK_DIR = Path(__file__).resolve().parents[1] / "relucert" / "check"


def _layers(net):
    return [(L.weight, L.bias) for L in net.layers]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), depth=st.integers(1, 3), width=st.integers(1, 6),
       n_in=st.integers(1, 3), half=st.floats(1e-3, 2.0))
def test_float_bound_is_an_upper_bound_of_exact_values(seed, depth, width, n_in, half):
    rng = np.random.default_rng(seed)
    f = Network.random([n_in] + [width] * depth + [2], seed=seed)
    g = Network.random([n_in] + [width + 1] * max(depth - 1, 1) + [2], seed=seed + 1)
    c = rng.uniform(-1, 1, n_in)
    lo, hi = c - half, c + half
    Cf = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    Cg = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0]])
    ub = _leaf.leaf_upper_bounds(_leaf.FloatArith, _layers(f), _layers(g), Cf, Cg, lo[None], hi[None])[0]
    X = rng.uniform(lo, hi, (6, n_in))
    X = np.vstack([X, lo, hi])
    for x in X:
        xs = [Fraction(float(v)) for v in x]
        fy, gy = f.eval_exact(xs), g.eval_exact(xs)
        obj = [fy[0] - gy[0], gy[0] - fy[0], fy[1] - gy[1]]
        for r in range(3):
            assert Fraction(float(ub[r])) >= obj[r]


def test_exact_and_float_arithmetic_agree():
    f = Network.random([2, 5, 5, 1], seed=7)
    g = Network.random([2, 5, 5, 1], seed=8)
    lo, hi = np.array([[-0.5, 0.1]]), np.array([[0.25, 0.3]])
    Cf, Cg = np.array([[1.0], [-1.0]]), np.array([[-1.0], [1.0]])
    fl = _leaf.leaf_upper_bounds(_leaf.FloatArith, _layers(f), _layers(g), Cf, Cg, lo, hi)[0]
    ex = _leaf.leaf_upper_bounds(_leaf.ExactArith, _layers(f), _layers(g), Cf, Cg, lo, hi)[0]
    for a, b in zip(fl, ex):
        assert isinstance(b, Fraction)
        assert abs(float(a) - float(b)) <= 1e-9 * (1 + abs(float(b)))


@pytest.mark.parametrize("differential", [False, True])
def test_batch_rows_are_independent(differential):
    """Bounding a box alone or inside a batch gives the same result up to rounding (the prover
    and the checker batch leaves differently)."""
    f = Network.random([2, 6, 6, 6, 1], seed=9)
    rng = np.random.default_rng(0)
    g = Network([(L.weight * (1 + 1e-2 * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])
    lo = rng.uniform(-1, 0, (40, 2))
    hi = lo + rng.uniform(1e-3, 1.0, (40, 2)) ** 2
    Cf, Cg = np.array([[1.0], [-1.0]]), np.array([[-1.0], [1.0]])
    batch = _leaf.leaf_upper_bounds(_leaf.FloatArith, _layers(f), _layers(g), Cf, Cg, lo, hi,
                                    differential=differential)
    for i in range(40):
        one = _leaf.leaf_upper_bounds(_leaf.FloatArith, _layers(f), _layers(g), Cf, Cg, lo[i:i + 1], hi[i:i + 1],
                                      differential=differential)
        assert np.allclose(one[0], batch[i], rtol=1e-12, atol=1e-13), i


FORBIDDEN = ("relucert.bounds", "relucert.solvers", "relucert.encode", "relucert.verify", "relucert.regions",
             "relucert.exact", "relucert.certify", "z3", "highspy", "pulp", "scipy", "flint", "gmpy2")


def test_checker_source_imports_no_engine():
    for path in CHECK_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:   # relative: resolve against relucert.check
                    pkg = ["relucert", "check"][: 3 - node.level] if node.level <= 2 else []
                    base = ".".join(pkg + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for n in names:
                assert not any(n == m or n.startswith(m + ".") for m in FORBIDDEN), f"{path.name} imports {n}"


def _code_lines(src: str) -> int:
    """Lines holding code (not blank, comment or docstring lines)."""
    import io
    import tokenize

    lines, prev = set(), None
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
        docstring = tok.type == tokenize.STRING and prev in (None, tokenize.NEWLINE, tokenize.INDENT,
                                                             tokenize.DEDENT, tokenize.NL)
        if tok.type not in skip and not docstring:
            lines.update(range(tok.start[0], tok.end[0] + 1))
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            prev = tok.type
    return len(lines)


def test_checker_is_short_enough_to_audit():
    code = sum(_code_lines(p.read_text()) for p in CHECK_DIR.glob("*.py"))
    assert code < 1100, code


def test_checking_loads_no_engine_module(tmp_path):
    """In a fresh interpreter, checking a bab certificate imports none of the engines."""
    from relucert import Box, EpsEquivalence
    from relucert.certify import certify

    f = Network.random([2, 4, 1], seed=1)
    g = Network([(L.weight * 1.001, L.bias) for L in f.layers])
    certify(f, g, Box.cube(2), EpsEquivalence(0.05)).write(tmp_path / "c.json", save_models=True)
    code = ("import sys, json; from relucert.check import check_certificate; "
            f"r = check_certificate({str(tmp_path / 'c.json')!r}); "
            "print(json.dumps([r.verdict, sorted(m for m in sys.modules if m.startswith(('relucert', 'z3', "
            "'highspy', 'pulp', 'scipy')))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    verdict, mods = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict == "VERIFIED"
    # relucert/__init__ itself loads the network model (with relucert.exact) and the spec/result
    # classes of relucert.verify; none of the engines may be loaded
    runtime = [b for b in FORBIDDEN if b not in ("relucert.verify", "relucert.exact")]
    loaded = [m for m in mods if any(m == b or m.startswith(b + ".") for b in runtime)]
    assert loaded == [], loaded
    assert not {"relucert.verify.bab", "relucert.verify.attack", "relucert.verify.solve"} & set(mods)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), width=st.integers(1, 5), half=st.floats(0.05, 1.5),
       differential=st.booleans())
def test_phase_literals_are_sound(seed, width, half, differential):
    """With ReLU-phase literals the bound holds at every sampled point satisfying them, and an
    empty-domain verdict (-inf) only comes when no sampled point satisfies them."""
    rng = np.random.default_rng(seed)
    f = Network.random([2, width, width, 1], seed=seed)
    g = Network([(L.weight * (1 + 0.05 * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])
    c = rng.uniform(-1, 1, 2)
    lo, hi = c - half, c + half
    ph = [[rng.integers(-1, 2, (1, width)).astype(np.int8) * (rng.random((1, width)) < 0.4) for _ in range(2)]
          for _ in range(2)]
    Cf, Cg = np.array([[1.0], [-1.0]]), np.array([[-1.0], [1.0]])
    ub = _leaf.leaf_upper_bounds(_leaf.FloatArith, _layers(f), _layers(g), Cf, Cg, lo[None], hi[None],
                                 differential=differential, phases=(ph[0], ph[1]))[0]
    X = rng.uniform(lo, hi, (400, 2))
    zf, zg = f.pre_activations(X), g.pre_activations(X)
    ok = np.ones(len(X), dtype=bool)
    for net_z, net_ph in ((zf, ph[0]), (zg, ph[1])):
        for k in range(2):
            ok &= np.all((net_ph[k] >= 0) | (net_z[k] <= 0), axis=1) & np.all((net_ph[k] <= 0) | (net_z[k] >= 0), axis=1)
    if np.isneginf(ub).all():
        assert not ok.any()
    for x in X[ok][:20]:
        xs = [Fraction(float(v)) for v in x]
        d = f.eval_exact(xs)[0] - g.eval_exact(xs)[0]
        assert Fraction(float(ub[0])) >= d and Fraction(float(ub[1])) >= -d
