"""Vardi, Yehudai, Shamir (COLT 2022): width is less important than depth.

* ``vardi-narrow``: corrected Lemma 16, a 1-hidden-layer net -> exact deep narrow net, state
  ``[relu(x), relu(-x), T, S+, S-]`` (width 2d+3; d+3 on ``--box`` with ``x - lo``), n+1 hidden layers;
* ``vardi-lemma16-printed`` (known bad): Lemma 16's accumulator update as printed,
  ``acc <- relu(acc + |u_i| <w_i, x> + b_i)`` (for |x| it yields relu(-x));
* ``vardi-deep``: corrected Theorem 7, exact recursive rewrite of any depth, width 2d + 2L - 1,
  ``D_2 = 2 n_1``, ``D_l = n_{l-1} (D_{l-1} + 2)``, plus one carry layer;
* ``vardi-rescale``: Corollary 3's exact power-of-two rescaling to weights bounded by 2.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from ..network import Network
from .base import Claim, Transform, TransformError, exactness, network_from_fractions, register

F = Fraction
PAPER = "Vardi, Yehudai, Shamir, COLT 2022"

__all__ = ["VardiNarrow", "VardiLemma16Printed", "VardiDeep", "VardiRescale"]


class _Program:
    """Layers over a fixed state vector; every layer starts as 'carry all slots' (all slots hold
    non-negative values, so relu is the identity on them)."""

    def __init__(self, width: int, carried: list[int]):
        self.width = width
        self.carried = carried
        self.layers: list[tuple] = []

    def layer(self):
        M = [[F(0)] * self.width for _ in range(self.width)]
        b = [F(0)] * self.width
        for i in self.carried:
            M[i][i] = F(1)
        self.layers.append((M, b))
        return M, b


class _Inputs:
    """How ``x`` is read from the state: ``x = relu(x) - relu(-x)`` or ``x = x~ + lo`` on a box."""

    def __init__(self, d: int, lo=None):
        self.d = d
        self.lo = None if lo is None else [F(float(v)) for v in lo]
        self.n_slots = d if lo is not None else 2 * d

    def first_layer(self, width: int):
        W = [[F(0)] * self.d for _ in range(width)]
        b = [F(0)] * width
        for k in range(self.d):
            W[k][k] = F(1)
            if self.lo is None:
                W[self.d + k][k] = F(-1)
            else:
                b[k] = -self.lo[k]
        return W, b

    def add_linear(self, M_row: list, b_list: list, idx: int, w, c):
        """Add ``w . x + c`` to row ``idx`` (``M_row`` is that row of the layer matrix)."""
        b_list[idx] += F(c)
        for k, wk in enumerate(w):
            wk = F(wk)
            if self.lo is None:
                M_row[k] += wk
                M_row[self.d + k] -= wk
            else:
                M_row[k] += wk
                b_list[idx] += wk * self.lo[k]


def _lemma16(net: Network, box, *, printed: bool):
    d = net.n_inputs
    (W1, b1), (W2, b2) = [(L.weight, L.bias) for L in net.layers]
    u = W2[0]
    n = W1.shape[0]
    inp = _Inputs(d, None if box is None else box.lo)
    s = inp.n_slots
    if printed:
        width = s + 2
        ACC, ACC2 = s, s + 1
        prog = _Program(width, list(range(width)))
        W0, bb0 = inp.first_layer(width)
        first = (W0, bb0)
        for i in range(n):
            M, b = prog.layer()
            slot = ACC if u[i] >= 0 else ACC2
            inp.add_linear(M[slot], b, slot, [abs(F(float(u[i]))) * F(float(v)) for v in W1[i]], F(float(b1[i])))
        out = [F(0)] * width
        out[ACC], out[ACC2] = F(1), F(-1)
    else:
        width = s + 3
        T, SP, SN = s, s + 1, s + 2
        W0, bb0 = inp.first_layer(width)
        row = [F(0)] * width
        inp.add_linear(row, bb0, T, W1[0], float(b1[0]))
        # first layer reads x directly: put the row on the x columns
        W0[T] = [F(float(v)) for v in W1[0]]
        bb0[T] = F(float(b1[0]))
        first = (W0, bb0)
        prog = _Program(width, list(range(s)) + [SP, SN])
        for i in range(n):
            M, b = prog.layer()
            acc = SP if u[i] >= 0 else SN
            M[acc][T] += abs(F(float(u[i])))
            if i + 1 < n:
                inp.add_linear(M[T], b, T, W1[i + 1], float(b1[i + 1]))
        out = [F(0)] * width
        out[SP], out[SN] = F(1), F(-1)
    layers = [first] + prog.layers + [([out], [F(float(b2[0]))])]
    return layers, width, n + 1


class _L16(Transform):
    paper = PAPER + ", Lemma 16"

    def why_not(self, net, box):
        if net.depth != 1 or net.n_outputs != 1:
            return f"needs a 1-hidden-layer single-output network, got {net.depth} hidden layers and {net.n_outputs} outputs"
        return None


@register
class VardiNarrow(_L16):
    name = "vardi-narrow"
    summary = "1-hidden-layer net -> exact deep narrow net (corrected Lemma 16), width 2d+3 (d+3 on --box)"

    def _apply(self, net, box):
        layers, width, hl = _lemma16(net, box, printed=False)
        new, exact = network_from_fractions(layers)
        d = net.n_inputs
        claim = Claim(self.name, self.paper + " (corrected)", "exact" if box is None else "exact-on-box", box=box,
                      formula={"width": 2 * d + 3 if box is None else d + 3, "hidden_layers": net.width + 1,
                               "paper_width": 2 * d + 2})
        claim.notes.append("pipelined: S+- accumulate |u_i| relu(w_i.x + b_i) one layer after T computes it")
        return new, exactness(claim, net, box, exact)


@register
class VardiLemma16Printed(_L16):
    name = "vardi-lemma16-printed"
    summary = "KNOWN-BAD: Lemma 16 as printed, acc <- relu(acc + |u_i|<w_i,x> + b_i) (width 2d+2)"
    known_bad = True

    def _apply(self, net, box):
        layers, width, hl = _lemma16(net, None, printed=True)
        new, exact = network_from_fractions(layers)
        d = net.n_inputs
        claim = Claim(self.name, self.paper + " (as printed)", "exact", box=box,
                      formula={"width": 2 * d + 2, "hidden_layers": net.width + 1})
        claim.notes.append("computes relu(acc + |u_i|<w_i,x> + b_i), not acc + |u_i| relu(<w_i,x> + b_i)")
        return new, exactness(claim, net, box, exact)


def theorem7_depth(widths: list[int]) -> int:
    """``D_2 = 2 n_1``, ``D_l = n_{l-1} (D_{l-1} + 2)``; the rewrite has ``D_L + 1`` hidden layers."""
    D = 2 * widths[0]
    for n in widths[1:]:
        D = n * (D + 2)
    return D + 1


@register
class VardiDeep(Transform):
    name = "vardi-deep"
    paper = PAPER + ", Theorem 7 (corrected)"
    summary = "any net -> exact deep narrow net (corrected Theorem 7), width 2d + 2L - 1"
    params = {"max_layers": (int, 20000, "refuse if the rewrite would have more hidden layers")}

    def why_not(self, net, box):
        if net.n_outputs != 1 or net.depth < 1:
            return f"needs a single-output network with >= 1 hidden layer, got {net.depth} hidden layers, {net.n_outputs} outputs"
        return None

    def _apply(self, net, box, max_layers):
        d = net.n_inputs
        L = net.depth + 1  # affine layers
        hl = theorem7_depth(net.widths)
        if hl > max_layers:
            raise TransformError(f"vardi-deep would need {hl} hidden layers > max_layers={max_layers}")
        Ws = [[[F(float(v)) for v in row] for row in Lr.weight] for Lr in net.layers]
        bs = [[F(float(v)) for v in Lr.bias] for Lr in net.layers]
        inp = _Inputs(d)
        s = inp.n_slots
        T = s
        PN = {l: (s + 1 + 2 * (l - 2), s + 2 + 2 * (l - 2)) for l in range(2, L + 1)}
        width = s + 1 + 2 * (L - 1)
        carried = list(range(s)) + [i for l in PN for i in PN[l]]
        prog = _Program(width, carried)

        def add_into(l, coef):
            """Add coef * T into (P_l, N_l) in a new layer."""
            M, b = prog.layer()
            P, N = PN[l]
            if coef > 0:
                M[P][T] += coef
            elif coef < 0:
                M[N][T] += -coef

        def emit(l, row):
            # row: weights of one layer-l unit over the n_{l-1} units of layer l-1 (1-based: W^{l-1})
            for i, wi in enumerate(row):
                if l == 2:
                    M, b = prog.layer()
                    inp.add_linear(M[T], b, T, Ws[0][i], bs[0][i])
                else:
                    emit(l - 1, Ws[l - 2][i])
                    M, b = prog.layer()
                    P, N = PN[l - 1]
                    M[T][P], M[T][N] = F(1), F(-1)
                    b[T] = bs[l - 2][i]
                    M[P][P] = F(0)
                    M[N][N] = F(0)
                add_into(l, wi)

        W0, b0 = inp.first_layer(width)
        emit(L, Ws[L - 1][0])
        out = [F(0)] * width
        P, N = PN[L]
        out[P], out[N] = F(1), F(-1)
        layers = [(W0, b0)] + prog.layers + [([out], [bs[L - 1][0]])]
        new, exact = network_from_fractions(layers)
        n = max(net.widths)
        claim = Claim(self.name, self.paper, "exact", box=box,
                      formula={"width": 2 * d + 2 * L - 1, "hidden_layers": hl,
                               "paper_width": 2 * (d + L - 1), "paper_depth_bound": (2 * n) ** (L - 1) + 2})
        claim.notes.append("neurons are recomputed exponentially often; width is one more than the paper's 2(d+L-1)")
        return new, exactness(claim, net, box, exact)


@register
class VardiRescale(Transform):
    name = "vardi-rescale"
    paper = PAPER + ", Corollary 3 (homogeneity)"
    summary = "exact power-of-two rescaling: weights bounded by 2, output restored by doubling layers"
    params = {"k": (int, None, "C = 2^k (default: smallest k making every weight <= 2)")}

    def _choose_k(self, net):
        k = 0
        while True:
            C = 2.0 ** k
            ok = True
            for i, Lr in enumerate(net.layers, start=1):
                if np.max(np.abs(Lr.weight)) / C > 2 or (Lr.bias.size and np.max(np.abs(Lr.bias)) / C ** i > 2):
                    ok = False
                    break
            if ok:
                return k
            k += 1

    def _apply(self, net, box, k):
        k = self._choose_k(net) if k is None else k
        if k < 0:
            raise TransformError(f"k must be >= 0, got k={k}")
        Lc = len(net.layers)
        alpha = k * Lc
        C = 2.0 ** k
        layers = [(Lr.weight / C, Lr.bias / C ** i) for i, Lr in enumerate(net.layers, start=1)]
        m = net.n_outputs
        if alpha > 0:
            Wl, bl = layers[-1]
            layers[-1] = (np.vstack([Wl, -Wl]), np.concatenate([bl, -bl]))
            I = np.eye(m)
            dbl = np.block([[2 * I, -2 * I], [-2 * I, 2 * I]])
            for _ in range(alpha - 1):
                layers.append((dbl, np.zeros(2 * m)))
            layers.append((np.hstack([2 * I, -2 * I]), np.zeros(m)))
        new = Network(layers)
        exact = _scaled_exact(net, C)
        maxw = max(float(np.max(np.abs(Lr.weight))) for Lr in new.layers)
        maxb = max(float(np.max(np.abs(Lr.bias))) if Lr.bias.size else 0.0 for Lr in new.layers)
        claim = Claim(self.name, self.paper, "exact", box=box,
                      formula={"hidden_layers": net.depth + alpha, "max_abs_weight": 2},
                      info={"k": k, "C": C, "doubling_layers": alpha, "max_abs_weight": maxw, "max_abs_bias": maxb})
        claim.notes.append(f"C = 2^{k}; {alpha} doubling layers restore the factor C^{Lc}; max |weight| {maxw:g}, max |bias| {maxb:g}")
        return new, exactness(claim, net, box, exact)

    def invert(self, new, claim):
        k = claim.info["k"]
        L = len(new.layers) - claim.info["doubling_layers"] if claim.info["doubling_layers"] else len(new.layers)
        C = 2.0 ** k
        layers = []
        for i, Lr in enumerate(new.layers[:L], start=1):
            W, b = Lr.weight, Lr.bias
            if i == L and claim.info["doubling_layers"]:
                half = W.shape[0] // 2
                W, b = W[:half], b[:half]
            layers.append((W * C, b * C ** i))
        return Network(layers)


def _scaled_exact(net, C):
    """Whether dividing by powers of two lost no bits (no underflow to subnormals)."""
    for i, Lr in enumerate(net.layers, start=1):
        for arr, s in ((Lr.weight, C), (Lr.bias, C ** i)):
            if not np.array_equal((arr / s) * s, arr):
                return False
            nz = arr[arr != 0]
            if nz.size and np.min(np.abs(nz / s)) < 2.2250738585072014e-308:
                return False
    return True
