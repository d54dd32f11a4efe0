"""The side-by-side suite (benchmarks/suites/compare.py): every comparison tool reaches the known
answer on a tiny pair, a wrong answer is reported as wrong (and is unexpected), Marabou is
optional; and the scaling suite's exponent fit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from fractions import Fraction

import numpy as np
import pytest

from benchmarks import runner
from benchmarks.suites import compare as C
from benchmarks.suites.scaling import fit_exponent
from relucert import Box
from relucert.network import Network


def _pair():
    """f and g = f with every hidden bias raised by 1/16.  Each hidden unit then moves by at most
    1/16, so sup |f - g| <= B = sum_j |W2_j| / 16 on any box (the EQUIVALENT case has eps = 2 B);
    the NOT_EQUIVALENT case has eps at half the difference attained exactly at a box corner."""
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=4)
    W2, b2 = rng.normal(size=(1, 4)), np.array([0.2])
    f = Network.from_weights([W1, W2], [b1, b2])
    g = Network.from_weights([W1, W2], [b1 + 0.0625, b2])
    return f, g, Box.cube(2, -1.0, 1.0)


def _instances():
    f, g, box = _pair()
    bound = 0.0625 * float(np.abs(f.layers[-1].weight).sum()) * (1 + 1e-12)
    corners = [[Fraction(a), Fraction(b)] for a in (-1, 1) for b in (-1, 1)]
    seen = max(abs(f.eval_exact(x)[0] - g.eval_exact(x)[0]) for x in corners)
    assert seen > 0
    return [C.Instance("tiny eps=2B", f, g, box, 2 * bound, None, "EQUIVALENT", "tiny",
                       why="sup |f - g| <= B (each hidden unit moves by <= 1/16)"),
            C.Instance("tiny eps=half a corner", f, g, box, float(seen) / 2, None, "NOT_EQUIVALENT", "tiny",
                       why="|f - g| at a corner is twice eps (exact)")]


def _shared_neurons_pair():
    """g = f + 0.1 (output bias): f - g is the constant -0.1 through 8 hidden units that cancel
    in pairs, a query on which Marabou 2.0's local search was seen to loop past its timeout."""
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(4, 2)), 0.3 * rng.normal(size=4)
    W2, b2 = rng.normal(size=(1, 4)), np.array([0.2])
    f = Network.from_weights([W1, W2], [b1, b2])
    g = Network.from_weights([W1, W2], [b1, b2 + 0.1])
    return C.Instance("shared neurons eps=0.2", f, g, Box.cube(2, -1.0, 1.0), 0.2, None, "EQUIVALENT", "tiny",
                      why="|f - g| = 0.1 < 0.2")


@pytest.mark.parametrize("tool", ["relucert", "relucert-milp", "highs-plain", "cbc-plain", "z3"])
def test_each_tool_reaches_the_known_answer(tool):
    for inst in _instances():
        rec = C.run_tool(tool, inst, 20.0)
        assert rec["verdict"] == inst.truth, rec
        assert not rec["wrong"]
        if rec["verdict"] == "NOT_EQUIVALENT":
            assert rec["cex_genuine"] is True and rec["cex_value"] > inst.eps
        assert rec["cpu_s"] >= 0 and rec["wall_s"] >= 0


MARABOU = "optional extra 'marabou' (pip install maraboupy) not installed"


def test_marabou_reaches_the_known_answer():
    pytest.importorskip("maraboupy", reason=MARABOU)
    for inst in _instances():
        rec = C.run_tool("marabou", inst, 20.0)
        assert rec["verdict"] == inst.truth, rec
        assert not rec["wrong"]
        if rec["verdict"] == "NOT_EQUIVALENT":
            assert rec["cex_genuine"] is True and rec["cex_value"] > inst.eps
        # the query processes' start-up is recorded and taken out of the reported time
        assert rec["startup_cpu_s"] > 0 and rec["cpu_s"] == pytest.approx(rec["cpu_with_startup_s"] - rec["startup_cpu_s"])


def test_marabou_network_is_the_product_network():
    pytest.importorskip("maraboupy", reason=MARABOU)
    from benchmarks.suites._marabou_query import default_options

    f, g, _ = _pair()
    D = Network.difference(f, g)
    x0 = np.array([0.25, -0.5])
    net, xs, out = C.marabou_network(D, Box(x0, x0), 0, "ge")
    code, vals = net.solve(options=default_options(10), verbose=False)[:2]
    assert code == "sat" and abs(vals[out] - float(D(x0[None])[0, 0])) < 1e-9


def test_marabou_query_round_trips_the_weights_exactly():
    f, g, box = _pair()
    D = Network.difference(f, g)
    q = json.loads(json.dumps(C._marabou_query_json(D, box, 0, "ge", 0.1, 5)))
    for L, Lq in zip(D.layers, q["layers"]):
        W = np.array(Lq["W"], dtype=float).reshape(Lq["shape"])
        assert np.array_equal(W, L.weight) and np.array_equal(np.array(Lq["b"]), L.bias)


def _child(tmp_path, monkeypatch, body):
    script = tmp_path / "child.py"
    script.write_text(body)
    monkeypatch.setattr(C, "MARABOU_CHILD", script)


def test_a_query_process_that_spins_is_ended_at_the_cpu_limit(tmp_path, monkeypatch):
    _child(tmp_path, monkeypatch, "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n")
    monkeypatch.setattr(C, "MARABOU_CPU_GRACE_S", 0.0)
    monkeypatch.setattr(C, "MARABOU_WALL_GRACE_S", 30.0)      # far off: on a loaded machine too
    t0 = time.perf_counter()
    got = C._marabou_solve({}, 1.0)
    assert got["code"] == "TIMEOUT (killed at the CPU limit 1 s)", got
    assert time.perf_counter() - t0 < 30 and got["child_cpu_s"] >= 0.9


def test_a_query_process_that_sleeps_is_killed_at_the_wall_clock_limit(tmp_path, monkeypatch):
    _child(tmp_path, monkeypatch, "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n")
    monkeypatch.setattr(C, "MARABOU_WALL_GRACE_S", 0.5)
    t0 = time.perf_counter()
    got = C._marabou_solve({}, 1.0)
    took = time.perf_counter() - t0
    assert got["code"] == "TIMEOUT (killed at the wall-clock limit 1.5 s)", got
    assert 1.4 < took < 3.0


def test_a_query_process_that_crashes_is_an_error_not_a_verdict(tmp_path, monkeypatch):
    _child(tmp_path, monkeypatch, "import sys\nsys.exit('no such solver')\n")
    got = C._marabou_solve({}, 5.0)
    assert got["code"].startswith("ERROR (exit 1") and "no such solver" in got["code"], got


def test_marabou_on_a_query_it_loops_on_is_ended_and_unknown(monkeypatch):
    pytest.importorskip("maraboupy", reason=MARABOU)
    monkeypatch.setattr(C, "MARABOU_CPU_GRACE_S", -0.5)     # CPU limit 1 s: ended then, whoever ends it
    monkeypatch.setattr(C, "MARABOU_WALL_GRACE_S", 2.0)
    inst = _shared_neurons_pair()
    t0 = time.perf_counter()
    rec = C.run_tool("marabou", inst, 1.1)
    assert time.perf_counter() - t0 < 6       # the wall-clock kill is at 3 s, loaded machine or not
    assert rec["verdict"] in ("UNKNOWN", "EQUIVALENT") and not rec["wrong"], rec
    if rec["verdict"] == "UNKNOWN":
        assert "TIMEOUT" in rec["detail"]


@pytest.mark.slow
def test_marabou_ignores_its_own_timeout_there_and_the_cpu_limit_ends_it(monkeypatch):
    """The reason for the query processes: with timeoutInSeconds=1 Marabou 2.0 is still running
    at 3 CPU seconds on f - g of a pair sharing its neurons (if a later Marabou stops in time,
    this test fails and the claim in compare.py's docstring is to be revised)."""
    pytest.importorskip("maraboupy", reason=MARABOU)
    monkeypatch.setattr(C, "MARABOU_CPU_GRACE_S", 2.0)
    monkeypatch.setattr(C, "MARABOU_WALL_GRACE_S", 30.0)
    rec = C.run_tool("marabou", _shared_neurons_pair(), 1.1)      # first query: 1 s; no time for the second
    assert rec["verdict"] == "UNKNOWN", rec
    assert rec["queries"][0] == "out0 >= eps: TIMEOUT (killed at the CPU limit 3 s)", rec


def test_without_maraboupy_marabou_is_not_installed_and_the_rest_runs(monkeypatch):
    monkeypatch.setattr(C, "marabou_available", lambda: False)
    inst = _instances()[1]
    rec = C.run_tool("marabou", inst, 5.0)
    assert rec["verdict"] == "NOT_INSTALLED" and not rec["wrong"] and "marabou" in rec["detail"]
    lines = C.compare_summary([rec, C.run_tool("relucert", inst, 5.0)])
    assert any("not installed" in ln for ln in lines)


def test_import_relucert_never_imports_maraboupy():
    code = "import sys, relucert, relucert.verify, relucert.transforms; print('maraboupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_a_wrong_answer_is_reported_as_wrong_and_unexpected():
    def liar(inst, limit):
        # the opposite verdict; when it claims a difference it offers the box centre
        if inst.truth == "EQUIVALENT":
            return C._finish({"verdict": "NOT_EQUIVALENT"}, inst, inst.box.center)
        return {"verdict": "EQUIVALENT"}

    tools = dict(C.TOOLS, liar=liar)
    insts = _instances()
    name = "compare-test-liar"
    runner.SUITES.pop(name, None)
    runner.register_suite(name, "test", summarize=lambda r, d: C.compare_summary(r, d))(
        lambda quick, options: C.tool_cases(insts, ["relucert", "liar"], 10.0, "cpu", tools))
    try:
        lines = []
        out = runner.run([name], write=False, out=lines.append)
    finally:
        runner.SUITES.pop(name, None)
    assert out["cases"] == 4 and out["unexpected"] == 2, lines
    recs = {(r["instance"], r["tool"]): r for r in out["records"]}
    assert all(recs[(i.name, "liar")]["wrong"] and not recs[(i.name, "liar")]["as_expected"] for i in insts)
    assert all(recs[(i.name, "relucert")]["as_expected"] for i in insts)
    lie = recs[("tiny eps=2B", "liar")]
    assert lie["cex_genuine"] is False and "NOT genuine" in lie["detail"] and "WRONG ANSWER" in lie["detail"]
    summary = "\n".join(C.compare_summary(out["records"]))
    assert "WRONG ANSWERS: 2" in summary and "| **liar** | tiny eps=2B | **NOT_EQUIVALENT** | EQUIVALENT" in summary
    assert "spurious cex" in summary


def test_plain_milp_gives_each_objective_a_share_of_the_time(monkeypatch):
    """The first objective (f - g) cannot be closed in time and has no incumbent above eps; the
    second (g - f) has the violation: it must still be reached, with the time left."""
    from types import SimpleNamespace

    inst = _instances()[1]
    x = np.zeros(2)
    v = float(inst.f.eval_exact([0, 0])[0] - inst.g.eval_exact([0, 0])[0])
    given = []

    class Fake:
        def solve(self, prob, time_limit):
            given.append(time_limit)
            if prob == "first":
                return SimpleNamespace(status="time_limit", stop_reason="", primal_value=None, input_x=None, nodes=7)
            return SimpleNamespace(status="optimal", stop_reason="", primal_value=abs(v), input_x=x, nodes=3)

    monkeypatch.setattr(C, "plain_milp_problems", lambda inst: [("f - g", "first"), ("g - f", "second")])
    rec = C._plain_milp(inst, 10.0, Fake())
    assert given[0] == pytest.approx(5.0, abs=0.05) and given[1] == pytest.approx(10.0, abs=0.05)
    assert abs(v) > inst.eps        # the centre is a genuine counterexample of this instance
    assert rec["verdict"] == "NOT_EQUIVALENT" and rec["cex_genuine"] is True and rec["nodes"] == 10
    assert rec["objectives"] == ["f - g: time_limit", f"g - f: optimal {abs(v):.6g}"]


def test_scaling_fit_exponent():
    xs = [10, 30, 100, 300]
    k, c = fit_exponent(xs, [3.0 * x**2 for x in xs])
    assert abs(k - 2.0) < 1e-12 and abs(c - 3.0) < 1e-9
    assert fit_exponent([10], [1.0]) is None


def test_compare_and_scaling_suites_are_registered():
    suites = runner.load_suites()
    assert "compare" in suites and "scaling" in suites
