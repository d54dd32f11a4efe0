"""Model formats: ONNX, ``.nnet`` and ``.npz``; VNN-LIB input boxes.

>>> net = load("model.onnx")                                  # doctest: +SKIP
>>> save(net, "model.nnet")                                   # doctest: +SKIP
>>> raw = load("acas.nnet", fold_normalization=True)          # doctest: +SKIP

The format comes from the suffix (``.onnx``, ``.nnet``, ``.npz``) unless ``format=`` is given.
Writes are atomic (a temporary file in the same folder, then ``os.replace``).  ``onnx`` is only
imported when an ONNX file is read or written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelFormatError, SpecError
from ..network import Network
from ._common import MAX_ELEMENTS, check_options
from .nnet import UNBOUNDED, NNetHeader, NNetModel, read_nnet
from .vnnlib import parse_sexprs, read_vnnlib_box

__all__ = [
    "FORMATS",
    "MAX_ELEMENTS",
    "UNBOUNDED",
    "NNetHeader",
    "NNetModel",
    "load",
    "save",
    "load_nnet_model",
    "model_format",
    "parse_sexprs",
    "read_vnnlib_box",
]

#: Supported formats, by name, with their file suffix.
FORMATS = {"onnx": ".onnx", "nnet": ".nnet", "npz": ".npz"}


def model_format(path, format: str | None = None) -> str:
    """The format name for ``path``: ``format`` if given (validated), else from the suffix."""
    if format is not None:
        if format not in FORMATS:
            raise SpecError(f"format must be one of {', '.join(map(repr, FORMATS))}, got format={format!r}")
        return format
    suffix = Path(os.fspath(path)).suffix.lower()
    for name, suf in FORMATS.items():
        if suffix == suf:
            return name
    raise ModelFormatError(
        f"{os.fspath(path)}: cannot tell the model format from the suffix {suffix or '(none)'!r}; "
        f"use .onnx, .nnet or .npz, or pass format="
    )


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{name} must be True or False, got {name}={value!r}")


def load(path, *, format: str | None = None, fold_normalization: bool = False,
         drop_softmax: bool = False) -> Network:
    """Read a network from ``path``.

    ``fold_normalization`` (``.nnet`` only): take raw inputs, with the header's clipping and
    normalization built into the network (see :meth:`NNetHeader.fold`; the fold rounds).
    ``drop_softmax`` (ONNX only): drop a final ``Softmax`` with a warning instead of failing.
    The network is named after the file's stem.
    """
    fmt = model_format(path, format)
    _check_bool("fold_normalization", fold_normalization)
    _check_bool("drop_softmax", drop_softmax)
    if fold_normalization and fmt != "nnet":
        raise SpecError(f"fold_normalization applies to .nnet models only, not to {fmt}")
    if drop_softmax and fmt != "onnx":
        raise SpecError(f"drop_softmax applies to ONNX models only, not to {fmt}")
    if fmt == "onnx":
        from .onnx_io import read_onnx

        return read_onnx(path, drop_softmax=drop_softmax)
    if fmt == "nnet":
        from .nnet import load_nnet

        return load_nnet(path, fold_normalization=fold_normalization)
    from .npz import read_npz

    return read_npz(path)


def load_nnet_model(path) -> NNetModel:
    """A ``.nnet`` file's network (normalized inputs, raw outputs) and its header."""
    return read_nnet(path)


_WRITER_OPTIONS = {"onnx": {"dtype": "auto"}, "nnet": {"header": None}, "npz": {}}


def save(net: Network, path, *, format: str | None = None, **options) -> None:
    """Write ``net`` to ``path`` (atomically).

    Options by format: ``onnx``: ``dtype`` = ``"auto"`` (float32 when every weight is exactly a
    float32, else float64), ``"float32"`` (rounds) or ``"float64"``; ``nnet``: ``header`` (an
    :class:`NNetHeader`, default no normalization); ``npz``: none.
    """
    if not isinstance(net, Network):
        raise SpecError(f"save needs a Network, got {type(net).__name__}")
    fmt = model_format(path, format)
    opts = check_options(options, _WRITER_OPTIONS[fmt], fmt)
    if fmt == "onnx":
        from .onnx_io import write_onnx

        write_onnx(net, path, **opts)
    elif fmt == "nnet":
        from .nnet import write_nnet

        write_nnet(net, path, **opts)
    else:
        from .npz import write_npz

        write_npz(net, path)
