"""Malformed certificates get clear CertificateErrors within bounded time and memory."""

from __future__ import annotations

import json
import time

import pytest

from relucert import Box, CertificateError, EpsEquivalence, Network
from relucert.certify import certify
from relucert.check import MissingModelError, check_certificate
from relucert.check import checker as ck


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("fmt")
    f = Network.random([2, 6, 1], seed=1)
    g = Network([(L.weight * (1 + 1e-4), L.bias) for L in f.layers])
    res = certify(f, g, Box.cube(2), EpsEquivalence(0.01))
    res.write(d / "c.json", save_models=True)
    return d, json.loads((d / "c.json").read_text())


def _write(d, obj, name="t.json"):
    p = d / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


def _mutate(doc, path, value):
    doc = json.loads(json.dumps(doc))
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    if value is KeyError:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return doc


def test_good_certificate_holds(good):
    d, _ = good
    assert check_certificate(d / "c.json").verdict == "VERIFIED"


@pytest.mark.parametrize("text, msg", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"eps": 0.5}', "not the JSON number 0.5"),
    ('{"eps": NaN}', "not the JSON number NaN"),
    ("[" * 100000 + "]" * 100000, "not valid JSON"),
])
def test_unreadable_json(good, text, msg):
    d, _ = good
    with pytest.raises(CertificateError, match=msg):
        check_certificate(_write(d, text))


@pytest.mark.parametrize("path, value, msg", [
    (("format",), "other", "format"),
    (("version",), 2, "unsupported certificate version"),
    (("claim", "eps"), "0.1.2", "not a rational string"),
    (("claim", "eps"), "1/0", "not a rational string"),
    (("claim", "eps"), "-1/2", "claim.eps must be >= 0"),
    (("claim", "eps"), 3, "rational string"),
    (("claim", "eps"), "1" * 5000, "not a rational string"),
    (("claim", "box", "lo"), ["-1"], "list of 2"),
    (("claim", "box", "lo"), ["2", "-1"], "lo > hi"),
    (("claim", "outputs"), [5], "distinct output indices"),
    (("claim", "kind"), "nope", "claim.kind"),
    (("claim",), KeyError, "missing field 'claim'"),
    (("result",), "maybe", "certificate.result"),
    (("proof", "kind"), "milp", "proof.kind"),
    (("proof", "bound"), "crown-v9", "proof.bound"),
    (("proof", "tree", "enc"), "json", "proof.tree.enc"),
    (("proof", "tree", "nodes"), 10**12, "proof.tree.nodes"),
    (("proof", "tree", "nodes"), True, "must be int"),
    (("proof", "tree", "bits"), "!!!!", "not base64"),
    (("proof", "tree", "bits"), "A" * 10**6, "longer than"),
    (("networks", "f", "sha256"), "xyz", "64 lowercase hex"),
])
def test_malformed_fields(good, path, value, msg):
    d, doc = good
    with pytest.raises(CertificateError, match=msg):
        check_certificate(_write(d, _mutate(doc, path, value)))


def test_missing_model_file(good, tmp_path):
    _, doc = good
    p = _write(tmp_path, doc)         # the models are not next to this copy
    with pytest.raises(MissingModelError, match="networks.f: model file"):
        check_certificate(p)


def test_models_dir_option(good, tmp_path):
    d, doc = good
    p = _write(tmp_path, doc)
    assert check_certificate(p, models_dir=d).verdict == "VERIFIED"


def test_oversized_file_rejected_without_reading(good, tmp_path, monkeypatch):
    d, doc = good
    monkeypatch.setattr(ck, "MAX_BYTES", 100)
    with pytest.raises(CertificateError, match="more than the limit"):
        check_certificate(d / "c.json")


def test_absurd_tree_is_fast(good):
    """A huge declared tree with a short bit string is rejected at once."""
    d, doc = good
    bad = _mutate(doc, ("proof", "tree", "nodes"), 9_999_999)
    t0 = time.perf_counter()
    with pytest.raises(CertificateError, match="bytes"):
        check_certificate(_write(d, bad))
    assert time.perf_counter() - t0 < 2.0


def test_non_float_box_rejected_for_bab(good):
    d, doc = good
    bad = _mutate(doc, ("claim", "box", "lo"), ["-1/3", "-1"])
    with pytest.raises(CertificateError, match="not a float64 number"):
        check_certificate(_write(d, bad))


def test_rationals_are_exact_strings(good):
    """The writer never emits JSON floats: every number in the document is an int or a string."""
    _, doc = good

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert not isinstance(v, float), v
    walk(doc)
    assert doc["claim"]["eps"] == "1/100"
    assert ck._rat("-3/8", "x") == ck.Fraction(-3, 8)
    assert ck._rat("1e-3", "x") == ck.Fraction(1, 1000)
