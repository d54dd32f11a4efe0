"""Reading a VNN-COMP ``instances.csv``.

Rows are ``NETWORKS,QUERY[,TIMEOUT]`` with no header.  The 2026 layout lists the named networks
in the first column: ``f=onnx/a.onnx;g=onnx/b.onnx`` (items separated by ``;``, ``|`` or
spaces; ``NAME=PATH`` binds a declared network name, a bare path binds the declared networks in
order).  The classic layout (one model path) is the same thing with one item.  Paths are
relative to the CSV's folder.  A header row whose second column is ``vnnlib``/``property``/
``spec`` is skipped.  Errors name the file, the line and the column.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ManifestError

__all__ = ["Instance", "read_instances", "parse_networks"]


@dataclass(frozen=True)
class Instance:
    """One row: ``networks`` as ``(name or None, path)``, the query file and the timeout (s)."""

    networks: tuple[tuple[str | None, Path], ...]
    query: Path
    timeout: float | None
    line: int

    @property
    def ident(self) -> str:
        nets = "+".join(p.stem for _, p in self.networks)
        return f"{nets}+{self.query.stem}"


_ITEM_SPLIT = re.compile(r"[;|\s]+")
_NAMED = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(.+)")


def parse_networks(text: str, *, where: str = "--network") -> list[tuple[str | None, str]]:
    """``f=a.onnx;g=b.onnx`` -> ``[("f", "a.onnx"), ("g", "b.onnx")]`` (bare paths get ``None``)."""
    items = [t for t in _ITEM_SPLIT.split(text.strip()) if t]
    if not items:
        raise ManifestError(f"{where}: no network listed")
    out = []
    names = set()
    for it in items:
        m = _NAMED.fullmatch(it)
        if m:
            if m.group(1) in names:
                raise ManifestError(f"{where}: network {m.group(1)!r} is listed twice")
            names.add(m.group(1))
            out.append((m.group(1), m.group(2)))
        else:
            out.append((None, it))
    if names and len(names) != len(out):
        raise ManifestError(f"{where}: name every network (NAME=PATH) or none of them, got {text.strip()!r}")
    return out


def read_instances(path) -> list[Instance]:
    """The instances of a benchmark's ``instances.csv`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: instances file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a UTF-8 text file") from None
    base = path.parent
    out: list[Instance] = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if lineno == 1 and len(cells) >= 2 and cells[1].lower() in ("vnnlib", "property", "spec", "query"):
            continue
        if len(cells) not in (2, 3):
            raise ManifestError(f"{path}:{lineno}: expected 'NETWORKS,QUERY[,TIMEOUT]', got {len(cells)} columns")
        nets = parse_networks(cells[0], where=f"{path}:{lineno}: column 1 (networks)")
        resolved = []
        for name, p in nets:
            fp = Path(p) if Path(p).is_absolute() else base / p
            if not fp.is_file():
                raise ManifestError(f"{path}:{lineno}: column 1 (networks): model {p!r} not found in {base}")
            resolved.append((name, fp))
        q = Path(cells[1]) if Path(cells[1]).is_absolute() else base / cells[1]
        if not q.is_file():
            raise ManifestError(f"{path}:{lineno}: column 2 (query): {cells[1]!r} not found in {base}")
        timeout = None
        if len(cells) == 3 and cells[2]:
            try:
                timeout = float(cells[2])
            except ValueError:
                raise ManifestError(f"{path}:{lineno}: column 3 (timeout) must be a number, got {cells[2]!r}") from None
            if not timeout > 0:
                raise ManifestError(f"{path}:{lineno}: column 3 (timeout) must be > 0, got {cells[2]!r}")
        out.append(Instance(tuple(resolved), q, timeout, lineno))
    if not out:
        raise ManifestError(f"{path}: lists no instance")
    return out
