"""The .nnet reader and writer, the normalization fold, and parse errors with line numbers."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from relucert import Network
from relucert.errors import ModelFormatError, SpecError
from relucert.io import NNetHeader, load, load_nnet_model, save

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "acas-neurodiff"
ACAS_1_1 = DATA / "nnet" / "ACASXU_run2a_1_1_batch_2000.nnet"
MNIST = DATA / "nnet" / "mnist_relu_3_100.nnet"

SMALL = """\
// a 2-3-1 network
2,2,1,3,
2,3,1,
0,
-1,-1,
1,1,
0,0,0,
1,1,1,
1.0,2.0,
3.0,4.0,
5.0,6.0,
0.5,
0.25,
0.125,
1,2,3,
-1,
"""


def write_text(tmp_path, text: str, name: str = "x.nnet") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replace_line(text: str, lineno: int, new: str) -> str:
    lines = text.splitlines()
    lines[lineno - 1] = new
    return "\n".join(lines) + "\n"


def test_small_file_parses_exactly(tmp_path):
    model = load_nnet_model(write_text(tmp_path, SMALL))
    net = model.network
    assert net.sizes == [2, 3, 1] and net.name == "x"
    assert np.array_equal(net.layers[0].weight, [[1, 2], [3, 4], [5, 6]])
    assert np.array_equal(net.layers[0].bias, [0.5, 0.25, 0.125])
    assert np.array_equal(net.layers[1].weight, [[1, 2, 3]]) and net.layers[1].bias.tolist() == [-1.0]
    h = model.header
    assert h.mins.tolist() == [-1, -1] and h.maxes.tolist() == [1, 1]
    assert h.means.tolist() == [0, 0] and h.ranges.tolist() == [1, 1]
    assert (h.output_mean, h.output_range) == (0.0, 1.0)


def test_acas_file_parses():
    model = load_nnet_model(ACAS_1_1)
    net, h = model.network, model.header
    assert net.sizes == [5, 50, 50, 50, 50, 50, 50, 5]
    assert net.layers[0].weight[0].tolist() == [5.40062e-02, -2.61092e00, -1.80027e-01, 2.42194e-01, 1.41407e-01]
    assert net.layers[-1].bias.tolist()[-1] == -1.48281e-02
    assert h.mins.tolist() == [0.0, -3.141593, -3.141593, 100.0, 0.0]
    assert h.maxes.tolist() == [60760.0, 3.141593, 3.141593, 1200.0, 1200.0]
    assert h.means.tolist() == [19791.091, 0.0, 0.0, 650.0, 600.0]
    assert h.ranges.tolist() == [60261.0, 6.28318530718, 6.28318530718, 1100.0, 1200.0]
    assert (h.output_mean, h.output_range) == (7.5188840201005975, 373.94992)


def test_mnist_file_parses():
    model = load_nnet_model(MNIST)
    net, h = model.network, model.header
    assert net.sizes == [784, 100, 100, 10, 10]
    assert net.n_params == 784 * 100 + 100 + 100 * 100 + 100 + 10 * 100 + 10 + 10 * 10 + 10
    assert net.layers[0].weight[0, :3].tolist() == [-0.136174, 0.0301974, -0.192904]
    assert np.all(h.mins == -3.40282e38) and np.all(h.maxes == 3.40282e38)
    assert np.all(h.means == 0) and np.all(h.ranges == 1)


def test_write_read_round_trip_is_exact(tmp_path):
    model = load_nnet_model(ACAS_1_1)
    save(model.network, tmp_path / "a.nnet", header=model.header)
    back = load_nnet_model(tmp_path / "a.nnet")
    assert back.network.digest == model.network.digest
    assert back.header.to_dict() == model.header.to_dict()
    text = (tmp_path / "a.nnet").read_text().splitlines()
    assert text[0] == "// written by relucert"
    assert text[2:5] == ["7,5,5,50,", "5,50,50,50,50,50,50,5,", "0,"]
    assert text[7] == "19791.091,0.0,0.0,650.0,600.0,7.5188840201005975,"


def test_random_network_round_trip_with_default_header(tmp_path):
    net = Network.random([3, 7, 7, 2], seed=11)  # weights need all 17 digits
    save(net, tmp_path / "r.nnet")
    back = load_nnet_model(tmp_path / "r.nnet")
    assert back.network.digest == net.digest
    assert back.header.to_dict() == NNetHeader.identity(3).to_dict()
    assert back.folded().digest == net.digest  # the default header folds to nothing


def test_writer_rejects_bad_header(tmp_path):
    net = Network.random([3, 2], seed=0)
    with pytest.raises(SpecError, match="^header must be an NNetHeader, got dict$"):
        save(net, tmp_path / "h.nnet", header={})
    with pytest.raises(ValueError, match="^nnet header has 2 inputs but the network has 3$"):
        save(net, tmp_path / "h.nnet", header=NNetHeader.identity(2))
    assert not (tmp_path / "h.nnet").exists()


# -- folding the normalization -------------------------------------------------------------------------

def test_acas_fold_matches_normalize_then_evaluate():
    model = load_nnet_model(ACAS_1_1)
    folded = load(ACAS_1_1, fold_normalization=True)
    assert folded.sizes == [5, 10, 50, 50, 50, 50, 50, 50, 5]  # 2 clipping units per bounded input
    h = model.header
    rng = np.random.default_rng(0)
    span = h.maxes - h.mins
    raw = rng.uniform(h.mins - 0.2 * span, h.maxes + 0.2 * span, size=(1000, 5))
    want = model.network(h.normalize(raw))
    got = folded(raw)
    assert np.max(np.abs(got - want)) <= 1e-9 * np.max(np.abs(want))


def test_acas_fold_clips_exactly():
    model = load_nnet_model(ACAS_1_1)
    folded = model.folded()
    h = model.header
    inside = [30000.0, 0.5, -0.5, 600.0, 300.0]
    for j, far in [(0, -5000.0), (3, 1e6), (4, 1300.0), (1, -7.0)]:
        at_bound = list(inside)
        at_bound[j] = float(h.mins[j] if far < h.mins[j] else h.maxes[j])
        beyond = list(inside)
        beyond[j] = far
        assert folded.eval_exact(beyond) == folded.eval_exact(at_bound)


def test_fold_bias_is_the_exact_value_rounded_once():
    model = load_nnet_model(ACAS_1_1)
    folded = model.folded()
    h, W, b = model.header, model.network.layers[0].weight, model.network.layers[0].bias
    for i in (0, 17, 49):
        exact = Fraction(b[i]) + sum(
            Fraction(W[i, j]) * (Fraction(h.mins[j]) - Fraction(h.means[j])) / Fraction(h.ranges[j]) for j in range(5)
        )
        assert folded.layers[1].bias[i] == float(exact)
    assert np.array_equal(folded.layers[1].weight[:, 0], W[:, 0] / h.ranges[0])
    assert np.array_equal(folded.layers[1].weight[:, 1], -(W[:, 0] / h.ranges[0]))  # the relu(v - max) unit


def test_mnist_fold_changes_nothing():
    model = load_nnet_model(MNIST)
    assert model.folded().digest == model.network.digest


def test_fold_one_sided_and_unbounded_inputs(tmp_path):
    net = Network.random([4, 6, 2], seed=4)
    header = NNetHeader(
        mins=[-1.0, -3.4e38, 0.0, -3.40282e38], maxes=[3.40282e38, 2.0, 4.0, 3.40282e38],
        means=[0.5, 0.0, 1.0, -2.0], ranges=[2.0, 0.25, 3.0, 8.0],
    )
    folded = header.fold(net)
    assert folded.sizes == [4, 1 + 1 + 2 + 2, 6, 2]
    rng = np.random.default_rng(5)
    raw = rng.normal(scale=5.0, size=(500, 4))
    np.testing.assert_allclose(folded(raw), net(header.normalize(raw)), rtol=1e-12, atol=1e-12)
    # power-of-two ranges fold exactly
    assert np.array_equal(folded.layers[1].weight[:, 0], net.layers[0].weight[:, 0] / 2.0)
    # the same through the file
    save(net, tmp_path / "h.nnet", header=header)
    assert load(tmp_path / "h.nnet", fold_normalization=True).digest == folded.digest


def test_fold_errors(tmp_path):
    bad_range = replace_line(SMALL, 8, "1,0,1,")
    path = write_text(tmp_path, bad_range)
    assert load(path).sizes == [2, 3, 1]  # only folding needs the ranges
    with pytest.raises(ModelFormatError, match=rf"^{path}: nnet header range of input 1 is 0; cannot normalize$"):
        load(path, fold_normalization=True)
    path = write_text(tmp_path, replace_line(SMALL, 5, "2,-1,"))
    with pytest.raises(ModelFormatError, match=rf"^{path}: nnet header has min 2.0 > max 1.0 for input 0$"):
        load(path, fold_normalization=True)


# -- parse errors ---------------------------------------------------------------------------------------

PARSE_ERRORS = [
    ("truncated", SMALL.splitlines(keepends=True)[:-1],
     "16: file ends before the bias of neuron 0 of layer 1 (truncated?)"),
    ("empty", [], "1: file ends before the header 'numLayers,inputSize,outputSize,maxLayerSize' (truncated?)"),
    ("too many values", (10, "3.0,4.0,9.0,"), "10: expected 2 value(s) for the weights of neuron 1 of layer 0, got 3"),
    ("too few values", (15, "1,2,"), "15: expected 3 value(s) for the weights of neuron 0 of layer 1, got 2"),
    ("not a number", (9, "1.0,abc,"), "9: 'abc' in the weights of neuron 0 of layer 0 is not a number"),
    ("empty value", (9, "1.0,,"), "9: '' in the weights of neuron 0 of layer 0 is not a number"),
    ("missing value", (9, "1.0,,2.0"), "9: expected 2 value(s) for the weights of neuron 0 of layer 0, got 3"),
    ("underscore", (9, "1_0,2"), "9: '1_0' in the weights of neuron 0 of layer 0 is not a number"),
    ("nan", (12, "nan,"), "12: non-finite value 'nan' in the bias of neuron 0 of layer 0"),
    ("inf", (13, "-inf,"), "13: non-finite value '-inf' in the bias of neuron 1 of layer 0"),
    ("overflow", (11, "1e999,1,"), "11: non-finite value '1e999' in the weights of neuron 2 of layer 0"),
    ("nan header", (7, "0,nan,0,"), "7: non-finite value 'nan' in the input means"),
    ("extra data", SMALL + "7,\n", "17: unexpected data after the last layer"),
    ("short header", (2, "2,2,1,"),
     "2: expected 4 value(s) for the header 'numLayers,inputSize,outputSize,maxLayerSize', got 3"),
    ("float count", (2, "2.0,2,1,3,"),
     "2: '2.0' in the header 'numLayers,inputSize,outputSize,maxLayerSize' is not an integer"),
    ("sizes mismatch", (3, "3,3,1,"),
     "3: layer sizes [3, 3, 1] must be >= 1 and start with inputSize=2 and end with outputSize=1"),
    ("sizes count", (3, "2,3,3,1,"), "3: expected 3 value(s) for the 3 layer sizes, got 4"),
    ("short mins", (5, "-1,"), "5: expected at least 2 values for the input mins, got 1"),
    ("zero layers", (2, "0,2,1,3,"), "2: numLayers, inputSize and outputSize must be >= 1, got 0, 2, 1"),
]


@pytest.mark.parametrize("edit,message", [(e, m) for _, e, m in PARSE_ERRORS], ids=[p[0] for p in PARSE_ERRORS])
def test_parse_errors_name_file_and_line(edit, message, tmp_path):
    if isinstance(edit, tuple):
        text = replace_line(SMALL, *edit)
    elif isinstance(edit, list):
        text = "".join(edit)
    else:
        text = edit
    path = write_text(tmp_path, text)
    with pytest.raises(ModelFormatError) as err:
        load(path)
    assert str(err.value) == f"{path}:{message}"


def test_binary_file_rejected(tmp_path):
    path = tmp_path / "b.nnet"
    path.write_bytes(SMALL.encode()[:30] + b"\xff\x00")
    with pytest.raises(ModelFormatError, match=rf"^{path}:3: not a text \.nnet file \(byte 0xff\)$"):
        load(path)


def test_truncated_real_file(tmp_path):
    lines = ACAS_1_1.read_text().splitlines(keepends=True)
    path = write_text(tmp_path, "".join(lines[:300]))
    with pytest.raises(ModelFormatError) as err:
        load(path)
    assert str(err.value) == f"{path}:301: file ends before the bias of neuron 40 of layer 2 (truncated?)"
    partial = lines[249][:40]  # line 250: weights of neuron 39 of layer 2, cut mid-line
    path = write_text(tmp_path, "".join(lines[:249]) + partial)
    got = len(partial.rstrip(",").split(","))
    with pytest.raises(ModelFormatError) as err:
        load(path)
    assert str(err.value) == f"{path}:250: expected 50 value(s) for the weights of neuron 39 of layer 2, got {got}"


def test_enormous_declared_sizes(tmp_path):
    text = replace_line(replace_line(SMALL, 2, "2,2,100000,100000,"), 3, "2,100000,100000,")
    path = write_text(tmp_path, text)
    with pytest.raises(ModelFormatError, match=r"the weights would hold 10000400000 elements .*more than the limit"):
        load(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        load("/nonexistent/x.nnet")
