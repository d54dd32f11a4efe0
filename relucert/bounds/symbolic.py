"""Forward symbolic bounds (ReluVal / NeuroDiff style), batched over many boxes, rigorous in float64.

Every quantity ``v`` of a layer (a pre-activation ``z^f`` of ``f``, the difference
``D = z^g - z^f``, a ReLU output) carries two linear functions of the *normalised* input
``y in [-1, 1]^n`` (``x = c + r * y``, a box that contains the input box exactly):

    A_lo y + a_lo  <=  v(x)  <=  A_hi y + a_hi        for every y in [-1, 1]^n.

The statement is about the exact reals: the float arrays ``A``, ``a`` are whatever was computed,
and the rounding error of every product and sum that made them is bounded a priori (see
:mod:`relucert.bounds._fp`) and moved into the intercepts (``|y| <= 1`` turns a coefficient
error into a constant).  Concretising a function over the box is ``a +- sum_j |A_j|``, rounded
outward.

Compared with back-substitution (:mod:`relucert.bounds.differential`) a forward pass costs
``O(width^2 * n)`` per layer and box instead of ``O(width^3)``, which is what input splitting on
low-dimensional problems (ACAS Xu: 5 inputs) needs: many cheap boxes.  The differential part
follows ReluDiff / NeuroDiff: ``D_{l+1} = W^g phi + (W^g - W^f) h^f + (b^g - b^f)`` with
``phi = relu(z^f + D) - relu(z^f)`` relaxed linearly in ``z^f`` and ``D``.

Memory layout: arrays of one layer are ``(width, B, n + 1)`` (coefficients, then the intercept in
the last column), so a layer's affine step is a single BLAS product ``W @ M.reshape(k, -1)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..network import Network
from ._fp import ETA, U, center_radius, gamma, mm_up, up, down
from .differential import DiffPair, _State, _backsub, _phi_relax
from .linear import relu_lower_slope, relu_upper

__all__ = ["SymbolicDiff", "symbolic_diff_batch", "symbolic_bounds_batch"]


def _split_pos_neg(W: np.ndarray) -> np.ndarray:
    """``[max(W, 0), min(W, 0)]`` side by side: ``(m, 2k)``."""
    return np.hstack([np.maximum(W, 0.0), np.minimum(W, 0.0)])


class _Aff:
    """A pre-processed affine map for the symbolic steps: ``[W+, W-]`` and ``|W|``."""

    __slots__ = ("W", "b", "PN", "absW", "absb", "k")

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W = W
        self.b = b
        self.PN = _split_pos_neg(W)
        self.absW = np.abs(W)
        self.absb = np.abs(b)
        self.k = W.shape[1]


def _rowabs(M: np.ndarray) -> np.ndarray:
    """``sum_j |M[..., j]|`` over all columns (coefficients and intercept), rounded up: (k, B)."""
    k = M.shape[-1]
    return up(np.abs(M).sum(axis=-1) * (1.0 + gamma(k)))


def _coefabs(M: np.ndarray) -> np.ndarray:
    """``sum_{j<n} |M[..., j]|`` (coefficients only), rounded up: (k, B)."""
    k = M.shape[-1] - 1
    return up(np.abs(M[..., :-1]).sum(axis=-1) * (1.0 + gamma(k)))


def _conc_hi(M: np.ndarray) -> np.ndarray:
    """Rigorous ``max_{|y|<=1} M y + m`` (``M`` with intercept column)."""
    return up(M[..., -1] + _coefabs(M))


def _conc_lo(M: np.ndarray) -> np.ndarray:
    return down(M[..., -1] - _coefabs(M))


def _affine_hi(A: _Aff, Mhi: np.ndarray, Mlo: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Upper function of ``W v + b`` from upper/lower functions of ``v`` (each (k, B, n+1)).

    ``extra`` (m, B) is a non-negative constant added to the intercept (rounded up)."""
    k, B, n1 = Mhi.shape
    stack = np.concatenate([Mhi, Mlo], axis=0).reshape(2 * k, B * n1)
    R = (A.PN @ stack).reshape(A.W.shape[0], B, n1)
    # rounding of the product: <= gamma(2k) * [|W+|, |W-|] @ |stack|, and |y| <= 1 collapses the
    # columns; plus the bias addition
    mag = np.concatenate([_rowabs(Mhi), _rowabs(Mlo)], axis=0)            # (2k, B)
    err = mm_up(np.abs(A.PN), mag) * gamma(2 * k) + 2 * k * n1 * ETA
    c = R[..., -1] + A.b[:, None]
    err = err + U * (np.abs(R[..., -1]) + A.absb[:, None] + np.abs(c))
    if extra is not None:
        err = err + extra
    R[..., -1] = up(c + up(err * (1.0 + 4 * U)))
    return R


def _affine_lo(A: _Aff, Mhi: np.ndarray, Mlo: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """Lower function of ``W v + b`` (the mirror of :func:`_affine_hi`)."""
    k, B, n1 = Mhi.shape
    stack = np.concatenate([Mlo, Mhi], axis=0).reshape(2 * k, B * n1)
    R = (A.PN @ stack).reshape(A.W.shape[0], B, n1)
    mag = np.concatenate([_rowabs(Mlo), _rowabs(Mhi)], axis=0)
    err = mm_up(np.abs(A.PN), mag) * gamma(2 * k) + 2 * k * n1 * ETA
    c = R[..., -1] + A.b[:, None]
    err = err + U * (np.abs(R[..., -1]) + A.absb[:, None] + np.abs(c))
    if extra is not None:
        err = err + extra
    R[..., -1] = down(c - up(err * (1.0 + 4 * U)))
    return R


def _scale_hi(s: np.ndarray, M: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """Upper function of ``s v + t`` for ``s >= 0`` given the upper function ``M`` of ``v``."""
    R = s[..., None] * M
    err = (2 * U) * _rowabs(R) + M.shape[-1] * ETA
    c = R[..., -1] if t is None else R[..., -1] + t
    if t is not None:
        err = err + U * np.abs(c)
    R[..., -1] = up(c + up(err * (1.0 + 4 * U)))
    return R


def _input_layer(W: np.ndarray, b: np.ndarray, xc: np.ndarray, xr: np.ndarray, extra=None):
    """Upper and lower functions of ``W x + b`` for ``x = c + r y`` (exact up to rounding): (m, B, n+1)."""
    m, n = W.shape
    B = xc.shape[0]
    R = np.empty((m, B, n + 1))
    R[..., :n] = W[:, None, :] * xr[None, :, :]
    c0 = xc @ W.T                                    # (B, m)
    cst = c0.T + b[:, None]
    err = (2 * U) * _coefabs(R) + n * ETA
    err = err + gamma(n) * (np.abs(xc) @ np.abs(W).T).T * (1 + 2 * U) + n * ETA
    err = err + U * (np.abs(c0.T) + np.abs(b)[:, None] + np.abs(cst))
    if extra is not None:
        err = err + extra
    err = up(err * (1.0 + 8 * U))
    hi = R.copy()
    R[..., n] = down(cst - err)
    hi[..., n] = up(cst + err)
    return hi, R


class SymbolicDiff:
    """Forward symbolic differential bounds for a pair ``(f, g)`` with equal layer sizes."""

    def __init__(self, f: Network, g: Network):
        self.pair = DiffPair(f, g)
        self.f, self.g = f, g
        self.Af = [_Aff(P.Wf, P.bf) for P in self.pair.layers]
        self.Ag = [_Aff(P.Wg, np.zeros_like(P.bg)) for P in self.pair.layers]
        self.Ad = [_Aff(P.Dw, P.db) for P in self.pair.layers]
        self.absRw = [P.absRw for P in self.pair.layers]
        self.absRb = [P.absRb for P in self.pair.layers]

    def bounds(self, lo: np.ndarray, hi: np.ndarray, C: np.ndarray | None = None, *, want_coef: bool = False,
               backsub_output: bool = True, prior: list | None = None):
        """Bounds of ``C (g(x) - f(x))`` on each box of the batch ``lo, hi`` (B, n).

        Returns ``(olo, ohi)`` of shape (B, m); with ``want_coef`` also the input sensitivity
        ``|A_hi| + |A_lo|`` of each row of ``C D`` in normalised coordinates (B, m, n): how much
        each input's half-width contributes to the bound (used to choose a split).

        ``prior``: optional sound bounds already known on each box for the hidden layers, a list of
        ``(zf_lo, zf_hi, d_lo, d_hi)`` arrays (B, width) (e.g. the bounds of a box that contains
        each box of the batch: a parent in a branch and bound); each layer's concrete bounds are
        intersected with them before the ReLUs are relaxed.  ``last_layers`` holds the bounds used."""
        lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
        hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
        B, n = lo.shape
        xc, xr = center_radius(lo, hi)
        xmax = np.maximum(np.abs(lo), np.abs(hi))
        nL = len(self.Af)
        st = _State(lo, hi) if backsub_output else None
        layers: list = []
        self.last_layers = layers
        P0 = self.pair.layers[0]
        Fh, Fl = _input_layer(P0.Wf, P0.bf, xc, xr)
        rx = up(mm_up(xmax, self.absRw[0].T).T + self.absRb[0][:, None])
        Dh, Dl = _input_layer(P0.Dw, P0.db, xc, xr, extra=rx)
        for k in range(1, nL):
            fl, fh = _conc_lo(Fl), _conc_hi(Fh)            # (w, B)
            dl, dh = _conc_lo(Dl), _conc_hi(Dh)
            if prior is not None and k - 1 < len(prior):
                # both are sound for every input of the box: so is the intersection (fmax/fmin
                # let a NaN, which proves nothing, give way to the other bound)
                pfl, pfh, pdl, pdh = prior[k - 1]
                fl, fh = np.fmax(fl, pfl.T), np.fmin(fh, pfh.T)
                dl, dh = np.fmax(dl, pdl.T), np.fmin(dh, pdh.T)
            gl = np.maximum(down(fl + dl), -np.inf)
            gh = up(fh + dh)
            # h^f = relu(z^f)
            s, t = relu_upper(fl, fh)
            a = relu_lower_slope(fl, fh)
            Hh = _scale_hi(s, Fh, t)
            Hl = a[..., None] * Fl                            # a in {0, 1}: exact
            # phi = relu(z^f + D) - relu(z^f) <= pzu z + pdu D + pcu,  >= pzl z + pdl D + pcl
            (pzu, pdu, pcu), (pzl, pdl, pcl) = _phi_relax(fl, fh, gl, gh, dl, dh)
            PHh = self._phi_side(pzu, pdu, pcu, Fh, Fl, Dh, Dl, upper=True)
            PHl = self._phi_side(pzl, pdl, pcl, Fh, Fl, Dh, Dl, upper=False)
            layers.append((fl.T, fh.T, dl.T, dh.T))
            if st is not None:
                st.relu_f.append((s.T, t.T, a.T))
                st.phi.append(tuple(tuple(v.T for v in side) for side in ((pzu, pdu, pcu), (pzl, pdl, pcl))))
                pm = np.maximum(np.abs(dl), np.abs(dh)).T
                st.phimax.append(pm)
                st.dmax.append(pm)
                st.zmax.append(np.maximum(np.abs(fl), np.abs(fh)).T)
                st.hmax.append(np.maximum(fh, 0.0).T)
            # next layer
            hmax = np.maximum(fh, 0.0)
            rr = up(mm_up(self.absRw[k], hmax) + self.absRb[k][:, None])            # (m, B)
            Fh_n = _affine_hi(self.Af[k], Hh, Hl)
            Fl_n = _affine_lo(self.Af[k], Hh, Hl)
            Gpart_h = _affine_hi(self.Ag[k], PHh, PHl)
            Gpart_l = _affine_lo(self.Ag[k], PHh, PHl)
            Dpart_h = _affine_hi(self.Ad[k], Hh, Hl, extra=rr)
            Dpart_l = _affine_lo(self.Ad[k], Hh, Hl, extra=rr)
            Dh = _add_hi(Gpart_h, Dpart_h)
            Dl = _add_lo(Gpart_l, Dpart_l)
            Fh, Fl = Fh_n, Fl_n
        m_out = Dh.shape[0]
        if C is None:
            C = np.eye(m_out)
        C = np.atleast_2d(np.asarray(C, dtype=np.float64))
        A = _Aff(C, np.zeros(C.shape[0]))
        Oh = _affine_hi(A, Dh, Dl)
        Ol = _affine_lo(A, Dh, Dl)
        ohi, olo = _conc_hi(Oh).T, _conc_lo(Ol).T
        if st is not None:
            m = C.shape[0]
            Ld = np.broadcast_to(np.vstack([C, -C]), (B, 2 * m, C.shape[1])).copy()
            ub = _backsub(self.pair, st, nL - 1, None, Ld, np.zeros((B, 2 * m)))
            olo = np.maximum(olo, -ub[:, m:])
            ohi = np.minimum(ohi, ub[:, :m])
        if not want_coef:
            return olo, ohi
        sens = (np.abs(Oh[..., :-1]) + np.abs(Ol[..., :-1])).transpose(1, 0, 2)
        Fo_h = _affine_hi(A, Fh, Fl)
        Fo_l = _affine_lo(A, Fh, Fl)
        fsens = (np.abs(Fo_h[..., :-1]) + np.abs(Fo_l[..., :-1])).transpose(1, 0, 2)
        self.last_fsens = fsens
        self.last_hsens = (np.abs(Fh[..., :-1]) + np.abs(Fl[..., :-1])).sum(axis=0)   # (B, n) all outputs of f
        return olo, ohi, sens

    @staticmethod
    def _phi_side(pz, pd, pc, Fh, Fl, Dh, Dl, *, upper: bool):
        """Upper (or lower) function of ``pz z + pd D + pc`` with ``pz in {-1, 0, 1}``, ``pd >= 0``."""
        if upper:
            Zpart = np.where((pz > 0)[..., None], Fh, 0.0) - np.where((pz < 0)[..., None], Fl, 0.0)
            Dsrc = Dh
        else:
            Zpart = np.where((pz > 0)[..., None], Fl, 0.0) - np.where((pz < 0)[..., None], Fh, 0.0)
            Dsrc = Dl
        Dpart = pd[..., None] * Dsrc
        R = Zpart + Dpart
        err = (2 * U) * (_rowabs(Dpart) + _rowabs(R)) + Fh.shape[-1] * ETA
        c = R[..., -1] + pc
        err = err + U * (np.abs(R[..., -1]) + np.abs(pc) + np.abs(c))
        if upper:
            R[..., -1] = up(c + up(err * (1.0 + 4 * U)))
        else:
            R[..., -1] = down(c - up(err * (1.0 + 4 * U)))
        return R


def _add_hi(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    R = X + Y
    err = U * _rowabs(R) + X.shape[-1] * ETA
    R[..., -1] = up(R[..., -1] + up(err * (1.0 + 4 * U)))
    return R


def _add_lo(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    R = X + Y
    err = U * _rowabs(R) + X.shape[-1] * ETA
    R[..., -1] = down(R[..., -1] - up(err * (1.0 + 4 * U)))
    return R


def symbolic_diff_batch(f: Network, g: Network, lo, hi, *, C=None):
    """Sound bounds of ``C (g - f)`` on a batch of boxes by forward symbolic propagation."""
    if f.sizes != g.sizes:
        raise ShapeError(f"differential bounds need equal layer sizes, got {f.sizes} and {g.sizes}")
    return SymbolicDiff(f, g).bounds(lo, hi, C)


def symbolic_bounds_batch(net: Network, lo, hi):
    """Forward symbolic (DeepPoly without back-substitution) pre-activation bounds of one network,
    for a batch of boxes: one ``(lo, hi)`` pair (B, width) per layer, the output layer included."""
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    xc, xr = center_radius(lo, hi)
    layers = net.layers
    Fh, Fl = _input_layer(layers[0].weight, layers[0].bias, xc, xr)
    out = []
    for k in range(1, len(layers)):
        fl, fh = _conc_lo(Fl), _conc_hi(Fh)
        out.append((fl.T, fh.T))
        s, t = relu_upper(fl, fh)
        a = relu_lower_slope(fl, fh)
        Hh = _scale_hi(s, Fh, t)
        Hl = a[..., None] * Fl
        A = _Aff(layers[k].weight, layers[k].bias)
        Fh, Fl = _affine_hi(A, Hh, Hl), _affine_lo(A, Hh, Hl)
    out.append((_conc_lo(Fl).T, _conc_hi(Fh).T))
    return out
