"""Tampered certificates are INVALID (or REFUTED where the change really refutes), with the path
of the failing node and the exact slack; correct ones are VERIFIED."""

from __future__ import annotations

import base64
import json
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, CertificateError, EpsEquivalence, Network
from relucert import io as rio
from relucert.certify import certify
from relucert.check import check_certificate
from relucert.check.checker import check_document


def _pair():
    f = Network.random([2, 8, 8, 1], seed=21)
    rng = np.random.default_rng(5)
    g = Network([(L.weight * (1 + 1e-3 * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])
    return f, g     # sup |f - g| is about 2.6e-3


def _wider(g):
    """g with one more hidden unit in layer 0 carrying a tiny weight (other layer sizes: lin-v1)."""
    L0, L1, L2 = g.layers
    return Network([(np.vstack([L0.weight, [[0.5, -0.25]]]), np.append(L0.bias, 0.1)),
                    (np.hstack([L1.weight, np.full((L1.n_out, 1), 1e-4)]), L1.bias), L2])


@pytest.fixture(scope="module", params=["diff-v1", "lin-v1"])
def bab_cert(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("bab")
    f, g = _pair()
    if request.param == "lin-v1":
        g = _wider(g)
    rio.save(f, d / "f.npz")
    rio.save(g, d / "g.npz")
    res = certify(d / "f.npz", d / "g.npz", Box.cube(2), EpsEquivalence(0.003 if request.param == "diff-v1" else 0.02))
    assert res.certificate["proof"]["kind"] == "bab"
    assert res.certificate["proof"]["bound"] == request.param
    res.write(d / "c.json")
    return d, json.loads((d / "c.json").read_text())


def _check(d, doc):
    return check_document(doc, base=d)


def test_correct_bab_certificate_verified(bab_cert):
    d, doc = bab_cert
    rep = check_certificate(d / "c.json")
    assert rep.verdict == "VERIFIED"
    assert rep.slack is not None and rep.slack >= 0
    assert rep.stats["leaves"] == doc["proof"]["tree"]["leaves"] > 1


def test_smaller_eps_is_invalid_with_path_and_negative_slack(bab_cert):
    d, doc = bab_cert
    bad = json.loads(json.dumps(doc))
    bad["claim"]["eps"] = "1/1000"          # the true distance is about 3e-3
    rep = _check(d, bad)
    assert rep.verdict == "INVALID"
    assert rep.path.startswith("root") and set(rep.path[4:]) <= {"0", "1"}
    assert isinstance(rep.slack, Fraction) and rep.slack < 0


def test_changed_weight_in_model_file_is_invalid(bab_cert, tmp_path):
    d, doc = bab_cert
    g = rio.load(d / "g.npz")
    W = [L.weight.copy() for L in g.layers]
    W[1][0, 0] = np.nextafter(W[1][0, 0], np.inf)     # one ulp in one weight
    rio.save(Network.from_weights(W, g.biases), tmp_path / "g.npz")
    rio.save(rio.load(d / "f.npz"), tmp_path / "f.npz")
    rep = check_document(doc, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "networks.g.sha256"


def test_changed_digest_is_invalid(bab_cert):
    d, doc = bab_cert
    bad = json.loads(json.dumps(doc))
    h = bad["networks"]["f"]["sha256"]
    bad["networks"]["f"]["sha256"] = ("0" if h[0] != "0" else "1") + h[1:]
    rep = _check(d, bad)
    assert rep.verdict == "INVALID" and rep.path == "networks.f.sha256"


def _bits(doc):
    t = doc["proof"]["tree"]
    return np.unpackbits(np.frombuffer(base64.b64decode(t["bits"]), dtype=np.uint8))[:t["nodes"]]


def _set_bits(doc, bits, drop=None, append=0):
    """New tree bits; the recorded split inputs (``dims``) lose internal node ``drop`` and get
    ``append`` zeros at the end, so they stay aligned with the splits."""
    doc["proof"]["tree"]["bits"] = base64.b64encode(np.packbits(bits).tobytes()).decode()
    doc["proof"]["tree"]["nodes"] = int(len(bits))
    if "dims" in doc["proof"]["tree"] and drop is not None:
        dims = list(base64.b64decode(doc["proof"]["tree"]["dims"]))
        dims = dims[:drop] + dims[drop + 1:] + [0] * append
        doc["proof"]["tree"]["dims"] = base64.b64encode(bytes(dims)).decode()


def test_dropping_a_leaf_is_invalid(bab_cert):
    """Replace the deepest split by a leaf (its two children dropped): the merged box fails."""
    d, doc = bab_cert
    bits = _bits(doc)
    # a split whose two children are leaves: pattern 1,0,0 in pre-order
    i = next(k for k in range(len(bits) - 2) if bits[k] == 1 and bits[k + 1] == 0 and bits[k + 2] == 0)
    new = np.concatenate([bits[:i], [0], bits[i + 3:]]).astype(np.uint8)
    bad = json.loads(json.dumps(doc))
    _set_bits(bad, new, drop=int(bits[:i].sum()))
    z = int((bits[:i] == 0).sum())        # the dropped leaves were leaves z and z + 1; the merged one is z
    bad["proof"]["hints"] = [{**h, "leaf": h["leaf"] - (h["leaf"] > z)} for h in bad["proof"].get("hints", [])
                             if h["leaf"] not in (z, z + 1)]
    rep = _check(d, bad)
    assert rep.verdict == "INVALID"
    assert rep.path.startswith("root") and rep.slack is not None and rep.slack < 0


def test_removing_a_node_breaks_the_tree(bab_cert):
    d, doc = bab_cert
    bits = _bits(doc)
    bad = json.loads(json.dumps(doc))
    _set_bits(bad, bits[:-1])
    rep = _check(d, bad)
    assert rep.verdict == "INVALID" and rep.path == "proof.tree"


def test_changed_split_is_invalid(bab_cert):
    """Turning the root's first leaf-pair parent into a leaf and a later leaf into a split keeps
    the node count but moves every split point after it."""
    d, doc = bab_cert
    bits = _bits(doc).copy()
    i = next(k for k in range(len(bits) - 2) if bits[k] == 1 and bits[k + 1] == 0 and bits[k + 2] == 0)
    new = np.concatenate([bits[:i], [0], bits[i + 3:-1], [1, 0, 0]]).astype(np.uint8)
    assert len(new) == len(bits)
    bad = json.loads(json.dumps(doc))
    _set_bits(bad, new, drop=int(bits[:i].sum()), append=1)
    assert _check(d, bad).verdict == "INVALID"


def test_changed_box_is_invalid(bab_cert):
    d, doc = bab_cert
    bad = json.loads(json.dumps(doc))
    bad["claim"]["box"]["hi"] = ["2", "2"]
    rep = _check(d, bad)
    assert rep.verdict == "INVALID"


def test_witness_tampering(tmp_path):
    f, g = _pair()
    rio.save(f, tmp_path / "f.npz")
    rio.save(g, tmp_path / "g.npz")
    res = certify(tmp_path / "f.npz", tmp_path / "g.npz", Box.cube(2), EpsEquivalence(1e-3))
    assert res.certificate["result"] == "refuted"
    res.write(tmp_path / "w.json")
    doc = json.loads((tmp_path / "w.json").read_text())
    rep = check_document(doc, base=tmp_path)
    assert rep.verdict == "REFUTED" and rep.slack > 0
    # the exact value at the witness really exceeds eps
    x = [Fraction(v) for v in doc["witness"]["x"]]
    assert abs(f.eval_exact(x)[0] - g.eval_exact(x)[0]) > Fraction(doc["claim"]["eps"])
    # a larger eps: the same point no longer refutes
    bad = json.loads(json.dumps(doc))
    bad["claim"]["eps"] = "1"
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "witness" and rep.slack < 0
    # a point outside the box
    bad = json.loads(json.dumps(doc))
    bad["witness"]["x"] = ["3", "0"]
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "witness.x[0]"
    # a point where f and g agree within eps (the centre of a tiny-difference pair)
    bad = json.loads(json.dumps(doc))
    bad["witness"]["x"] = ["0", "0"]
    assert abs(f.eval_exact([0, 0])[0] - g.eval_exact([0, 0])[0]) <= Fraction(1, 1000)
    assert check_document(bad, base=tmp_path).verdict == "INVALID"


def test_structural_tampering(tmp_path):
    f = Network.random([2, 5, 4, 2], seed=3)
    L = f.layers
    p = np.array([2, 0, 1, 4, 3])
    g = Network([(L[0].weight[p] * 4.0, L[0].bias[p] * 4.0), (L[1].weight[:, p] / 4.0, L[1].bias), L[2]])
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.0))
    assert res.certificate["proof"]["kind"] == "structural"
    res.write(tmp_path / "s.json", save_models=True)
    doc = json.loads((tmp_path / "s.json").read_text())
    assert check_document(doc, base=tmp_path).verdict == "VERIFIED"
    bad = json.loads(json.dumps(doc))
    bad["proof"]["layers"][0]["units"][1][1] = "2"          # wrong scale
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "proof.layers[0].units[1]" and rep.slack < 0
    bad = json.loads(json.dumps(doc))
    bad["proof"]["layers"][0]["units"][0][0] = 3             # wrong unit
    assert check_document(bad, base=tmp_path).verdict == "INVALID"
    bad = json.loads(json.dumps(doc))
    bad["proof"]["layers"][0]["units"][0][1] = "-4"          # a negative scale is never allowed
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and "must be > 0" in rep.reason
    # a different g (one bias changed) against the same proof
    g2 = Network([(L[0].weight[p] * 4.0, L[0].bias[p] * 4.0 + np.array([0, 0, 0, 0, 1e-9])),
                  (L[1].weight[:, p] / 4.0, L[1].bias), L[2]])
    rio.save(g2, tmp_path / "s.g.npz")
    bad = json.loads(json.dumps(doc))
    bad["networks"]["g"]["sha256"] = g2.digest
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "proof.layers[0].units[4]"


@pytest.mark.parametrize("wider", [False, True], ids=["diff-v1", "lin-v1"])
def test_exact_reference_mode_agrees(tmp_path, wider):
    f = Network.random([2, 4, 1], seed=41)
    rng = np.random.default_rng(2)
    g = Network([(L.weight * (1 + 1e-3 * rng.standard_normal(L.weight.shape)), L.bias) for L in f.layers])
    if wider:
        g = Network([(np.vstack([g.layers[0].weight, [[0.5, -0.25]]]), np.append(g.layers[0].bias, 0.1)),
                     (np.hstack([g.layers[1].weight, [[1e-4]]]), g.layers[1].bias)])
    X = np.random.default_rng(0).uniform(-1, 1, (4000, 2))
    sup = np.abs(f(X) - g(X)).max()
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.01 if wider else float(f"{1.1 * sup:.3g}")))
    assert res.certificate["proof"]["bound"] == ("lin-v1" if wider else "diff-v1")
    res.write(tmp_path / "c.json", save_models=True)
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["proof"]["tree"]["nodes"] > 1
    fast = check_document(doc, base=tmp_path)
    ref = check_document(doc, base=tmp_path, exact=True)
    assert fast.verdict == ref.verdict == "VERIFIED"
    assert ref.stats["arithmetic"] == "exact" and ref.slack >= fast.slack - Fraction(1, 10**9)
    bad = json.loads(json.dumps(doc))
    bad["claim"]["eps"] = "1/100000"
    r1, r2 = check_document(bad, base=tmp_path), check_document(bad, base=tmp_path, exact=True)
    assert r1.verdict == r2.verdict == "INVALID" and r2.slack < 0


def _relu_pair():
    """f = relu(x) and g = relu(x) + 1e-3 with a dead extra unit (other sizes: lin-v1)."""
    f = Network([([[1.0]], [0.0]), ([[1.0]], [0.0])])
    g = Network([([[1.0], [0.0]], [0.0, -1.0]), ([[1.0, 5.0]], [1e-3])])
    return f, g


def test_relu_split_certificate(tmp_path):
    f, g = _relu_pair()
    res = certify(f, g, Box.cube(1), EpsEquivalence(2e-3), relu_splits=True)
    assert res.verdict.value == "EQUIVALENT"
    tree = res.certificate["proof"]["tree"]
    assert "relu_splits" in tree
    kinds = np.frombuffer(base64.b64decode(tree["relu_splits"]), dtype="<u4")
    assert (kinds > 0).any()                      # at least one ReLU-phase split was used
    res.write(tmp_path / "r.json", save_models=True)
    doc = json.loads((tmp_path / "r.json").read_text())
    rep = check_document(doc, base=tmp_path)
    assert rep.verdict == "VERIFIED" and rep.stats["relu_splits"] >= 1
    assert check_document(doc, base=tmp_path, exact=True).verdict == "VERIFIED"
    # a smaller eps is INVALID at a leaf reached through ReLU-phase splits
    bad = json.loads(json.dumps(doc))
    bad["claim"]["eps"] = "1/2000"
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path.startswith("root") and rep.slack < 0
    # a hand-made tree (one ReLU split on f's unit at the root, two leaves): float and exact agree
    hand = json.loads(json.dumps(doc))
    hand["proof"]["tree"] = {"enc": "preorder-bits-v1", "nodes": 3, "leaves": 2,
                             "bits": base64.b64encode(np.packbits([1, 0, 0]).tobytes()).decode(),
                             "relu_splits": base64.b64encode(np.array([1], dtype="<u4").tobytes()).decode()}
    r1, r2 = check_document(hand, base=tmp_path), check_document(hand, base=tmp_path, exact=True)
    assert r1.verdict == r2.verdict
    # malformed kinds
    bad = json.loads(json.dumps(doc))
    bad["proof"]["tree"]["relu_splits"] = base64.b64encode(np.array([99] * len(kinds), dtype="<u4").tobytes()).decode()
    with pytest.raises(CertificateError, match="relu_splits holds 99"):
        check_document(bad, base=tmp_path)
    bad["proof"]["tree"]["relu_splits"] = "AAAA"
    with pytest.raises(CertificateError, match="relu_splits"):
        check_document(bad, base=tmp_path)


def test_structural_with_units_dead_on_the_box(tmp_path):
    """g drops a unit of f that is dead on the box: a structural proof on the box (f_dead)."""
    f = Network.random([2, 6, 6, 1], seed=4)
    L = f.layers
    keep = [0, 1, 2, 3, 5]
    W1 = L[1].weight.copy()
    W1[4] = -np.abs(W1[4])                        # unit 4 of layer 1: all weights < 0 ...
    b1 = L[1].bias.copy()
    b1[4] = -0.5                                  # ... and a negative bias: dead for h >= 0
    f = Network([L[0], (W1, b1), L[2]])
    g = Network([L[0], (W1[keep], b1[keep]), (L[2].weight[:, keep], L[2].bias)])
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.0), node_limit=10, fallback_verify=False)
    assert res.certificate is not None and res.certificate["proof"]["f_dead"] == [[1, 4]]
    res.write(tmp_path / "d.json", save_models=True)
    doc = json.loads((tmp_path / "d.json").read_text())
    assert check_document(doc, base=tmp_path).verdict == "VERIFIED"
    # without the dead unit the output identity fails
    bad = json.loads(json.dumps(doc))
    del bad["proof"]["f_dead"]
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "output layer.units[0]"
    # a live unit listed as dead
    bad = json.loads(json.dumps(doc))
    bad["proof"]["f_dead"] = [[1, 4], [0, 0]]
    rep = check_document(bad, base=tmp_path)
    assert rep.verdict == "INVALID" and rep.path == "proof.f_dead[1]" and rep.slack < 0
    bad["proof"]["f_dead"] = [[7, 0]]
    with pytest.raises(CertificateError, match="f_dead"):
        check_document(bad, base=tmp_path)
