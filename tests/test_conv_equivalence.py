"""Overlapping ReLU ConvNets from ONNX (Conv lowered to dense) are verified like any other net
(issue: expressivity, Conv ReLU nets)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import relucert
from relucert import Box, EpsEquivalence, transforms


def _convnet(path, *, kernel: int = 3, stride: int = 1, seed: int = 0, bias_shift: float = 0.0) -> None:
    """x (1x1x5x5) -> Conv(2 channels, kernel, stride) -> Relu -> Flatten -> Gemm(1)."""
    rng = np.random.default_rng(seed)
    q = 2.0**-8
    W = np.round(rng.normal(0, 0.5, (2, 1, kernel, kernel)) / q) * q
    b = np.round(rng.normal(0, 0.1, 2) / q) * q
    side = (5 - kernel) // stride + 1
    V = np.round(rng.normal(0, 0.5, (2 * side * side, 1)) / q) * q
    c = np.array([bias_shift])
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in ((W, "W"), (b, "b"), (V, "V"), (c, "c"))]
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["z"], strides=[stride, stride]),
             helper.make_node("Relu", ["z"], ["h"]),
             helper.make_node("Flatten", ["h"], ["f"]),
             helper.make_node("Gemm", ["f", "V", "c"], ["y"])]
    graph = helper.make_graph(nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_overlapping_convnet_lowers_exactly_and_verifies(tmp_path):
    path = tmp_path / "conv.onnx"
    _convnet(path, kernel=3, stride=1)  # overlapping receptive fields
    net = relucert.load(path)
    assert net.sizes == [25, 18, 1]
    # the dense lowering computes what the ONNX reference evaluator computes
    ref = ReferenceEvaluator(onnx.load(path))
    X = np.random.default_rng(1).uniform(-1, 1, (20, 25)).astype(np.float32)
    for x in X:
        y = ref.run(None, {"x": x.reshape(1, 1, 5, 5)})[0].reshape(-1)
        assert abs(float(y[0]) - net(x.astype(np.float64))[0]) < 1e-5
    box = Box.linf_ball(np.zeros(25), 0.1)
    # an exact rewrite (hidden units permuted) is proved, structurally and exactly
    new, claim = transforms.apply("permute", net, box)
    res = relucert.verify(net, new, box, EpsEquivalence(0.0))
    assert str(res.verdict) == "EQUIVALENT" and res.soundness == "exact"
    # a copy whose output bias moved by 2**-10 is refuted at eps = 2**-11 with an exact counterexample
    path2 = tmp_path / "conv2.onnx"
    _convnet(path2, kernel=3, stride=1, bias_shift=2.0**-10)
    other = relucert.load(path2)
    res = relucert.verify(net, other, box, EpsEquivalence(2.0**-11), time_limit=60)
    assert str(res.verdict) == "NOT_EQUIVALENT"
    x = res.counterexample.x
    assert abs(net.eval_exact(x)[0] - other.eval_exact(x)[0]) == Fraction(1, 1024)
    # and within eps = 2**-9 they agree
    res = relucert.verify(net, other, box, EpsEquivalence(2.0**-9), time_limit=60)
    assert str(res.verdict) == "EQUIVALENT"


def test_non_overlapping_convnet_has_fewer_units(tmp_path):
    path = tmp_path / "conv_nov.onnx"
    _convnet(path, kernel=2, stride=2)  # non-overlapping: 2x2 patches, stride 2
    net = relucert.load(path)
    assert net.sizes == [25, 8, 1]
    # each unit of a non-overlapping conv reads a disjoint patch: no input feeds two units of a channel
    W = net.layers[0].weight
    for ch in range(2):
        block = W[ch * 4:(ch + 1) * 4] != 0
        assert block.sum(axis=0).max() <= 1
