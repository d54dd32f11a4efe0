"""The independent certificate checker (format ``relucert-certificate`` version 1).

Trusted base: this file, :mod:`relucert.check._leaf` (the leaf bound), Python's ``fractions``,
numpy's float64 arithmetic, and the model readers :mod:`relucert.io` / :class:`relucert.network.
Network` (used only to read the model files and hash their weights with ``Network.digest``).
Nothing here imports the bound engines, the encodings, the solvers or the verifier.

``check_certificate(path)`` returns a :class:`CheckReport` whose verdict is

* ``VERIFIED``: the proof holds, so the claim holds for the exact real functions of the stored
  float64 weights;
* ``REFUTED``: the witness holds (an input in the box where the claim fails, checked exactly);
* ``INVALID``: something does not hold; ``path`` names the first failing node and ``slack`` the
  exact amount (negative: how far the bound missed).

A certificate that cannot be read (bad JSON, a non-rational number, absurd sizes, a missing
model file) raises :class:`~relucert.errors.CertificateError` instead.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd
from pathlib import Path

import numpy as np

from ..errors import CertificateError, RelucertError
from . import _leaf

__all__ = ["CheckReport", "MissingModelError", "check_certificate", "check_document", "FORMAT", "VERSION",
           "MAX_BYTES", "MAX_NODES"]

FORMAT, VERSION = "relucert-certificate", 1
MAX_BYTES = 64 * 2**20          # largest certificate file read
MAX_NODES = 10**7               # largest split tree
MAX_DEPTH = 4000                # deepest split path
MAX_NUMBER_CHARS = 2000         # longest rational string
BATCH = 512                     # leaves bounded per vectorised call
EXACT_FALLBACK_MAX = 16         # leaves re-checked in exact rationals at most
EXACT_FALLBACK_WEIGHTS = 20000  # ... and only for networks up to this many weights
_RATIONAL = re.compile(r"-?(0|[1-9][0-9]*)(/[1-9][0-9]*)?")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]{1,3})?")


class MissingModelError(CertificateError):
    """A model file the certificate binds to cannot be found."""


@dataclass
class CheckReport:
    verdict: str                     # VERIFIED | REFUTED | INVALID
    claim: str = ""
    path: str | None = None          # first failing node (INVALID)
    slack: Fraction | None = None    # exact slack there (or the tightest leaf slack when VERIFIED)
    reason: str = ""
    stats: dict = field(default_factory=dict)

    @property
    def holds(self) -> bool:
        return self.verdict in ("VERIFIED", "REFUTED")

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "claim": self.claim, "path": self.path,
                "slack": None if self.slack is None else _fmt(self.slack), "reason": self.reason,
                "stats": self.stats}

    def __str__(self) -> str:
        lines = [self.verdict + (f": {self.claim}" if self.claim else "")]
        if self.path is not None:
            lines.append(f"  at: {self.path}")
        if self.slack is not None:
            lines.append(f"  slack: {_fmt(self.slack)} (~{float(self.slack):.6g})")
        if self.reason:
            lines.append(f"  {self.reason}")
        if self.stats:
            lines.append("  " + ", ".join(f"{k} {v}" for k, v in self.stats.items()))
        return "\n".join(lines)


class _Invalid(Exception):
    def __init__(self, path: str, reason: str, slack: Fraction | None = None):
        super().__init__(reason)
        self.path, self.reason, self.slack = path, reason, slack


def _fmt(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


# -- parsing ---------------------------------------------------------------------------------
def _no_floats(text):
    raise CertificateError(f"numbers must be rational strings like \"-3/8\", not the JSON number {text}")


def _rat(v, where: str) -> Fraction:
    if not isinstance(v, str):
        raise CertificateError(f"{where} must be a rational string like \"-3/8\", got {type(v).__name__} {v!r:.60}")
    s = v.strip()
    if len(s) > MAX_NUMBER_CHARS or not (_RATIONAL.fullmatch(s) or _DECIMAL.fullmatch(s)):
        raise CertificateError(f"{where} is not a rational string: {v!r:.60}")
    return Fraction(s)


def _get(d, key, where, kind=None):
    if not isinstance(d, dict) or key not in d:
        raise CertificateError(f"{where}: missing field {key!r}")
    v = d[key]
    if kind is not None and not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise CertificateError(f"{where}.{key} must be {getattr(kind, '__name__', kind)}, got {v!r:.60}")
    return v


def _rat_list(v, n, where) -> list[Fraction]:
    if not isinstance(v, list) or len(v) != n:
        raise CertificateError(f"{where} must be a list of {n} rational strings")
    return [_rat(x, f"{where}[{i}]") for i, x in enumerate(v)]


def load_document(path) -> dict:
    """Read and parse a certificate file (bounded size, no JSON floats)."""
    p = Path(os.fspath(path))
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise MissingModelError(f"{p}: certificate file not found") from None
    if size > MAX_BYTES:
        raise CertificateError(f"{p}: certificate is {size} bytes, more than the limit of {MAX_BYTES}")
    raw = p.read_bytes()[:MAX_BYTES + 1]
    try:
        doc = json.loads(raw.decode("utf-8"), parse_float=_no_floats, parse_constant=_no_floats)
    except CertificateError as exc:
        raise CertificateError(f"{p}: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise CertificateError(f"{p}: not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise CertificateError(f"{p}: a certificate must be a JSON object")
    return doc


# -- networks --------------------------------------------------------------------------------
def _bind(doc, base: Path, models_dir) -> dict:
    from .. import io as rio  # the model readers (no bound engines)

    nets = _get(doc, "networks", "certificate", dict)
    out = {}
    for key in ("f", "g"):
        ent = _get(nets, key, "networks", dict)
        name = _get(ent, "file", f"networks.{key}", str)
        want = _get(ent, "sha256", f"networks.{key}", str)
        if not re.fullmatch(r"[0-9a-f]{64}", want):
            raise CertificateError(f"networks.{key}.sha256 must be 64 lowercase hex digits, got {want!r:.80}")
        cands = []
        if models_dir is not None:
            cands += [Path(models_dir) / name, Path(models_dir) / Path(name).name]
        cands.append(base / name)
        found = next((c for c in cands if c.is_file()), None)
        if found is None:
            raise MissingModelError(f"networks.{key}: model file {name!r} not found (looked in "
                                    f"{', '.join(str(c.parent) for c in cands)})")
        try:
            net = rio.load(found)
        except (RelucertError, OSError) as exc:
            raise CertificateError(f"networks.{key}: cannot read {found}: {exc}") from None
        if net.digest != want:
            raise _Invalid(f"networks.{key}.sha256", f"{found} has weights digest {net.digest}, the "
                           f"certificate binds to {want}")
        out[key] = net
    if out["f"].n_inputs != out["g"].n_inputs or out["f"].n_outputs != out["g"].n_outputs:
        raise _Invalid("networks", "f and g differ in their numbers of inputs or outputs")
    return out


def _frac_layers(net):
    return [([[Fraction(float(w)) for w in row] for row in L.weight], [Fraction(float(v)) for v in L.bias])
            for L in net.layers]


def _eval_exact(net, x):
    """Exact outputs at rational ``x``: each layer's float64 weights are ``integers / 2**k``,
    so the pass runs on Python integers with one common denominator."""
    den = 1
    for v in x:
        den = den * v.denominator // gcd(den, v.denominator)
    vec = [v.numerator * (den // v.denominator) for v in x]
    scale = den
    for i, L in enumerate(net.layers):
        W = [[w.as_integer_ratio() for w in row] for row in L.weight.tolist()]
        b = [v.as_integer_ratio() for v in L.bias.tolist()]
        k = max(d.bit_length() - 1 for _, d in [r for row in W for r in row] + b)
        Wi = [[n << (k - d.bit_length() + 1) for n, d in row] for row in W]
        vec = [sum(w * v for w, v in zip(row, vec) if w) + (n << (k - d.bit_length() + 1)) * scale
               for row, (n, d) in zip(Wi, b)]
        scale <<= k
        if i < len(net.layers) - 1:
            vec = [v if v > 0 else 0 for v in vec]
    return [Fraction(v, scale) for v in vec]


# -- the claim -------------------------------------------------------------------------------
def _polytopes(raw, n: int) -> list:
    """``claim.excluded``: closed polytopes ``{x : A x <= b}`` (rational strings, each a float64)
    where an eps claim need not hold; the claim is about the closure of the box minus their union."""
    if not isinstance(raw, list) or len(raw) > 10**4:
        raise CertificateError("claim.excluded must be a list of {\"A\": [[...]], \"b\": [...]} polytopes")
    out = []
    for j, P in enumerate(raw):
        b = _get(P, "b", f"claim.excluded[{j}]", list)
        A = _get(P, "A", f"claim.excluded[{j}]", list)
        if len(A) != len(b) or not 1 <= len(b) <= 10**4:
            raise CertificateError(f"claim.excluded[{j}]: A and b must have the same number (1..10^4) of rows")
        Aq = [_rat_list(r, n, f"claim.excluded[{j}].A[{i}]") for i, r in enumerate(A)]
        bq = _rat_list(b, len(b), f"claim.excluded[{j}].b")
        Af = np.array([[_float_exact(q, f"claim.excluded[{j}].A") for q in r] for r in Aq]).reshape(len(b), n)
        out.append((Aq, bq, Af, np.array([_float_exact(q, f"claim.excluded[{j}].b") for q in bq])))
    return out


def _inside(lo, hi, polys) -> np.ndarray:
    """Boxes (rows of ``lo``, ``hi``) that lie in one of the closed polytopes: the maximum of each
    row ``a . x`` over the box, rounded up (a product is within 2^-53 of its float, a sum of n
    terms within n 2^-53 of their magnitudes), is at most ``b``.  Such a leaf needs no bound: its
    points are excluded, and a limit point of non-excluded points lies in another, kept leaf."""
    ins = np.zeros(len(lo), dtype=bool)
    n = lo.shape[1]
    for _, _, A, b in polys:
        for s in range(0, len(lo), 4096):
            P = np.maximum(lo[s:s + 4096, None, :] * A[None], hi[s:s + 4096, None, :] * A[None])
            up = _leaf._up(P.sum(axis=-1) + np.abs(P).sum(axis=-1) * (8 * (n + 2) * _leaf._U) + n * _leaf._TINY)
            ins[s:s + 4096] |= (up <= b).all(axis=1)
    return ins


def _claim(doc, nets) -> dict:
    c = _get(doc, "claim", "certificate", dict)
    kind = _get(c, "kind", "claim", str)
    n, m = nets["f"].n_inputs, nets["f"].n_outputs
    box = _get(c, "box", "claim", dict)
    lo = _rat_list(_get(box, "lo", "claim.box"), n, "claim.box.lo")
    hi = _rat_list(_get(box, "hi", "claim.box"), n, "claim.box.hi")
    for i, (a, b) in enumerate(zip(lo, hi)):
        if a > b:
            raise CertificateError(f"claim.box: lo > hi for input {i}")
    out = {"kind": kind, "lo": lo, "hi": hi}
    if kind in ("eps", "distance"):
        if kind == "eps":
            out["eps"] = _rat(_get(c, "eps", "claim"), "claim.eps")
        else:       # sup_x max_k |f_k - g_k| lies in [lower, upper]: a proof of eps = upper, a witness of lower
            out["eps"] = _rat(_get(c, "upper", "claim"), "claim.upper")
            out["lower"] = _rat(_get(c, "lower", "claim"), "claim.lower")
        if out["eps"] < 0:
            raise CertificateError(f"claim.{'eps' if kind == 'eps' else 'upper'} must be >= 0")
        outs = c.get("outputs")
        outs = list(range(m)) if outs is None else outs
        if (not isinstance(outs, list) or not outs or len(set(map(repr, outs))) != len(outs)
                or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < m for k in outs)):
            raise CertificateError(f"claim.outputs must be distinct output indices in 0..{m - 1}")
        out["outputs"] = outs
        out["excluded"] = _polytopes(c.get("excluded", []), n) if kind == "eps" else []
        ex = f", outside {len(out['excluded'])} excluded closed polytope(s)" if out["excluded"] else ""
        out["text"] = f"max_k |f_k - g_k| <= {_fmt(out['eps'])} on the box{ex} (outputs {outs})"
        if kind == "distance":
            out["text"] = (f"sup_x max_k |f_k - g_k| lies in [{_fmt(out['lower'])}, {_fmt(out['eps'])}] on the box "
                           f"(outputs {outs})")
    elif kind == "top1":
        out["margin"] = _rat(c.get("margin", "0"), "claim.margin")
        if out["margin"] < 0:
            raise CertificateError("claim.margin must be >= 0")
        out["text"] = f"argmax f = argmax g (lowest index) where f leads by >= {_fmt(out['margin'])}"
    elif kind == "decision":
        if m != 1:
            raise CertificateError("claim kind 'decision' needs single-output networks")
        for k in ("tau_f", "tau_g", "gamma"):
            out[k] = _rat(c.get(k, "0"), f"claim.{k}")
        if out["gamma"] < 0:
            raise CertificateError("claim.gamma must be >= 0")
        out["text"] = (f"f >= tau_f+gamma => g > tau_g and f <= tau_f-gamma => g <= tau_g "
                       f"(tau_f={_fmt(out['tau_f'])}, tau_g={_fmt(out['tau_g'])}, gamma={_fmt(out['gamma'])})")
    else:
        raise CertificateError(f"claim.kind must be 'eps', 'distance', 'top1' or 'decision', got {kind!r:.40}")
    return out


# -- witness ---------------------------------------------------------------------------------
def _argmax(v):
    return max(range(len(v)), key=lambda i: (v[i], -i))


def _check_witness(w, claim, nets) -> tuple[Fraction, str]:
    x = _rat_list(_get(w, "x", "witness"), len(claim["lo"]), "witness.x")
    for i, (a, v, b) in enumerate(zip(claim["lo"], x, claim["hi"])):
        if not a <= v <= b:
            raise _Invalid(f"witness.x[{i}]", f"x[{i}] = {_fmt(v)} lies outside the box [{_fmt(a)}, {_fmt(b)}]")
    for j, (Aq, bq, _, _) in enumerate(claim.get("excluded", [])):
        if all(sum(a * v for a, v in zip(row, x)) <= bi for row, bi in zip(Aq, bq)):
            raise _Invalid("witness.x", f"x lies in the excluded polytope {j}")
    fy = _eval_exact(nets["f"], x)
    gy = _eval_exact(nets["g"], x)
    if claim["kind"] in ("eps", "distance"):
        k = max(claim["outputs"], key=lambda j: abs(fy[j] - gy[j]))
        slack = abs(fy[k] - gy[k]) - claim["eps"]
        what = f"output {k}: |f - g| = {float(abs(fy[k] - gy[k])):.9g} at x"
        if claim["kind"] == "distance":     # the lower end of the bracket: reached at x
            slack = abs(fy[k] - gy[k]) - claim["lower"]
            if slack < 0:
                raise _Invalid("witness", f"{what} is below the claimed lower end", slack)
            return slack, what
    elif claim["kind"] == "top1":
        i, j = _argmax(fy), _argmax(gy)
        lead = min((fy[i] - fy[k] for k in range(len(fy)) if k != i), default=Fraction(0))
        if lead < claim["margin"]:
            raise _Invalid("witness", f"f leads by {_fmt(lead)} < margin at x", lead - claim["margin"])
        if i == j:
            raise _Invalid("witness", f"f and g both pick class {i} at x", Fraction(0))
        slack, what = gy[j] - gy[i], f"f picks {i}, g picks {j}"
        return slack, what
    else:
        f0, g0 = fy[0], gy[0]
        hi_side = f0 - claim["tau_f"] - claim["gamma"]     # >= 0 needs g > tau_g
        lo_side = claim["tau_f"] - claim["gamma"] - f0     # >= 0 needs g <= tau_g
        if hi_side >= 0 and g0 <= claim["tau_g"]:
            slack = claim["tau_g"] - g0
        elif lo_side >= 0 and g0 > claim["tau_g"]:
            slack = g0 - claim["tau_g"]
        else:
            raise _Invalid("witness", f"the decisions agree at x (f = {float(f0):.9g}, g = {float(g0):.9g})",
                           Fraction(0))
        what = f"f = {float(f0):.9g}, g = {float(g0):.9g}"
        return slack, what
    if slack <= 0:
        raise _Invalid("witness", f"{what} does not exceed eps = {float(claim['eps']):.9g}", slack)
    return slack, what


# -- structural proofs -----------------------------------------------------------------------
def _deepen_frac(layers, extra):
    """The exact ``Network.deepen`` construction (output carried as relu(y), relu(-y))."""
    if extra == 0:
        return layers
    W, b = layers[-1]
    m = len(W)
    one, zero = Fraction(1), Fraction(0)
    out = layers[:-1] + [(W + [[-w for w in row] for row in W], b + [-v for v in b])]
    carry = [[one if (i % m == j % m and (i < m) == (j < m)) else (-one if i % m == j % m else zero)
              for j in range(2 * m)] for i in range(2 * m)]
    for _ in range(extra - 1):
        out.append((carry, [zero] * (2 * m)))
    out.append(([[one if j == i else (-one if j == i + m else zero) for j in range(2 * m)] for i in range(m)],
                [zero] * m))
    return out


def _dead_units(F, lo, hi, listed):
    """Check in exact interval arithmetic that every listed hidden unit ``[layer, unit]`` of F has
    pre-activation <= 0 on the box (so its activation is 0 there); returns {layer: set(units)}."""
    dead: dict[int, set] = {}
    for i, u in enumerate(listed):
        if not (isinstance(u, list) and len(u) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in u)
                and 0 <= u[0] < len(F) - 1 and 0 <= u[1] < len(F[u[0]][0])):
            raise CertificateError(f"proof.f_dead[{i}] must be [hidden layer, unit] of f, got {u!r:.40}")
        dead.setdefault(u[0], set()).add(u[1])
    hl, hh = lo, hi
    for k, (W, b) in enumerate(F[:-1]):
        zl = [bi + sum(w * (a if w > 0 else c) for w, a, c in zip(row, hl, hh) if w) for row, bi in zip(W, b)]
        zh = [bi + sum(w * (c if w > 0 else a) for w, a, c in zip(row, hl, hh) if w) for row, bi in zip(W, b)]
        for j in sorted(dead.get(k, ())):
            if zh[j] > 0:
                raise _Invalid(f"proof.f_dead[{listed.index([k, j])}]", f"f unit {j} of hidden layer {k} is not "
                               f"dead on the box: its interval upper bound is {float(zh[j]):.9g}", -zh[j])
        hl, hh = [max(v, 0) for v in zl], [max(v, 0) for v in zh]
    return dead


def _check_structural(proof, nets, claim=None):
    extra = proof.get("f_deepen", 0)
    if not isinstance(extra, int) or isinstance(extra, bool) or not 0 <= extra <= 64:
        raise CertificateError("proof.f_deepen must be an integer in 0..64")
    F = _deepen_frac(_frac_layers(nets["f"]), extra)
    G = _frac_layers(nets["g"])
    listed = proof.get("f_dead", [])
    if not isinstance(listed, list) or len(listed) > 10**6:
        raise CertificateError("proof.f_dead must be a list of [hidden layer, unit]")
    if listed and claim is None:
        raise CertificateError("proof.f_dead needs the claim's box")
    dead = _dead_units(F, claim["lo"], claim["hi"], listed) if listed else {}
    maps = _get(proof, "layers", "proof", list)
    if len(maps) != len(G) - 1:
        raise _Invalid("proof.layers", f"g has {len(G) - 1} hidden layers but the proof maps {len(maps)}")
    prev = [(j, Fraction(1)) for j in range(nets["f"].n_inputs)]   # g's inputs are f's inputs
    f_layer = -1                                                    # the f layer `prev` refers to
    for ell, ent in enumerate(maps + [None]):
        Wg, bg = G[ell]
        where = f"proof.layers[{ell}]" if ent is not None else "output layer"
        if ent is None:
            inserted, units = False, [(j, Fraction(1)) for j in range(len(Wg))]
        else:
            inserted = bool(ent.get("inserted", False))
            raw = _get(ent, "units", where, list)
            if len(raw) != len(Wg):
                raise _Invalid(where, f"g layer {ell} has {len(Wg)} units but the map lists {len(raw)}")
            units = []
            for i, u in enumerate(raw):
                if not (isinstance(u, list) and len(u) == 2 and isinstance(u[0], int) and not isinstance(u[0], bool)):
                    raise CertificateError(f"{where}.units[{i}] must be [f_unit, \"scale\"]")
                s = _rat(u[1], f"{where}.units[{i}][1]")
                if s <= 0:
                    raise _Invalid(f"{where}.units[{i}]", f"scale {_fmt(s)} must be > 0")
                units.append((u[0], s))
        target = f_layer if inserted else f_layer + 1
        if inserted and f_layer < 0:
            raise _Invalid(where, "an inserted identity layer must follow a hidden layer")
        if target >= len(F) or (ent is None and target != len(F) - 1) or (ent is not None and target >= len(F) - 1):
            raise _Invalid(where, f"maps onto f layer {target}, which does not fit f's {len(F) - 1} hidden layers")
        n_prev = len(prev)
        n_f = len(F[target][0]) if not inserted else len(F[f_layer][0])
        for i, (j, s) in enumerate(units):
            if not (j == -1 or 0 <= j < n_f):
                raise _Invalid(f"{where}.units[{i}]", f"f unit {j} does not exist")
            # row i of W_g P_prev, as a dict over the units of f's previous layer
            row: dict[int, Fraction] = {}
            gone = dead.get(f_layer, ())              # f units of the previous layer that are 0 on the box
            for r in range(n_prev):
                w = Wg[i][r]
                if w:
                    pj, ps = prev[r]
                    if pj >= 0 and pj not in gone:
                        row[pj] = row.get(pj, Fraction(0)) + w * ps
            if j == -1:
                want_row, want_b = {}, Fraction(0)
            elif inserted:
                want_row, want_b = {j: s}, Fraction(0)
            else:
                Wf, bf = F[target]
                want_row = {c: s * w for c, w in enumerate(Wf[j]) if w and c not in gone}
                want_b = s * bf[j]
            diff = {c: row.get(c, Fraction(0)) - want_row.get(c, Fraction(0)) for c in set(row) | set(want_row)}
            bad = [(c, d) for c, d in sorted(diff.items()) if d != 0]
            if bad or bg[i] != want_b:
                c, d = bad[0] if bad else ("bias", bg[i] - want_b)
                raise _Invalid(f"{where}.units[{i}]", f"g unit {i} is not {_fmt(s)} x f unit {j}: "
                               f"residual at column {c} is {_fmt(d)}", -abs(d))
        prev = units
        f_layer = target
    return Fraction(0)


# -- branch and bound ------------------------------------------------------------------------
def _float_exact(q: Fraction, where: str) -> float:
    v = float(q)
    if Fraction(v) != q:
        raise CertificateError(f"{where} = {_fmt(q)} is not a float64 number (bab proofs need float boxes)")
    return v


def _decode_tree(tree) -> np.ndarray:
    enc = _get(tree, "enc", "proof.tree", str)
    if enc != "preorder-bits-v1":
        raise CertificateError(f"proof.tree.enc must be 'preorder-bits-v1', got {enc!r:.40}")
    n = _get(tree, "nodes", "proof.tree", int)
    if not 1 <= n <= MAX_NODES:
        raise CertificateError(f"proof.tree.nodes must be in 1..{MAX_NODES}, got {n}")
    bits = _get(tree, "bits", "proof.tree", str)
    if len(bits) > 4 * ((n + 7) // 8 + 2) // 3 + 4:
        raise CertificateError(f"proof.tree.bits is longer than {n} nodes need")
    try:
        raw = base64.b64decode(bits, validate=True)
    except ValueError:
        raise CertificateError("proof.tree.bits is not base64") from None
    if len(raw) != (n + 7) // 8:
        raise CertificateError(f"proof.tree.bits holds {len(raw)} bytes, {n} nodes need {(n + 7) // 8}")
    arr = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if arr[n:].any():
        raise CertificateError("proof.tree.bits has non-zero padding")
    return arr[:n]


def _decode_per_split(tree, key: str, n_internal: int, dtype: str, top: int):
    """``tree[key]``: base64 of one number (``dtype``) per internal node in pre-order, each at most
    ``top``; None when absent."""
    raw = tree.get(key)
    if raw is None:
        return None
    size = np.dtype(dtype).itemsize
    if not isinstance(raw, str) or len(raw) > 4 * (size * n_internal + 2) // 3 + 4:
        raise CertificateError(f"proof.tree.{key} must be base64 of {n_internal} {dtype} numbers")
    try:
        data = base64.b64decode(raw, validate=True)
    except ValueError:
        raise CertificateError(f"proof.tree.{key} is not base64") from None
    if len(data) != size * n_internal:
        raise CertificateError(f"proof.tree.{key} holds {len(data)} bytes, {n_internal} splits need {size * n_internal}")
    vals = np.frombuffer(data, dtype=dtype).astype(np.int64)
    if vals.size and vals.max() > top:
        raise CertificateError(f"proof.tree.{key} holds {int(vals.max())}, more than {top}")
    return vals


def _structure(bits):
    """Parent, side (0 low, 1 high) and depth of every node of a pre-order bit string."""
    n = len(bits)
    parent = np.full(n, -1, dtype=np.int64)
    side = np.zeros(n, dtype=np.int8)
    depth = np.zeros(n, dtype=np.int64)
    stack: list = []            # internal nodes still waiting for a child: [index, children seen]
    for i, bit in enumerate(bits.tolist()):
        if stack:
            top = stack[-1]
            parent[i], side[i], depth[i] = top[0], top[1], depth[top[0]] + 1
            top[1] += 1
            if top[1] == 2:
                stack.pop()
        elif i > 0:
            raise _Invalid("proof.tree", f"the tree closes after {i} nodes but lists {n}")
        if bit:
            if depth[i] >= MAX_DEPTH:
                raise CertificateError(f"proof.tree is deeper than {MAX_DEPTH}")
            stack.append([i, 0])
    if stack:
        raise _Invalid("proof.tree", f"the tree ends after {n} nodes with {len(stack)} open")
    return parent, side, depth


def _path(i, parent, side) -> str:
    out = []
    while parent[i] >= 0:
        out.append(str(int(side[i])))
        i = parent[i]
    return "root" + "".join(reversed(out))


def _leaves(bits, lo0: np.ndarray, hi0: np.ndarray, kinds=None, n_units: int = 0, dims=None):
    """The leaves' domains, computed level by level.  An input split cuts input ``dims[node]`` (if
    given; else the widest side relative to the root box, lowest index on ties) at the float
    midpoint; a ReLU split keeps the box and
    adds the literal ``z <= 0`` (first child) or ``z >= 0`` (second).  Returns ``(lo, hi, phases
    or None, leaf ids, parent, side)``; ``phases`` is (leaves, n_units) in {-1, 0, 1}."""
    parent, side, depth = _structure(bits)
    n, dim = len(bits), len(lo0)
    if n * (16 * dim + (n_units if kinds is not None else 0)) > 64 * 10**7:     # bytes for LO, HI, PH
        raise CertificateError(f"proof.tree has {n} nodes in {dim} dimensions, more than this checker's memory bound")
    kind = np.zeros(n, dtype=np.int64)
    given = np.zeros(n, dtype=np.int64)
    if dims is not None:
        given[np.flatnonzero(bits == 1)] = dims
    if kinds is not None:
        kind[np.flatnonzero(bits == 1)] = kinds
        PH = np.zeros((n, n_units), dtype=np.int8)
    width0 = hi0 - lo0
    scale = np.where(width0 > 0, width0, 1.0)
    LO = np.empty((n, dim))
    HI = np.empty((n, dim))
    LO[0], HI[0] = lo0, hi0
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2))
    for dep in range(1, int(depth.max()) + 1):
        kids_all = order[bounds[dep]:bounds[dep + 1]]
        if kinds is not None:
            PH[kids_all] = PH[parent[kids_all]]
            rk = kids_all[kind[parent[kids_all]] > 0]          # children of ReLU splits
            LO[rk], HI[rk] = LO[parent[rk]], HI[parent[rk]]
            PH[rk, kind[parent[rk]] - 1] = np.where(side[rk] == 0, -1, 1)
        kids = kids_all[kind[parent[kids_all]] == 0]
        par = parent[kids]
        plo, phi = LO[par], HI[par]
        r = np.arange(len(kids))
        d = np.argmax((phi - plo) / scale, axis=1) if dims is None else given[par]
        m = 0.5 * plo[r, d] + 0.5 * phi[r, d]
        bad = ~((plo[r, d] < m) & (m < phi[r, d]))
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise _Invalid(_path(int(par[k]), parent, side), f"node cannot be split on input {int(d[k])}: "
                           f"[{plo[k, d[k]]!r}, {phi[k, d[k]]!r}]")
        low = side[kids] == 0
        phi[r[low], d[low]] = m[low]
        plo[r[~low], d[~low]] = m[~low]
        LO[kids], HI[kids] = plo, phi
    leaf = np.flatnonzero(bits == 0)
    return LO[leaf], HI[leaf], (PH[leaf] if kinds is not None else None), leaf, parent, side


def _goals(claim, m: int):
    """The claim as leaf conditions: ``(rows, cases)``.  A row ``(cf, cg)`` is an objective
    ``cf . f(x) + cg . g(x)`` the leaf bound bounds from above; an atom ``(row, rhs, strict)`` says
    that on the leaf the row is ``<= rhs`` (``< rhs`` if strict).  A case ``(excl, reqs)`` holds on
    a leaf when an atom of ``excl`` holds (the case's premise is false on the whole leaf) or every
    requirement (a list of alternative atoms) has an atom that holds.  A leaf closes when every
    case holds.  The rows with ``cf = -cg`` also get the differential bound (``diff-v1``)."""
    rows: list = []

    def row(cf, cg):
        rows.append((cf, cg))
        return len(rows) - 1

    e = np.eye(m)
    z = np.zeros(m)
    if claim["kind"] in ("eps", "distance"):            # +-(f_k - g_k) <= eps
        reqs = [[(row(s * e[k], -s * e[k]), claim["eps"], False)] for s in (1, -1) for k in claim["outputs"]]
        return rows, [([], reqs)]
    if claim["kind"] == "top1":
        # case i: where f picks class i (ties to the lowest index) and leads by >= margin, g picks i,
        # i.e. g_k - g_i < 0 for k < i and <= 0 for k > i.  The premise fails on the leaf when some
        # f_i - f_k < margin, or f_i - f_k <= 0 for a k < i.  A requirement holds when
        # g_k - g_i (lambda = 0) or (g_k - g_i) + (f_i - f_k) - margin (lambda = 1, a Lagrangian
        # term that is >= 0 where the premise holds) is < 0 (k < i) or <= 0 (k > i).
        mg, cases = claim["margin"], []
        for i in range(m):
            excl, reqs = [], []
            for k in range(m):
                if k == i:
                    continue
                x = row(e[i] - e[k], z)
                excl.append((x, mg, True))
                if k < i:
                    excl.append((x, Fraction(0), False))
                reqs.append([(row(e[i] - e[k], e[k] - e[i]), mg, k < i), (row(z, e[k] - e[i]), Fraction(0), k < i)])
            cases.append((excl, reqs))
        return rows, cases
    tf, tg, gm = claim["tau_f"], claim["tau_g"], claim["gamma"]
    one = np.ones(1)
    # f >= tau_f + gamma => g > tau_g  (lambda = 1: f - g < tau_f + gamma - tau_g; lambda = 0: -g < -tau_g)
    high = ([(row(one, 0 * one), tf + gm, True)],
            [[(row(one, -one), tf + gm - tg, True), (row(0 * one, -one), -tg, True)]])
    # f <= tau_f - gamma => g <= tau_g  (lambda = 1: g - f <= tau_g - tau_f + gamma; lambda = 0: g <= tau_g)
    low = ([(row(-one, 0 * one), gm - tf, True)],
           [[(row(-one, one), tg - tf + gm, False), (row(0 * one, one), tg, False)]])
    return rows, [high, low]


def _down(q: Fraction) -> float:
    """The largest float <= q."""
    v = float(q)
    return float(np.nextafter(v, -np.inf)) if Fraction(v) > q else v


def _evaluate(U, cases, exact: bool):
    """Which leaves close (L,) and their slacks (L,) from the row bounds ``U`` (L, rows)."""
    L = U.shape[0]
    ok, slack = np.ones(L, dtype=bool), None

    def atom(r, rhs, strict):
        sl = (rhs if exact else _down(rhs)) - U[:, r]     # exact in floats: fl(a - b) >= 0 iff a >= b
        return (sl > 0) if strict else (sl >= 0), sl

    for excl, reqs in cases:
        c_ok, c_sl = np.zeros(L, dtype=bool), np.full(L, -np.inf, dtype=object if exact else float)
        for a in excl:
            o, sl = atom(*a)
            c_ok, c_sl = c_ok | o, np.maximum(c_sl, sl)
        r_ok, r_sl = np.ones(L, dtype=bool), np.full(L, np.inf, dtype=object if exact else float)
        for alts in reqs:
            a_ok, a_sl = np.zeros(L, dtype=bool), np.full(L, -np.inf, dtype=object if exact else float)
            for a in alts:
                o, sl = atom(*a)
                a_ok, a_sl = a_ok | o, np.maximum(a_sl, sl)
            r_ok, r_sl = r_ok & a_ok, np.minimum(r_sl, a_sl)
        ok &= c_ok | r_ok
        c_sl = np.maximum(c_sl, r_sl)
        slack = c_sl if slack is None else np.minimum(slack, c_sl)
    return ok, slack


ALPHA_DEN = 64                  # hinted lower slopes are k / ALPHA_DEN


def _hints(proof, n_leaves: int, n_units: int) -> dict:
    """``proof.hints``: ``[{"leaf": i, "alpha": "<base64>"}, ...]``: at leaf ``i`` (pre-order leaf
    number), one byte per hidden unit (f's units layer by layer, then g's): ``k`` in 0..64 sets
    the lower slope of the unit (if unstable) to ``k / 64``, 255 keeps the default.  Returns
    {leaf: float array (n_units,), NaN = default}.  Any slope in [0, 1] is sound, so a hint can
    only change how tight the leaf's bound is; the leaf must still close."""
    raw = proof.get("hints", [])
    if not isinstance(raw, list) or len(raw) > n_leaves:
        raise CertificateError("proof.hints must be a list with at most one entry per leaf")
    out: dict = {}
    for h, ent in enumerate(raw):
        where = f"proof.hints[{h}]"
        leaf = _get(ent, "leaf", where, int)
        if not 0 <= leaf < n_leaves or leaf in out:
            raise CertificateError(f"{where}.leaf must be a distinct leaf number in 0..{n_leaves - 1}, got {leaf}")
        al = _get(ent, "alpha", where, str)
        try:
            k = np.frombuffer(base64.b64decode(al[:4 * n_units], validate=True), dtype=np.uint8)
        except ValueError:
            raise CertificateError(f"{where}.alpha is not base64") from None
        if len(k) != n_units:
            raise CertificateError(f"{where}.alpha holds {len(k)} bytes, the networks have {n_units} hidden units")
        bad = np.flatnonzero((k > ALPHA_DEN) & (k != 255))
        if bad.size:
            raise _Invalid(f"{where}.alpha[{int(bad[0])}]", f"lower slope {int(k[bad[0]])}/{ALPHA_DEN} is not in [0, 1]")
        out[leaf] = np.where(k == 255, np.nan, k / ALPHA_DEN)    # k / 64 is exact in floats
    return out


def _check_bab(proof, claim, nets, stats, exact=False):
    bound = _get(proof, "bound", "proof", str)
    if bound not in ("lin-v1", "diff-v1"):
        raise CertificateError(f"proof.bound must be 'lin-v1' or 'diff-v1', got {bound!r:.40}")
    diff = bound == "diff-v1"
    if diff and nets["f"].sizes != nets["g"].sizes:
        raise CertificateError(f"bound diff-v1 needs equal layer sizes, got {nets['f'].sizes} and {nets['g'].sizes}")
    rule = proof.get("split_rule", "widest-relative-midpoint-v1")
    if rule not in ("widest-relative-midpoint-v1", "given-dim-midpoint-v1"):
        raise CertificateError("proof.split_rule must be 'widest-relative-midpoint-v1' or 'given-dim-midpoint-v1', "
                               f"got {rule!r:.40}")
    lo0 = np.array([_float_exact(q, f"claim.box.lo[{i}]") for i, q in enumerate(claim["lo"])])
    hi0 = np.array([_float_exact(q, f"claim.box.hi[{i}]") for i, q in enumerate(claim["hi"])])
    tree = _get(proof, "tree", "proof", dict)
    bits = _decode_tree(tree)
    widths = {k: nets[k].widths for k in ("f", "g")}
    n_units = sum(widths["f"]) + sum(widths["g"])
    n_int = int(bits.sum())
    kinds = _decode_per_split(tree, "relu_splits", n_int, "<u4", n_units)
    dims = None
    if rule == "given-dim-midpoint-v1":
        if "dims" not in tree:
            raise CertificateError("split rule given-dim-midpoint-v1 needs proof.tree.dims")
        dims = _decode_per_split(tree, "dims", n_int, "u1" if len(lo0) <= 256 else "<u2", len(lo0) - 1)
    los, his, PH, leaf_ids, parent, side = _leaves(bits, lo0, hi0, kinds, n_units, dims)
    hints = _hints(proof, len(leaf_ids), n_units)
    cuts = np.cumsum([0] + widths["f"] + widths["g"])
    nf = len(widths["f"])

    def per_net(A):
        per = [A[:, cuts[i]:cuts[i + 1]] for i in range(len(cuts) - 1)]
        return per[:nf], per[nf:]

    def alphas(idx):
        """The hinted slopes of the leaves ``idx`` as per-layer arrays (NaN = no hint)."""
        return per_net(np.array([hints.get(int(i), np.full(n_units, np.nan)) for i in idx]))

    stats["nodes"], stats["leaves"] = int(len(bits)), len(leaf_ids)
    rows, cases = _goals(claim, nets["f"].n_outputs)
    Cf, Cg = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    layers = {k: [(L.weight, L.bias) for L in nets[k].layers] for k in ("f", "g")}
    nets_ar: dict = {}

    def bounds(ar, idx):
        """Row bounds (len(idx), rows) of the leaves ``idx`` (an array of leaf numbers)."""
        if ar not in nets_ar:
            nets_ar[ar] = [_leaf._Net(ar, layers[k]) for k in ("f", "g")]
        ph = None if PH is None else per_net(PH[idx])
        al = alphas(idx) if any(int(i) in hints for i in idx) else None
        return _leaf.leaf_upper_bounds(ar, *nets_ar[ar], Cf, Cg, los[idx], his[idx], differential=diff,
                                       phases=ph, alpha=al)

    def exact_eval(i):
        return _evaluate(bounds(_leaf.ExactArith, np.array([i])), cases, True)

    def exact_slack(i):
        """The slack of leaf ``i`` from its float row bounds, in exact rationals."""
        U = bounds(_leaf.FloatArith, np.array([i]))
        U = np.array([[Fraction(v) if np.isfinite(v) else v for v in U[0]]], dtype=object)
        sl = _evaluate(U, cases, True)[1][0]
        return Fraction(sl) if abs(sl) != np.inf else None

    def fail(i, sl):
        raise _Invalid(_path(int(leaf_ids[i]), parent, side), f"leaf box [{list(los[i])}, {list(his[i])}]: "
                       f"the leaf bound misses the claim", exact_slack(i) if sl is None else sl)

    if exact:       # reference mode: every leaf in exact rationals
        worst = None
        for i in np.flatnonzero(~_inside(los, his, claim.get("excluded", []))):
            ok, sl = exact_eval(i)
            if not ok[0]:
                fail(i, Fraction(sl[0]) if abs(sl[0]) != np.inf else None)
            worst = sl[0] if worst is None else min(worst, sl[0])
        stats["arithmetic"] = "exact"
        return Fraction(worst) if worst is not None and abs(worst) != np.inf else Fraction(0)
    out_ = _inside(los, his, claim.get("excluded", []))        # leaves inside an excluded polytope
    if out_.any():
        stats["excluded_leaves"] = int(out_.sum())
    plain = np.array([i for i in range(len(leaf_ids)) if i not in hints and not out_[i]], dtype=np.int64)
    ok, slack = out_.copy(), np.where(out_, np.inf, 0.0)
    for group in (plain, np.array(sorted(i for i in hints if not out_[i]), dtype=np.int64)):
        for s in range(0, len(group), BATCH):
            idx = group[s:s + BATCH]
            ok[idx], slack[idx] = _evaluate(bounds(_leaf.FloatArith, idx), cases, False)
    exact_done = 0
    small = nets["f"].n_params + nets["g"].n_params <= EXACT_FALLBACK_WEIGHTS
    scale = 1 + max(abs(float(a[1])) for _, reqs in cases for alts in reqs for a in alts)
    for i in np.flatnonzero(~ok):
        if small and exact_done < EXACT_FALLBACK_MAX and slack[i] >= -1e-9 * scale:
            exact_done += 1         # a narrow miss: replay the leaf in exact rationals
            eok, esl = exact_eval(i)
            if eok[0]:
                slack[i] = float(esl[0])
                continue
        if not np.isfinite(slack[i]):
            raise _Invalid(_path(int(leaf_ids[i]), parent, side), "leaf bound is not finite")
        fail(i, None)
    stats["exact_fallbacks"] = exact_done
    stats["arithmetic"] = "float64-outward"
    if PH is not None:
        stats["relu_splits"] = int(np.count_nonzero(kinds))
    if hints:
        stats["hinted_leaves"] = len(hints)
    top = exact_slack(int(np.argmin(slack))) if len(slack) and np.isfinite(slack.min()) else None
    return top if top is not None else Fraction(0)


# -- entry points ----------------------------------------------------------------------------
def check_document(doc: dict, *, base=".", models_dir=None, exact: bool = False) -> CheckReport:
    """Check a parsed certificate; model paths are relative to ``base`` unless found in ``models_dir``.
    ``exact``: replay every bab leaf in exact rationals (reference mode; slow) instead of float64
    with outward rounding."""
    t0 = time.perf_counter()
    stats: dict = {}
    claim_text = ""
    try:
        if _get(doc, "format", "certificate") != FORMAT:
            raise CertificateError(f"certificate.format must be {FORMAT!r}")
        if _get(doc, "version", "certificate") != VERSION:
            raise CertificateError(f"unsupported certificate version {doc.get('version')!r:.20}; this "
                                   f"checker reads version {VERSION}")
        nets = _bind(doc, Path(base), models_dir)
        claim = _claim(doc, nets)
        claim_text = claim["text"]
        result = _get(doc, "result", "certificate", str)
        if result == "refuted" and claim["kind"] == "distance":
            raise CertificateError("a distance claim (a bracket) is proved, not refuted")
        if result == "refuted":
            slack, what = _check_witness(_get(doc, "witness", "certificate", dict), claim, nets)
            verdict, reason = "REFUTED", f"witness holds ({what})"
        elif result == "proved":
            proof = _get(doc, "proof", "certificate", dict)
            kind = _get(proof, "kind", "proof", str)
            if kind == "structural":
                _check_structural(proof, nets, claim)
                slack = claim.get("eps", Fraction(0))     # sup |f - g| = 0
                reason = ("g is an exact rewrite of f (weight identities hold exactly), so f = g on all inputs"
                          if not proof.get("f_dead") else "g is an exact rewrite of f on the box (weight "
                          f"identities hold exactly; {len(proof['f_dead'])} unit(s) of f are dead on the box)")
                if claim["kind"] == "decision" and not (claim["tau_f"] - claim["gamma"] <= claim["tau_g"]
                                                         < claim["tau_f"] + claim["gamma"]):
                    raise _Invalid("claim", "f = g implies this decision claim only when "
                                   "tau_f - gamma <= tau_g < tau_f + gamma")
            elif kind == "bab":
                slack = _check_bab(proof, claim, nets, stats, exact)
                how = "exact rationals" if exact else "float64 with outward rounding"
                reason = f"all {stats['leaves']} leaves close ({proof['bound']} bounds, {how})"
            else:
                raise CertificateError(f"proof.kind must be 'structural' or 'bab', got {kind!r:.40}")
            if claim["kind"] == "distance" and claim["lower"] > 0:    # the lower end needs a witness
                _, what = _check_witness(_get(doc, "witness", "certificate", dict), claim, nets)
                reason += f"; the lower end is reached ({what})"
            verdict = "VERIFIED"
        else:
            raise CertificateError(f"certificate.result must be 'proved' or 'refuted', got {result!r:.40}")
    except _Invalid as inv:
        stats["check_s"] = round(time.perf_counter() - t0, 4)
        return CheckReport("INVALID", claim_text, inv.path, inv.slack, inv.reason, stats)
    stats["check_s"] = round(time.perf_counter() - t0, 4)
    return CheckReport(verdict, claim_text, None, slack, reason, stats)


def check_certificate(path, *, models_dir=None, exact: bool = False) -> CheckReport:
    """Check the certificate file at ``path`` (see the module docstring and :func:`check_document`)."""
    doc = load_document(path)
    return check_document(doc, base=Path(os.fspath(path)).resolve().parent, models_dir=models_dir, exact=exact)
