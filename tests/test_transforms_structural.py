"""Structural rewrites, mutations (known bad), the registry and the CLI."""

import json
from fractions import Fraction

import numpy as np
import pytest

from relucert import Box, EpsEquivalence, Network, Verdict, save
from relucert import transforms as T
from relucert.cli import main
from relucert.transforms import TransformError
from relucert.transforms.mutate import mutate


def test_registry_has_the_issue_names():
    want = {"arora-1d", "arora-maxaffine", "max-tree", "fan-wide", "fan-deep", "fan-simplex", "demorgan-wide",
            "demorgan-deep", "vardi-narrow", "vardi-deep", "vardi-rescale", "deepen", "widen", "permute", "prune",
            "vardi-lemma16-printed", "demorgan-sampled", "arora-1d-short"}
    assert want <= set(T.names())
    for name in T.names():
        t = T.get(name)
        assert t.summary and t.paper
        assert callable(getattr(T, name.replace("-", "_")))
    with pytest.raises(TransformError, match="unknown transform"):
        T.get("nope")


@pytest.mark.parametrize("name", ["deepen", "widen", "permute", "prune"])
def test_structural_rewrites_are_exact(name):
    f = Network.random([2, 4, 4, 1], seed=3)
    box = Box.cube(2)
    new, claim = T.apply(name, f, box)
    assert claim.eps == 0
    res = T.check(new, claim)
    assert res.verdict is Verdict.EQUIVALENT and res.soundness == "exact"


def test_widen_and_permute_shapes_and_inverse():
    f = Network.random([2, 4, 4, 1], seed=3)
    new, _ = T.widen(f, layer=1, unit=2, parts=4)
    assert new.widths == [4, 7]
    new, claim = T.permute(f, seed=5)
    assert not new.same_weights(f)
    assert T.get("permute").invert(new, claim).same_weights(f)


def test_prune_removes_dead_and_duplicate_units():
    W1 = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    b1 = np.array([0.0, 0.0, -5.0])   # unit 2 is dead on [-1, 1]^2; unit 1 duplicates unit 0
    f = Network([(W1, b1), (np.array([[1.0, 2.0, 3.0]]), np.zeros(1))])
    new, claim = T.prune(f, Box.cube(2))
    assert new.widths == [1] and (claim.info["dead"], claim.info["duplicates"]) == (1, 1)
    assert new.layers[1].weight.tolist() == [[3.0]]
    assert T.check(new, claim).verdict is Verdict.EQUIVALENT
    assert T.get("prune").invert(new, claim).same_weights(f)     # the record puts both units back


def test_parameter_validation():
    f = Network.random([2, 3, 1], seed=0)
    with pytest.raises(TransformError, match="unknown parameter"):
        T.deepen(f, bogus=1)
    with pytest.raises(TransformError, match="extra must be >= 0"):
        T.deepen(f, extra=-1)
    with pytest.raises(TransformError, match="does not apply"):
        T.vardi_narrow(Network.random([2, 3, 3, 1], seed=0))


@pytest.mark.parametrize("kind", ["drop", "perturb", "bias", "offset"])
def test_mutations_are_refuted_with_exact_counterexamples(kind):
    f = Network.random([2, 5, 5, 1], seed=11)
    box = Box.cube(2)
    new, claim = mutate(f, box, kind, seed=1)
    assert claim.known_bad
    res = T.check(new, claim)
    assert res.verdict is Verdict.NOT_EQUIVALENT, res.summary()
    ce = res.counterexample
    assert box.contains(ce.x)
    assert abs(f.eval_exact(ce.x)[0] - new.eval_exact(ce.x)[0]) == ce.value > 0


def test_offset_mutation_is_wrong_by_more_than_rounding():
    f = Network.from_weights([[[1.0, 0.0], [-1.0, 0.0]], [[1.0, 1.0]]], [[0, 0], [0]])  # |x1|
    new, claim = mutate(f, Box.cube(2), "offset", scale=0.25)
    from relucert.regions import compare_exact

    res = compare_exact(f, new, Box.cube(2), EpsEquivalence(0.25))
    assert res.verdict is Verdict.NOT_EQUIVALENT and res.counterexample.x[0] < -0.5


# -- CLI --------------------------------------------------------------------------------------
@pytest.fixture()
def abs_model(tmp_path):
    p = tmp_path / "abs.npz"
    save(Network.from_weights([[[1.0], [-1.0]], [[1.0, 1.0]]], [[0.0, 0.0], [0.0]]), str(p))
    return p


def test_cli_transform_check_and_exit_codes(abs_model, tmp_path, capsys):
    out = tmp_path / "o.npz"
    assert main(["transform", "fan-deep", str(abs_model), str(out), "--box=-1:1", "--check"]) == 0
    text = capsys.readouterr().out
    assert "verdict: EQUIVALENT" in text and "width 2" in text and out.exists()
    assert main(["transform", "vardi-lemma16-printed", str(abs_model), str(out), "--box=-1:1", "--check"]) == 1
    assert "NOT_EQUIVALENT" in capsys.readouterr().out
    assert main(["transform", "fan-deep", str(abs_model), str(out)]) == 2          # needs --box
    assert main(["transform", "nope", str(abs_model), str(out)]) == 2
    assert main(["transform", "fan-simplex", str(abs_model), str(out), "--box=-1:1", "--param", "delta=0"]) == 2
    capsys.readouterr()
    assert main(["transform", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(T.names()) and lines[0].startswith("arora-1d")


def test_cli_transform_json_and_params(abs_model, tmp_path, capsys):
    out = tmp_path / "o.npz"
    assert main(["transform", "deepen", str(abs_model), str(out), "--param", "extra=3", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["claim"]["kind"] == "exact" and d["claim"]["sizes"]["hidden_layers"] == 4


def test_cli_regions_and_mutate(abs_model, tmp_path, capsys):
    assert main(["regions", str(abs_model), "--box=-1:1"]) == 0
    assert capsys.readouterr().out.strip() == "pieces: 2"
    p2 = tmp_path / "r.npz"
    save(Network.from_weights([np.eye(2), [[1.0, 1.0]]], [[0.0, 0.0], [0.0]]), str(p2))
    assert main(["regions", str(p2), "--box=-1:1"]) == 0
    assert capsys.readouterr().out.strip() == "regions: 4"
    out = tmp_path / "m.npz"
    assert main(["mutate", str(p2), str(out), "--kind", "drop", "--box=-1:1", "--check"]) == 1
    assert "NOT_EQUIVALENT" in capsys.readouterr().out
