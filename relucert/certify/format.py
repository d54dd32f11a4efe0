"""Writing certificates: exact rational strings, the pre-order bit encoding of split trees, the
document itself, and atomic writes.  The format is read by :mod:`relucert.check`."""

from __future__ import annotations

import base64
import json
import os
import secrets
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..check.checker import FORMAT, VERSION

__all__ = ["rational", "encode_preorder", "certificate_document", "write_certificate"]


def rational(v) -> str:
    """The exact value of a float, int or Fraction as ``"p/q"`` (or ``"p"``)."""
    if isinstance(v, Fraction):
        q = v
    elif isinstance(v, (int, np.integer)):
        q = Fraction(int(v))
    else:
        q = Fraction(float(v))
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def encode_preorder(children: dict, root: int = 0, *, kinds: dict | None = None, dtype: str = "<u4"):
    """Bits of the tree in pre-order (1 = split into first then second child, 0 = leaf), packed
    big-endian into bytes and base64-encoded.  Returns ``(bits, n_nodes)``, and with ``kinds``
    (node -> 1 + unit of a ReLU-phase split; absent = input split) also the base64 of the
    little-endian uint32 (``dtype``) split kinds of the internal nodes in pre-order (0 where absent)."""
    out, kind_list = [], []
    stack = [root]
    while stack:
        nid = stack.pop()
        ch = children.get(nid)
        if ch is None:
            out.append(0)
        else:
            out.append(1)
            if kinds is not None:
                kind_list.append(kinds.get(nid, 0))
            stack.append(ch[1])
            stack.append(ch[0])
    packed = np.packbits(np.array(out, dtype=np.uint8))
    bits = base64.b64encode(packed.tobytes()).decode("ascii")
    if kinds is None:
        return bits, len(out)
    return bits, len(out), base64.b64encode(np.array(kind_list, dtype=dtype).tobytes()).decode("ascii")


def certificate_document(*, f_file, f_digest, g_file, g_digest, claim: dict, result: str,
                         proof: dict | None = None, witness: dict | None = None, producer: dict | None = None,
                         f_sizes=None, g_sizes=None) -> dict:
    from .. import __version__

    doc = {
        "format": FORMAT,
        "version": VERSION,
        "producer": {"tool": "relucert", "version": __version__, **(producer or {})},
        "semantics": "the exact real function of the stored float64 weights (ReLU after every layer but the last)",
        "networks": {
            "f": {"file": os.fspath(f_file), "sha256": f_digest, **({"sizes": list(f_sizes)} if f_sizes else {})},
            "g": {"file": os.fspath(g_file), "sha256": g_digest, **({"sizes": list(g_sizes)} if g_sizes else {})},
        },
        "claim": claim,
        "result": result,
    }
    if proof is not None:
        doc["proof"] = proof
    if witness is not None:
        doc["witness"] = witness
    return doc


def write_certificate(doc: dict, path) -> int:
    """Write ``doc`` as JSON to ``path`` atomically; model paths become relative to its folder.

    Returns the number of bytes written."""
    path = Path(os.fspath(path))
    folder = path.resolve().parent
    doc = json.loads(json.dumps(doc))      # a copy (and a check that it is plain JSON)
    for ent in doc["networks"].values():
        p = Path(ent["file"])
        if p.is_absolute() or p.exists():
            ent["file"] = Path(os.path.relpath(p.resolve(), folder)).as_posix()
    text = json.dumps(doc, indent=1, sort_keys=False) + "\n"
    data = text.encode("utf-8")
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(data)
