"""Faults in long runs: solver exceptions, solvers that lie, time limits hit inside HiGHS/CBC,
hostile model files inside a zoo run.  Each is recorded as what it is, never as a proof or a
refutation, and nothing is left corrupt.

(Worker crashes, hangs, out-of-memory and kill -9 of the runner are covered by
tests/test_zoo_runner.py and tests/test_zoo_store.py.)
"""

from __future__ import annotations

import importlib
import shutil
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import relucert
from relucert import Box, Network
from relucert.errors import RelucertError
from relucert.solvers import highs
from relucert.solvers.base import MilpOutcome
from relucert.verify import EpsEquivalence, StopReason, Verdict, verify

solve_mod = importlib.import_module("relucert.verify.solve")
CORPUS = Path(__file__).resolve().parent / "data" / "hostile"
F = Fraction


def exact_gap(f, g, x) -> Fraction:
    xs = [F(float(v)) for v in x]
    return max(abs(a - b) for a, b in zip(f.eval_exact(xs), g.eval_exact(xs)))


@pytest.fixture(scope="module")
def hard_pair():
    """A pair whose MILP is not settled by the bounds: sup |f - g| ~ 0.0064 against eps 0.0065."""
    f = Network.random([3, 12, 12, 2], seed=3)
    g = Network([(L.weight * (1 + 1e-3), L.bias) for L in f.layers])
    return f, g, Box.cube(3)


def _sound_bracket(res, f, g, box, n=200):
    """lower is attained exactly by the witness; upper is above every exactly evaluated sample."""
    assert res.lower <= res.upper
    if res.witness_x is not None:
        assert float(exact_gap(f, g, res.witness_x)) == pytest.approx(res.lower, rel=1e-12, abs=0)
    rng = np.random.default_rng(0)
    pts = box.lo + (box.hi - box.lo) * rng.random((n, box.dim))
    worst = max(exact_gap(f, g, p) for p in pts)
    assert F(res.upper) >= worst


# -- solver exceptions ------------------------------------------------------------------------------

def _break(monkeypatch, method):
    from relucert.solvers import z3_backend

    def boom(self, *a, **kw):
        raise RuntimeError(f"injected: the {method} backend crashed")

    if method == "milp":
        monkeypatch.setattr(highs.HighsSolver, "solve", boom)
    else:
        monkeypatch.setattr(z3_backend.Z3Solver, "check", boom)


@pytest.mark.parametrize("method", ["milp", "smt"])
def test_solver_exception_is_a_relucert_error_or_unknown(hard_pair, monkeypatch, method):
    f, g, box = hard_pair
    _break(monkeypatch, method)
    try:
        res = verify(f, g, box, EpsEquivalence(0.0065), method=method, time_limit=10)
    except RelucertError as exc:
        assert "solver" in str(exc).lower() or method in str(exc).lower()
        return
    assert res.verdict is Verdict.UNKNOWN and res.reason


@pytest.mark.parametrize("method", ["milp", "smt"])
def test_solver_exception_never_becomes_a_verdict(hard_pair, monkeypatch, method):
    """Whatever form the failure takes, it is never an unproved EQUIVALENT or NOT_EQUIVALENT."""
    f, g, box = hard_pair
    _break(monkeypatch, method)
    try:
        res = verify(f, g, box, EpsEquivalence(0.0065), method=method, time_limit=10)
    except RelucertError:  # a clear error is fine too; a bare exception is not
        return
    if res.verdict is Verdict.EQUIVALENT:  # only from the sound bounds, never from the broken solver
        assert res.soundness == "float-sound", res.soundness
        _sound_bracket(res, f, g, box)
    elif res.verdict is Verdict.NOT_EQUIVALENT:
        assert exact_gap(f, g, res.counterexample.x) > F(0.0065)


def test_lying_incumbent_is_not_a_counterexample(hard_pair, monkeypatch):
    """The backend reports an incumbent with objective 1e9 at a point that violates nothing: the
    exact re-check refuses it, and the run ends UNKNOWN (or proves the claim), never refuted."""
    f, g, box = hard_pair
    real = highs.HighsSolver.solve

    def liar(self, problem, **kw):
        out = real(self, problem, **kw)
        return MilpOutcome(status="stopped_incumbent", stop_reason="injected lie", primal_value=1e9,
                           primal_x=None if out.primal_x is None else np.zeros_like(out.primal_x),
                           input_x=np.zeros(box.dim), dual_bound=1e9, gap=0.0, nodes=1, time_s=0.0, solver="highs")

    monkeypatch.setattr(highs.HighsSolver, "solve", liar)
    res = verify(f, g, box, EpsEquivalence(0.0065), method="milp", time_limit=1.5)
    assert res.verdict is Verdict.UNKNOWN, res
    assert exact_gap(f, g, np.zeros(box.dim)) <= F(0.0065)  # the lie really is one
    _sound_bracket(res, f, g, box)


def _needle_pair():
    """The fuzzer's case: f == g up to a +1 output bias in g (exact gap 1 everywhere), 2^20
    weights, a box degenerate in x0."""
    Ws = [np.array([[-0.875, 2.0], [0.25, 0.25], [2.0**20, -(2.0**20)], [-2.0, 1.5]]),
          np.array([[1.375, -0.25, 0.875, 0.5], [2.0**20, -1.375, -2.0, -0.375],
                    [-1.125, 2.0**20, -1.25, 0.0], [2.0**20, 1.375, 2.0**20, 0.0]]),
          np.array([[-2.0, -0.875, -1.125, -(2.0**20)]])]
    bs = [np.array([1.0, -0.75, 0.25, -0.125]), np.array([1.75, -1.0, 0.375, -1.875]), np.array([-0.75])]
    f = Network.from_weights(Ws, bs)
    g = Network.from_weights(Ws, bs[:2] + [bs[2] + 1.0])
    return f, g, Box([0.0, 0.0], [0.0, 2.0])


def test_milp_infeasible_claim_is_not_a_proof(monkeypatch):
    """Regression (found by the fuzzer, fixed in 8456e25): HiGHS called this feasible encoding
    infeasible and 'infeasible' was taken as a proof, so with the attack missing the answer was
    EQUIVALENT for a pair whose exact gap is 1 > eps = 0.5."""
    f, g, box = _needle_pair()
    assert exact_gap(f, g, [0.0, 1.0]) == 1
    # simulate an attack that misses (on harder pairs it does): only the MILP decides
    monkeypatch.setattr(solve_mod, "_search", lambda box, score, check, rng, **kw: (None, -np.inf, None))
    res = verify(f, g, box, EpsEquivalence(0.5), method="milp", time_limit=10)
    assert res.verdict is not Verdict.EQUIVALENT, (res.verdict, res.upper, res.soundness)


def test_milp_bracket_of_identical_networks_contains_zero():
    """Regression: the same false 'infeasible' gave upper = -inf, below the true sup 0."""
    f, _, box = _needle_pair()
    g = Network([(L.weight, L.bias) for L in f.layers])
    res = verify(f, g, box, EpsEquivalence(0.0), method="milp", time_limit=10)
    assert res.upper >= 0.0, res.upper


# -- time limits inside the solvers -----------------------------------------------------------------

@pytest.mark.parametrize("solver", ["highs", "pulp"])
def test_time_limit_inside_the_milp_is_unknown_with_a_sound_bracket(solver):
    """A 6-40-40-2 pair at a threshold close to its sup: the MILP cannot finish in 1 s.  The result
    says why it stopped, within about the limit, with a bracket that samples do not contradict."""
    f = Network.random([6, 40, 40, 2], seed=5)
    g = Network([(L.weight * (1 + 1e-4), L.bias) for L in f.layers])
    box = Box.cube(6)
    t0 = time.perf_counter()
    res = verify(f, g, box, EpsEquivalence(0.004), method="milp", solver=solver, time_limit=1.0)
    wall = time.perf_counter() - t0
    assert wall < 6.0, wall
    if res.verdict is Verdict.UNKNOWN:
        assert res.stop_reason in (StopReason.TIME_LIMIT, StopReason.NODE_LIMIT, StopReason.NUMERICAL), res
        assert res.reason
    elif res.verdict is Verdict.NOT_EQUIVALENT:
        assert exact_gap(f, g, res.counterexample.x) > F(0.004)
    _sound_bracket(res, f, g, box)


# -- hostile files inside a zoo run --------------------------------------------------------------------

@pytest.mark.slow
def test_hostile_models_in_a_zoo_run_are_errors_and_the_rest_completes(tmp_path):
    from relucert.zoo import ResultStore, run_zoo

    f = Network.random([2, 4, 1], seed=1)
    relucert.save(f, tmp_path / "f.npz")
    bad = {"pickle": "npz/pickled_object.npz", "v3": "npz/huge_header_v3.npz", "nan": "onnx/nan_weight.onnx",
           "cyclic": "onnx/cyclic.onnx", "trunc": "nnet/truncated.nnet"}
    jobs = ['[[job]]\nname = "ok"\nf = "f.npz"\ng = "f.npz"\n']
    for name, rel in bad.items():
        shutil.copy(CORPUS / rel, tmp_path / Path(rel).name)
        jobs.append(f'[[job]]\nname = "{name}"\nf = "f.npz"\ng = "{Path(rel).name}"\n')
    p = tmp_path / "zoo.toml"
    p.write_text('[defaults]\neps = 0.1\ntimeout = 20\nbox = "-1:1,-1:1"\n' + "".join(jobs))
    db = tmp_path / "r.sqlite"
    s = run_zoo(p, db, workers=1)
    assert s.exit_code == 0 and s.recorded == len(bad) + 1 and not s.undone
    with ResultStore(db, create=False) as store:
        rows = {r["name"]: r for r in store.results()}
    assert rows["ok"]["verdict"] == "EQUIVALENT"
    want = {"pickle": "allow_pickle=False", "v3": "would hold 10000000000 elements", "nan": "non-finite value nan",
            "cyclic": "the graph has a cycle", "trunc": "file ends before"}
    for name, text in want.items():
        assert rows[name]["verdict"] == "ERROR", rows[name]
        assert text in rows[name]["reason"], rows[name]["reason"]
    assert not (tmp_path / "HOSTILE_PICKLE_RAN").exists()
    # a second run skips everything: the store is intact and complete
    assert run_zoo(p, db, workers=1).skipped == len(bad) + 1


def test_hostile_manifest_leaves_no_store(tmp_path):
    """A manifest that fails to load creates no result store (nothing half-written)."""
    from relucert.errors import ManifestError
    from relucert.zoo import run_zoo

    p = tmp_path / "zoo.toml"
    p.write_text(textwrap.dedent("""
        [[job]]
        name = "x"
        f = "missing.npz"
        g = "missing.npz"
        eps = 0.1
        box = "-1:1"
        """))
    db = tmp_path / "r.sqlite"
    with pytest.raises(ManifestError, match="model file not found"):
        run_zoo(p, db, workers=1)
    assert not db.exists()
