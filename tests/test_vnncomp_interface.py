"""The VNN-COMP interface: solve_query statuses, the result file, 2026-style instances.csv,
run-instance / run-benchmark, and the CLI (verify --query, export-query, vnncomp ...)."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, save
from relucert.cli import main
from relucert.errors import ManifestError, SpecError
from relucert.io.query_export import export_query, vnnlib2_text
from relucert.io.vnnlib2 import read_query
from relucert.vnncomp import (format_result, parse_result, read_instances, run_benchmark, run_instance,
                              solve_query, write_result)


@pytest.fixture(scope="module")
def nets():
    f = Network.random([2, 12, 2], seed=4, name="f")
    last = f.layers[-1]
    g = Network(list(f.layers[:-1]) + [(last.weight, last.bias + np.array([0.25, 0.0]))], name="g")
    return f, g


BOX = Box([-1.0, 0.5], [1.0, 0.5])


@pytest.fixture()
def folder(tmp_path, nets):
    f, g = nets
    export_query(f, g, BOX, EpsEquivalence(0.1), tmp_path, name="far", timeout=20)
    export_query(f, g, BOX, EpsEquivalence(0.5), tmp_path, name="near", timeout=20)
    return tmp_path


def test_statuses_and_exact_counterexample(nets):
    f, g = nets
    q = read_query(vnnlib2_text(EpsEquivalence(0.1), BOX, n_outputs=2))
    out = solve_query(q, {"f": f, "g": g}, time_limit=20)
    assert out.status == "sat" and out.verdict == "NOT_EQUIVALENT"
    assert out.x[1] == Fraction(1, 2) and BOX.contains(out.x)
    assert abs(f.eval_exact(out.x)[0] - g.eval_exact(out.x)[0]) == Fraction(0.25)   # exactly the bias shift
    names = [k for k, _ in out.assignment]
    assert names == ["X[0]", "X[1]", "Y[0]", "Y[1]", "X2[0]", "X2[1]", "Y2[0]", "Y2[1]"]
    q = read_query(vnnlib2_text(EpsEquivalence(0.3), BOX, n_outputs=2))   # |f0 - g0| = 0.25 < 0.3
    out = solve_query(q, {"f": f, "g": g}, time_limit=20)
    assert out.status == "unsat" and out.verdict == "EQUIVALENT" and out.results[0].equivalent
    with pytest.raises(SpecError, match="time_limit must be > 0"):
        solve_query(q, {"f": f, "g": g}, time_limit=0)


def test_the_non_strict_band_reads_the_boundary_as_a_counterexample(nets):
    f, g = nets
    text = vnnlib2_text(EpsEquivalence(0.25), BOX, n_outputs=2).replace("(> (- Y", "(>= (- Y").replace(
        "(< (- Y", "(<= (- Y")
    out = solve_query(read_query(text), {"f": f, "g": g}, time_limit=20)
    assert out.status == "sat"   # |f0 - g0| = 0.25 >= 0.25 everywhere


def test_unknown_and_timeout_are_reported_with_a_reason():
    f = Network.random([2, 30, 30, 2], seed=1)
    g = Network.random([2, 30, 30, 2], seed=2)
    big = Box.cube(2, -50.0, 50.0)
    q = read_query(vnnlib2_text(EpsEquivalence(1e9), big, n_outputs=2))
    out = solve_query(q, {"f": f, "g": g}, method="bounds", samples=0)
    assert out.status in ("unknown", "unsat")
    if out.status == "unknown":
        assert out.reason


def test_result_file_format_and_parse(tmp_path):
    p = tmp_path / "r.txt"
    write_result(p, "sat", [("X_0", Fraction(1, 2)), ("Y_0", Fraction(1, 3))])
    assert p.read_text() == "sat\n((X_0 0.5)\n (Y_0 0.3333333333333333))\n"
    assert parse_result(p.read_text()) == ("sat", [("X_0", Fraction(1, 2)), ("Y_0", Fraction("0.3333333333333333"))])
    for s in ("unsat", "timeout", "unknown", "error"):
        assert format_result(s) == s + "\n"
    with pytest.raises(SpecError, match="status must be one of"):
        format_result("holds")
    with pytest.raises(SpecError, match="needs the counterexample"):
        format_result("sat")


def test_instances_csv_2026_layout(folder, nets):
    (folder / "instances.csv").write_text(
        "f=far_f.onnx;g=far_g.onnx,far.vnnlib,20\n"
        "near_f.onnx near_g.onnx,near.vnnlib,30\n"
        "\n"
        "far_f.onnx,far.vnnlib\n")
    insts = read_instances(folder / "instances.csv")
    assert [(tuple(n for n, _ in i.networks), i.query.name, i.timeout, i.line) for i in insts] == [
        (("f", "g"), "far.vnnlib", 20.0, 1), ((None, None), "near.vnnlib", 30.0, 2), ((None,), "far.vnnlib", None, 4)]
    (folder / "bad.csv").write_text("f=far_f.onnx;g=missing.onnx,far.vnnlib,20\n")
    with pytest.raises(ManifestError, match=r"bad.csv:1: column 1 \(networks\): model 'missing.onnx' not found"):
        read_instances(folder / "bad.csv")
    (folder / "bad.csv").write_text("f=far_f.onnx;far_g.onnx,far.vnnlib,20\n")
    with pytest.raises(ManifestError, match=r"bad.csv:1: .*name every network \(NAME=PATH\) or none"):
        read_instances(folder / "bad.csv")
    (folder / "bad.csv").write_text("far_f.onnx,far.vnnlib,soon\n")
    with pytest.raises(ManifestError, match=r"bad.csv:1: column 3 \(timeout\) must be a number, got 'soon'"):
        read_instances(folder / "bad.csv")


def test_run_benchmark_writes_result_files(folder, tmp_path):
    (folder / "instances.csv").write_text("f=far_f.onnx;g=far_g.onnx,far.vnnlib,20\n"
                                          "near_f.onnx;near_g.onnx,near.vnnlib,20\n"
                                          "far_f.onnx,far.vnnlib,20\n")
    rows = run_benchmark(folder / "instances.csv", tmp_path / "out")
    assert [r["status"] for r in rows] == ["sat", "unsat", "error"]   # the last row lacks g's model
    status, assignment = parse_result(open(rows[0]["result"]).read())
    assert status == "sat" and [k for k, _ in assignment][:2] == ["X[0]", "X[1]"]
    assert (tmp_path / "out" / "results.csv").read_text().splitlines()[0] == "line,id,status,time_s"


def test_run_instance_writes_error_on_a_bad_query(folder, tmp_path, capsys):
    bad = tmp_path / "bad.vnnlib"
    bad.write_text("(declare-network f (declare-input X Real [2]) (declare-output Y Real [2]))\n(assert (<= Y[0] 1)\n")
    out = run_instance([("f", folder / "far_f.onnx")], bad, tmp_path / "r.txt")
    assert out is None and (tmp_path / "r.txt").read_text() == "error\n"
    assert "'(' is never closed" in capsys.readouterr().err


def test_cli_run_instance_and_verify_query(folder, tmp_path, capsys):
    res = tmp_path / "r.txt"
    rc = main(["vnncomp", "run-instance", "--network", f"f={folder / 'near_f.onnx'}", "--network",
               f"g={folder / 'near_g.onnx'}", "--query", str(folder / "near.vnnlib"), "--result", str(res),
               "--timeout", "20"])
    assert rc == 0 and res.read_text() == "unsat\n"
    js = tmp_path / "out.json"
    rc = main(["verify", "--query", str(folder / "far.vnnlib"), "--network", f"f={folder / 'far_f.onnx'}",
               "--network", f"g={folder / 'far_g.onnx'}", "--timeout", "20", "--json", str(js)])
    text = capsys.readouterr().out
    assert rc == 1 and "vnnlib: sat" in text and "verdict: NOT_EQUIVALENT" in text
    data = json.loads(js.read_text())
    assert data["status"] == "sat" and len(data["x"]) == 2
    # the diff product form through the same command
    export_query(*[Network.random([2, 4, 1], seed=s) for s in (1, 1)], BOX, EpsEquivalence(0.01), tmp_path,
                 name="same", forms=("difference",))
    rc = main(["verify", "--query", str(tmp_path / "same_diff.vnnlib"), "--network", f"N={tmp_path / 'same_diff.onnx'}",
               "--timeout", "20"])
    assert rc == 0 and "vnnlib: unsat" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    (["--query", "q.vnnlib", "--eps", "1"], "--eps cannot go with --query"),
    (["--query", "q.vnnlib"], "give the models with --network"),
    (["--query", "q.vnnlib", "--network", "f=a.onnx", "--network", "f=b.onnx"], "a network name is given twice"),
    (["--network", "f=a.onnx", "A", "B", "--box=0:1", "--eps", "1"], "--network goes with --query"),
])
def test_verify_query_usage_errors(argv, message, capsys):
    rc = main(["verify"] + argv)
    assert rc == 2 and message in capsys.readouterr().err


def test_verify_without_a_box_keeps_the_argparse_message(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", "a.onnx", "b.onnx", "--eps", "1"])
    assert exc.value.code == 2 and "one of the arguments --box --vnnlib is required" in capsys.readouterr().err


def test_cli_export_query_and_inspect(nets, tmp_path, capsys):
    f, g = nets
    save(f, tmp_path / "f.npz")
    save(g, tmp_path / "g.npz")
    rc = main(["export-query", str(tmp_path / "f.npz"), str(tmp_path / "g.npz"), "--box=-1:1,0.5", "--eps", "0.1",
               "--outputs", "0", "--out", str(tmp_path), "--form", "all"])
    assert rc == 0
    assert "vnnlib2: " in capsys.readouterr().out
    q = read_query(tmp_path / "query.vnnlib")
    assert q.box == BOX and q.parts[0].f_outputs == (0,)
    rc = main(["vnncomp", "inspect", str(tmp_path / "query_stack.vnnlib"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["form"] == "eps" and data["parts"][0]["spec"]["eps"] == 0.1
    rc = main(["export-query", str(tmp_path / "f.npz"), str(tmp_path / "g.npz"), "--box=-1:1,0.5", "--top1",
               "--out", str(tmp_path), "--form", "difference"])
    assert rc == 4 and "the difference form f - g expresses eps specs only" in capsys.readouterr().err


def test_cli_run_instance_in_the_competitions_argument_form(folder, tmp_path, capsys):
    res = tmp_path / "r.txt"
    nets = f"f={folder / 'far_f.onnx'};g={folder / 'far_g.onnx'}"
    rc = main(["vnncomp", "run-instance", "v1", "equivalence", nets, str(folder / "far.vnnlib"), str(res), "20"])
    assert rc == 1 and res.read_text().startswith("sat\n((X[0] ")
    rc = main(["vnncomp", "run-instance", "equivalence", nets, str(folder / "far.vnnlib"), str(res)])
    assert rc == 2 and "the competition form takes" in capsys.readouterr().err
    assert main(["vnncomp", "supports"]) == 0 and "vnnlib-versions: 1.0 2.0" in capsys.readouterr().out


@pytest.mark.slow
def test_top1_and_decision_queries_end_to_end():
    from relucert import DecisionEquivalence, Top1Equivalence
    from relucert.io.query_export import vnnlib1_text

    f = Network.random([2, 8, 3], seed=5)
    g = f.post_affine(np.eye(3), [1e-3, 0.0, 0.0])
    box = Box.cube(2, -1.0, 1.0)
    spec = Top1Equivalence(margin=0.1)
    outs = [solve_query(read_query(vnnlib2_text(spec, box, n_outputs=3)), {"f": f, "g": g}, time_limit=30),
            solve_query(read_query(vnnlib1_text(spec, box, n_outputs=3, form="stack")), {"N": Network.stack(f, g)},
                        time_limit=30)]
    h = f.slice_outputs([0])
    dspec = DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=0.01)
    outs.append(solve_query(read_query(vnnlib2_text(dspec, box, n_outputs=1)),
                            {"f": h, "g": h.post_affine([[1.0]], [1e-3])}, time_limit=30))
    for out in outs:
        # the MILP engine proves these; without it relucert says why it cannot
        assert out.status == "unsat" or (out.status == "unknown" and "engine unavailable" in out.reason), out.reason
    # a counterexample is found and checked without any engine: g flips class 0 and 1 far from ties
    swap = f.post_affine(np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]]))
    out = solve_query(read_query(vnnlib2_text(Top1Equivalence(margin=0.1), box, n_outputs=3)), {"f": f, "g": swap},
                      time_limit=30)
    assert out.status == "sat"
    fy, gy = f.eval_exact(out.x), swap.eval_exact(out.x)
    i = fy.index(max(fy))
    assert all(fy[i] - fy[l] >= Fraction(0.1) for l in range(3) if l != i) and gy.index(max(gy)) != i


def test_verify_query_on_an_inverted_band_query_is_no_verdict(tmp_path, capsys):
    f = Network.random([2, 4, 2], seed=2)
    save(f, tmp_path / "f.npz")
    q = tmp_path / "band.vnnlib"
    q.write_text("(vnnlib-version <2.0>)\n(declare-network f (declare-input X Real [2]) (declare-output Y Real [2]))\n"
                 "(declare-network g (declare-input X2 Real [2]) (declare-output Y2 Real [2]))\n"
                 "(assert (and (>= X[0] -1) (<= X[0] 1) (== X[1] 0) (== X2[0] X[0]) (== X2[1] X[1])))\n"
                 "(assert (<= Y2[0] (+ Y[0] 0.05)))\n(assert (>= Y2[0] (- Y[0] 0.05)))\n")
    rc = main(["verify", "--query", str(q), "--network", f"f={tmp_path / 'f.npz'}", "--network",
               f"g={tmp_path / 'f.npz'}"])
    cap = capsys.readouterr()
    assert rc == 3 and "vnnlib: sat" in cap.out and "witness (exact" in cap.out
    assert "the query looks inverted" in cap.err


def test_gzipped_queries_and_models(folder, tmp_path):
    import gzip

    for name in ("far.vnnlib", "far_f.onnx", "far_g.onnx"):
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress((folder / name).read_bytes()))
    out = run_instance([("f", tmp_path / "far_f.onnx.gz"), ("g", tmp_path / "far_g.onnx.gz")],
                       tmp_path / "far.vnnlib.gz", tmp_path / "r.txt", timeout=20)
    assert out.status == "sat" and (tmp_path / "r.txt").read_text().startswith("sat\n")
    assert read_query(tmp_path / "far.vnnlib.gz").where.endswith("far.vnnlib.gz")
