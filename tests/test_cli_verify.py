"""`relucert verify`, `relucert distance` and `relucert demo` from the command line."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import relucert
from relucert.cli import main
from relucert.examples import prune_smallest, round_weights, small_regressor


@pytest.fixture()
def pair(tmp_path):
    f = small_regressor()
    paths = {}
    for name, net in {"f": f, "q": round_weights(f), "p": prune_smallest(f)}.items():
        paths[name] = str(tmp_path / f"{name}.npz")
        relucert.save(net, paths[name])
    return paths


def test_verify_equivalent_exit_0_and_json(pair, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["verify", pair["f"], pair["q"], "--box=-1:1", "--eps", "0.05", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "verdict: EQUIVALENT" in text
    data = json.loads(out.read_text())
    assert data["verdict"] == "EQUIVALENT"
    assert 0 <= data["lower"] <= data["upper"] <= 0.05
    assert data["method"] and data["time_s"] >= 0 and data["counterexample"] is None


def test_verify_with_two_workers_gives_the_same_verdict(pair, tmp_path):
    out1, out2 = tmp_path / "1.json", tmp_path / "2.json"
    assert main(["verify", pair["f"], pair["q"], "--box=-1:1", "--eps", "0.05", "--method", "bab", "--quiet",
                 "--json", str(out1)]) == 0
    assert main(["verify", pair["f"], pair["q"], "--box=-1:1", "--eps", "0.05", "--method", "bab", "--quiet",
                 "--workers", "2", "--json", str(out2)]) == 0
    a, b = json.loads(out1.read_text()), json.loads(out2.read_text())
    assert a["verdict"] == b["verdict"] == "EQUIVALENT"
    assert float(b["upper"]) <= 0.05 and float(b["upper"]) == pytest.approx(float(a["upper"]), rel=1e-9)


def test_verify_refuted_exit_1_with_exact_counterexample(pair, tmp_path, capsys):
    ce_path = tmp_path / "ce.json"
    rc = main(["verify", pair["f"], pair["p"], "--box=-1:1", "--eps", "0.01", "--counterexample", str(ce_path),
               "--json", str(tmp_path / "r.json")])
    assert rc == 1
    assert "verdict: NOT_EQUIVALENT" in capsys.readouterr().out
    ce = json.loads(ce_path.read_text())
    x = [Fraction(v) for v in ce["x"]]
    f, g = relucert.load(pair["f"]), relucert.load(pair["p"])
    assert relucert.Box.cube(2).contains(x)
    fx, gx = f.eval_exact(x), g.eval_exact(x)
    assert [Fraction(v) for v in ce["f"]] == fx and [Fraction(v) for v in ce["g"]] == gx
    assert abs(fx[0] - gx[0]) > Fraction(1, 100)
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["counterexample"]["x"] == ce["x"]


def test_verify_unknown_exit_3(pair, capsys):
    # one bound pass on the whole box: the pruning error (about 0.25) is below eps = 1, but the
    # root bound (about 6.3) is not, so a bounds-only run must say UNKNOWN with its bracket
    rc = main(["verify", pair["f"], pair["p"], "--box=-1:1", "--eps", "1", "--method", "bounds"])
    out = capsys.readouterr().out
    assert rc == 3
    assert "verdict: UNKNOWN" in out and "bracket: [0.25" in out


@pytest.mark.parametrize("argv, message", [
    (["--box=-1:1"], "give --eps"),
    (["--box=-1:1", "--eps", "-1"], "--eps must be >= 0"),
    (["--box=0:1,0:1,0:1", "--eps", "1"], "box has 3 dimensions"),
    (["--box=-1:1", "--eps", "1", "--outputs", "3"], "--outputs must name outputs 0..0"),
    (["--box=-1:1", "--eps", "1", "--timeout", "0"], "--timeout must be > 0"),
    (["--box=-1:1", "--eps", "1", "--workers", "0"], "--workers must be >= 1, got 0"),
    (["--box=-1:1", "--top1", "--eps", "1"], "--eps goes with the sup-norm check"),
])
def test_verify_usage_errors_exit_2(pair, argv, message, capsys):
    rc = main(["verify", pair["f"], pair["q"], *argv])
    assert rc == 2
    assert message in capsys.readouterr().err


def test_verify_missing_model_exit_4(pair, tmp_path, capsys):
    rc = main(["verify", pair["f"], str(tmp_path / "nope.npz"), "--box=-1:1", "--eps", "1"])
    assert rc == 4
    assert "nope.npz" in capsys.readouterr().err


def test_distance_brackets_the_pruning_error(pair, tmp_path, capsys):
    out = tmp_path / "d.json"
    rc = main(["distance", pair["f"], pair["p"], "--box=-1:1", "--atol", "1e-6", "--rtol", "0", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    lo, hi = float(data["lower"]), float(data["upper"])
    assert lo <= hi <= lo + 1e-6 + 1e-12
    # the lower end is attained exactly at the witness
    x = [Fraction(v) for v in data["witness_x"]]
    f, g = relucert.load(pair["f"]), relucert.load(pair["p"])
    assert float(abs(f.eval_exact(x)[0] - g.eval_exact(x)[0])) == pytest.approx(lo, abs=1e-15)
    assert "distance:" in capsys.readouterr().out


@pytest.mark.parametrize("other, eps, verdict, rc", [("q", "0.05", "VERIFIED", 0), ("p", "0.01", "REFUTED", 1)])
def test_verify_writes_a_certificate_that_checks(pair, tmp_path, capsys, other, eps, verdict, rc):
    cert = tmp_path / "c.json"
    assert main(["verify", pair["f"], pair[other], "--box=-1:1", "--eps", eps, "--certificate", str(cert)]) == rc
    assert f"certificate: {cert}" in capsys.readouterr().out
    assert main(["check", str(cert)]) == 0
    assert capsys.readouterr().out.startswith(verdict)
    # the certificate is bound to the weights: a different g no longer matches it
    doc = json.loads(cert.read_text())
    doc["networks"]["g"]["file"] = pair["f"]
    cert.write_text(json.dumps(doc))
    assert main(["check", str(cert)]) != 0
