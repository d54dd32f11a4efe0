"""Vardi, Yehudai, Shamir, Theorem 2 (approximate, width O(d)): ``vardi-approx``.

Any single-output net ``f`` on a box -> a deep net of width ``max(5d, 7)`` (paper: ``max(5d, 10)``)
that is within ``eps`` of ``f`` on the box *except on thin bad slabs*, claimed with the slabs as
an explicit excluded set (claim kind ``eps-off-excluded``).  Reference: seed-constructions.md 3.2.

Pipeline (all integer blocks act on one packed number):

* **F0 + Fenc (Lemma 9)**: ``u_i = (x_i - lo_i) / (hi_i - lo_i)``; the c0 top bits of
  ``u_i + delta/2^{c0+2}`` are read with Telgarsky's triangle ``phi(z) = relu(relu(2z) - relu(4z-2))``:
  bit j is ``(2^{c0+2-j}/delta) relu(phi^(j)(u + delta/2^{c0+2}) - phi^(j)(u + delta/2^{c0+1}))``
  (exactly 0/1 unless a kink of some phi^(j) lies between the two points).  Width 5 per coordinate
  (``relu(2P) = 2P`` for ``P >= 0`` lets the bit be read from the same layer).  The codes
  ``k_i < 2^{c0}`` are packed into one integer, field i at bits ``[i c0, (i+1) c0)``.
* **F_l (Lemmas 10, 11)**: for each neuron, the packed integer is scanned bit by bit from the top
  (``bit = relu(R - t + 1) - relu(R - t)`` is exact on integers), adding ``a_f 2^b bit`` to ``y+`` or
  ``y-``; the neuron ``relu(y+ - y- + b~)`` is packed into the output integer (``Y <- 2^c Y + z``).
  Width 7.
* **F~_l (Lemma 12)** is fused into the next scan: the low c0 bits of each field get weight 0,
  so the next layer reads ``floor(z / 2^{c0})``.
* **F_L**: the last layer is a scan with a linear output ``2^{-2 c0} (y+ - y- + b~)``.

Quantisation as in the paper: ``w~ = sign(w) floor(2^{c0} |w|)``, ``b~ = floor(2^{2 c0} b)`` for
l > 1; in layer 1 the box shift and scale are folded in (``w~ = sign floor(2^{c0} |w (hi - lo)|)``,
``b~ = floor(2^{2 c0} (b + w.lo))``; the paper's ``- A 2^{c0} sum alpha w~`` is the same shift).
Field widths ``c_l`` are the exact bit lengths of sound integer interval bounds, not the paper's
worst-case ``c`` (the paper's encoder bits for the requested eps are ``info["c0_paper"]``).  ``eps`` in the claim is computed soundly per
encoder cell: the net is constant (exact rational value, ``Network.eval_exact`` at the cell's
midpoint) on the good part of each cell, and ``f`` is bounded there by interval propagation; the
verifier re-checks the claim independently.  ``c0`` defaults to the paper's
``ceil(2L log2(5ABnd/eps))``, which is only feasible for float64 on tiny instances: the construction
refuses when a packed integer needs more than 52 bits.

``vardi-approx-sup`` (known bad) is the same net claimed within eps on the whole box; on the bad
slabs the error is of the order of the range, so the verifier refutes it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..network import Network
from ..verify.spec import Polytope
from ..verify.result import float_down, float_up
from .base import Claim, Transform, TransformError, register

F = Fraction
PAPER = "Vardi, Yehudai, Shamir, COLT 2022, Theorem 2"
MAX_BITS = 52          # packed integers and thresholds stay exact in float64
MAX_CELLS = 1 << 14    # encoder cells evaluated exactly for the claimed eps

__all__ = ["VardiApprox", "VardiApproxSup", "paper_c0", "paper_width"]


def paper_width(d: int) -> int:
    """The paper's width for Theorem 2: ``max(5d, 10)``."""
    return max(5 * d, 10)


def paper_c0(net: Network, A: float, eps: float) -> int:
    """``c0 = 2L log2(5ABnd/eps)`` (rounded up), with B the largest |weight| (at least 1) and n the
    largest width (at least d)."""
    L = len(net.layers)
    B = max(1.0, max(float(np.max(np.abs(l.weight))) for l in net.layers),
            max(float(np.max(np.abs(l.bias))) if l.bias.size else 0.0 for l in net.layers))
    B = math.ceil(B)
    n = max([net.n_inputs] + list(net.widths))
    d = net.n_inputs
    return max(1, math.ceil(2 * L * math.log2(5 * max(1, math.ceil(A)) * B * n * d / eps)))


class _Builder:
    """Layers as dicts ``slot -> ({prev_slot: coef}, const)`` over named slots."""

    def __init__(self, d: int):
        self.d = d
        self.layers: list[tuple[list[str], dict]] = []
        self.prev: list[str] | None = None  # None: the input x

    def add(self, rules: dict):
        names = list(rules)
        self.layers.append((self.prev, rules))
        self.prev = names

    def network(self) -> tuple[Network, bool]:
        built = []
        exact = True
        for prev, rules in self.layers:
            cols = [f"x{i}" for i in range(self.d)] if prev is None else prev
            idx = {s: j for j, s in enumerate(cols)}
            W = np.zeros((len(rules), len(cols)))
            b = np.zeros(len(rules))
            for r, (coef, const) in enumerate(rules.values()):
                for s, v in coef.items():
                    if v != 0:
                        W[r, idx[s]] = float(v)
                        exact = exact and F(float(v)) == F(v)
                b[r] = float(const)
                exact = exact and F(float(const)) == F(const)
            built.append((W, b))
        return Network(built), exact


def _quantise(net: Network, lo, hi, c0: int):
    """Integer weights ``(Wt, bt)`` per layer (exact Python ints)."""
    s = 1 << c0
    out = []
    for ell, L in enumerate(net.layers):
        W = [[F(float(v)) for v in row] for row in L.weight]
        b = [F(float(v)) for v in L.bias]
        if ell == 0:
            Wt = [[int(math.copysign(math.floor(s * abs(w * (hi[j] - lo[j]))), float(w))) for j, w in enumerate(row)]
                  for row in W]
            bt = [math.floor(s * s * (bi + sum(w * lo[j] for j, w in enumerate(row)))) for row, bi in zip(W, b)]
        else:
            Wt = [[int(math.copysign(math.floor(s * abs(w)), float(w))) for w in row] for row in W]
            bt = [math.floor(s * s * bi) for bi in b]
        out.append((Wt, bt))
    return out


def _field_widths(qlayers, d: int, c0: int) -> list[int]:
    """Bit widths: ``c[0] = c0`` for the codes, ``c[l]`` for the (pre-rescale) outputs of layer l."""
    widths = [c0]
    lo_in, hi_in = [0] * d, [(1 << c0) - 1] * d
    for ell, (Wt, bt) in enumerate(qlayers[:-1]):
        ub = []
        for row, bi in zip(Wt, bt):
            ub.append(max(0, bi + sum(w * (h if w > 0 else l) for w, l, h in zip(row, lo_in, hi_in))))
        widths.append(max(1, max(ub).bit_length()))
        lo_in = [0] * len(ub)
        hi_in = [u >> c0 for u in ub]
    return widths


def _aff(coef=None, const=0):
    return (dict(coef or {}), F(const))


def _add(*terms):
    """Sum of ``(scale, affine)`` pairs."""
    coef, const = {}, F(0)
    for k, (c, v) in terms:
        for s_, w in c.items():
            coef[s_] = coef.get(s_, F(0)) + k * w
        const += k * v
    return coef, const


def _encoder(B: _Builder, lo, hi, c0: int, delta: F):
    """F0 and Fenc (Lemma 9); after it the previous layer holds ``y{i}`` (if c0 >= 2) and
    ``bit{i}`` with ``code_i = 2 y_i + bit_i``."""
    d = B.d
    s = 1 << c0
    d1, d2 = delta / (4 * s), delta / (2 * s)
    B.add({**{f"P{i}": _aff({f"x{i}": 1 / (hi[i] - lo[i])}, -lo[i] / (hi[i] - lo[i]) + d1) for i in range(d)},
           **{f"Q{i}": _aff({f"x{i}": 1 / (hi[i] - lo[i])}, -lo[i] / (hi[i] - lo[i]) + d2) for i in range(d)}})
    for j in range(0, c0 + 1):   # LB_j holds P, Q = phi^(j) (j <= c0), bit_{j-1} (j >= 2), y (j >= 3)
        la = {}
        for i in range(d):
            la[f"a{i}"] = _aff({f"P{i}": 2})              # = 2 P  (P >= 0)
            la[f"b{i}"] = _aff({f"Q{i}": 2})
            if j + 1 <= c0:
                la[f"a'{i}"] = _aff({f"P{i}": 4}, -2)
                la[f"b'{i}"] = _aff({f"Q{i}": 4}, -2)
            if j >= 2:
                la[f"y{i}"] = _aff({f"bit{i}": 1, **({f"y{i}": 2} if j >= 3 else {})})
        B.add(la)
        lb = {}
        for i in range(d):
            if j + 1 <= c0:
                lb[f"P{i}"] = _aff({f"a{i}": 1, f"a'{i}": -1})   # phi(z) = relu(relu(2z) - relu(4z - 2))
                lb[f"Q{i}"] = _aff({f"b{i}": 1, f"b'{i}": -1})
            if j >= 1:
                K = F(1 << (c0 + 2 - j)) / delta               # bit j = K relu(phi^(j)(p1) - phi^(j)(p2))
                lb[f"bit{i}"] = _aff({f"a{i}": K / 2, f"b{i}": -K / 2})
            if j >= 2:
                lb[f"y{i}"] = _aff({f"y{i}": 1})
        B.add(lb)
    codes = []
    for i in range(d):
        codes.append(_aff({f"bit{i}": 1, **({f"y{i}": 2} if c0 >= 2 else {})}))
    return codes


def _scan_start(X, Y, M):
    t = F(1 << (M - 1))
    return {"X": X, "Y": Y, "R": X, "yp": _aff(), "yn": _aff(),
            "s1": _add((1, X), (1, _aff({}, 1 - t))), "s2": _add((1, X), (1, _aff({}, -t)))}


def _simulate(B: _Builder, codes, qlayers, cw, c0: int):
    """F_1, F~_1, ..., F_L (Lemmas 10-12) on the packed integer."""
    d = B.d
    X = _add(*[(F(1 << (i * c0)), codes[i]) for i in range(d)])
    Y = _aff()
    n_in = d
    pending = None
    nL = len(qlayers)
    for ell, (Wt, bt) in enumerate(qlayers):
        c = cw[ell]
        M = n_in * c
        r = 0 if ell == 0 else c0
        last = ell == nL - 1
        for j, (row, bj) in enumerate(zip(Wt, bt)):
            if pending is not None:      # pack the previous neuron's output: Y <- 2^c Y + z
                Yn = _add((F(1 << (cw[ell] if pending[1] else cw[ell + 1])), _aff({"Y": 1})), (1, _aff({"z": 1})))
                if pending[1]:           # it was the last neuron of the previous layer: X <- packed
                    X, Y = Yn, _aff()
                else:
                    X, Y = _aff({"X": 1}), Yn
            rules = _scan_start(X, Y, M)
            for p in range(M - 1, -1, -1):
                bit = _aff({"s1": 1, "s2": -1})
                f, bpos = divmod(p, c)
                i_in = f if ell == 0 else n_in - 1 - f
                coef = F(row[i_in]) * F(2) ** (bpos - r) if bpos >= r else F(0)
                yp = _add((1, _aff({"yp": 1})), (max(coef, 0), bit))
                yn = _add((1, _aff({"yn": 1})), (max(-coef, 0), bit))
                B.add(rules)
                if p > 0:
                    R = _add((1, _aff({"R": 1})), (-F(1 << p), bit))
                    t = F(1 << (p - 1))
                    rules = {"X": _aff({"X": 1}), "Y": _aff({"Y": 1}), "R": R, "yp": yp, "yn": yn,
                             "s1": _add((1, R), (1, _aff({}, 1 - t))), "s2": _add((1, R), (1, _aff({}, -t)))}
                else:
                    pre = _add((1, yp), (-1, yn), (1, _aff({}, bj)))
                    if last:
                        rules = {"out": _add((F(1, 1 << (2 * c0)), pre))}
                    else:
                        rules = {"X": _aff({"X": 1}), "Y": _aff({"Y": 1}), "z": pre}
            pending = (j, j == len(Wt) - 1)
            if not last:
                B.add(rules)
            else:
                B.layers.append((B.prev, rules))
                B.prev = list(rules)
        n_in = len(Wt)
    return B


def _bad_slabs(box, c0: int, delta: F):
    """Closed slabs (slightly widened) where some encoder bit can be wrong."""
    d = box.dim
    s = 1 << c0
    d1, d2 = delta / (4 * s), delta / (2 * s)
    m = F(1, 10 ** 9)
    out = []
    for i in range(d):
        lo, hi = F(float(box.lo[i])), F(float(box.hi[i]))
        for k in range(1, s + 1):
            ua, ub = F(k, s) - d2 - m, (F(k, s) - d1 + m) if k < s else F(1) + m
            xa, xb = lo + (hi - lo) * ua, lo + (hi - lo) * ub
            A = np.zeros((2, d))
            A[0, i], A[1, i] = 1.0, -1.0
            out.append(Polytope(A, np.array([float_up(xb), -float_down(xa)])))
    return out


def _claimed_eps(net: Network, new: Network, box, c0: int, delta: F) -> float:
    """Sound sup of |new - net| on the good set: new is constant on each cell's good part."""
    from itertools import product

    from ..bounds.interval import interval_bounds_batch

    d = box.dim
    s = 1 << c0
    d1, d2 = delta / (4 * s), delta / (2 * s)
    lo = [F(float(v)) for v in box.lo]
    hi = [F(float(v)) for v in box.hi]
    cells = list(product(range(s), repeat=d))
    clo = np.empty((len(cells), d))
    chi = np.empty((len(cells), d))
    vals = []
    for r, k in enumerate(cells):
        mid = []
        for i, ki in enumerate(k):
            ua, ub = max(F(0), F(ki, s) - d1), min(F(1), F(ki + 1, s) - d2)
            xa, xb = lo[i] + (hi[i] - lo[i]) * ua, lo[i] + (hi[i] - lo[i]) * ub
            clo[r, i], chi[r, i] = float_down(xa), float_up(xb)
            mid.append((xa + xb) / 2)
        vals.append(new.eval_exact(mid)[0])
    flo, fhi = interval_bounds_batch(net, clo, chi)[-1]
    worst = F(0)
    for v, a, b in zip(vals, flo[:, 0], fhi[:, 0]):
        worst = max(worst, abs(v - F(float(a))), abs(F(float(b)) - v))
    return float_up(worst * (1 + F(1, 10 ** 9)) + F(1, 10 ** 12))


def _construct(net: Network, box, c0: int, delta: F):
    d = net.n_inputs
    lo = [F(float(v)) for v in box.lo]
    hi = [F(float(v)) for v in box.hi]
    if any(h <= l for l, h in zip(lo, hi)):
        raise TransformError("vardi-approx needs a full-dimensional box (every hi > lo)")
    qlayers = _quantise(net, lo, hi, c0)
    cw = _field_widths(qlayers, d, c0)
    widths_in = [d] + [len(Wt) for Wt, _ in qlayers[:-1]]
    for ell, (n_in, c) in enumerate(zip(widths_in, cw)):
        if n_in * c > MAX_BITS - 1:
            raise TransformError(f"vardi-approx: layer {ell + 1} packs {n_in} fields of {c} bits = {n_in * c} bits, "
                                 f"more than {MAX_BITS - 1} (float64 exactness); choose a smaller c0, got c0={c0}")
    B = _Builder(d)
    codes = _encoder(B, lo, hi, c0, delta)
    _simulate(B, codes, qlayers, cw, c0)
    new, exact = B.network()
    return new, exact, cw


class VardiApprox(Transform):
    name = "vardi-approx"
    paper = PAPER
    summary = ("Theorem 2: any net -> deep net of width max(5d, 7) (paper max(5d, 10)), within eps "
               "off the encoder's bad slabs (claimed with them excluded)")
    needs_box = True
    params = {"eps": (float, 0.1, "target accuracy; sets c0 by the paper's formula unless c0 is given"),
              "c0": (int, None, "encoder bits per coordinate (default: 2L log2(5ABnd/eps))"),
              "delta": (float, 1 / 64, "encoder failure budget per coordinate (rounded down to a power of 2)")}

    def why_not(self, net, box):
        if net.n_outputs != 1:
            return f"needs a single-output network, got {net.n_outputs} outputs"
        return None

    def _setup(self, net, box, eps, c0, delta):
        if not (eps > 0 and math.isfinite(eps)):
            raise TransformError(f"eps must be > 0, got eps={eps}")
        if not (0 < delta <= 1 and math.isfinite(delta)):
            raise TransformError(f"delta must be in (0, 1], got delta={delta}")
        A = float(max(np.max(np.abs(box.lo)), np.max(np.abs(box.hi))))
        c0_paper = paper_c0(net, A, eps)
        if c0 is None:
            c0 = c0_paper
        if c0 < 1:
            raise TransformError(f"c0 must be >= 1, got c0={c0}")
        if (1 << c0) ** net.n_inputs > MAX_CELLS:
            raise TransformError(f"vardi-approx: {1 << c0}^{net.n_inputs} encoder cells exceed {MAX_CELLS} "
                                 f"(the claimed eps is computed cell by cell); choose a smaller c0, got c0={c0}")
        dl = F(1, 1 << max(0, math.ceil(-math.log2(delta))))
        while dl > F(delta):
            dl /= 2
        new, exact, cw = _construct(net, box, c0, dl)
        info = {"c0": c0, "c0_paper": c0_paper, "delta": float(dl), "field_bits": cw}
        return new, exact, info

    def _apply(self, net, box, eps, c0, delta):
        new, exact, info = self._setup(net, box, eps, c0, delta)
        c0, dl = info["c0"], F(info["delta"])
        slabs = _bad_slabs(box, c0, dl)
        e = _claimed_eps(net, new, box, c0, dl)
        claim = Claim(self.name, self.paper, "eps-off-excluded", box=box, excluded=tuple(slabs), eps=e,
                      formula={"width": paper_width(net.n_inputs)}, info=info)
        claim.weights_exact = exact
        claim.notes.append(f"c0 = {c0} encoder bits (paper's formula for eps={eps:g}: {info['c0_paper']}); "
                           f"field widths {info['field_bits']} bits; {len(slabs)} bad slabs excluded")
        claim.notes.append(f"claimed eps {e:.6g} bounds the staircase error on the good set (exact cell values, interval bounds of f) "
                           f"(target {eps:g} is met only for c0 >= the paper's c0)")
        return new, claim


register(VardiApprox)


class VardiApproxSup(VardiApprox):
    name = "vardi-approx-sup"
    summary = "KNOWN-BAD: the vardi-approx net claimed within eps on the whole box (false on the bad slabs)"
    known_bad = True

    def _apply(self, net, box, eps, c0, delta):
        new, exact, info = self._setup(net, box, eps, c0, delta)
        e = _claimed_eps(net, new, box, info["c0"], F(info["delta"]))
        claim = Claim(self.name, self.paper, "eps-on-box", box=box, eps=e,
                      formula={"width": paper_width(net.n_inputs)}, info=info)
        claim.weights_exact = exact
        claim.notes.append("Theorem 2 holds off a small-measure bad set only; a sup-norm claim is false")
        return new, claim


register(VardiApproxSup)
