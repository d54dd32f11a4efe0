"""The ``.npz`` format: arrays ``W0, b0, W1, b1, ...`` (weights of shape (out, in), biases).

Read with ``allow_pickle=False`` always; written as float64, so a round trip is bitwise exact.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import ModelFormatError
from ..network import Network
from . import _common
from ._common import atomic_write, build_network, check_elements, check_finite

__all__ = ["read_npz", "write_npz"]

_NAME = re.compile(r"([Wb])(0|[1-9][0-9]*)")
# what zipfile and numpy raise for corrupt archives: unsupported compression methods
# (NotImplementedError), encrypted members (RuntimeError), broken deflate streams (zlib.error), ...
_ARCHIVE_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                   zlib.error, KeyError, SyntaxError)


def _declared_shape(zf: zipfile.ZipFile, member: str, where: str) -> tuple[int, ...]:
    """The shape written in an ``.npy`` member's header, read without loading the data."""
    fmt = np.lib.format
    try:
        with zf.open(member) as fp:
            version = fmt.read_magic(fp)
            if version == (1, 0):
                shape, _, _ = fmt.read_array_header_1_0(fp)
            else:
                # 2.0 and 3.0 share the layout (4-byte header length); 3.0 only allows UTF-8 in
                # the dtype description, which a real-valued array never has.  Reading 3.0 here
                # matters: otherwise its declared shape would be allocated unchecked.
                shape, _, _ = fmt.read_array_header_2_0(fp)
    except _ARCHIVE_ERRORS as exc:
        raise ModelFormatError(f"{where}: array {member[:-4]!r} has a corrupt header: {exc}") from None
    return shape


def read_npz(path) -> Network:
    """Read ``W0, b0, ..., W{L-1}, b{L-1}`` from an ``.npz`` archive (no pickles)."""
    where = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except _ARCHIVE_ERRORS as exc:
        raise ModelFormatError(f"{where}: not a readable .npz archive: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFormatError(f"{where}: holds a single array, expected an .npz archive of W0, b0, W1, b1, ...")
    with archive:
        names = list(archive.files)
        indices: dict[str, set[int]] = {"W": set(), "b": set()}
        for name in names:
            m = _NAME.fullmatch(name)
            if m is None:
                raise ModelFormatError(f"{where}: unexpected array {name!r}; expected only W0, b0, W1, b1, ...")
            indices[m.group(1)].add(int(m.group(2)))
        if not indices["W"]:
            raise ModelFormatError(f"{where}: no weight arrays (expected W0, b0, W1, b1, ...)")
        n_layers = max(indices["W"] | indices["b"]) + 1
        for kind in ("W", "b"):
            missing = sorted(set(range(n_layers)) - indices[kind])
            if missing:
                raise ModelFormatError(f"{where}: array {kind}{missing[0]} is missing ({n_layers} layers)")
        # every declared shape is checked (each array and their total) before any data is read
        total = 0
        for name in names:
            total += check_elements(_declared_shape(archive.zip, name + ".npy", where), f"array {name!r}", where)
        if total > _common.MAX_ELEMENTS:
            raise ModelFormatError(
                f"{where}: the arrays would hold {total} elements in total, more than the limit of {_common.MAX_ELEMENTS}"
            )
        arrays = {}
        for name in names:
            try:
                arr = archive[name]
            except _ARCHIVE_ERRORS as exc:
                raise ModelFormatError(f"{where}: cannot read array {name!r}: {exc}") from None
            except MemoryError:
                raise ModelFormatError(f"{where}: cannot read array {name!r}: out of memory") from None
            if arr.dtype.kind not in "fiu":
                raise ModelFormatError(f"{where}: array {name!r} has dtype {arr.dtype}, expected real numbers")
            want = 2 if name[0] == "W" else 1
            if arr.ndim != want:
                raise ModelFormatError(f"{where}: array {name!r} must have {want} dimension(s), got shape {arr.shape}")
            check_finite(arr, f"array {name!r}", where)
            arrays[name] = arr
    layers = [(arrays[f"W{k}"], arrays[f"b{k}"]) for k in range(n_layers)]
    for k, (W, b) in enumerate(layers):
        if W.shape[0] != b.shape[0]:
            raise ModelFormatError(f"{where}: array 'b{k}' has {b.shape[0]} entries but 'W{k}' has {W.shape[0]} rows")
        if k and W.shape[1] != layers[k - 1][0].shape[0]:
            raise ModelFormatError(
                f"{where}: array 'W{k}' has {W.shape[1]} columns but 'W{k - 1}' has {layers[k - 1][0].shape[0]} rows"
            )
    return build_network(layers, where, name=Path(where).stem)


def write_npz(net: Network, path) -> None:
    """Write ``net`` as float64 arrays ``W0, b0, ...`` (atomically, uncompressed)."""
    arrays = {}
    for k, L in enumerate(net.layers):
        arrays[f"W{k}"] = L.weight
        arrays[f"b{k}"] = L.bias
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
