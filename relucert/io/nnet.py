"""The ``.nnet`` text format (Kyle Julian's NNet format, used by ACAS Xu and Reluplex).

Layout: optional leading ``//`` comment lines, then comma-separated lines (each may end in a
comma)::

    numLayers, inputSize, outputSize, maxLayerSize
    size_0, size_1, ..., size_numLayers          (input size first)
    flag                                          (unused)
    mins      (>= inputSize values; the first inputSize are used)
    maxes     (>= inputSize values)
    means     (>= inputSize values; by convention the last one is the output mean)
    ranges    (>= inputSize values; by convention the last one is the output range)
    then per layer: one line of weights per neuron (W[out][in], row-major), one bias per line

A file loads as the bare network: it takes *normalized* inputs and returns *raw* outputs (no
output de-normalization).  :meth:`NNetHeader.fold` builds the network on raw inputs instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError, ShapeError, SpecError
from ..network import Layer, Network
from ._common import atomic_write, build_network, check_elements, read_bytes

__all__ = ["NNetHeader", "NNetModel", "read_nnet", "load_nnet", "write_nnet", "UNBOUNDED"]

#: An input bound whose magnitude is at least this (float32 max as written in the MNIST file,
#: ``3.40282e+38``) means "no bound": :meth:`NNetHeader.fold` does not clip there.
UNBOUNDED = 3.4e38

# what the writer puts in the header when no normalization is given (as in the MNIST file)
_DEFAULT_BOUND = 3.40282e38


def _frozen_vector(values, name: str, n: int | None = None) -> np.ndarray:
    arr = np.array(values, dtype=np.float64).reshape(-1)
    if n is not None and arr.size != n:
        raise ShapeError(f"nnet header {name} has {arr.size} entries, expected {n}")
    if not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ModelFormatError(f"nnet header {name}[{i}] is not finite: {float(arr[i])!r}")
    arr = arr + 0.0
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class NNetHeader:
    """The input normalization of a ``.nnet`` file.

    A raw input ``v`` reaches the network as ``(clip(v, mins, maxes) - means) / ranges``.
    ``output_mean`` / ``output_range`` are the (conventional) output de-normalization; relucert
    records them but never applies them.
    """

    mins: np.ndarray
    maxes: np.ndarray
    means: np.ndarray
    ranges: np.ndarray
    output_mean: float | None = None
    output_range: float | None = None

    def __post_init__(self):
        mins = _frozen_vector(self.mins, "mins")
        n = mins.size
        object.__setattr__(self, "mins", mins)
        for name in ("maxes", "means", "ranges"):
            object.__setattr__(self, name, _frozen_vector(getattr(self, name), name, n))
        for name in ("output_mean", "output_range"):
            v = getattr(self, name)
            if v is not None:
                v = float(v)
                if not np.isfinite(v):
                    raise ModelFormatError(f"nnet header {name} is not finite: {v!r}")
                object.__setattr__(self, name, v)

    @property
    def n_inputs(self) -> int:
        return int(self.mins.size)

    @classmethod
    def identity(cls, n: int) -> "NNetHeader":
        """No normalization: bounds ``±3.40282e+38`` (read as unbounded), means 0, ranges 1,
        output mean 0 and range 1 (what the MNIST file holds)."""
        return cls(
            np.full(n, -_DEFAULT_BOUND), np.full(n, _DEFAULT_BOUND), np.zeros(n), np.ones(n), 0.0, 1.0
        )

    def normalize(self, raw) -> np.ndarray:
        """Clip and normalize raw inputs in float64 (batched over the first axis)."""
        v = np.clip(np.asarray(raw, dtype=np.float64), self.mins, self.maxes)
        return (v - self.means) / self.ranges

    def to_dict(self) -> dict:
        return {
            "mins": self.mins.tolist(),
            "maxes": self.maxes.tolist(),
            "means": self.means.tolist(),
            "ranges": self.ranges.tolist(),
            "output_mean": self.output_mean,
            "output_range": self.output_range,
        }

    def fold(self, net: Network) -> Network:
        """The network on *raw* inputs: ``v -> net((clip(v, mins, maxes) - means) / ranges)``.

        Clipping is exact, with ReLUs: an extra first hidden layer computes, per input,
        ``relu(v - lo)`` and ``relu(v - hi)`` (``clip(v) = lo + relu(v - lo) - relu(v - hi)``);
        a one-sided bound needs one unit, and an input without bounds (magnitude >=
        :data:`UNBOUNDED`) is carried as ``relu(v) - relu(-v)``.  When no input has a bound, no
        layer is added.

        The normalization is folded into the (next) first layer and this **rounds**: each
        weight becomes ``W[i, j] / ranges[j]`` (one correctly rounded division, exact when the
        range is a power of two), and each bias is the exact rational
        ``b[i] + sum_j W[i, j] * (offset_j - means[j]) / ranges[j]`` rounded once.
        """
        n = self.n_inputs
        if net.n_inputs != n:
            raise ShapeError(f"nnet header has {n} inputs but the network has {net.n_inputs}")
        bad = np.flatnonzero(self.ranges == 0)
        if bad.size:
            raise ModelFormatError(f"nnet header range of input {int(bad[0])} is 0; cannot normalize")
        bad = np.flatnonzero(self.mins > self.maxes)
        if bad.size:
            i = int(bad[0])
            raise ModelFormatError(
                f"nnet header has min {float(self.mins[i])!r} > max {float(self.maxes[i])!r} for input {i}"
            )
        has_lo = self.mins > -UNBOUNDED
        has_hi = self.maxes < UNBOUNDED
        W, b = net.layers[0].weight, net.layers[0].bias
        if not (has_lo.any() or has_hi.any()):
            # plain normalization, no extra layer: x_j = (v_j - mean_j) / range_j
            first = Layer(W / self.ranges, _folded_bias(W, b, np.zeros(n), self.means, self.ranges))
            return Network((first,) + net.layers[1:], name=net.name)

        # clipping units: (input j, coefficient of v_j, bias, sign of the unit in clip(v_j) - offset_j)
        units: list[tuple[int, float, float, float]] = []
        offset = np.zeros(n)
        for j in range(n):
            lo, hi = float(self.mins[j]), float(self.maxes[j])
            if has_lo[j]:  # clip(v) = lo + relu(v - lo) [- relu(v - hi)]
                offset[j] = lo
                units.append((j, 1.0, -lo, 1.0))
                if has_hi[j]:
                    units.append((j, 1.0, -hi, -1.0))
            elif has_hi[j]:  # clip(v) = hi - relu(hi - v)
                offset[j] = hi
                units.append((j, -1.0, hi, -1.0))
            else:  # v = relu(v) - relu(-v)
                units += [(j, 1.0, 0.0, 1.0), (j, -1.0, 0.0, -1.0)]
        idx = np.array([u[0] for u in units])
        C = np.zeros((len(units), n))
        C[np.arange(len(units)), idx] = [u[1] for u in units]
        clip = Layer(C, np.array([u[2] for u in units]))
        W2 = (W / self.ranges)[:, idx] * np.array([u[3] for u in units])  # one rounding; sign flips are exact
        first = Layer(W2, _folded_bias(W, b, offset, self.means, self.ranges))
        return Network((clip, first) + net.layers[1:], name=net.name)


def _folded_bias(W: np.ndarray, b: np.ndarray, offset: np.ndarray, means: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """``b + W @ ((offset - means) / ranges)`` computed exactly in rationals, rounded once per entry."""
    terms = [
        (j, (Fraction(float(offset[j])) - Fraction(float(means[j]))) / Fraction(float(ranges[j])))
        for j in range(offset.size)
        if offset[j] != means[j]
    ]
    if not terms:
        return b.copy()
    out = np.empty_like(b)
    for i in range(b.size):
        s = Fraction(float(b[i]))
        for j, t in terms:
            w = float(W[i, j])
            if w:
                s += Fraction(w) * t
        out[i] = float(s)
    return out


@dataclass(frozen=True, eq=False)
class NNetModel:
    """A ``.nnet`` file: the bare network (normalized inputs, raw outputs) and its header."""

    network: Network
    header: NNetHeader
    path: str | None = None

    def folded(self) -> Network:
        """The network on raw inputs (see :meth:`NNetHeader.fold`; the fold rounds)."""
        try:
            return self.header.fold(self.network)
        except (ModelFormatError, ShapeError) as exc:
            if self.path is None:
                raise
            raise type(exc)(f"{self.path}: {exc}") from None


class _Lines:
    """The comma-separated lines of a text file, read in order, with line numbers for errors."""

    def __init__(self, text: str, where: str):
        self.lines = text.splitlines()
        self.pos = 0
        self.where = where

    def skip_comments(self) -> None:
        """Skip the leading ``//`` comment lines (and blank lines)."""
        while self.pos < len(self.lines):
            s = self.lines[self.pos].strip()
            if s and not s.startswith("//"):
                break
            self.pos += 1

    def _next(self, what: str) -> tuple[int, str]:
        while self.pos < len(self.lines) and not self.lines[self.pos].strip():
            self.pos += 1
        if self.pos >= len(self.lines):
            raise ModelFormatError(f"{self.where}:{len(self.lines) + 1}: file ends before {what} (truncated?)")
        self.pos += 1
        return self.pos, self.lines[self.pos - 1]

    def error(self, lineno: int, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.where}:{lineno}: {msg}")

    def numbers(self, what: str, *, count: int | None = None, at_least: int | None = None,
                integer: bool = False) -> list:
        """The numbers on the next non-blank line (a trailing comma is allowed)."""
        lineno, line = self._next(what)
        body = line.strip()
        if body.endswith(","):
            body = body[:-1]
        tokens = [t.strip() for t in body.split(",")]
        if count is not None and len(tokens) != count:
            raise self.error(lineno, f"expected {count} value(s) for {what}, got {len(tokens)}")
        if at_least is not None and len(tokens) < at_least:
            raise self.error(lineno, f"expected at least {at_least} values for {what}, got {len(tokens)}")
        conv = int if integer else float
        values = []
        for t in tokens:
            try:
                if "_" in t or not t.isascii():  # int() and float() accept "1_0" and non-ASCII digits
                    raise ValueError
                values.append(conv(t))
            except ValueError:
                kind = "an integer" if integer else "a number"
                raise self.error(lineno, f"{t!r} in {what} is not {kind}") from None
        if not integer and not all(np.isfinite(values)):
            bad = next(t for t, v in zip(tokens, values) if not np.isfinite(v))
            raise self.error(lineno, f"non-finite value {bad!r} in {what}")
        return values

    def rest_is_empty(self) -> None:
        for k in range(self.pos, len(self.lines)):
            if self.lines[k].strip():
                raise self.error(k + 1, "unexpected data after the last layer")


def _parse_nnet(text: str, where: str) -> NNetModel:
    rd = _Lines(text, where)
    rd.skip_comments()
    n_layers, n_in, n_out, _max_size = rd.numbers(
        "the header 'numLayers,inputSize,outputSize,maxLayerSize'", count=4, integer=True
    )
    if n_layers < 1 or n_in < 1 or n_out < 1:
        raise rd.error(rd.pos, f"numLayers, inputSize and outputSize must be >= 1, got {n_layers}, {n_in}, {n_out}")
    if n_layers > 10_000:
        raise rd.error(rd.pos, f"numLayers={n_layers} is implausibly large")
    sizes = rd.numbers(f"the {n_layers + 1} layer sizes", count=n_layers + 1, integer=True)
    if sizes[0] != n_in or sizes[-1] != n_out or min(sizes) < 1:
        raise rd.error(
            rd.pos, f"layer sizes {sizes} must be >= 1 and start with inputSize={n_in} and end with outputSize={n_out}"
        )
    total = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    check_elements((total,), "the weights", where)
    rd.numbers("the flag line", at_least=1)
    header_lines = {}
    for name in ("mins", "maxes", "means", "ranges"):
        header_lines[name] = rd.numbers(f"the input {name}", at_least=n_in)
    out_mean = header_lines["means"][-1] if len(header_lines["means"]) > n_in else None
    out_range = header_lines["ranges"][-1] if len(header_lines["ranges"]) > n_in else None
    header = NNetHeader(
        *(header_lines[k][:n_in] for k in ("mins", "maxes", "means", "ranges")),
        output_mean=out_mean, output_range=out_range,
    )
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = np.empty((b, a))
        for i in range(b):
            W[i] = rd.numbers(f"the weights of neuron {i} of layer {k}", count=a)
        bias = np.empty(b)
        for i in range(b):
            bias[i] = rd.numbers(f"the bias of neuron {i} of layer {k}", count=1)[0]
        layers.append((W, bias))
    rd.rest_is_empty()
    net = build_network(layers, where, name=Path(where).stem)
    return NNetModel(net, header, where)


def read_nnet(path) -> NNetModel:
    """Read a ``.nnet`` file: the bare network and its normalization header.

    Errors name the file and the line (``model.nnet:12: expected 5 value(s) for ...``).
    """
    where = os.fspath(path)
    data = read_bytes(path)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ModelFormatError(f"{where}:{line}: not a text .nnet file (byte {data[exc.start]:#04x})") from None
    return _parse_nnet(text, where)


def load_nnet(path, *, fold_normalization: bool = False) -> Network:
    """The network of a ``.nnet`` file; with ``fold_normalization`` it takes raw inputs."""
    model = read_nnet(path)
    return model.folded() if fold_normalization else model.network


def _row(values) -> str:
    return ",".join(repr(v) for v in np.asarray(values, dtype=np.float64).reshape(-1).tolist()) + ","


def write_nnet(net: Network, path, *, header: NNetHeader | None = None) -> None:
    """Write ``net`` as a ``.nnet`` file (atomically), every number as ``repr(float)`` so a read
    gives back the same float64 values.

    ``header`` defaults to :meth:`NNetHeader.identity` (bounds ``±3.40282e+38``, means 0,
    ranges 1).  The means and ranges lines always carry the output mean and range as a last
    entry (0 and 1 when the header has none), as NNet readers expect.
    """
    if header is None:
        header = NNetHeader.identity(net.n_inputs)
    elif not isinstance(header, NNetHeader):
        raise SpecError(f"header must be an NNetHeader, got {type(header).__name__}")
    if header.n_inputs != net.n_inputs:
        raise ShapeError(f"nnet header has {header.n_inputs} inputs but the network has {net.n_inputs}")
    sizes = net.sizes
    out_mean = 0.0 if header.output_mean is None else header.output_mean
    out_range = 1.0 if header.output_range is None else header.output_range
    lines = [
        "// written by relucert",
        f"// network {net.name or '-'} digest {net.digest}",
        f"{len(net.layers)},{net.n_inputs},{net.n_outputs},{max(sizes)},",
        ",".join(map(str, sizes)) + ",",
        "0,",
        _row(header.mins),
        _row(header.maxes),
        _row(np.append(header.means, out_mean)),
        _row(np.append(header.ranges, out_range)),
    ]
    for L in net.layers:
        lines.extend(_row(w) for w in L.weight)
        lines.extend(_row([v]) for v in L.bias)
    text = "\n".join(lines) + "\n"
    with atomic_write(path) as fh:
        fh.write(text.encode("ascii"))
