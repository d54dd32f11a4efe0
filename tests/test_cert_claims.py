"""Branch-and-bound certificates of top-1, decision and distance claims, recorded split inputs,
and alpha hints: correct certificates are VERIFIED (in float64 and in exact rationals), tampered
ones INVALID, and a VERIFIED claim holds at sampled points."""

from __future__ import annotations

import base64
import json
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, DecisionEquivalence, Distance, EpsEquivalence, Network, Top1Equivalence
from relucert import io as rio
from relucert.certify import certify
from relucert.check import check_certificate
from relucert.check.checker import check_document


def _jitter(f, rel, seed):
    rng = np.random.default_rng(seed)
    return Network([(L.weight * (1 + rel * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])


def _write(res, d, name="c.json"):
    res.write(d / name, save_models=True)
    return json.loads((d / name).read_text())


def _copy(doc):
    return json.loads(json.dumps(doc))


@pytest.fixture(scope="module")
def top1(tmp_path_factory):
    d = tmp_path_factory.mktemp("top1")
    f = Network.random([2, 8, 8, 3], seed=7)
    g = _jitter(f, 1e-3, 1)
    res = certify(f, g, Box.cube(2), Top1Equivalence(margin=0.006), fallback_verify=False)
    assert res.certificate["proof"]["kind"] == "bab", res.reason
    return d, _write(res, d), f, g


def test_top1_bab_verified_in_both_arithmetics(top1):
    d, doc, f, g = top1
    assert doc["claim"]["kind"] == "top1" and doc["proof"]["tree"]["leaves"] > 1
    r1, r2 = check_document(doc, base=d), check_document(doc, base=d, exact=True)
    assert r1.verdict == r2.verdict == "VERIFIED", (str(r1), str(r2))
    assert r1.slack >= 0


def test_top1_verified_claim_holds_at_samples(top1):
    d, doc, f, g = top1
    X = Box.cube(2).sample(20000, np.random.default_rng(3))
    F, G = f(X), g(X)
    i = F.argmax(axis=1)
    lead = F[np.arange(len(X)), i] - np.sort(F, axis=1)[:, -2]
    covered = lead >= 0.006 * (1 + 1e-9)
    assert covered.sum() > 1000
    assert np.all(G[covered].argmax(axis=1) == i[covered])


def test_top1_tampering(top1):
    d, doc, f, g = top1
    bad = _copy(doc)
    bad["claim"]["margin"] = "0"          # margin 0 is false for this pair (refuted below): the tree cannot close
    rep = check_document(bad, base=d)
    assert rep.verdict == "INVALID" and rep.path.startswith("root") and rep.slack < 0
    # margin 0 really is refuted, with an exact witness
    res = certify(f, g, Box.cube(2), Top1Equivalence(), fallback_verify=False)
    assert res.verdict.name == "NOT_EQUIVALENT"
    assert check_document(_write(res, d, "refuted.json"), base=d).verdict == "REFUTED"


def test_top1_case_split_is_needed():
    """A leaf where g's class is never f's must fail: g = f with classes 0 and 1 swapped."""
    f = Network.random([2, 6, 3], seed=2)
    L0, L1 = f.layers
    g = Network([(L0.weight, L0.bias), (L1.weight[[1, 0, 2]], L1.bias[[1, 0, 2]])])
    res = certify(f, g, Box.cube(2), Top1Equivalence(margin=0.01), fallback_verify=False, time_limit=20)
    assert res.verdict.name == "NOT_EQUIVALENT"


@pytest.fixture(scope="module")
def decision(tmp_path_factory):
    d = tmp_path_factory.mktemp("dec")
    f = Network.random([2, 8, 8, 1], seed=8)
    g = _jitter(f, 1e-3, 2)
    res = certify(f, g, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=0.006), fallback_verify=False)
    assert res.certificate["proof"]["kind"] == "bab", res.reason
    return d, _write(res, d), f, g


def test_decision_bab_verified_and_holds(decision):
    d, doc, f, g = decision
    r1, r2 = check_document(doc, base=d), check_document(doc, base=d, exact=True)
    assert r1.verdict == r2.verdict == "VERIFIED"
    X = Box.cube(2).sample(20000, np.random.default_rng(4))
    F, G = f(X)[:, 0], g(X)[:, 0]
    assert np.all(G[F >= 0.006 + 1e-12] > 0) and np.all(G[F <= -0.006 - 1e-12] <= 0)


@pytest.mark.parametrize("field,value", [("gamma", "0"), ("tau_g", "1/10"), ("tau_f", "-1/10")])
def test_decision_tampering_is_invalid(decision, field, value):
    d, doc, f, g = decision
    bad = _copy(doc)
    bad["claim"][field] = value
    rep = check_document(bad, base=d)
    assert rep.verdict == "INVALID" and rep.slack is not None and rep.slack < 0


def test_distance_bracket(tmp_path):
    f = Network.random([2, 8, 8, 1], seed=8)
    g = _jitter(f, 1e-3, 2)
    res = certify(f, g, Box.cube(2), Distance(atol=1e-4, rtol=0.05), fallback_verify=False)
    assert res.verdict.name == "EQUIVALENT", res.reason
    doc = _write(res, tmp_path)
    lo, hi = Fraction(doc["claim"]["lower"]), Fraction(doc["claim"]["upper"])
    assert 0 < lo <= hi <= lo + max(Fraction(1, 10**4), Fraction(5, 100) * hi) + Fraction(1, 10**12)
    rep = check_document(doc, base=tmp_path)
    assert rep.verdict == "VERIFIED" and "lower end is reached" in rep.reason
    X = Box.cube(2).sample(20000, np.random.default_rng(5))
    assert np.abs(f(X) - g(X)).max() <= float(hi)
    bad = _copy(doc)                       # a lower end above the witness value
    bad["claim"]["lower"] = str(lo * 2)
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "witness" and rep.slack < 0
    bad = _copy(doc)                       # an upper end below the sup
    bad["claim"]["upper"] = str(lo / 2)
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path.startswith("root")
    bad = _copy(doc)
    del bad["witness"]
    with pytest.raises(Exception, match="witness"):
        check_document(bad, base=tmp_path)


# -- recorded split inputs (given-dim-midpoint-v1) ----------------------------------------------
@pytest.fixture(scope="module")
def dims_cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("dims")
    f = Network.random([3, 6, 6, 1], seed=31)
    g = _jitter(f, 2e-3, 3)
    X = Box.cube(3).sample(20000, np.random.default_rng(0))
    eps = float(f"{1.3 * np.abs(f(X) - g(X)).max():.3g}")
    res = certify(f, g, Box.cube(3), EpsEquivalence(eps), fallback_verify=False)
    doc = _write(res, d)
    assert doc["proof"]["split_rule"] == "given-dim-midpoint-v1" and doc["proof"]["tree"]["leaves"] > 4
    return d, doc


def test_recorded_split_inputs_verified_and_tampering(dims_cert):
    d, doc = dims_cert
    assert check_document(doc, base=d).verdict == "VERIFIED"
    dims = bytearray(base64.b64decode(doc["proof"]["tree"]["dims"]))
    verdicts = []
    for i in range(min(8, len(dims))):     # another input at one split: the tree covers the box, leaves may fail
        bad = _copy(doc)
        dd = bytearray(dims)
        dd[i] = (dd[i] + 1) % 3
        bad["proof"]["tree"]["dims"] = base64.b64encode(bytes(dd)).decode()
        r1 = check_document(bad, base=d)
        if r1.verdict == "VERIFIED" and "VERIFIED" not in verdicts:   # the bounds really close: exact agrees
            assert check_document(bad, base=d, exact=True).verdict == "VERIFIED"
        verdicts.append(r1.verdict)
    assert "INVALID" in verdicts
    if "VERIFIED" not in verdicts:         # the exact replay of recorded splits, once
        assert check_document(doc, base=d, exact=True).verdict == "VERIFIED"
    bad = _copy(doc)
    dims[0] = 3                            # there is no input 3
    bad["proof"]["tree"]["dims"] = base64.b64encode(bytes(dims)).decode()
    with pytest.raises(Exception, match="dims holds 3"):
        check_document(bad, base=d)
    bad = _copy(doc)
    del bad["proof"]["tree"]["dims"]
    with pytest.raises(Exception, match="needs proof.tree.dims"):
        check_document(bad, base=d)


# -- alpha hints ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hinted(tmp_path_factory):
    """A lin-v1 pair (g has one more hidden unit) where some leaves close only with their hint."""
    d = tmp_path_factory.mktemp("hints")
    f = Network.random([2, 8, 8, 1], seed=21)
    rng = np.random.default_rng(5)
    g = Network([(L.weight * (1 + 1e-3 * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])
    L0, L1, L2 = g.layers
    g = Network([(np.vstack([L0.weight, [[0.5, -0.25]]]), np.append(L0.bias, 0.1)),
                 (np.hstack([L1.weight, np.full((L1.n_out, 1), 1e-4)]), L1.bias), L2])
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.1), fallback_verify=False, hints=True)
    doc = _write(res, d)
    assert doc["proof"]["bound"] == "lin-v1" and len(doc["proof"].get("hints", [])) >= 3
    return d, doc


def test_hints_are_needed_and_checked(hinted):
    d, doc = hinted
    assert check_document(doc, base=d).verdict == "VERIFIED"
    rep = check_document(doc, base=d, exact=True)
    assert rep.verdict == "VERIFIED", str(rep)
    bad = _copy(doc)
    del bad["proof"]["hints"]
    rep = check_document(bad, base=d)
    assert rep.verdict == "INVALID" and rep.slack < 0


def test_changed_hint_is_invalid_or_truly_holds(hinted):
    d, doc = hinted
    n_units = sum(len(L.bias) for k in ("f", "g") for L in rio.load(d / doc["networks"][k]["file"]).layers[:-1])
    outcomes = set()
    for h in range(min(4, len(doc["proof"]["hints"]))):
        for fill in (0, 64, 255):          # all slopes 0, all 1, all default
            bad = _copy(doc)
            bad["proof"]["hints"][h]["alpha"] = base64.b64encode(bytes([fill] * n_units)).decode()
            r1 = check_document(bad, base=d)
            outcomes.add(r1.verdict)
            if r1.verdict == "VERIFIED":   # the changed hint still closes the leaf: the exact replay agrees
                assert check_document(bad, base=d, exact=True).verdict == "VERIFIED"
    assert "INVALID" in outcomes
    bad = _copy(doc)
    k = bytearray(base64.b64decode(bad["proof"]["hints"][0]["alpha"]))
    k[0] = 100                             # slope 100/64 > 1
    bad["proof"]["hints"][0]["alpha"] = base64.b64encode(bytes(k)).decode()
    rep = check_document(bad, base=d)
    assert rep.verdict == "INVALID" and rep.path == "proof.hints[0].alpha[0]"
    bad = _copy(doc)
    bad["proof"]["hints"][0]["leaf"] = doc["proof"]["tree"]["leaves"]      # no such leaf
    with pytest.raises(Exception, match="leaf number"):
        check_document(bad, base=d)
    bad = _copy(doc)                       # a hint moved to another leaf
    bad["proof"]["hints"][0]["leaf"] = next(i for i in range(doc["proof"]["tree"]["leaves"])
                                            if i not in {h["leaf"] for h in doc["proof"]["hints"]})
    r1 = check_document(bad, base=d)
    assert r1.verdict == "INVALID" or check_document(bad, base=d, exact=True).verdict == "VERIFIED"


def test_hint_soundness_any_slope(tmp_path):
    """Random slopes in [0, 1] at every leaf never make the checker accept a false claim: with
    eps below the sampled sup, every variant is INVALID."""
    f = Network.random([2, 6, 6, 1], seed=41)
    g = _jitter(f, 5e-3, 4)
    res = certify(f, g, Box.cube(2), EpsEquivalence(1.0), fallback_verify=False, hints=True)
    doc = _write(res, tmp_path)
    X = Box.cube(2).sample(20000, np.random.default_rng(1))
    sup = float(np.abs(f(X) - g(X)).max())
    n_units = 24
    rng = np.random.default_rng(9)
    for trial in range(5):
        bad = _copy(doc)
        bad["claim"]["eps"] = str(Fraction(sup * 0.99))
        bad["proof"]["hints"] = [{"leaf": i, "alpha": base64.b64encode(
            rng.integers(0, 65, n_units, dtype=np.uint8).tobytes()).decode()}
            for i in range(doc["proof"]["tree"]["leaves"])]
        assert check_document(bad, base=tmp_path).verdict == "INVALID"


def test_cli_certify_decision_and_distance(tmp_path, capsys):
    from relucert.cli import main

    f = Network.random([2, 8, 8, 1], seed=8)
    rio.save(f, tmp_path / "f.npz")
    rio.save(_jitter(f, 1e-3, 2), tmp_path / "g.npz")
    args = [str(tmp_path / "f.npz"), str(tmp_path / "g.npz"), "--box=-1:1"]
    assert main(["certify", *args, "--decision", "0,0,0.006", "-o", str(tmp_path / "d.json")]) == 0
    assert json.loads((tmp_path / "d.json").read_text())["claim"]["gamma"] == "3/500"
    assert main(["certify", *args, "--distance", "--rtol", "0.05", "-o", str(tmp_path / "di.json")]) == 0
    capsys.readouterr()
    assert main(["check", str(tmp_path / "d.json"), str(tmp_path / "di.json")]) == 0
    out = capsys.readouterr().out
    assert out.count("VERIFIED") == 2 and "lower end is reached" in out
    assert main(["certify", *args, "--distance", "--top1", "-o", str(tmp_path / "x.json")]) == 2
    assert main(["certify", *args, "--decision", "0,0", "-o", str(tmp_path / "x.json")]) == 2


def test_acas_certificate_in_proofs_rejects_a_smaller_eps():
    """proofs/acas-0.05-050 (ACAS Xu 1_5 vs its 16-bit copy, diff-v1): the certificate holds at
    eps 0.05 and is INVALID at eps 0.001 (its one leaf bounds ~0.008)."""
    from pathlib import Path

    proofs = Path(__file__).resolve().parents[1] / "proofs"
    doc = json.loads((proofs / "acas-0.05-050.cert.json").read_text())
    assert doc["proof"]["bound"] == "diff-v1"
    bad = _copy(doc)
    bad["claim"]["eps"] = "1/1000"
    rep = check_document(bad, base=proofs)
    assert rep.verdict == "INVALID" and rep.path.startswith("root") and rep.slack < 0


@pytest.mark.parametrize("seed", range(6))
def test_top1_and_decision_certificates_hold_at_samples(seed, tmp_path):
    """Property check of the leaf conditions: on strongly perturbed small pairs, a VERIFIED
    top-1 or decision certificate is never contradicted by 20,000 sampled points."""
    rng = np.random.default_rng(seed)
    f = Network.random([2, 5, 3], seed=100 + seed)
    g = _jitter(f, 0.05, seed)
    margin = float(rng.choice([0.02, 0.1, 0.3]))
    X = Box.cube(2).sample(20000, np.random.default_rng(seed + 50))
    res = certify(f, g, Box.cube(2), Top1Equivalence(margin=margin), fallback_verify=False, time_limit=10)
    if res.certificate is not None:
        verdict = check_document(_write(res, tmp_path, "t.json"), base=tmp_path).verdict
        assert verdict == {"EQUIVALENT": "VERIFIED", "NOT_EQUIVALENT": "REFUTED"}[res.verdict.name]
        if verdict == "VERIFIED":
            F, G = f(X), g(X)
            i = F.argmax(axis=1)
            lead = F[np.arange(len(X)), i] - np.sort(F, axis=1)[:, -2]
            cov = lead >= margin * (1 + 1e-9)
            assert np.all(G[cov].argmax(axis=1) == i[cov])
    f1 = Network.random([2, 5, 1], seed=200 + seed)
    g1 = _jitter(f1, 0.05, seed)
    gam = float(rng.choice([0.01, 0.05, 0.2]))
    res = certify(f1, g1, Box.cube(2), DecisionEquivalence(tau_f=0.0, tau_g=0.0, gamma=gam), fallback_verify=False,
                  time_limit=10)
    if res.certificate is not None:
        verdict = check_document(_write(res, tmp_path, "d.json"), base=tmp_path).verdict
        assert verdict == {"EQUIVALENT": "VERIFIED", "NOT_EQUIVALENT": "REFUTED"}[res.verdict.name]
        if verdict == "VERIFIED":
            F, G = f1(X)[:, 0], g1(X)[:, 0]
            assert np.all(G[F >= gam * (1 + 1e-9)] > 0) and np.all(G[F <= -gam * (1 + 1e-9)] <= 0)


def test_excluded_polytopes(tmp_path):
    """eps claims off excluded closed polytopes (vardi-approx's bad slabs): leaves inside a
    polytope close without a bound; without the polytopes (or with one shrunk) the claim fails;
    a witness inside a polytope is rejected."""
    from relucert import transforms

    absn = Network([(np.array([[1.0], [-1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))])
    box = Box([-1.0], [1.0])
    new, claim = transforms.apply("vardi-approx", absn, box, c0=2)
    res = certify(absn, new, box, claim.spec(), time_limit=30)
    assert res.verdict.name == "EQUIVALENT", res.reason
    doc = _write(res, tmp_path)
    assert len(doc["claim"]["excluded"]) == len(claim.excluded) >= 1
    rep = check_document(doc, base=tmp_path)
    assert rep.verdict == "VERIFIED" and rep.stats["excluded_leaves"] >= 1
    bad = _copy(doc)
    del bad["claim"]["excluded"]
    assert check_document(bad, base=tmp_path).verdict == "INVALID"
    bad = _copy(doc)                       # every polytope moved off the box: nothing is excluded
    for P in bad["claim"]["excluded"]:
        P["b"] = ["-1000"] * len(P["b"])
    assert check_document(bad, base=tmp_path).verdict == "INVALID"
    # the sup version (no exclusions) is refuted; its witness inside an excluded polytope is not a witness
    new2, bad_claim = transforms.apply("vardi-approx-sup", absn, box, c0=2)
    res2 = certify(absn, new2, box, bad_claim.spec(), time_limit=30)
    assert res2.verdict.name == "NOT_EQUIVALENT"
    wdoc = _write(res2, tmp_path, "w.json")
    assert check_document(wdoc, base=tmp_path).verdict == "REFUTED"
    x = Fraction(wdoc["witness"]["x"][0])
    wdoc["claim"]["excluded"] = [{"A": [["1"], ["-1"]], "b": [str(x), str(-x)]}]       # exactly {x}
    rep = check_document(wdoc, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "witness.x"


def test_inside_test_is_sound_against_exact_vertices():
    """_inside says a box lies in a polytope only if every vertex satisfies A x <= b exactly."""
    import itertools

    from relucert.check.checker import _inside

    rng = np.random.default_rng(0)
    n, hits = 3, 0
    for trial in range(16):
        A = rng.standard_normal((4, n))
        lo = rng.uniform(-1, 0.5, (64, n))
        hi = lo + rng.uniform(0, 0.5, (64, n))
        vals = np.array([[max(a @ v for v in itertools.product(*zip(l, h))) for a in A] for l, h in zip(lo, hi)])
        b = np.quantile(vals, 0.5, axis=0)          # about half the boxes inside each row
        b[trial % 4] = np.nextafter(vals[trial % 64, trial % 4], -np.inf) if trial % 2 else b[trial % 4]
        poly = [(None, None, A, b)]
        ins = _inside(lo, hi, poly)
        for i in np.flatnonzero(ins):
            hits += 1
            for v in itertools.product(*zip(lo[i], hi[i])):
                for a, bi in zip(A, b):
                    assert sum(Fraction(float(x)) * Fraction(float(y)) for x, y in zip(a, v)) <= Fraction(float(bi))
    assert hits > 10
