"""The real data: every ACAS Xu and MNIST .nnet file loads and round-trips through ONNX and .npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx.reference import ReferenceEvaluator

from relucert.io import load, load_nnet_model, save

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "acas-neurodiff"
FILES = sorted(DATA.glob("*/*.nnet"))
U32 = 2.0**-24  # unit roundoff of float32


def test_all_files_are_there():
    names = [p.name for p in FILES]
    assert len([n for n in names if n.startswith("ACASXU_run2a_")]) == 90
    assert sorted(n for n in names if n.startswith("mnist")) == ["mnist_relu_3_100.nnet", "mnist_relu_3_100_16bit.nnet"]


def sample_inputs(model, n: int = 1000) -> np.ndarray:
    """Normalized inputs: uniform raw values in [min, max] (MNIST: pixels in [0, 1])."""
    rng = np.random.default_rng(2024)
    h = model.header
    if model.network.n_inputs == 784:
        return rng.uniform(0.0, 1.0, size=(n, 784))
    return h.normalize(rng.uniform(h.mins, h.maxes, size=(n, h.n_inputs)))


def float32_error_bound(net, X: np.ndarray) -> np.ndarray:
    """A bound on |float32 evaluation of the float32-rounded network - float64 exact-ish value|.

    Per layer with fan-in n: rounding the input (u|h|), the weights and bias (u|W|, u|b|) and the
    float32 dot products (gamma_{n+1} (|W||h| + |b|)) add to the error carried from before
    through |W| (ReLU is 1-Lipschitz).  Constants are doubled to cover second-order terms.
    """
    h = X
    e = U32 * np.abs(X)
    for k, L in enumerate(net.layers):
        absW, absb = np.abs(L.weight), np.abs(L.bias)
        mag = (np.abs(h) + e) @ absW.T + absb
        gamma = 2.0 * (L.n_in + 3) * U32
        e = e @ absW.T + gamma * mag
        z = h @ L.weight.T + L.bias
        h = np.maximum(z, 0.0) if k < len(net.layers) - 1 else z
    return e


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trips(path, tmp_path):
    model = load_nnet_model(path)
    net = model.network
    assert load(path).digest == net.digest

    # .npz and float64 ONNX: bitwise exact
    save(net, tmp_path / "n.npz")
    assert load(tmp_path / "n.npz").digest == net.digest
    save(net, tmp_path / "n64.onnx", dtype="float64")
    assert load(tmp_path / "n64.onnx").digest == net.digest
    save(net, tmp_path / "n.nnet", header=model.header)
    assert load(tmp_path / "n.nnet").digest == net.digest

    X = sample_inputs(model)
    y = net(X)
    ref64 = ReferenceEvaluator(onnx.load(str(tmp_path / "n64.onnx")))
    np.testing.assert_allclose(ref64.run(None, {"input": X})[0], y, rtol=1e-12, atol=1e-12)

    # float32 storage: rounded weights, float32 arithmetic in the reference evaluator
    save(net, tmp_path / "n32.onnx", dtype="float32")
    m32 = onnx.load(str(tmp_path / "n32.onnx"))
    assert m32.graph.initializer[0].data_type == TensorProto.FLOAT
    y32 = ReferenceEvaluator(m32).run(None, {"input": X.astype(np.float32)})[0].astype(np.float64)
    err = np.abs(y32 - y)
    assert np.all(err <= float32_error_bound(net, X))
    rel = np.max(err, axis=1) / np.max(np.abs(y), axis=1)  # relative to the output's size
    # rounding the weights alone moves some outputs by ~1e-5 relative (cancellation), so 1e-6
    # holds for the typical input, not for all of them
    assert np.median(rel) < 1e-6 and np.max(rel) < 1e-4

    # "auto" stores float32 exactly when every weight is a float32, so its round trip is always exact
    save(net, tmp_path / "auto.onnx")
    auto = onnx.load(str(tmp_path / "auto.onnx")).graph.initializer[0].data_type
    assert auto == (TensorProto.FLOAT if path.name in FLOAT32_EXACT else TensorProto.DOUBLE)
    assert load(tmp_path / "auto.onnx").digest == net.digest


# Files whose weights are all exactly float32 (in fact float16) values.  The other 16-bit copies
# store the *shortest* decimal that rounds to the float16 value (e.g. -0.0395 for
# -0.03948974609375), and the function of a network is that of its float64 weights.
FLOAT32_EXACT = {f"ACASXU_run2a_1_{b}_batch_2000_16bit.nnet" for b in (1, 2, 3, 5, 6, 7, 9)} | {
    "mnist_relu_3_100_16bit.nnet"}


def test_which_files_hold_float16_values_exactly():
    exact = set()
    for path in FILES:
        net = load(path)
        arrays = [a for L in net.layers for a in (L.weight, L.bias)]
        if all(np.array_equal(a.astype(np.float16).astype(np.float64), a) for a in arrays):
            exact.add(path.name)
        elif "16bit" in path.name:  # within float16 rounding of a float16 value (relative 2**-11)
            for a in arrays:
                assert np.all(np.abs(a.astype(np.float16).astype(np.float64) - a) <= 2.0**-11 * np.abs(a) + 2.0**-25)
    assert exact == FLOAT32_EXACT


def test_folded_acas_networks_through_onnx(tmp_path):
    for path in FILES[:: 15]:
        if path.name.startswith("mnist"):
            continue
        folded = load(path, fold_normalization=True)
        save(folded, tmp_path / "f.onnx")
        assert load(tmp_path / "f.onnx").digest == folded.digest
