"""ONNX import (dense ReLU chains, convolutions lowered to dense layers) and export.

Import tracks every tensor symbolically.  A tensor that does not depend on the network input
is a constant (a numpy array; constant sub-graphs are evaluated with ``onnx.reference``).  A
tensor that does is an affine map ``T x + c`` of the *current layer input* ``x`` (the network
input, or the output of the last ``Relu``).  Linear operations (``Gemm``, ``MatMul`` with the
weight on either side, ``Conv``, ``Add``/``Sub``/``Mul``/``Div`` by constants,
``BatchNormalization``) transform ``T`` and ``c``; shape operations (``Flatten``, ``Reshape``,
``Squeeze``, ``Unsqueeze``, ``Transpose``, ``Identity``, ``Dropout``) move entries.  A ``Relu``
ends a layer: ``(T, c)`` becomes a :class:`~relucert.network.Layer` and the next layer starts
from the identity.  So consecutive affine operations fold into one layer (with float64
products, which round), while a ``Gemm`` right after the input or a ``Relu`` keeps its stored
weights exactly.

``onnx`` is imported inside the functions so ``import relucert.io`` stays light.
"""

from __future__ import annotations

import heapq
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from ..errors import ModelFormatError, RelucertError, SpecError, UnsupportedModelError
from ..network import Network
from ._common import MAX_ELEMENTS, atomic_write, build_network, check_elements, check_finite, read_bytes

__all__ = ["read_onnx", "write_onnx", "MIN_OPSET", "EXPORT_OPSET", "MAX_RANK"]

#: Oldest default-domain opset the importer accepts.
MIN_OPSET = 8
#: Opset of exported models (widely supported by runtimes).
EXPORT_OPSET = 13
#: Highest tensor rank the importer follows (numpy allows 32 or 64 axes, and the importer adds
#: one for the input coefficients, so a rank-70 ``Reshape`` would otherwise fail deep in numpy).
MAX_RANK = 24

# ops whose value would differ between runs: never constant-folded
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
# ops that only move entries: allowed after a dropped Softmax
_SHAPE_OPS = {"Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Shape"}
SUPPORTED_OPS = (
    "Gemm, MatMul, Conv, Add, Sub, Mul, Div, Neg, BatchNormalization, Relu, Flatten, Reshape, "
    "Squeeze, Unsqueeze, Transpose, Identity, Dropout, Constant, Shape (and a final Softmax with "
    "drop_softmax=True)"
)


def _onnx():
    import onnx  # noqa: PLC0415 - kept out of module import on purpose
    import onnx.numpy_helper  # noqa: F401

    return onnx


@dataclass(frozen=True, eq=False)
class _Affine:
    """A tensor ``reshape(T_flat @ x + c)``: ``T`` has shape ``(m, *shape)`` (one slice per entry
    of the layer input ``x``), ``c`` has ``shape``."""

    T: np.ndarray
    c: np.ndarray
    level: int
    softmax: str | None = None  # label of a dropped Softmax this tensor went through

    @property
    def shape(self) -> tuple[int, ...]:
        return self.c.shape

    @property
    def m(self) -> int:
        return int(self.T.shape[0])


@dataclass(frozen=True)
class _Missing:
    """An output relucert does not compute (e.g. the mask of ``Dropout``)."""

    reason: str


def _prod(values) -> int:
    """The product of integers as a Python int (no overflow)."""
    return int(np.prod(np.asarray(values, dtype=object)))


def _expand(T: np.ndarray, nd: int) -> np.ndarray:
    """Insert unit axes after the leading axis of ``T`` so the tensor part has ``nd`` axes."""
    k = nd - (T.ndim - 1)
    return T.reshape((T.shape[0],) + (1,) * k + T.shape[1:]) if k > 0 else T


class _Importer:
    """Walks one ONNX graph in topological order and builds the layers."""

    def __init__(self, onnx, model, where: str, *, drop_softmax: bool):
        self.onnx = onnx
        self.model = model
        self.graph = model.graph
        self.where = where
        self.drop_softmax = drop_softmax
        self.opset = _default_opset(model, where)
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.values: dict[str, object] = {}
        self.layers: list[tuple[np.ndarray, np.ndarray]] = []
        self.level = 0
        self.relu_labels: list[str] = []
        self.current = None  # the node being imported (for messages of shared helpers)

    # -- messages ---------------------------------------------------------------------------
    @staticmethod
    def label(node) -> str:
        """``node 'fc1' (Gemm)``; an unnamed node is named by its first output."""
        if node.name:
            return f"node {node.name!r} ({node.op_type})"
        return f"unnamed node ({node.op_type}) with output {(node.output[0] if node.output else '')!r}"

    def unsupported(self, node, msg: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.where}: {self.label(node)}: {msg}")

    def malformed(self, node, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.where}: {self.label(node)}: {msg}")

    # -- values -----------------------------------------------------------------------------
    def get(self, name: str):
        if name in self.values:
            v = self.values[name]
        elif name in self.initializers:
            v = self.values[name] = self.tensor_array(self.initializers[name], f"initializer {name!r}")
        else:  # pragma: no cover - excluded by the topological check
            raise ModelFormatError(f"{self.where}: tensor {name!r} is used but never defined")
        if isinstance(v, _Missing):
            raise UnsupportedModelError(f"{self.where}: tensor {name!r} is used, but {v.reason}")
        return v

    def tensor_array(self, tensor, what: str) -> np.ndarray:
        check_elements(tensor.dims, what, self.where)
        try:
            arr = self.onnx.numpy_helper.to_array(tensor)
        except Exception as exc:  # noqa: BLE001 - onnx raises many kinds for corrupt tensors
            raise ModelFormatError(f"{self.where}: {what} is corrupt: {exc}") from None
        check_finite(np.asarray(arr), what, self.where)
        return np.asarray(arr)

    def const_float(self, node, v, what: str) -> np.ndarray:
        if isinstance(v, _Affine):
            raise self.unsupported(node, f"{what} depends on the network input (not an affine operation)")
        if v.dtype.kind not in "fiub":
            raise self.malformed(node, f"{what} has dtype {v.dtype}, expected numbers")
        return np.asarray(v, dtype=np.float64)

    def const_ints(self, node, v, what: str) -> list[int]:
        if isinstance(v, _Affine):
            raise self.unsupported(node, f"{what} must be a constant, but it depends on the network input")
        if v.dtype.kind not in "iu":
            raise self.malformed(node, f"{what} must hold integers, got dtype {v.dtype}")
        return [int(i) for i in np.asarray(v).reshape(-1)]

    def attrs(self, node) -> dict:
        helper = self.onnx.helper
        out = {}
        for a in node.attribute:
            v = helper.get_attribute_value(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        return out

    def check_size(self, node, m: int, shape) -> None:
        n = _prod(shape) * m
        if n > MAX_ELEMENTS:
            raise self.unsupported(
                node, f"the affine map would need {n} coefficients (limit {MAX_ELEMENTS}); the model is too large"
            )

    def finish(self, node, a: _Affine) -> _Affine:
        if not (np.all(np.isfinite(a.T)) and np.all(np.isfinite(a.c))):
            raise self.malformed(node, "produces non-finite coefficients (overflow or division by zero)")
        return a

    # -- input ------------------------------------------------------------------------------
    def network_input(self) -> tuple[str, tuple[int, ...]]:
        inputs = [i for i in self.graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            names = ", ".join(repr(i.name) for i in inputs) or "none"
            raise UnsupportedModelError(f"{self.where}: the model has {len(inputs)} inputs ({names}); relucert needs exactly one")
        inp = inputs[0]
        tt = inp.type.tensor_type if inp.type.HasField("tensor_type") else None
        if tt is None:
            raise UnsupportedModelError(f"{self.where}: input {inp.name!r} is not a tensor")
        if tt.elem_type not in (1, 10, 11, 16):  # FLOAT, FLOAT16, DOUBLE, BFLOAT16
            try:
                dt = self.onnx.TensorProto.DataType.Name(tt.elem_type)
            except ValueError:
                dt = f"unknown ({tt.elem_type})"
            raise UnsupportedModelError(f"{self.where}: input {inp.name!r} has element type {dt}, expected a float type")
        if not tt.HasField("shape"):
            raise UnsupportedModelError(f"{self.where}: input {inp.name!r} has no static shape")
        shape = []
        for k, d in enumerate(tt.shape.dim):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                what = repr(d.dim_param) if d.HasField("dim_param") else "unknown"
                raise UnsupportedModelError(
                    f"{self.where}: input {inp.name!r} has a non-static dimension {what} at axis {k}; "
                    "relucert needs fixed shapes (export with a batch size of 1)"
                )
            shape.append(int(d.dim_value))
        if len(shape) > MAX_RANK:
            raise UnsupportedModelError(
                f"{self.where}: input {inp.name!r} has rank {len(shape)}, more than the limit of {MAX_RANK}"
            )
        n = check_elements(shape, f"input {inp.name!r}", self.where)
        check_elements((n, n), f"the first layer of input {inp.name!r}", self.where)
        return inp.name, tuple(shape)

    # -- driver -----------------------------------------------------------------------------
    def run(self) -> Network:
        if len(self.graph.output) != 1:
            names = ", ".join(repr(o.name) for o in self.graph.output) or "none"
            raise UnsupportedModelError(f"{self.where}: the model has {len(self.graph.output)} outputs ({names}); relucert needs exactly one")
        in_name, shape = self.network_input()
        n = int(np.prod(shape))
        self.values[in_name] = _Affine(np.eye(n).reshape((n,) + shape), np.zeros(shape), 0)
        out_name = self.graph.output[0].name
        for node in _needed_nodes(self.graph, out_name, set(self.values) | set(self.initializers)):
            self.step(node)
        out = self.get(out_name)
        if not isinstance(out, _Affine):
            raise UnsupportedModelError(f"{self.where}: output {out_name!r} does not depend on the input {in_name!r}")
        self.check_level(None, out, out_name)
        if out.softmax:
            warnings.warn(
                f"{self.where}: dropped the final {out.softmax} (it does not change the argmax)",
                stacklevel=4,
            )
        self.emit(out)
        return build_network(self.layers, self.where, name=Path(self.where).stem)

    def emit(self, a: _Affine) -> None:
        self.layers.append((np.ascontiguousarray(a.T.reshape(a.m, -1).T), a.c.reshape(-1).copy()))

    def check_level(self, node, a: _Affine, name: str) -> None:
        if a.level != self.level:
            where = self.label(node) if node is not None else "the graph output"
            raise UnsupportedModelError(
                f"{self.where}: {where} uses tensor {name!r} from before {self.relu_labels[a.level]}; "
                "the graph is not a chain of affine layers and ReLUs (skip connections and parallel "
                "branches are not supported)"
            )

    def step(self, node) -> None:
        if node.domain not in ("", "ai.onnx"):
            raise self.unsupported(node, f"operators of domain {node.domain!r} are not supported")
        ins = [self.get(name) if name else None for name in node.input]
        affine = [(name, v) for name, v in zip(node.input, ins) if isinstance(v, _Affine)]
        if not affine:
            outs = self.fold(node, ins)
        else:
            handler = _HANDLERS.get(node.op_type)
            if handler is None:
                raise self.unsupported(node, f"operator {node.op_type} is not supported (supported: {SUPPORTED_OPS})")
            for name, v in affine:
                self.check_level(node, v, name)
                if v.softmax and node.op_type not in _SHAPE_OPS:
                    raise self.unsupported(
                        node, f"follows the dropped {v.softmax}; only a final Softmax can be dropped"
                    )
            self.current = node
            try:
                with np.errstate(all="ignore"):  # non-finite results are reported by finish()
                    outs = handler(self, node, ins, self.attrs(node))
            except RelucertError:
                raise
            except (ValueError, IndexError, OverflowError) as exc:  # numpy refusing a shape, an axis
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise self.malformed(node, f"cannot be applied: {msg}") from None
            except MemoryError:
                raise self.malformed(node, "runs out of memory") from None
            sm = next((v.softmax for _, v in affine if v.softmax), None)
            if sm:
                outs = [replace(o, softmax=sm) if isinstance(o, _Affine) else o for o in outs]
            outs = [self.finish(node, o) if isinstance(o, _Affine) else o for o in outs]
        for name, v in zip(node.output, outs):
            if name:
                self.values[name] = v
        for name in node.output[len(outs):]:
            if name:
                self.values[name] = _Missing(f"output {name!r} of {self.label(node)} is not supported")

    def fold(self, node, ins) -> list:
        """Evaluate a node on constants with ``onnx.reference`` (constant folding)."""
        if node.op_type in _NONDETERMINISTIC or any(a.type in (5, 10) for a in node.attribute):  # GRAPH(S)
            raise self.unsupported(node, "is not supported (random or control-flow operator)")
        self.check_fold_size(node, ins)
        onnx = self.onnx
        h = onnx.helper
        names = [f"in{k}" if name else "" for k, name in enumerate(node.input)]
        outs = [f"out{k}" for k in range(len(node.output))]
        n2 = h.make_node(node.op_type, names, outs, domain=node.domain)
        n2.attribute.extend(node.attribute)
        g = h.make_graph(
            [n2], "fold",
            [h.make_tensor_value_info(nm, onnx.TensorProto.UNDEFINED, None) for nm in names if nm],
            [h.make_tensor_value_info(nm, onnx.TensorProto.UNDEFINED, None) for nm in outs],
        )
        m = h.make_model(g, opset_imports=[h.make_opsetid("", self.opset)])
        try:
            from onnx.reference import ReferenceEvaluator

            res = ReferenceEvaluator(m).run(None, {nm: v for nm, v in zip(names, ins) if nm})
        except Exception as exc:  # noqa: BLE001 - any failure of the reference evaluation
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise self.malformed(node, f"cannot evaluate on constants: {msg}") from None
        res = [np.asarray(r) for r in res]
        for name, r in zip(node.output, res):
            check_elements(r.shape, f"tensor {name!r}", self.where)
            check_finite(r, f"{self.label(node)} output {name!r}", self.where)
        return res

    def check_fold_size(self, node, ins) -> None:
        """Refuse constant ops whose declared output is enormous, before evaluating them."""
        op, n = node.op_type, None
        try:
            if op == "ConstantOfShape" and ins:
                n = _prod(ins[0])
            elif op == "Expand" and len(ins) > 1:
                n = max(_prod(ins[1]), ins[0].size)
            elif op == "Tile" and len(ins) > 1:
                n = ins[0].size * _prod(ins[1])
            elif op == "Range" and len(ins) > 2:
                start, limit, delta = (float(np.asarray(v)) for v in ins[:3])
                n = int(abs((limit - start) / delta)) if delta else 0
        except (TypeError, ValueError, OverflowError):
            return  # malformed inputs: the evaluation below reports them
        if n is not None and n > MAX_ELEMENTS:
            raise self.malformed(node, f"would create {n} elements (limit {MAX_ELEMENTS})")

    # -- generic affine operations ------------------------------------------------------------
    def add(self, node, x, y, *, negate_y: bool = False):
        """``x + y`` or ``x - y`` for constants and affine tensors."""
        if not isinstance(x, _Affine) and not isinstance(y, _Affine):
            return x - y if negate_y else x + y
        if not isinstance(x, _Affine):  # K +- a
            a = self.neg(y) if negate_y else y
            return self.add(node, a, x)
        if isinstance(y, _Affine):
            Ty = -y.T if negate_y else y.T
            cy = -y.c if negate_y else y.c
            try:
                c = x.c + cy
            except ValueError:
                raise self.malformed(node, f"cannot broadcast shapes {x.shape} and {y.shape}") from None
            self.check_size(node, x.m, c.shape)
            T = _expand(x.T, c.ndim) + _expand(Ty, c.ndim)
        else:
            K = self.const_float(node, y, "the constant operand")
            try:
                c = x.c - K if negate_y else x.c + K
            except ValueError:
                raise self.malformed(node, f"cannot broadcast shapes {x.shape} and {K.shape}") from None
            self.check_size(node, x.m, c.shape)
            T = _expand(x.T, c.ndim)
        return _Affine(np.broadcast_to(T, (x.m,) + c.shape), c, x.level)

    @staticmethod
    def neg(a: _Affine) -> _Affine:
        return _Affine(-a.T, -a.c, a.level)

    def scale(self, node, x, k, *, divide: bool = False):
        """``x * k`` or ``x / k`` with exactly one affine operand (and never ``k / x``)."""
        K = self.const_float(node, k, "the second operand of a product")
        try:
            c = x.c / K if divide else x.c * K
        except ValueError:
            raise self.malformed(node, f"cannot broadcast shapes {x.shape} and {K.shape}") from None
        self.check_size(node, x.m, c.shape)
        T = _expand(x.T, c.ndim)
        T = T / K if divide else T * K
        return _Affine(np.broadcast_to(T, (x.m,) + c.shape), c, x.level)

    def matmul(self, node, x, y):
        """``x @ y`` (numpy semantics) with exactly one affine operand."""
        if isinstance(x, _Affine) and isinstance(y, _Affine):
            raise self.unsupported(node, "multiplies two input-dependent tensors (not affine)")
        if not isinstance(x, _Affine) and not isinstance(y, _Affine):
            return np.matmul(x, y)
        a, left = (x, True) if isinstance(x, _Affine) else (y, False)
        K = self.const_float(node, y if left else x, "the weight")
        try:
            c = a.c @ K if left else K @ a.c
        except ValueError:
            shapes = (a.shape, K.shape) if left else (K.shape, a.shape)
            raise self.malformed(node, f"shapes {shapes[0]} and {shapes[1]} cannot be multiplied") from None
        self.check_size(node, a.m, c.shape)
        T = a.T
        if a.c.ndim == 1:  # a vector operand: make it a row (left) or a column (right), drop it after
            T = T[:, None, :] if left else T[:, :, None]
        T = _expand(T, K.ndim)
        T = np.matmul(T, K) if left else np.matmul(K, T)
        return _Affine(T.reshape((a.m,) + c.shape), c, a.level)

    def reshaped(self, a: _Affine, shape) -> _Affine:
        shape = tuple(int(s) for s in shape)
        if len(shape) > MAX_RANK:
            raise self.malformed(self.current, f"gives a tensor of rank {len(shape)}, more than the limit of {MAX_RANK}")
        return _Affine(a.T.reshape((a.m,) + shape), a.c.reshape(shape), a.level)

    def transposed(self, a: _Affine, perm) -> _Affine:
        perm = tuple(int(p) for p in perm)
        return _Affine(a.T.transpose((0,) + tuple(p + 1 for p in perm)), a.c.transpose(perm), a.level)

    def value(self, node, v):
        """A float constant or an affine tensor (rejects other constants)."""
        return v if isinstance(v, _Affine) else self.const_float(node, v, "an operand")


# -- operator handlers: (importer, node, inputs, attributes) -> list of outputs --------------------

def _op_identity(im, node, ins, at):
    return [ins[0]]


def _op_dropout(im, node, ins, at):
    mode = ins[2] if len(ins) > 2 else None
    if isinstance(mode, _Affine) or (mode is not None and np.any(mode)):
        raise im.unsupported(node, "training_mode must be a constant False in an inference graph")
    return [ins[0]]


def _op_flatten(im, node, ins, at):
    a = ins[0]
    r = len(a.shape)
    axis = int(at.get("axis", 1))
    axis = axis + r if axis < 0 else axis
    if not 0 <= axis <= r:
        raise im.malformed(node, f"axis {at.get('axis')} is out of range for rank {r}")
    lead = _prod(a.shape[:axis])
    return [im.reshaped(a, (lead, _prod(a.shape[axis:])))]


def _op_reshape(im, node, ins, at):
    a = ins[0]
    if len(ins) < 2 or ins[1] is None:
        raise im.malformed(node, "has no target shape")
    target = im.const_ints(node, ins[1], "the target shape")
    allowzero = int(at.get("allowzero", 0))
    shape = []
    for k, s in enumerate(target):
        if s == 0 and not allowzero:
            if k >= len(a.shape):
                raise im.malformed(node, f"target shape {target} copies axis {k} of a rank-{len(a.shape)} tensor")
            s = a.shape[k]
        shape.append(s)
    size = _prod(a.shape)
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise im.malformed(node, f"invalid target shape {target}")
    if -1 in shape:
        known = _prod([s for s in shape if s != -1])
        if known == 0 or size % known:
            raise im.malformed(node, f"cannot reshape {a.shape} to {target}")
        shape[shape.index(-1)] = size // known
    if _prod(shape) != size:
        raise im.malformed(node, f"cannot reshape {a.shape} ({size} entries) to {tuple(shape)}")
    return [im.reshaped(a, shape)]


def _axes(im, node, ins, at) -> list[int] | None:
    """The ``axes`` of Squeeze/Unsqueeze: an input from opset 13, an attribute before."""
    if len(ins) > 1 and ins[1] is not None:
        return im.const_ints(node, ins[1], "axes")
    if "axes" in at:
        return [int(v) for v in at["axes"]]
    return None


def _normalized_axes(im, node, axes: list[int], rank: int) -> list[int]:
    out = []
    for ax in axes:
        if not -rank <= ax < rank:
            raise im.malformed(node, f"axis {ax} is out of range for rank {rank}")
        out.append(ax % rank)
    if len(set(out)) != len(out):
        raise im.malformed(node, f"repeated axes {axes}")
    return out


def _op_squeeze(im, node, ins, at):
    a = ins[0]
    axes = _axes(im, node, ins, at)
    if axes is None:
        axes = [k for k, s in enumerate(a.shape) if s == 1]
    axes = _normalized_axes(im, node, axes, len(a.shape))
    for ax in axes:
        if a.shape[ax] != 1:
            raise im.malformed(node, f"cannot squeeze axis {ax} of size {a.shape[ax]} (shape {a.shape})")
    return [im.reshaped(a, [s for k, s in enumerate(a.shape) if k not in axes])]


def _op_unsqueeze(im, node, ins, at):
    a = ins[0]
    axes = _axes(im, node, ins, at)
    if axes is None:
        raise im.malformed(node, "has no axes")
    axes = _normalized_axes(im, node, axes, len(a.shape) + len(axes))
    shape = list(a.shape)
    for ax in sorted(axes):
        shape.insert(ax, 1)
    return [im.reshaped(a, shape)]


def _op_transpose(im, node, ins, at):
    a = ins[0]
    r = len(a.shape)
    perm = [int(p) for p in at.get("perm", range(r - 1, -1, -1))]
    if sorted(perm) != list(range(r)):
        raise im.malformed(node, f"perm {perm} is not a permutation of {r} axes")
    return [im.transposed(a, perm)]


def _op_shape(im, node, ins, at):
    shape = ins[0].shape
    start, end = int(at.get("start", 0)), at.get("end")
    return [np.array(shape[start:None if end is None else int(end)], dtype=np.int64)]


def _op_add(im, node, ins, at):
    return [im.add(node, im.value(node, ins[0]), im.value(node, ins[1]))]


def _op_sub(im, node, ins, at):
    return [im.add(node, im.value(node, ins[0]), im.value(node, ins[1]), negate_y=True)]


def _op_neg(im, node, ins, at):
    return [im.neg(ins[0])]


def _op_mul(im, node, ins, at):
    x, y = ins[0], ins[1]
    if isinstance(x, _Affine) and isinstance(y, _Affine):
        raise im.unsupported(node, "multiplies two input-dependent tensors (not affine)")
    return [im.scale(node, x, y) if isinstance(x, _Affine) else im.scale(node, y, x)]


def _op_div(im, node, ins, at):
    if isinstance(ins[1], _Affine):
        raise im.unsupported(node, "divides by an input-dependent tensor (not affine)")
    return [im.scale(node, ins[0], ins[1], divide=True)]


def _op_matmul(im, node, ins, at):
    return [im.matmul(node, im.value(node, ins[0]), im.value(node, ins[1]))]


def _op_gemm(im, node, ins, at):
    a, b = im.value(node, ins[0]), im.value(node, ins[1])
    for v, name in ((a, "A"), (b, "B")):
        if len(v.shape) != 2:
            raise im.malformed(node, f"input {name} must be a matrix, got shape {v.shape}")
    if int(at.get("transA", 0)):
        a = im.transposed(a, (1, 0)) if isinstance(a, _Affine) else a.T
    if int(at.get("transB", 0)):
        b = im.transposed(b, (1, 0)) if isinstance(b, _Affine) else b.T
    y = im.matmul(node, a, b)
    alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
    if alpha != 1.0:
        y = im.scale(node, y, np.float64(alpha)) if isinstance(y, _Affine) else y * alpha
    if len(ins) > 2 and ins[2] is not None and beta != 0.0:
        c = im.value(node, ins[2])
        if beta != 1.0:
            c = im.scale(node, c, np.float64(beta)) if isinstance(c, _Affine) else c * beta
        y = im.add(node, y, c)
    return [y]


def _conv_matrix(in_shape, W: np.ndarray, strides, pads, dilations, group: int, out_sp):
    """The convolution (no bias) of an input of shape ``(N, C, *spatial)`` as a sparse matrix
    ``(N*O*prod(out_sp), N*C*prod(spatial))`` on row-major flattened tensors, built by index
    arithmetic (one entry per weight and output position that falls inside the input)."""
    import scipy.sparse as sp_

    N, C, sp = in_shape[0], in_shape[1], tuple(in_shape[2:])
    d = len(sp)
    O, Cg, kernel = W.shape[0], W.shape[1], W.shape[2:]
    Og = O // group
    # broadcast grids over (n, o, out positions..., cg, kernel positions...)
    axes = [N, O, *out_sp, Cg, *kernel]
    grids = np.meshgrid(*[np.arange(k) for k in axes], indexing="ij", sparse=True)
    n, o, p, cg, q = grids[0], grids[1], grids[2:2 + d], grids[2 + d], grids[3 + d:]
    c = (o // Og) * Cg + cg
    pos = [p[i] * strides[i] + q[i] * dilations[i] - pads[i] for i in range(d)]
    inside = np.ones([1] * len(axes), dtype=bool)
    for i in range(d):
        inside = inside & (pos[i] >= 0) & (pos[i] < sp[i])
    full = tuple(axes)
    inside = np.broadcast_to(inside, full)
    rows = np.ravel_multi_index([np.broadcast_to(g, full)[inside] for g in (n, o, *p)], (N, O, *out_sp))
    cols = np.ravel_multi_index(
        [np.broadcast_to(g, full)[inside] for g in (n, c)]
        + [np.broadcast_to(np.clip(pos[i], 0, sp[i] - 1), full)[inside] for i in range(d)],
        (N, C, *sp),
    )
    vals = np.broadcast_to(W[(o, cg, *q)], full)[inside]
    size_out, size_in = N * O * int(np.prod(out_sp)), N * C * int(np.prod(sp))
    return sp_.csr_matrix((vals, (rows, cols)), shape=(size_out, size_in))


def _op_conv(im, node, ins, at):
    a = ins[0]
    if not isinstance(a, _Affine):
        raise im.unsupported(node, "the convolution weight depends on the network input")
    W = im.const_float(node, ins[1], "the weight")
    d = W.ndim - 2
    if d < 1 or len(a.shape) != d + 2:
        raise im.malformed(node, f"input shape {a.shape} does not fit weight shape {W.shape}")
    group = int(at.get("group", 1))
    N, C, sp = a.shape[0], a.shape[1], a.shape[2:]
    if group < 1 or C != W.shape[1] * group or W.shape[0] % group:
        raise im.malformed(node, f"{C} input channels do not fit weight shape {W.shape} with group={group}")
    kernel = [int(k) for k in at.get("kernel_shape", W.shape[2:])]
    if tuple(kernel) != W.shape[2:]:
        raise im.malformed(node, f"kernel_shape {kernel} does not match weight shape {W.shape}")
    strides = [int(s) for s in at.get("strides", [1] * d)]
    dil = [int(s) for s in at.get("dilations", [1] * d)]
    if len(strides) != d or len(dil) != d or min(strides + dil) < 1:
        raise im.malformed(node, f"invalid strides {strides} or dilations {dil}")
    auto = at.get("auto_pad", "NOTSET")
    win = [dil[i] * (kernel[i] - 1) + 1 for i in range(d)]
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * d)
        for i in range(d):
            out = -(-sp[i] // strides[i])
            total = max(0, (out - 1) * strides[i] + win[i] - sp[i])
            small, big = total // 2, total - total // 2
            pads[i], pads[i + d] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto in ("NOTSET", "VALID"):
        pads = [int(p) for p in at.get("pads", [0] * (2 * d))] if auto == "NOTSET" else [0] * (2 * d)
    else:
        raise im.malformed(node, f"unknown auto_pad {auto!r}")
    if len(pads) != 2 * d or min(pads) < 0:
        raise im.malformed(node, f"invalid pads {pads}")
    out_sp = [(sp[i] + pads[i] + pads[i + d] - win[i]) // strides[i] + 1 for i in range(d)]
    if min(out_sp) < 1:
        raise im.malformed(node, f"the kernel does not fit the input of shape {a.shape}")
    out_shape = (N, W.shape[0], *out_sp)
    im.check_size(node, a.m, out_shape)
    im.check_size(node, 1, (N * int(np.prod(out_sp)), *W.shape))  # index grid of the sparse matrix
    M = _conv_matrix(a.shape, W, strides, pads, dil, group, out_sp)
    T = np.asarray((M @ a.T.reshape(a.m, -1).T).T).reshape((a.m,) + out_shape)
    c = np.asarray(M @ a.c.reshape(-1)).reshape(out_shape)
    if len(ins) > 2 and ins[2] is not None:
        bias = im.const_float(node, ins[2], "the bias")
        if bias.shape != (W.shape[0],):
            raise im.malformed(node, f"bias shape {bias.shape} does not match {W.shape[0]} output channels")
        c = c + bias.reshape((-1,) + (1,) * d)
    return [_Affine(T, c, a.level)]


def _op_batchnorm(im, node, ins, at):
    a = ins[0]
    if int(at.get("training_mode", 0)) or not int(at.get("spatial", 1)):
        raise im.unsupported(node, "only inference mode with spatial=1 is supported")
    scale, bias, mean, var = (im.const_float(node, v, k) for v, k in zip(ins[1:5], ("scale", "B", "mean", "var")))
    C = a.shape[1] if len(a.shape) > 1 else -1
    for v, k in ((scale, "scale"), (bias, "B"), (mean, "mean"), (var, "var")):
        if v.shape != (C,):
            raise im.malformed(node, f"{k} has shape {v.shape}, expected ({C},)")
    eps = float(at.get("epsilon", 1e-5))
    mult = scale / np.sqrt(var + eps)
    shape = (C,) + (1,) * (len(a.shape) - 2)
    y = im.scale(node, a, mult.reshape(shape))
    return [im.add(node, y, (bias - mean * mult).reshape(shape))]


def _op_relu(im, node, ins, at):
    a = ins[0]
    im.check_size(node, _prod(a.shape), a.shape)
    im.emit(a)
    im.level += 1
    im.relu_labels.append(im.label(node))
    n = int(np.prod(a.shape))
    return [_Affine(np.eye(n).reshape((n,) + a.shape), np.zeros(a.shape), im.level)]


def _op_softmax(im, node, ins, at):
    if not im.drop_softmax:
        raise im.unsupported(
            node, "relucert represents piecewise-linear networks only; pass drop_softmax=True "
            "(--drop-softmax) to drop a final Softmax (it does not change the argmax)"
        )
    a = ins[0]
    r = len(a.shape)
    axis = int(at.get("axis", -1 if im.opset >= 13 else 1))
    axis = axis + r if axis < 0 else axis
    if im.opset >= 13:
        others = [s for k, s in enumerate(a.shape) if k != axis]
    else:  # opsets < 13 normalize over the flattened axes [axis:]
        others = list(a.shape[:axis])
    if any(s != 1 for s in others):
        raise im.unsupported(node, f"normalizes over part of the output of shape {a.shape} only; cannot drop it")
    return [replace(a, softmax=im.label(node))]


_HANDLERS = {
    "Identity": _op_identity,
    "Dropout": _op_dropout,
    "Flatten": _op_flatten,
    "Reshape": _op_reshape,
    "Squeeze": _op_squeeze,
    "Unsqueeze": _op_unsqueeze,
    "Transpose": _op_transpose,
    "Shape": _op_shape,
    "Add": _op_add,
    "Sub": _op_sub,
    "Neg": _op_neg,
    "Mul": _op_mul,
    "Div": _op_div,
    "MatMul": _op_matmul,
    "Gemm": _op_gemm,
    "Conv": _op_conv,
    "BatchNormalization": _op_batchnorm,
    "Relu": _op_relu,
    "Softmax": _op_softmax,
    "LogSoftmax": _op_softmax,
}


# -- graph structure -------------------------------------------------------------------------------

def _default_opset(model, where: str) -> int:
    onnx = _onnx()
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ModelFormatError(f"{where}: the model declares no opset for the default ONNX domain")
    v = int(versions[0])
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= v <= newest:
        raise UnsupportedModelError(f"{where}: opset {v} is not supported (supported: {MIN_OPSET} to {newest})")
    return v


def _topological_order(graph, where: str) -> list:
    """The nodes in an order where every tensor is produced before it is used (Kahn's algorithm,
    preferring the file order, so a sorted graph keeps its order).

    Raises :class:`ModelFormatError` for undefined tensors, tensors produced twice and cycles.
    """
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    producer: dict[str, int] = {}
    for k, node in enumerate(graph.node):
        for name in node.output:
            if not name:
                continue
            if name in producer or name in available:
                raise ModelFormatError(f"{where}: tensor {name!r} is produced twice (second time by node {node.name!r})")
            producer[name] = k
    waiting = []
    users: dict[int, list[int]] = {}
    for k, node in enumerate(graph.node):
        deps = set()
        for name in node.input:
            if name in available:
                continue
            if name not in producer:
                raise ModelFormatError(
                    f"{where}: node {node.name!r} ({node.op_type}) uses tensor {name!r}, which is never defined"
                )
            deps.add(producer[name])
        waiting.append(len(deps))
        for p in deps:
            users.setdefault(p, []).append(k)
    heap = [k for k, w in enumerate(waiting) if w == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        k = heapq.heappop(heap)
        order.append(graph.node[k])
        for u in users.get(k, ()):
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(heap, u)
    if len(order) != len(graph.node):
        node = graph.node[next(k for k, w in enumerate(waiting) if w > 0)]
        raise ModelFormatError(
            f"{where}: the graph has a cycle (through node {node.name!r} ({node.op_type})); "
            "it cannot be ordered topologically"
        )
    return order


def _needed_nodes(graph, out_name: str, known: set[str]) -> list:
    """The nodes the output depends on, in graph order (the graph is already sorted)."""
    producer = {name: node for node in graph.node for name in node.output if name}
    need: set[int] = set()
    stack = [out_name]
    seen = set()
    while stack:
        name = stack.pop()
        if name in seen or name in known or name not in producer:
            continue
        seen.add(name)
        node = producer[name]
        need.add(id(node))
        stack.extend(n for n in node.input if n)
    return [node for node in graph.node if id(node) in need]


def _all_tensors(graph):
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors


def _load_external_data(onnx, model, base_dir: str, where: str) -> None:
    """Read external tensor data, refusing locations outside the model's folder."""
    base = os.path.realpath(base_dir)
    for t in _all_tensors(model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {}
        for e in t.external_data:
            key, value = e.key, e.value
            if not (isinstance(key, str) and isinstance(value, str)):  # protobuf hands invalid UTF-8 over as bytes
                raise ModelFormatError(f"{where}: tensor {t.name!r} has an external data entry that is not UTF-8 text")
            info[key] = value
        loc = info.get("location", "")
        what = f"external data {loc!r} of tensor {t.name!r}"
        if not loc:
            raise ModelFormatError(f"{where}: tensor {t.name!r} uses external data without a location")
        if "\0" in loc:
            raise ModelFormatError(f"{where}: {what} holds a NUL character")
        if PurePosixPath(loc).is_absolute() or PureWindowsPath(loc).is_absolute() or PureWindowsPath(loc).drive:
            raise ModelFormatError(f"{where}: {what} is an absolute path; only paths inside the model's folder are allowed")
        full = os.path.realpath(os.path.join(base, loc))
        if os.path.commonpath([full, base]) != base:
            raise ModelFormatError(f"{where}: {what} escapes the model's folder")
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else None
        except ValueError:
            raise ModelFormatError(f"{where}: {what} has a non-integer offset or length") from None
        n = check_elements(t.dims, f"tensor {t.name!r}", where)
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.data_type).itemsize
        except (KeyError, ValueError, TypeError):
            raise ModelFormatError(f"{where}: tensor {t.name!r} has unknown data type {t.data_type}") from None
        want = n * itemsize
        if offset < 0 or (length is not None and length != want):
            raise ModelFormatError(f"{where}: {what} declares offset {offset} and length {length}, expected {want} bytes")
        try:
            with open(full, "rb") as fh:
                fh.seek(offset)
                data = fh.read(want)
        except OSError as exc:
            raise ModelFormatError(f"{where}: cannot read {what}: {exc.strerror or exc}") from None
        if len(data) != want:
            raise ModelFormatError(f"{where}: {what} is truncated ({len(data)} of {want} bytes)")
        t.raw_data = data
        t.data_location = onnx.TensorProto.DEFAULT
        del t.external_data[:]


def _parse_model(data: bytes, where: str):
    onnx = _onnx()
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # noqa: BLE001 - protobuf DecodeError and friends
        raise ModelFormatError(f"{where}: not a valid ONNX file ({type(exc).__name__}: {exc})") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise ModelFormatError(f"{where}: not a valid ONNX file (no graph)")
    return model


def read_onnx(path, *, drop_softmax: bool = False) -> Network:
    """Import an ONNX model of a dense ReLU network (see the module docstring).

    Unsupported operators raise :class:`UnsupportedModelError` naming the node and its type; a
    malformed file raises :class:`ModelFormatError` naming the file.  A final ``Softmax`` (or
    ``LogSoftmax``) is dropped with a warning when ``drop_softmax`` is true.
    """
    onnx = _onnx()
    where = os.fspath(path)
    model = _parse_model(read_bytes(path), where)
    _default_opset(model, where)
    order = _topological_order(model.graph, where)
    if [id(n) for n in order] != [id(n) for n in model.graph.node]:
        nodes = [onnx.NodeProto.FromString(n.SerializeToString()) for n in order]
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    _load_external_data(onnx, model, os.path.dirname(os.path.abspath(where)), where)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError, or a C++ error surfaced as another type
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFormatError(f"{where}: invalid ONNX model: {msg}") from None
    return _Importer(onnx, model, where, drop_softmax=drop_softmax).run()


# -- export ----------------------------------------------------------------------------------------

def _export_dtype(net: Network, dtype: str):
    if dtype not in ("auto", "float32", "float64"):
        raise SpecError(f"dtype must be 'auto', 'float32' or 'float64', got dtype={dtype!r}")
    arrays = [a for L in net.layers for a in (L.weight, L.bias)]
    if dtype == "float64":
        return np.float64
    with np.errstate(over="ignore"):
        fits = [np.all(np.isfinite(a.astype(np.float32))) for a in arrays]
        exact = all(np.array_equal(a.astype(np.float32).astype(np.float64), a) for a in arrays)
    if dtype == "auto":
        return np.float32 if exact else np.float64
    if not all(fits):
        raise SpecError("a weight exceeds the float32 range; use dtype='float64'")
    return np.float32


def to_onnx_model(net: Network, *, dtype: str = "auto"):
    """The ``ModelProto`` of ``net``: input ``input`` of shape ``[1, n]``, one ``Gemm`` (weight
    stored as (out, in) with ``transB=1``) per layer and ``Relu`` between, output ``output``.

    ``dtype``: ``"float64"``, ``"float32"`` (rounds each weight to nearest) or ``"auto"``
    (float32 when every weight is exactly a float32, else float64).
    """
    onnx = _onnx()
    h, nh = onnx.helper, onnx.numpy_helper
    np_dtype = _export_dtype(net, dtype)
    elem = onnx.TensorProto.FLOAT if np_dtype is np.float32 else onnx.TensorProto.DOUBLE
    nodes, inits = [], []
    cur = "input"
    last = len(net.layers) - 1
    for k, L in enumerate(net.layers):
        inits.append(nh.from_array(L.weight.astype(np_dtype), f"W{k}"))
        inits.append(nh.from_array(L.bias.astype(np_dtype), f"b{k}"))
        out = "output" if k == last else f"z{k}"
        nodes.append(h.make_node("Gemm", [cur, f"W{k}", f"b{k}"], [out], name=f"gemm{k}", transB=1))
        if k != last:
            nodes.append(h.make_node("Relu", [out], [f"h{k}"], name=f"relu{k}"))
            cur = f"h{k}"
    graph = h.make_graph(
        nodes, net.name or "relucert",
        [h.make_tensor_value_info("input", elem, [1, net.n_inputs])],
        [h.make_tensor_value_info("output", elem, [1, net.n_outputs])],
        initializer=inits,
    )
    opset = h.make_opsetid("", EXPORT_OPSET)
    model = h.make_model(graph, opset_imports=[opset], producer_name="relucert",
                         ir_version=h.find_min_ir_version_for([opset]))
    from .. import __version__

    model.producer_version = __version__
    h.set_model_props(model, {"relucert.source_digest": net.digest, "relucert.dtype": np.dtype(np_dtype).name})
    return model


def write_onnx(net: Network, path, *, dtype: str = "auto") -> None:
    """Write ``net`` as an ONNX file (atomically); see :func:`to_onnx_model`."""
    onnx = _onnx()
    model = to_onnx_model(net, dtype=dtype)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    with atomic_write(path) as fh:
        fh.write(data)
