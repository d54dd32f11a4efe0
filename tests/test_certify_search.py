"""Certified mode: certificates of small pairs check, agree with verify(), and the CLI works."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relucert import Box, CertificateError, EpsEquivalence, Network, SpecError, Top1Equivalence, Verdict, verify
from relucert import io as rio
from relucert.certify import certificate_from_result, certify
from relucert.certify.format import encode_preorder, rational
from relucert.check import check_certificate
from relucert.check.checker import _decode_tree, _leaves, _path
from relucert.cli import main


def _perturbed(f, scale, seed):
    rng = np.random.default_rng(seed)
    return Network([(L.weight * (1 + scale * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])


def test_rational_strings():
    assert rational(0.5) == "1/2"
    assert rational(-3) == "-3"
    assert rational(Fraction(-3, 8)) == "-3/8"
    assert Fraction(rational(0.1)) == Fraction(0.1)


def test_preorder_encoding_round_trip():
    children = {0: (1, 2), 2: (3, 4), 3: (5, 6)}
    bits, n = encode_preorder(children)
    assert n == 7
    dec = _decode_tree({"enc": "preorder-bits-v1", "nodes": n, "bits": bits})
    assert list(dec) == [1, 0, 1, 1, 0, 0, 0]
    los, his, ph, ids, parent, side = _leaves(dec, np.array([0.0, 0.0]), np.array([1.0, 1.0]))
    assert [_path(int(i), parent, side) for i in ids] == ["root0", "root100", "root101", "root11"]
    # the leaves tile the box: areas sum to 1 and the first leaf is the low half on input 0
    assert np.isclose(np.prod(his - los, axis=1).sum(), 1.0)
    assert list(los[0]) == [0.0, 0.0] and list(his[0]) == [0.5, 1.0]


def test_certify_bab_and_check(tmp_path):
    f = Network.random([2, 8, 1], seed=31)
    g = _perturbed(f, 1e-3, 1)
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.01))
    assert res.verdict is Verdict.EQUIVALENT and res.certificate["proof"]["kind"] == "bab"
    size = res.write(tmp_path / "c.json", save_models=True)
    assert size == (tmp_path / "c.json").stat().st_size
    rep = check_certificate(tmp_path / "c.json")
    assert rep.verdict == "VERIFIED" and rep.stats["leaves"] == res.stats["leaves"]
    # the verifier agrees
    assert verify(f, g, Box.cube(2), EpsEquivalence(0.01)).verdict is Verdict.EQUIVALENT


def test_certify_options_validated():
    f = Network.random([2, 3, 1], seed=1)
    with pytest.raises(SpecError, match="method must be one of"):
        certify(f, f, Box.cube(2), EpsEquivalence(0.1), method="milp")
    with pytest.raises(SpecError, match="time_limit must be > 0"):
        certify(f, f, Box.cube(2), EpsEquivalence(0.1), time_limit=0)
    with pytest.raises(SpecError, match="f must be a Network"):
        certify(3, f, Box.cube(2), EpsEquivalence(0.1))


def test_unknown_writes_nothing(tmp_path):
    f = Network.random([2, 8, 8, 1], seed=2)
    g = _perturbed(f, 1e-2, 2)
    res = certify(f, g, Box.cube(2), EpsEquivalence(1e-9), node_limit=50, fallback_verify=False)
    if res.verdict is Verdict.NOT_EQUIVALENT:       # the sampling found a point at once
        assert res.certificate["result"] == "refuted"
        return
    assert res.verdict is Verdict.UNKNOWN and res.certificate is None
    with pytest.raises(CertificateError, match="no certificate"):
        res.write(tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_witness_from_verify_result(tmp_path):
    f = Network.random([2, 6, 1], seed=4)
    g = _perturbed(f, 0.2, 4)
    spec = EpsEquivalence(1e-3)
    r = verify(f, g, Box.cube(2), spec)
    assert r.verdict is Verdict.NOT_EQUIVALENT
    rio.save(f, tmp_path / "f.npz")
    rio.save(g, tmp_path / "g.npz")
    doc = certificate_from_result(r, f, g, f_file=tmp_path / "f.npz", g_file=tmp_path / "g.npz")
    from relucert.certify import write_certificate

    write_certificate(doc, tmp_path / "w.json")
    assert check_certificate(tmp_path / "w.json").verdict == "REFUTED"


def test_top1_structural_and_witness(tmp_path):
    f = Network.random([2, 6, 3], seed=5)
    L = f.layers
    p = np.array([5, 4, 3, 2, 1, 0])
    g = Network([(L[0].weight[p] * 0.5, L[0].bias[p] * 0.5), (L[1].weight[:, p] * 2.0, L[1].bias)])
    res = certify(f, g, Box.cube(2), Top1Equivalence())
    assert res.verdict is Verdict.EQUIVALENT and res.certificate["proof"]["kind"] == "structural"
    res.write(tmp_path / "t.json", save_models=True)
    assert check_certificate(tmp_path / "t.json").verdict == "VERIFIED"
    # a classifier whose class order is changed disagrees somewhere: a witness
    swapped = Network([L[0], (L[1].weight[[1, 0, 2]], L[1].bias[[1, 0, 2]])])
    res = certify(f, swapped, Box.cube(2), Top1Equivalence())
    assert res.verdict is Verdict.NOT_EQUIVALENT
    res.write(tmp_path / "t2.json", save_models=True)
    rep = check_certificate(tmp_path / "t2.json")
    assert rep.verdict == "REFUTED" and "f picks" in rep.reason


def test_decision_witness(tmp_path):
    from relucert import DecisionEquivalence

    f = Network.random([2, 6, 1], seed=8)
    g = Network([f.layers[0], (-f.layers[1].weight, -f.layers[1].bias)])
    res = certify(f, g, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=0.0))
    assert res.verdict is Verdict.NOT_EQUIVALENT
    res.write(tmp_path / "d.json", save_models=True)
    rep = check_certificate(tmp_path / "d.json")
    assert rep.verdict == "REFUTED" and rep.slack >= 0
    doc = json.loads((tmp_path / "d.json").read_text())
    doc["claim"]["gamma"] = "1000"                 # no point has f >= 1000 or f <= -1000
    from relucert.check.checker import check_document

    assert check_document(doc, base=tmp_path).verdict == "INVALID"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), width=st.integers(2, 6), depth=st.integers(1, 2),
       scale=st.sampled_from([1e-4, 1e-3, 1e-2, 1e-1]), eps=st.sampled_from([1e-3, 1e-2, 5e-2]))
def test_property_certify_check_agree_with_verify(tmp_path, seed, width, depth, scale, eps):
    f = Network.random([2] + [width] * depth + [1], seed=seed)
    g = _perturbed(f, scale, seed + 1)
    box = Box.cube(2)
    spec = EpsEquivalence(eps)
    res = certify(f, g, box, spec, node_limit=20000, time_limit=10)
    ref = verify(f, g, box, spec, time_limit=10)
    if res.verdict is Verdict.UNKNOWN:
        assert res.certificate is None
        return
    path = tmp_path / f"p{seed}.json"
    res.write(path, save_models=True)
    rep = check_certificate(path)
    if res.verdict is Verdict.EQUIVALENT:
        assert rep.verdict == "VERIFIED"
        assert ref.verdict is not Verdict.NOT_EQUIVALENT
    else:
        assert rep.verdict == "REFUTED"
        assert ref.verdict is not Verdict.EQUIVALENT
        x = [Fraction(v) for v in res.certificate["witness"]["x"]]
        assert abs(f.eval_exact(x)[0] - g.eval_exact(x)[0]) > Fraction(res.certificate["claim"]["eps"])


def test_cli_certify_and_check(tmp_path, capsys):
    f = Network.random([2, 6, 1], seed=6)
    g = _perturbed(f, 1e-3, 6)
    rio.save(f, tmp_path / "f.npz")
    rio.save(g, tmp_path / "g.npz")
    out = tmp_path / "c.json"
    rc = main(["certify", str(tmp_path / "f.npz"), str(tmp_path / "g.npz"), "--box=-1:1", "--eps", "0.01",
               "-o", str(out)])
    assert rc == 0 and out.exists()
    assert "verdict: EQUIVALENT" in capsys.readouterr().out
    assert main(["check", str(out)]) == 0
    assert capsys.readouterr().out.startswith("VERIFIED")
    assert main(["check", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "VERIFIED"
    # refuted claim: exit 1, certificate still written; check holds (exit 0)
    out2 = tmp_path / "w.json"
    assert main(["certify", str(tmp_path / "f.npz"), str(tmp_path / "g.npz"), "--box=-1:1", "--eps", "1e-6",
                 "-o", str(out2)]) == 1
    capsys.readouterr()
    assert main(["check", str(out2)]) == 0
    assert capsys.readouterr().out.startswith("REFUTED")
    # tampered: INVALID, exit 1
    doc = json.loads(out.read_text())
    doc["claim"]["eps"] = "1/1000000"
    out.write_text(json.dumps(doc))
    assert main(["check", str(out)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("INVALID") and "at: root" in text and "slack: -" in text
    # malformed: INVALID exit 1; missing model: exit 4; usage: exit 2
    (tmp_path / "bad.json").write_text("{")
    assert main(["check", str(tmp_path / "bad.json")]) == 1
    (tmp_path / "f.npz").unlink()
    assert main(["check", str(out2)]) == 4
    assert main(["certify", str(tmp_path / "g.npz"), str(tmp_path / "g.npz"), "--box=-1:1", "-o", "x"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["check"])
    assert exc.value.code == 2


def test_decision_structural_needs_compatible_thresholds(tmp_path):
    from relucert import DecisionEquivalence
    from relucert.check.checker import check_document

    f = Network.random([2, 5, 1], seed=9)
    L = f.layers
    g = Network([(L[0].weight[::-1] * 2.0, L[0].bias[::-1] * 2.0), (L[1].weight[:, ::-1] / 2.0, L[1].bias)])
    res = certify(f, g, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.05, gamma=0.1))
    assert res.verdict is Verdict.EQUIVALENT and res.certificate["proof"]["kind"] == "structural"
    res.write(tmp_path / "d.json", save_models=True)
    doc = json.loads((tmp_path / "d.json").read_text())
    assert check_document(doc, base=tmp_path).verdict == "VERIFIED"
    # f = g does not give "f <= tau_f - gamma => g <= tau_g" when tau_g < tau_f - gamma
    for tau_g in ("-1/5", "1/5"):
        bad = json.loads(json.dumps(doc))
        bad["claim"]["tau_g"] = tau_g
        rep = check_document(bad, base=tmp_path)
        assert rep.verdict == "INVALID" and rep.path == "claim"


def test_cli_check_many(tmp_path, capsys):
    from pathlib import Path

    proofs = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "proofs").glob("*.cert.json"))[:3]
    assert main(["check", *proofs]) == 0
    out = capsys.readouterr().out
    assert all(f"{p}: " in out for p in proofs)
    (tmp_path / "bad.json").write_text("{")
    assert main(["check", proofs[0], str(tmp_path / "bad.json")]) == 1
    assert main(["check", proofs[0], str(tmp_path / "missing.json")]) == 4
