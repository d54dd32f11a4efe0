"""ONNX export: checker, reference evaluation, dtype choice, exact round trips, atomic writes."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

from relucert import Network
from relucert.errors import ModelFormatError, SpecError
from relucert.io import load, save
from relucert.io._common import atomic_write


def float32_exact_net(sizes, seed=0) -> Network:
    rng = np.random.default_rng(seed)
    layers = [(rng.normal(size=(b, a)).astype(np.float32), rng.normal(size=b).astype(np.float32))
              for a, b in zip(sizes[:-1], sizes[1:])]
    return Network(layers, name="f32")


def run_reference(path, X) -> np.ndarray:
    model = onnx.load(str(path))
    ref = ReferenceEvaluator(model)
    dtype = np.float32 if model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT else np.float64
    return np.vstack([ref.run(None, {"input": x[None].astype(dtype)})[0] for x in X])


@pytest.mark.parametrize("sizes", [[4, 8, 8, 3], [3, 2], [5, 1, 5]])
def test_float64_export_checks_evaluates_and_round_trips(sizes, tmp_path):
    net = Network.random(sizes, seed=3)
    path = tmp_path / "n.onnx"
    save(net, path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, sizes[0]]
    assert [n.op_type for n in model.graph.node] == ["Gemm", "Relu"] * (len(sizes) - 2) + ["Gemm"]
    assert model.opset_import[0].version == 13
    assert {p.key: p.value for p in model.metadata_props} == {
        "relucert.source_digest": net.digest, "relucert.dtype": "float64"}
    X = np.random.default_rng(0).normal(size=(200, sizes[0]))
    np.testing.assert_allclose(run_reference(path, X), net(X), rtol=1e-13, atol=1e-13)
    back = load(path)
    assert back.digest == net.digest and back.name == "n"


def test_auto_dtype_uses_float32_only_when_exact(tmp_path):
    f32 = float32_exact_net([4, 6, 2])
    save(f32, tmp_path / "a.onnx")
    model = onnx.load(str(tmp_path / "a.onnx"))
    assert model.graph.initializer[0].data_type == TensorProto.FLOAT
    assert load(tmp_path / "a.onnx").digest == f32.digest
    X = np.random.default_rng(1).normal(size=(100, 4))
    np.testing.assert_allclose(run_reference(tmp_path / "a.onnx", X), f32(X), rtol=1e-5, atol=1e-5)

    # one weight that is not a float32 makes the whole model float64
    W = np.array(f32.layers[0].weight)
    W[0, 0] = 0.1
    mixed = Network([(W, f32.layers[0].bias), f32.layers[1]])
    save(mixed, tmp_path / "b.onnx")
    assert onnx.load(str(tmp_path / "b.onnx")).graph.initializer[0].data_type == TensorProto.DOUBLE
    assert load(tmp_path / "b.onnx").digest == mixed.digest


def test_forced_float32_rounds_each_weight(tmp_path):
    net = Network.random([3, 5, 2], seed=7)
    save(net, tmp_path / "r.onnx", dtype="float32")
    back = load(tmp_path / "r.onnx")
    assert back.digest != net.digest
    for L, B in zip(net.layers, back.layers):
        assert np.array_equal(B.weight, L.weight.astype(np.float32).astype(np.float64))
        assert np.array_equal(B.bias, L.bias.astype(np.float32).astype(np.float64))
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "r.onnx")).metadata_props}
    assert meta["relucert.dtype"] == "float32"


def test_float32_out_of_range_and_bad_dtype(tmp_path):
    big = Network.affine([[1e300]])
    with pytest.raises(SpecError, match=r"^a weight exceeds the float32 range; use dtype='float64'$"):
        save(big, tmp_path / "x.onnx", dtype="float32")
    save(big, tmp_path / "x.onnx")  # auto: float64
    assert load(tmp_path / "x.onnx").digest == big.digest
    with pytest.raises(SpecError, match=r"^dtype must be 'auto', 'float32' or 'float64', got dtype='float16'$"):
        save(big, tmp_path / "y.onnx", dtype="float16")
    with pytest.raises(SpecError, match=r"^unknown option\(s\) header for the onnx format \(accepted: dtype\)$"):
        save(big, tmp_path / "y.onnx", header=None)
    assert not (tmp_path / "y.onnx").exists()


def test_unknown_suffix_and_format(tmp_path):
    net = Network.identity(2)
    with pytest.raises(ModelFormatError, match=r"x\.h5: cannot tell the model format from the suffix '\.h5'"):
        save(net, tmp_path / "x.h5")
    with pytest.raises(SpecError, match=r"^format must be one of 'onnx', 'nnet', 'npz', got format='h5'$"):
        save(net, tmp_path / "x.h5", format="h5")
    save(net, tmp_path / "x.bin", format="onnx")
    assert load(tmp_path / "x.bin", format="onnx").digest == net.digest
    with pytest.raises(SpecError, match="^save needs a Network, got list$"):
        save([1], tmp_path / "x.onnx")


if importlib.util.find_spec("onnxruntime") is not None:  # optional, not a dependency: defined only if present

    def test_onnxruntime_agrees(tmp_path):
        import onnxruntime as ort

        for net in (Network.random([4, 8, 3], seed=5), float32_exact_net([4, 8, 3])):
            save(net, tmp_path / "n.onnx")
            sess = ort.InferenceSession(str(tmp_path / "n.onnx"), providers=["CPUExecutionProvider"])
            X = np.random.default_rng(2).normal(size=(20, 4))
            dtype = np.float32 if net.name == "f32" else np.float64
            got = np.vstack([sess.run(None, {"input": x[None].astype(dtype)})[0] for x in X])
            tol = 1e-5 if net.name == "f32" else 1e-12
            np.testing.assert_allclose(got, net(X), rtol=tol, atol=tol)


# -- atomic writes ---------------------------------------------------------------------------------------

def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as fh:
            fh.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_atomic_write_replaces_and_respects_umask(tmp_path):
    import os

    target = tmp_path / "m.bin"
    old = os.umask(0o022)
    try:
        with atomic_write(target) as fh:
            fh.write(b"new")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin"]


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        save(Network.identity(2), tmp_path / "nope" / "m.onnx")


def test_exported_weights_are_stored_as_given(tmp_path):
    net = float32_exact_net([3, 4, 2], seed=9)
    save(net, tmp_path / "w.onnx")
    inits = {t.name: nh.to_array(t) for t in onnx.load(str(tmp_path / "w.onnx")).graph.initializer}
    assert np.array_equal(inits["W0"], net.layers[0].weight) and np.array_equal(inits["b1"], net.layers[1].bias)
