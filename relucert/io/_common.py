"""Helpers shared by the model readers and writers (paths, sizes, finiteness, atomic writes)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..errors import ModelFormatError, ShapeError, SpecError
from ..network import Network

__all__ = [
    "MAX_ELEMENTS",
    "atomic_write",
    "build_network",
    "check_elements",
    "check_finite",
    "check_options",
    "read_bytes",
]

#: Largest number of elements relucert allocates for one array read from a model file
#: (a declared size above this is rejected before anything is allocated).
MAX_ELEMENTS = 10**8


def check_elements(shape: Sequence[int], what: str, where: str) -> int:
    """Number of elements of ``shape``; :class:`ModelFormatError` when it exceeds
    :data:`MAX_ELEMENTS` (checked before anything is allocated)."""
    n = 1
    for d in shape:
        d = int(d)
        if d < 0:
            raise ModelFormatError(f"{where}: {what} has a negative dimension in shape {tuple(shape)}")
        n *= d
    if n > MAX_ELEMENTS:
        raise ModelFormatError(
            f"{where}: {what} would hold {n} elements (shape {tuple(int(d) for d in shape)}), "
            f"more than the limit of {MAX_ELEMENTS}"
        )
    return n


def check_finite(arr: np.ndarray, what: str, where: str) -> None:
    """Raise :class:`ModelFormatError` naming ``what`` and the first index holding NaN or Inf."""
    if arr.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ModelFormatError(f"{where}: {what} holds a non-finite value {arr[idx].item()!r} at index {idx}")


def build_network(layers: Sequence[tuple[np.ndarray, np.ndarray]], where: str, *, name: str | None) -> Network:
    """``Network(layers)`` with any shape or value error prefixed by the file name."""
    try:
        return Network(layers, name=name)
    except (ShapeError, ModelFormatError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def read_bytes(path) -> bytes:
    """The bytes of ``path``; :class:`FileNotFoundError` passes through, other OS errors become
    :class:`ModelFormatError` naming the file."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ModelFormatError(f"{os.fspath(path)}: cannot read: {exc.strerror or exc}") from None


def check_options(options: dict, allowed: dict, fmt: str) -> dict:
    """Validate writer ``options`` against ``allowed`` (name -> default); returns the merged dict."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        names = ", ".join(sorted(allowed)) or "none"
        raise SpecError(f"unknown option(s) {', '.join(unknown)} for the {fmt} format (accepted: {names})")
    return {**allowed, **options}


@contextlib.contextmanager
def atomic_write(path) -> Iterator:
    """Open a temporary file next to ``path`` for binary writing; on success it replaces ``path``
    (``os.replace``), on any error it is removed, so ``path`` is never half written.

    The temporary file is created with mode ``0o666`` minus the umask, like a plain ``open``.
    """
    path = Path(os.fspath(path))
    folder = path.parent
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except FileNotFoundError:
        raise FileNotFoundError(2, "no such folder", os.fspath(folder)) from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise ModelFormatError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
