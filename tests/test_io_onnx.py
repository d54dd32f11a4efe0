"""ONNX import: every supported operator and input shape, opsets 8 to current, and bad models.

Every model is built here with ``onnx.helper`` and checked against ``onnx.reference``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nh
from onnx.reference import ReferenceEvaluator

from relucert import Network
from relucert.errors import ModelFormatError, SpecError, UnsupportedModelError
from relucert.io import MAX_ELEMENTS, load

LATEST = onnx.defs.onnx_opset_version()
OPSETS = [8, 11, 13, LATEST]
D = TensorProto.DOUBLE


class G:
    """A small graph builder: nodes, initializers and the opset-dependent forms of ops."""

    def __init__(self, opset: int = 13, dtype=np.float64, seed: int = 0):
        self.opset = opset
        self.dtype = dtype
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.rng = np.random.default_rng(seed)
        self.k = 0

    def name(self, prefix: str) -> str:
        self.k += 1
        return f"{prefix}{self.k}"

    def const(self, value, prefix: str = "c") -> str:
        name = self.name(prefix)
        self.inits[name] = np.asarray(value)
        return name

    def rand(self, *shape, prefix: str = "w") -> str:
        return self.const(self.rng.normal(size=shape).astype(self.dtype), prefix)

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs) -> str:
        outs = [self.name("t") for _ in range(n_out)]
        name = f"{op_type.lower()}{len(self.nodes) + 1}"  # position in the graph
        self.nodes.append(oh.make_node(op_type, list(inputs), outs, name=name, **attrs))
        return outs[0]

    def squeeze(self, x: str, axes) -> str:
        if self.opset >= 13:
            return self.op("Squeeze", x, self.const(np.array(axes, np.int64), "axes"))
        return self.op("Squeeze", x, axes=list(axes))

    def unsqueeze(self, x: str, axes) -> str:
        if self.opset >= 13:
            return self.op("Unsqueeze", x, self.const(np.array(axes, np.int64), "axes"))
        return self.op("Unsqueeze", x, axes=list(axes))

    def reshape(self, x: str, shape) -> str:
        return self.op("Reshape", x, self.const(np.array(shape, np.int64), "shape"))

    def model(self, in_shape, out: str, out_shape, *, elem=None, inits_as_inputs: bool | None = None):
        elem = elem or (TensorProto.FLOAT if self.dtype == np.float32 else D)
        opset = oh.make_opsetid("", self.opset)
        ir = oh.find_min_ir_version_for([opset])
        tensors = [nh.from_array(v, k) for k, v in self.inits.items()]
        inputs = [oh.make_tensor_value_info("x", elem, in_shape)]
        if inits_as_inputs or (inits_as_inputs is None and ir < 4):
            inputs += [oh.make_tensor_value_info(t.name, t.data_type, t.dims) for t in tensors]
        graph = oh.make_graph(self.nodes, "g", inputs, [oh.make_tensor_value_info(out, elem, out_shape)],
                              initializer=tensors)
        return oh.make_model(graph, opset_imports=[opset], ir_version=ir)


def write(model, tmp_path, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def check_like_reference(model, tmp_path, *, trials: int = 25, rtol: float = 1e-10, **load_options) -> Network:
    """Load the model and compare it with the ONNX reference evaluator on random inputs."""
    onnx.checker.check_model(model)
    net = load(write(model, tmp_path), **load_options)
    ref = ReferenceEvaluator(model)
    inp = model.graph.input[0]
    shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    dtype = np.float32 if inp.type.tensor_type.elem_type == TensorProto.FLOAT else np.float64
    rng = np.random.default_rng(1)
    for _ in range(trials):
        x = rng.normal(size=shape).astype(dtype)
        want = np.asarray(ref.run(None, {"x": x})[0], dtype=np.float64).reshape(-1)
        got = net(x.astype(np.float64).reshape(-1))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    return net


# -- chains of supported operators -------------------------------------------------------------------

def mlp(opset):
    """Gemm / Relu / Gemm with the bias input (required before opset 11)."""
    g = G(opset)
    h = g.op("Relu", g.op("Gemm", "x", g.rand(7, 5), g.rand(7), transB=1))
    return g.model([1, 5], g.op("Gemm", h, g.rand(7, 3), g.rand(3)), [1, 3]), [5, 7, 3]


def squeeze_unsqueeze_reshape(opset):
    g = G(opset)
    s = g.squeeze("x", [0, 2])  # [1, 6, 1] -> [6]
    u = g.unsqueeze(s, [0])  # -> [1, 6]
    h = g.op("Relu", g.op("Gemm", u, g.rand(4, 6), g.rand(4), transB=1))
    r = g.reshape(h, [0, 2, -1])  # [1, 4] -> [1, 2, 2]
    r = g.unsqueeze(r, [-1])  # -> [1, 2, 2, 1]
    out = g.reshape(r, [-1])
    return g.model([1, 6, 1], out, [4]), [6, 4, 4]


def flatten_4d(opset):
    g = G(opset)
    f = g.op("Flatten", "x", axis=1)  # [1, 1, 1, 5] -> [1, 5]
    return g.model([1, 1, 1, 5], g.op("Gemm", g.op("Relu", f), g.rand(5, 2), g.rand(2)), [1, 2]), [5, 5, 2]


def constant_nodes(opset):
    g = G(opset)
    w = g.op("Constant", value=nh.from_array(g.rng.normal(size=(5, 3)), "cw"))
    b = g.op("Constant", value=nh.from_array(g.rng.normal(size=(3,)), "cb"))
    y = g.op("Add", g.op("MatMul", "x", w), b)
    return g.model([1, 5], g.op("Identity", g.op("Relu", y)), [1, 3]), [5, 3, 3]


def dropout(opset):
    g = G(opset)
    y = g.op("Gemm", "x", g.rand(4, 3), g.rand(3))
    d = g.op("Dropout", y, g.const(np.array(0.5))) if opset >= 12 else g.op("Dropout", y, ratio=0.5)
    return g.model([1, 4], d, [1, 3]), [4, 3]


OPSET_CASES = [mlp, squeeze_unsqueeze_reshape, flatten_4d, constant_nodes, dropout]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("case", OPSET_CASES, ids=lambda f: f.__name__)
def test_opset_range(case, opset, tmp_path):
    model, sizes = case(opset)
    net = check_like_reference(model, tmp_path)
    assert net.sizes == sizes


def gemm_variant(alpha, beta, trans_a, trans_b):
    def build():
        g = G()
        x_shape = [4, 1] if trans_a else [1, 4]
        w = g.rand(*((3, 4) if trans_b else (4, 3)))
        y = g.op("Gemm", "x", w, g.rand(1, 3), alpha=alpha, beta=beta, transA=trans_a, transB=trans_b)
        return g.model(x_shape, y, [1, 3]), [4, 3]

    build.__name__ = f"gemm_a{alpha}_b{beta}_tA{trans_a}_tB{trans_b}"
    return build


def gemm_weight_left():
    g = G()  # y = W @ x with x a column [4, 1]; the Gemm's first operand is the weight
    return g.model([4, 1], g.op("Gemm", g.rand(3, 4), "x", g.rand(3, 1)), [3, 1]), [4, 3]


def gemm_no_bias():
    g = G()
    return g.model([1, 4], g.op("Gemm", "x", g.rand(4, 2)), [1, 2]), [4, 2]


def matmul_right_vector():
    g = G()  # x of shape [n]
    return g.model([4], g.op("Add", g.op("MatMul", "x", g.rand(4, 3)), g.rand(3)), [3]), [4, 3]


def matmul_left_vector():
    g = G()
    return g.model([4], g.op("Add", g.rand(3), g.op("MatMul", g.rand(3, 4), "x")), [3]), [4, 3]


def matmul_left_column():
    g = G()  # [1, n, 1] input, weight on the left of the [n, 1] column
    col = g.squeeze("x", [0])
    return g.model([1, 4, 1], g.op("MatMul", g.rand(2, 4), col), [2, 1]), [4, 2]


def matmul_batched_weight():
    g = G()  # [1, 1, 1, n] @ [2, n, 3] broadcasts to [1, 2, 1, 3]
    return g.model([1, 1, 1, 4], g.op("MatMul", "x", g.rand(2, 4, 3)), [1, 2, 1, 3]), [4, 6]


def normalize_then_gemm():
    g = G()  # (x - mean) / range * scale, then a layer: all folded into one affine layer
    x = g.op("Sub", "x", g.const(np.array([0.5, -1.0, 2.0, 0.25])))
    x = g.op("Div", x, g.const(np.array([2.0, 3.0, 0.5, 7.0])))
    x = g.op("Mul", g.const(np.array(1.5)), x)
    h = g.op("Relu", g.op("Gemm", x, g.rand(5, 4), g.rand(5), transB=1))
    return g.model([1, 4], g.op("MatMul", h, g.rand(5, 2)), [1, 2]), [4, 5, 2]


def constant_minus_x():
    g = G()
    y = g.op("Sub", g.const(np.array([1.0, 2.0, 3.0])), "x")
    return g.model([1, 3], g.op("Neg", g.op("Add", g.const(np.array(0.5)), y)), [1, 3]), [3, 3]


def relu_on_input():
    g = G()
    return g.model([1, 3], g.op("Gemm", g.op("Relu", "x"), g.rand(3, 2), g.rand(2)), [1, 2]), [3, 3, 2]


def two_relus_in_a_row():
    g = G()
    h = g.op("Relu", g.op("Relu", g.op("Gemm", "x", g.rand(3, 4), g.rand(4))))
    return g.model([1, 3], g.op("Gemm", h, g.rand(4, 2), g.rand(2)), [1, 2]), [3, 4, 4, 2]


def ends_with_relu():
    g = G()
    return g.model([1, 3], g.op("Relu", g.op("Gemm", "x", g.rand(3, 4), g.rand(4))), [1, 4]), [3, 4, 4]


def only_relu():
    g = G()
    return g.model([1, 3], g.op("Relu", "x"), [1, 3]), [3, 3, 3]


def only_identity():
    g = G()
    return g.model([1, 3], g.op("Identity", "x"), [1, 3]), [3, 3]


def sum_of_two_branches():
    g = G()  # Gemm(x) + MatMul(x): still one affine map
    y = g.op("Add", g.op("Gemm", "x", g.rand(3, 4)), g.op("MatMul", "x", g.rand(3, 4)))
    return g.model([1, 3], g.op("Sub", y, g.op("MatMul", "x", g.rand(3, 4))), [1, 4]), [3, 4]


def transpose_column():
    g = G()
    t = g.op("Transpose", "x", perm=[1, 0])  # [3, 1] -> [1, 3]
    return g.model([3, 1], g.op("Gemm", t, g.rand(3, 2)), [1, 2]), [3, 2]


def batchnorm():
    g = G(15)  # onnx.reference applies momentum in BatchNormalization-9 (opsets 9-13): compare from 14
    y = g.op("Gemm", "x", g.rand(3, 4), g.rand(4))
    scale, bias, mean = g.rand(4), g.rand(4), g.rand(4)
    var = g.const(np.abs(g.rng.normal(size=4)) + 0.1)
    y = g.op("BatchNormalization", y, scale, bias, mean, var, epsilon=1e-3)
    return g.model([1, 3], g.op("Relu", y), [1, 4]), [3, 4, 4]


def pytorch_style_flatten():
    g = G()  # x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    batch = g.op("Gather", g.op("Shape", "x"), g.const(np.array(0, np.int64)), axis=0)
    shape = g.op("Concat", g.unsqueeze(batch, [0]), g.const(np.array([-1], np.int64)), axis=0)
    f = g.op("Reshape", "x", shape)
    return g.model([1, 2, 3], g.op("Gemm", f, g.rand(6, 2), g.rand(2)), [1, 2]), [6, 2]


def conv_pads_strides():
    g = G()
    c = g.op("Conv", "x", g.rand(3, 2, 3, 3), g.rand(3), pads=[1, 0, 2, 1], strides=[2, 1])
    f = g.op("Flatten", g.op("Relu", c))
    return g.model([1, 2, 6, 5], g.op("Gemm", f, g.rand(3 * 4 * 4, 2), g.rand(2)), [1, 2]), [60, 48, 2]


def conv_group_dilation_same():
    g = G()
    c = g.op("Conv", "x", g.rand(4, 1, 2, 2), dilations=[2, 1], group=2, auto_pad="SAME_UPPER", strides=[1, 2])
    return g.model([1, 2, 5, 5], c, [1, 4, 5, 3]), [50, 60]


def conv_1d_same_lower():
    g = G()
    c = g.op("Conv", "x", g.rand(2, 3, 2), g.rand(2), auto_pad="SAME_LOWER", kernel_shape=[2])
    return g.model([1, 3, 7], g.op("Relu", c), [1, 2, 7]), [21, 14, 14]


def float32_model():
    g = G(dtype=np.float32)
    h = g.op("Relu", g.op("Gemm", "x", g.rand(6, 8), g.rand(8)))
    return g.model([1, 6], g.op("Gemm", h, g.rand(8, 3), g.rand(3)), [1, 3]), [6, 8, 3]


CASES = [
    gemm_variant(1.0, 1.0, 0, 0), gemm_variant(0.5, 2.0, 0, 1), gemm_variant(1.0, 0.0, 1, 0),
    gemm_variant(-1.5, 0.25, 1, 1), gemm_weight_left, gemm_no_bias,
    matmul_right_vector, matmul_left_vector, matmul_left_column, matmul_batched_weight,
    normalize_then_gemm, constant_minus_x, relu_on_input, two_relus_in_a_row, ends_with_relu,
    only_relu, only_identity, sum_of_two_branches, transpose_column, batchnorm,
    pytorch_style_flatten, conv_pads_strides, conv_group_dilation_same, conv_1d_same_lower,
]


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__)
def test_operator_matches_reference(case, tmp_path):
    model, sizes = case()
    net = check_like_reference(model, tmp_path)
    assert net.sizes == sizes


def test_float32_model_matches_reference(tmp_path):
    model, sizes = float32_model()
    net = check_like_reference(model, tmp_path, rtol=1e-5)  # the reference computes in float32
    assert net.sizes == sizes
    # float32 weights are taken exactly
    w = nh.to_array(model.graph.initializer[0])
    assert np.array_equal(net.layers[0].weight, w.astype(np.float64).T)


def test_stored_weights_are_kept_exactly_and_named_after_file(tmp_path):
    model, _ = mlp(13)
    net = load(write(model, tmp_path, "my-net.onnx"))
    W0 = nh.to_array(model.graph.initializer[0])
    b0 = nh.to_array(model.graph.initializer[1])
    W1 = nh.to_array(model.graph.initializer[2])
    assert np.array_equal(net.layers[0].weight, W0) and np.array_equal(net.layers[0].bias, b0)
    assert np.array_equal(net.layers[1].weight, W1.T)
    assert net.name == "my-net"


def test_relu_on_input_gives_identity_layer(tmp_path):
    model, _ = relu_on_input()
    net = load(write(model, tmp_path))
    assert np.array_equal(net.layers[0].weight, np.eye(3)) and not net.layers[0].bias.any()


def test_initializers_listed_as_inputs(tmp_path):
    g = G(13)
    model = g.model([1, 3], g.op("Gemm", "x", g.rand(3, 2), g.rand(2)), [1, 2], inits_as_inputs=True)
    assert len(model.graph.input) == 3
    assert check_like_reference(model, tmp_path).sizes == [3, 2]


def test_nodes_out_of_order_are_sorted(tmp_path):
    model, _ = mlp(13)
    nodes = list(model.graph.node)[::-1]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    net = load(write(model, tmp_path))
    model2, _ = mlp(13)
    assert net.same_weights(load(write(model2, tmp_path, "sorted.onnx")))


def test_unused_nodes_are_ignored(tmp_path):
    g = G()
    y = g.op("Gemm", "x", g.rand(3, 2))
    g.op("Sigmoid", y)  # dead branch of an unsupported op
    assert load(write(g.model([1, 3], y, [1, 2]), tmp_path)).sizes == [3, 2]


# -- softmax -------------------------------------------------------------------------------------------

def softmax_model(axis=None, opset=13, shape=(1, 3)):
    g = G(opset)
    y = g.op("Gemm", "x", g.rand(4, 3), g.rand(3))
    attrs = {} if axis is None else {"axis": axis}
    s = g.op("Softmax", y, **attrs)
    g.nodes[-1].name = "sm"
    return g.model([1, 4], s, list(shape)), g


def test_softmax_needs_drop_flag(tmp_path):
    model, _ = softmax_model()
    with pytest.raises(UnsupportedModelError) as err:
        load(write(model, tmp_path))
    assert str(err.value) == (
        f"{tmp_path / 'm.onnx'}: node 'sm' (Softmax): relucert represents piecewise-linear networks only; "
        "pass drop_softmax=True (--drop-softmax) to drop a final Softmax (it does not change the argmax)"
    )


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_dropped_with_warning(opset, tmp_path):
    model, _ = softmax_model(opset=opset)
    path = write(model, tmp_path)
    with pytest.warns(UserWarning, match=re.escape("dropped the final node 'sm' (Softmax) (it does not change the argmax)")):
        net = load(path, drop_softmax=True)
    x = np.random.default_rng(0).normal(size=(50, 4))
    logits = x @ nh.to_array(model.graph.initializer[0]) + nh.to_array(model.graph.initializer[1])
    np.testing.assert_allclose(net(x), logits, rtol=1e-12)
    probs = np.vstack([ReferenceEvaluator(model).run(None, {"x": r[None]})[0] for r in x])
    assert np.array_equal(np.argmax(net(x), axis=1), np.argmax(probs, axis=1))


def test_softmax_not_last_is_rejected(tmp_path):
    model, g = softmax_model()
    g.nodes.append(oh.make_node("Gemm", [g.nodes[-1].output[0], g.rand(3, 2)], ["z"], name="after"))
    model = g.model([1, 4], "z", [1, 2])
    with pytest.raises(UnsupportedModelError, match=re.escape(
            "node 'after' (Gemm): follows the dropped node 'sm' (Softmax); only a final Softmax can be dropped")):
        load(write(model, tmp_path), drop_softmax=True)


# -- bad models ----------------------------------------------------------------------------------------

def expect(model_or_bytes, tmp_path, exc, message: str | None = None, *, match: str | None = None, **opts):
    """Loading fails with ``exc`` and exactly ``<path>: message`` (or ``<path>: `` + regex ``match``)."""
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    path = tmp_path / "bad.onnx"
    path.write_bytes(data)
    with pytest.raises(exc) as err:
        load(path, **opts)
    if message is not None:
        assert str(err.value) == f"{path}: {message}"
    else:
        assert re.fullmatch(re.escape(f"{path}: ") + match, str(err.value)), str(err.value)
    return err.value


def test_corrupt_bytes(tmp_path):
    model, _ = mlp(13)
    data = model.SerializeToString()
    expect(data[: len(data) // 2], tmp_path, ModelFormatError,
           match=r"not a valid ONNX file \(DecodeError: Error parsing message with type 'onnx.ModelProto'.*\)")


def test_garbage_and_empty_files(tmp_path):
    expect(b"\xff\xfe garbage", tmp_path, ModelFormatError, match=r"not a valid ONNX file \(DecodeError: .*\)")
    expect(b"", tmp_path, ModelFormatError, "not a valid ONNX file (no graph)")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_initializer(bad, tmp_path):
    g = G()
    w = g.rng.normal(size=(3, 2))
    w[1, 0] = bad
    y = g.op("Gemm", "x", g.const(w, "W"))
    expect(g.model([1, 3], y, [1, 2]), tmp_path, ModelFormatError,
           f"initializer 'W1' holds a non-finite value {bad!r} at index (1, 0)")


def test_non_finite_constant_node(tmp_path):
    g = G()
    c = g.op("Constant", value=nh.from_array(np.array([1.0, np.nan]), "v"))
    g.nodes[-1].name = "const_b"
    y = g.op("Add", g.op("Gemm", "x", g.rand(3, 2)), c)
    expect(g.model([1, 3], y, [1, 2]), tmp_path, ModelFormatError,
           "node 'const_b' (Constant) output 't1' holds a non-finite value nan at index (1,)")


def test_division_by_zero(tmp_path):
    g = G()
    y = g.op("Div", "x", g.const(np.array([1.0, 0.0, 2.0])))
    expect(g.model([1, 3], y, [1, 3]), tmp_path, ModelFormatError,
           "node 'div1' (Div): produces non-finite coefficients (overflow or division by zero)")


def test_shape_mismatch(tmp_path):
    g = G()
    y = g.op("MatMul", "x", g.rand(4, 2))
    expect(g.model([1, 3], y, [1, 2]), tmp_path, ModelFormatError,
           "node 'matmul1' (MatMul): shapes (1, 3) and (4, 2) cannot be multiplied")


def test_unsupported_op_names_node_and_type(tmp_path):
    g = G()
    y = g.op("Sigmoid", g.op("Gemm", "x", g.rand(3, 2)))
    g.nodes[-1].name = "act1"
    err = expect(g.model([1, 3], y, [1, 2]), tmp_path, UnsupportedModelError,
                 "node 'act1' (Sigmoid): operator Sigmoid is not supported (supported: Gemm, MatMul, Conv, Add, "
                 "Sub, Mul, Div, Neg, BatchNormalization, Relu, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, "
                 "Identity, Dropout, Constant, Shape (and a final Softmax with drop_softmax=True))")
    assert isinstance(err, NotImplementedError)


def test_nonlinear_products_rejected(tmp_path):
    g = G()
    y = g.op("Mul", "x", g.op("Relu", "x"))
    with pytest.raises(UnsupportedModelError, match="not a chain of affine layers and ReLUs"):
        load(write(g.model([1, 3], y, [1, 3]), tmp_path))
    g = G()
    y = g.op("Mul", "x", g.op("Neg", "x"))
    expect(g.model([1, 3], y, [1, 3]), tmp_path, UnsupportedModelError,
           "node 'mul2' (Mul): multiplies two input-dependent tensors (not affine)")
    g = G()
    y = g.op("Div", g.const(np.ones(3)), "x")
    expect(g.model([1, 3], y, [1, 3]), tmp_path, UnsupportedModelError,
           "node 'div1' (Div): divides by an input-dependent tensor (not affine)")


def test_skip_connection_rejected(tmp_path):
    g = G()
    h = g.op("Relu", g.op("Gemm", "x", g.rand(3, 3)))
    y = g.op("Add", "x", h)
    expect(g.model([1, 3], y, [1, 3]), tmp_path, UnsupportedModelError,
           "node 'add3' (Add) uses tensor 'x' from before node 'relu2' (Relu); the graph is not a chain of "
           "affine layers and ReLUs (skip connections and parallel branches are not supported)")


def test_parallel_relus_rejected(tmp_path):
    g = G()
    a = g.op("Relu", g.op("Gemm", "x", g.rand(3, 2)))
    b = g.op("Relu", g.op("Gemm", "x", g.rand(3, 2)))
    y = g.op("Add", a, b)
    expect(g.model([1, 3], y, [1, 2]), tmp_path, UnsupportedModelError,
           match=re.escape("node 'gemm3' (Gemm) uses tensor 'x' from before node 'relu2' (Relu); the graph is not") + ".*")


def test_other_domain_rejected(tmp_path):
    g = G()
    y = g.op("Gemm", "x", g.rand(3, 2))
    g.nodes.append(oh.make_node("FusedThing", [y], ["z"], name="custom", domain="com.example"))
    model = g.model([1, 3], "z", [1, 2])
    model.opset_import.append(oh.make_opsetid("com.example", 1))
    expect(model, tmp_path, UnsupportedModelError,
           "node 'custom' (FusedThing): operators of domain 'com.example' are not supported")


@pytest.mark.parametrize("opset", [7, LATEST + 1])
def test_wrong_opset(opset, tmp_path):
    g = G()
    model = g.model([1, 3], g.op("Relu", "x"), [1, 3])
    model.opset_import[0].version = opset
    expect(model, tmp_path, UnsupportedModelError, f"opset {opset} is not supported (supported: 8 to {LATEST})")


def test_missing_default_opset(tmp_path):
    g = G()
    model = g.model([1, 3], g.op("Relu", "x"), [1, 3])
    model.opset_import[0].domain = "com.example"
    expect(model, tmp_path, ModelFormatError, "the model declares no opset for the default ONNX domain")


def test_cyclic_graph(tmp_path):
    nodes = [
        oh.make_node("Add", ["x", "b"], ["a"], name="n1"),
        oh.make_node("Relu", ["a"], ["b"], name="n2"),
    ]
    graph = oh.make_graph(nodes, "g", [oh.make_tensor_value_info("x", D, [1, 2])],
                          [oh.make_tensor_value_info("b", D, [1, 2])])
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 13)], ir_version=7)
    expect(model, tmp_path, ModelFormatError,
           "the graph has a cycle (through node 'n1' (Add)); it cannot be ordered topologically")


def test_undefined_tensor(tmp_path):
    g = G()
    g.nodes.append(oh.make_node("Add", ["x", "nowhere"], ["y"], name="n1"))
    expect(g.model([1, 3], "y", [1, 3]), tmp_path, ModelFormatError,
           "node 'n1' (Add) uses tensor 'nowhere', which is never defined")


def test_checker_failure_is_wrapped(tmp_path):
    g = G()
    y = g.op("Gemm", "x", g.rand(3, 2), bogus=1)
    expect(g.model([1, 3], y, [1, 2]), tmp_path, ModelFormatError,
           match=r"invalid ONNX model: Unrecognized attribute: bogus for operator Gemm.*")


def test_two_inputs_and_two_outputs(tmp_path):
    g = G()
    model = g.model([1, 3], g.op("Relu", "x"), [1, 3])
    model.graph.input.append(oh.make_tensor_value_info("x2", D, [1, 3]))
    expect(model, tmp_path, UnsupportedModelError, "the model has 2 inputs ('x', 'x2'); relucert needs exactly one")
    model = g.model([1, 3], g.op("Relu", "x"), [1, 3])
    model.graph.output.append(oh.make_tensor_value_info("x", D, [1, 3]))
    expect(model, tmp_path, UnsupportedModelError, "the model has 2 outputs ('t2', 'x'); relucert needs exactly one")


def test_symbolic_dimension(tmp_path):
    g = G()
    model = g.model(["N", 3], g.op("Relu", "x"), ["N", 3])
    expect(model, tmp_path, UnsupportedModelError,
           "input 'x' has a non-static dimension 'N' at axis 0; relucert needs fixed shapes "
           "(export with a batch size of 1)")


def test_integer_input(tmp_path):
    g = G()
    model = g.model([1, 3], g.op("Identity", "x"), [1, 3], elem=TensorProto.INT64)
    expect(model, tmp_path, UnsupportedModelError, "input 'x' has element type INT64, expected a float type")


def test_output_independent_of_input(tmp_path):
    g = G()
    c = g.op("Identity", g.rand(2))
    expect(g.model([1, 3], c, [2]), tmp_path, UnsupportedModelError, "output 't2' does not depend on the input 'x'")


def test_enormous_input_rejected_before_allocation(tmp_path):
    g = G()
    model = g.model([1, 20000], g.op("Relu", "x"), [1, 20000])
    expect(model, tmp_path, ModelFormatError,
           f"the first layer of input 'x' would hold 400000000 elements (shape (20000, 20000)), "
           f"more than the limit of {MAX_ELEMENTS}")


def test_wrong_raw_data_size(tmp_path):
    g = G()
    model = g.model([1, 3], g.op("MatMul", "x", "W"), [1, 2])
    t = model.graph.initializer.add()
    t.name, t.data_type, t.raw_data = "W", D, b"\0" * 10
    t.dims.extend([3, 2])
    expect(model, tmp_path, ModelFormatError,
           "invalid ONNX model: TensorProto (tensor name: W) raw_data size (10 bytes) is too small for the "
           "declared shape and type (48 bytes required).")


def test_enormous_constant_op_refused(tmp_path):
    g = G()
    big = g.op("ConstantOfShape", g.const(np.array([100000, 100000], np.int64)))
    y = g.op("Add", "x", g.op("ReduceSum", big, keepdims=0))
    expect(g.model([1, 3], y, [1, 3]), tmp_path, ModelFormatError,
           f"node 'constantofshape1' (ConstantOfShape): would create 10000000000 elements (limit {MAX_ELEMENTS})")


# -- external data ---------------------------------------------------------------------------------------

def external_model(location: str, tmp_path, *, write_data: bool = True):
    g = G()
    w = g.rng.normal(size=(3, 2))
    model = g.model([1, 3], g.op("MatMul", "x", "W"), [1, 2])
    t = nh.from_array(w, "W")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(w.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    model.graph.initializer.append(t)
    if write_data:
        target = tmp_path / location
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(w.astype("<f8").tobytes())
    return model, w


def test_external_data_inside_folder(tmp_path):
    model, w = external_model("data/weights.bin", tmp_path)
    net = load(write(model, tmp_path))
    assert np.array_equal(net.layers[0].weight, w.T)


def test_external_data_escaping_folder(tmp_path):
    sub = tmp_path / "models"
    sub.mkdir()
    model, _ = external_model("../weights.bin", sub)
    expect(model, sub, ModelFormatError, "external data '../weights.bin' of tensor 'W' escapes the model's folder")


def test_external_data_symlink_escaping_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(b"\0" * 48)
    sub = tmp_path / "models"
    sub.mkdir()
    (sub / "w.bin").symlink_to(outside / "w.bin")
    model, _ = external_model("w.bin", sub, write_data=False)
    expect(model, sub, ModelFormatError, "external data 'w.bin' of tensor 'W' escapes the model's folder")


def test_external_data_absolute(tmp_path):
    model, _ = external_model(str(tmp_path / "w.bin"), tmp_path, write_data=False)
    expect(model, tmp_path, ModelFormatError,
           f"external data {str(tmp_path / 'w.bin')!r} of tensor 'W' is an absolute path; "
           "only paths inside the model's folder are allowed")


def test_enormous_external_tensor_rejected_before_allocation(tmp_path):
    model, _ = external_model("w.bin", tmp_path)
    t = model.graph.initializer[0]
    del t.dims[:]
    t.dims.extend([3, 10**9])
    expect(model, tmp_path, ModelFormatError,
           f"tensor 'W' would hold 3000000000 elements (shape (3, 1000000000)), more than the limit of {MAX_ELEMENTS}")


def test_external_data_missing_or_short(tmp_path):
    model, _ = external_model("w.bin", tmp_path, write_data=False)
    expect(model, tmp_path, ModelFormatError,
           "cannot read external data 'w.bin' of tensor 'W': No such file or directory")
    (tmp_path / "w.bin").write_bytes(b"\0" * 10)
    expect(model, tmp_path, ModelFormatError, "external data 'w.bin' of tensor 'W' is truncated (10 of 48 bytes)")


# -- options and laziness --------------------------------------------------------------------------------

def test_load_options_validated(tmp_path):
    model, _ = mlp(13)
    path = write(model, tmp_path)
    with pytest.raises(SpecError, match=r"^fold_normalization applies to \.nnet models only, not to onnx$"):
        load(path, fold_normalization=True)
    with pytest.raises(SpecError, match=r"^drop_softmax must be True or False, got drop_softmax='yes'$"):
        load(path, drop_softmax="yes")
    with pytest.raises(TypeError):
        load(path, True)  # options are keyword-only


def test_import_relucert_io_does_not_import_onnx():
    import subprocess
    import sys

    code = "import sys, relucert, relucert.io; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_no_warnings_for_plain_models(tmp_path):
    model, _ = mlp(13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(write(model, tmp_path))


def test_unnamed_node_is_named_by_its_output(tmp_path):
    g = G()
    y = g.op("Erf", g.op("Gemm", "x", g.rand(3, 2)))
    g.nodes[-1].name = ""
    expect(g.model([1, 3], y, [1, 2]), tmp_path, UnsupportedModelError,
           match=re.escape("unnamed node (Erf) with output 't3': operator Erf is not supported (supported: ") + ".*")


def test_log_softmax_dropped_and_partial_softmax_refused(tmp_path):
    g = G()
    y = g.op("LogSoftmax", g.op("Gemm", "x", g.rand(3, 4)))
    with pytest.warns(UserWarning, match=re.escape("dropped the final node 'logsoftmax2' (LogSoftmax)")):
        assert load(write(g.model([1, 3], y, [1, 4]), tmp_path), drop_softmax=True).sizes == [3, 4]
    g = G()
    y = g.op("Softmax", g.reshape(g.op("Gemm", "x", g.rand(3, 4)), [2, 2]), axis=-1)
    expect(g.model([1, 3], y, [2, 2]), tmp_path, UnsupportedModelError, drop_softmax=True,
           message="node 'softmax3' (Softmax): normalizes over part of the output of shape (2, 2) only; cannot drop it")


def test_dropout_in_training_mode_refused(tmp_path):
    g = G()
    y = g.op("Dropout", g.op("Gemm", "x", g.rand(3, 2)), g.const(np.array(0.5)), g.const(np.array(True)))
    expect(g.model([1, 3], y, [1, 2]), tmp_path, UnsupportedModelError,
           "node 'dropout2' (Dropout): training_mode must be a constant False in an inference graph")


def test_using_an_unsupported_second_output(tmp_path):
    g = G()
    y = g.op("Dropout", g.op("Gemm", "x", g.rand(3, 2)), n_out=2)
    mask = g.nodes[-1].output[1]
    z = g.op("Cast", mask, to=TensorProto.DOUBLE)
    expect(g.model([1, 3], z, [1, 2]), tmp_path, UnsupportedModelError,
           f"tensor {mask!r} is used, but output {mask!r} of node 'dropout2' (Dropout) is not supported")
