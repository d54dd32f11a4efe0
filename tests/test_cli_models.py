"""``relucert info``, ``relucert eval`` and ``relucert convert`` through ``relucert.cli.main``."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nh

from relucert import Network
from relucert.cli import main
from relucert.io import load, load_nnet_model, save

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "acas-neurodiff"
ACAS = DATA / "nnet" / "ACASXU_run2a_1_1_batch_2000.nnet"
ACAS_DIGEST = load(ACAS).digest


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(tmp_path) -> Path:
    """``y = relu(x0 + 2 x1 + 1/2) - 1/4`` as .npz."""
    path = tmp_path / "tiny.npz"
    save(Network([([[1.0, 2.0]], [0.5]), ([[1.0]], [-0.25])]), path)
    return path


def test_info_text(capsys):
    code, out, err = run(capsys, "info", ACAS)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[:9] == [
        f"model        {ACAS}",
        "format       nnet",
        "sizes        5-50-50-50-50-50-50-5",
        "inputs       5",
        "outputs      5",
        "hidden       6 layer(s), widths 50,50,50,50,50,50",
        "parameters   13305",
        "relus        300",
        f"digest       {ACAS_DIGEST}",
    ]
    assert lines[9].startswith("normalization (.nnet header")
    assert lines[11].split() == ["0", "0.0", "60760.0", "19791.091", "60261.0"]
    assert lines[12].split() == ["1-2", "-3.141593", "3.141593", "0.0", "6.28318530718"]
    assert lines[-1] == "  output mean 7.5188840201005975, range 373.94992 (never applied)"


def test_info_json_and_fold(capsys):
    code, out, _ = run(capsys, "info", ACAS, "--json")
    data = json.loads(out)
    assert code == 0
    assert data["sizes"] == [5, 50, 50, 50, 50, 50, 50, 5] and data["digest"] == ACAS_DIGEST
    assert data["parameters"] == 13305 and data["relus"] == 300 and data["format"] == "nnet"
    assert data["normalization"]["ranges"] == [60261.0, 6.28318530718, 6.28318530718, 1100.0, 1200.0]
    assert data["normalization_folded"] is False
    code, out, _ = run(capsys, "info", ACAS, "--json", "--fold-normalization")
    data = json.loads(out)
    assert data["sizes"] == [5, 10, 50, 50, 50, 50, 50, 50, 5] and data["normalization_folded"] is True
    assert data["digest"] == load(ACAS, fold_normalization=True).digest


def test_info_npz_has_no_normalization(capsys, tiny):
    code, out, _ = run(capsys, "info", tiny, "--json")
    data = json.loads(out)
    assert code == 0 and "normalization" not in data and data["sizes"] == [2, 1, 1]


def test_usage_errors_exit_2(capsys, tiny, tmp_path):
    code, _, err = run(capsys, "info", tiny, "--fold-normalization")
    assert code == 2
    assert err == "relucert info: usage error: --fold-normalization applies to .nnet models only, not to npz\n"
    code, _, err = run(capsys, "info", ACAS, "--drop-softmax")
    assert (code, err) == (2, "relucert info: usage error: --drop-softmax applies to ONNX models only, not to nnet\n")
    code, _, err = run(capsys, "convert", tiny, tmp_path / "o.nnet", "--dtype", "float32")
    assert (code, err) == (2, "relucert convert: usage error: --dtype applies to ONNX output only, not to nnet\n")
    assert not (tmp_path / "o.nnet").exists()


def test_model_errors_exit_4(capsys, tmp_path):
    code, _, err = run(capsys, "info", tmp_path / "missing.onnx")
    assert (code, err) == (4, f"relucert info: error: {tmp_path / 'missing.onnx'}: no such file\n")
    bad = tmp_path / "bad.nnet"
    bad.write_text("2,2,1,3,\n")
    code, _, err = run(capsys, "info", bad)
    assert code == 4
    assert err == f"relucert info: error: {bad}:2: file ends before the 3 layer sizes (truncated?)\n"
    code, _, err = run(capsys, "eval", tmp_path / "m.h5", "--x", "1")
    assert code == 4 and "cannot tell the model format from the suffix '.h5'" in err


def test_softmax_flag(capsys, tmp_path):
    W = np.array([[1.0, -1.0], [0.5, 2.0]])
    graph = oh.make_graph(
        [oh.make_node("MatMul", ["x", "W"], ["z"], name="mm"), oh.make_node("Softmax", ["z"], ["y"], name="sm")],
        "g", [oh.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 2])],
        [oh.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 2])], initializer=[nh.from_array(W, "W")])
    path = tmp_path / "s.onnx"
    path.write_bytes(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)], ir_version=7).SerializeToString())
    code, _, err = run(capsys, "eval", path, "--x", "1,2")
    assert code == 4 and "node 'sm' (Softmax)" in err and "--drop-softmax" in err
    with pytest.warns(UserWarning, match="dropped the final node 'sm'"):
        code, out, _ = run(capsys, "eval", path, "--x", "1,2", "--drop-softmax")
    assert (code, out) == (0, "y[0] = 2.0\ny[1] = 3.0\n")


def test_eval_float(capsys):
    x = [0.1, -0.2, 0.3, 0.4, -0.45]
    code, out, _ = run(capsys, "eval", ACAS, "--x=" + ",".join(map(str, x)))
    want = load(ACAS)(np.array(x))
    assert code == 0
    assert out == "".join(f"y[{k}] = {v!r}\n" for k, v in enumerate(want.tolist()))


def test_eval_exact(capsys, tiny):
    code, out, _ = run(capsys, "eval", tiny, "--x", "0.5,1/3", "--exact")
    # relu(1/2 + 2/3 + 1/2) - 1/4 = 17/12
    assert (code, out) == (0, "y[0] = 17/12 ~ 1.4166666666666666667\n")
    code, out, _ = run(capsys, "eval", tiny, "--x", "0.1,0", "--exact")
    q = Fraction(0.1) + Fraction(1, 2) - Fraction(1, 4)  # 0.1 is the float64 nearest to 1/10
    assert out == f"y[0] = {q} ~ 0.35000000000000000555\n"
    code, out, _ = run(capsys, "eval", tiny, "--x=-1,0", "--exact")
    assert out == "y[0] = -1/4 = -0.25\n"


def test_eval_fold_takes_raw_inputs(capsys):
    raw = [20000.0, 0.5, -1.0, 700.0, 10.0]
    code, out, _ = run(capsys, "eval", ACAS, "--x", ",".join(map(str, raw)), "--fold-normalization")
    model = load_nnet_model(ACAS)
    want = model.folded()(np.array(raw))
    assert code == 0 and out == "".join(f"y[{k}] = {v!r}\n" for k, v in enumerate(want.tolist()))
    np.testing.assert_allclose(want, model.network(model.header.normalize(np.array(raw))), rtol=1e-10)


@pytest.mark.parametrize("x,message", [
    ("1,2,3", "--x has 3 value(s) but the model has 2 inputs"),
    ("1,abc", "--x entry 1 'abc' is not a number"),
    ("1,inf", "--x entry 1 'inf' is not finite"),
    ("1/0,2", "--x entry 0 '1/0' is not a number"),
])
def test_eval_bad_x(x, message, capsys, tiny):
    code, _, err = run(capsys, "eval", tiny, "--x", x)
    assert (code, err) == (2, f"relucert eval: usage error: {message}\n")


def test_convert_round_trip(capsys, tmp_path):
    onnx_path, nnet_path = tmp_path / "a.onnx", tmp_path / "a.nnet"
    code, out, _ = run(capsys, "convert", ACAS, onnx_path)
    assert code == 0
    assert out == f"wrote {onnx_path} (onnx, 5-50-50-50-50-50-50-5, digest {ACAS_DIGEST}; exact)\n"
    code, out, _ = run(capsys, "convert", onnx_path, nnet_path)
    assert code == 0 and load(nnet_path).digest == ACAS_DIGEST
    code, out, _ = run(capsys, "convert", ACAS, tmp_path / "b.nnet")  # keeps the header
    assert load_nnet_model(tmp_path / "b.nnet").header.to_dict() == load_nnet_model(ACAS).header.to_dict()
    code, out, _ = run(capsys, "convert", ACAS, tmp_path / "c.onnx", "--dtype", "float32")
    assert code == 0 and out.endswith("; weights rounded, digest changed)\n")


def test_convert_with_fold(capsys, tmp_path):
    code, out, _ = run(capsys, "convert", ACAS, tmp_path / "f.npz", "--fold-normalization")
    folded = load(ACAS, fold_normalization=True)
    assert code == 0 and load(tmp_path / "f.npz").digest == folded.digest
    assert out == f"wrote {tmp_path / 'f.npz'} (npz, 5-10-50-50-50-50-50-50-5, digest {folded.digest}; exact)\n"
    code, _, err = run(capsys, "convert", tmp_path / "f.npz", tmp_path / "g.onnx", "--fold-normalization")
    assert code == 2 and "--fold-normalization applies to .nnet models only" in err
