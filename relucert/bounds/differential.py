"""Differential bounds for a pair of networks with the same layer sizes (ReluDiff / NeuroDiff idea).

Instead of bounding ``f`` and ``g`` separately and subtracting (which loses everything when the
two are close), we propagate ``z^f_l`` and the difference ``D_l = z^g_l - z^f_l`` together:

    z^f_l = W^f h^f + b^f
    D_l   = W^g phi + (W^g - W^f) h^f + (b^g - b^f),   phi = relu(z^f + D) - relu(z^f)

``phi`` has a linear relaxation in ``D`` (and in ``z^f`` in the mixed stable cases) whose width
scales with ``|D|``, so truncated, pruned or quantised pairs get bounds near their true
difference.  Back-substitution runs over the lifted pair exactly as in
:mod:`relucert.bounds.linear`, with the same rigorous float64 error accounting; weight
differences are split exactly (``W^g - W^f = Dw + Rw`` with TwoSum) and the tiny residual ``Rw``
is carried as an error term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..box import Box
from ..errors import ShapeError, SpecError
from ..network import Network
from ._fp import U, add_down, add_up, box_max, center_radius, dot_up, down, gamma, mm_up, up
from .interval import affine_interval
from .linear import relu_lower_slope, relu_upper

__all__ = ["DiffPair", "diff_bounds_batch", "diff_bounds"]


def _two_diff(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a - b = s + e`` exactly (TwoSum on arrays)."""
    s = a - b
    bp = s - a
    e = (a - (s - bp)) + (-b - bp)
    return s, e


@dataclass
class _PairLayer:
    Wf: np.ndarray
    bf: np.ndarray
    Wg: np.ndarray
    bg: np.ndarray
    Dw: np.ndarray   # fl(Wg - Wf)
    Rw: np.ndarray   # exact residual
    db: np.ndarray
    rb: np.ndarray
    absRw: np.ndarray
    absRb: np.ndarray


class DiffPair:
    """Pre-processed pair (f, g) with equal layer sizes."""

    def __init__(self, f: Network, g: Network):
        if f.sizes != g.sizes:
            raise ShapeError(f"differential bounds need equal layer sizes, got {f.sizes} and {g.sizes}")
        self.f, self.g = f, g
        self.layers = []
        for Lf, Lg in zip(f.layers, g.layers):
            Dw, Rw = _two_diff(Lg.weight, Lf.weight)
            db, rb = _two_diff(Lg.bias, Lf.bias)
            self.layers.append(_PairLayer(Lf.weight, Lf.bias, Lg.weight, Lg.bias, Dw, Rw, db, rb,
                                          np.abs(Rw), np.abs(rb)))

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def _phi_relax(lf, uf, lg, ug, ld, ud):
    """Linear bounds of phi = relu(z+D) - relu(z):  phi <= pz_u z + pd_u D + pc_u, phi >= pz_l z + pd_l D + pc_l."""
    fa, fi = lf >= 0, uf <= 0
    ga, gi = lg >= 0, ug <= 0
    fu, gu = ~(fa | fi), ~(ga | gi)
    zero = np.zeros_like(lf)
    # upper default: phi <= relu(D) <= chord;  lower default: phi >= min(D, 0) = -relu(-D) >= -(chord of relu(-D))
    su, tu = relu_upper(ld, ud)
    sn, tn = relu_upper(-ud, -ld)          # relu(-D) <= sn*(-D) + tn
    pz_u, pd_u, pc_u = zero.copy(), su.copy(), tu.copy()
    pz_l, pd_l, pc_l = zero.copy(), sn.copy(), -tn
    # exact stable cases
    m = fa & ga
    pd_u[m], pc_u[m], pd_l[m], pc_l[m] = 1.0, 0.0, 1.0, 0.0
    m = fi & gi
    pd_u[m], pc_u[m], pd_l[m], pc_l[m] = 0.0, 0.0, 0.0, 0.0
    m = fa & gi
    pz_u[m], pd_u[m], pc_u[m], pz_l[m], pd_l[m], pc_l[m] = -1.0, 0.0, 0.0, -1.0, 0.0, 0.0
    m = fi & ga
    pz_u[m], pd_u[m], pc_u[m], pz_l[m], pd_l[m], pc_l[m] = 1.0, 1.0, 0.0, 1.0, 1.0, 0.0
    # one side stable, the other not
    m = fa & gu            # phi = max(D, -z) >= D
    pd_l[m], pc_l[m] = 1.0, 0.0
    m = fi & gu            # phi = relu(z + D) >= 0
    pd_l[m], pc_l[m] = 0.0, 0.0
    m = fu & ga            # phi = D + min(z, 0) <= D
    pd_u[m], pc_u[m] = 1.0, 0.0
    m = fu & gi            # phi = -relu(z) <= 0
    pd_u[m], pc_u[m] = 0.0, 0.0
    return (pz_u, pd_u, pc_u), (pz_l, pd_l, pc_l)


class _State:
    """Bounds and relaxations of every layer computed so far, for one batch of boxes."""

    def __init__(self, lo, hi):
        self.xc, self.xr = center_radius(lo, hi)
        self.xmax = np.maximum(np.abs(lo), np.abs(hi))
        self.zf: list = []
        self.zg: list = []
        self.dd: list = []
        self.relu_f: list = []     # (s, t, a)
        self.phi: list = []        # (upper, lower)
        self.phimax: list = []
        self.zmax: list = []
        self.dmax: list = []
        self.hmax: list = []


def _blocks(pair: DiffPair, j: int):
    """Per-layer matrices for :func:`_backsub` and :func:`_backsub_f`, cached on the pair:
    ``KM = [W^f; Dw]`` (the coefficients of ``x`` come out of ``[Lz, Ld] @ KM``),
    ``KZ = [[W^f, 0]; [Dw, W^g]]`` (those of ``[h^f_{j-1}, phi_{j-1}]``), ``kb = [b^f; db]``, and
    ``|K|`` for the a-priori error of the product ``[Lz, Ld] @ [[W^f, 0, b^f], [Dw, W^g, db]]``."""
    cache = pair.__dict__.setdefault("_blocks", {})
    if j not in cache:
        P = pair.layers[j]
        n, m = P.Wf.shape
        KM = np.ascontiguousarray(np.vstack([P.Wf, P.Dw]))
        KZ = np.ascontiguousarray(np.block([[P.Wf, np.zeros((n, m))], [P.Dw, P.Wg]]))
        kb = np.concatenate([P.bf, P.db])
        if j == 0:
            absK = np.abs(np.block([[P.Wf, P.bf[:, None]], [P.Dw, P.db[:, None]]]))
        else:
            absK = np.abs(np.block([[P.Wf, np.zeros((n, m)), P.bf[:, None]], [P.Dw, P.Wg, P.db[:, None]]]))
        cache[j] = (KM, KZ, kb, absK)
    return cache[j]


def _backsub(pair: DiffPair, st: _State, k: int, Lz: np.ndarray | None, Ld: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Upper bound of ``Lz z^f_k + Ld D_k + c`` over each box (``Lz=None`` means zero).

    Invariant (exact reals): objective <= ``Lz . z^f_j + Ld . D_j + c`` for every input of the box.
    One step substitutes the affine layer ``j`` (``[Lz, Ld] @ [[W^f, 0, b^f], [Dw, W^g, db]]``, as
    two products) and then the relaxations of ``h^f_{j-1}`` and ``phi_{j-1}``; every rounding error
    (bounded a priori with ``|h^f| <= hmax``, ``|phi| <= phimax``, ``|z^f| <= zmax``,
    ``|D| <= dmax``) and the weight residuals ``Rw``, ``rb`` go into ``c``, rounded up."""
    B, R, n = Ld.shape
    Y = np.empty((B, R, 2 * n))
    Y[..., :n] = 0.0 if Lz is None else Lz
    Y[..., n:] = Ld
    for j in range(k, -1, -1):
        P = pair.layers[j]
        m = P.Wf.shape[1]
        KM, KZ, kb, absK = _blocks(pair, j)
        vmax = st.xmax if j == 0 else st.hmax[j - 1]
        # the product's a-priori error: gamma(2n) |Y| |K| [v; phi; 1], plus the residuals Rw, rb
        ones = np.ones((B, 1))
        vext = np.concatenate([vmax, ones], axis=1) if j == 0 else \
            np.concatenate([vmax, st.phimax[j - 1], ones], axis=1)
        wvec = mm_up(vext, absK.T) * gamma(2 * n)                                  # (B, 2n)
        wvec[:, n:] += mm_up(vmax, P.absRw.T) + P.absRb
        Y2 = Y.reshape(B * R, 2 * n)
        err = mm_up(np.abs(Y), up(wvec * (1 + 4 * U))[..., None])[..., 0]
        c = add_up(c, (Y2 @ kb).reshape(B, R), err)
        if j == 0:
            return add_up(box_max((Y2 @ KM).reshape(B, R, m), st.xc, st.xr), c)
        # coefficients of [h^f_{j-1}, phi_{j-1}], in one product (contiguous)
        Z = (Y2 @ KZ).reshape(B, R, 2 * m)
        s, t, a = st.relu_f[j - 1]
        (pzu, pdu, pcu), (pzl, pdl, pcl) = st.phi[j - 1]
        # slopes for positive / negative coefficients of [h^f, phi]:  h <= s z + t, h >= a z;
        # phi <= pzu z + pdu D + pcu, phi >= pzl z + pdl D + pcl
        Zp = np.maximum(Z, 0.0)
        Zn = Z - Zp                                   # exact: one of the two is zero
        Y = Zp * np.concatenate([s, pdu], axis=1)[:, None, :]
        Y += Zn * np.concatenate([a, pdl], axis=1)[:, None, :]    # exact sum (one term is zero)
        if pzu.any() or pzl.any():                    # a neuron stable in both nets, with opposite phases
            Tz = Zp[..., m:] * pzu[:, None, :]
            Tz += Zn[..., m:] * pzl[:, None, :]       # exact (pz in {0, +-1})
            Y[..., :m] += Tz
        # rounding: |fl(M s) + t3 - exact| <= 2u (|M| + |N|) (slopes in [0, 1]); |fl(N pd) - N pd|
        # <= 2u |N| (two products, disjoint supports, pd in [0, 1]); the constant products and sums
        # <= gamma(2m + 2) (|M| |t| + |N| max|pc|)
        zm, dm = st.zmax[j - 1], st.dmax[j - 1]
        g2 = gamma(2 * m + 2)
        wM = 2 * U * zm + g2 * np.abs(t)
        wN = 2 * U * zm + 2 * U * dm + g2 * np.maximum(np.abs(pcu), np.abs(pcl))
        w = up(np.concatenate([wM, wN], axis=1) * (1 + 4 * U))
        # the constant Zp . [t, pcu] + Zn . [0, pcl] and the error |Z| . w = Zp . w - Zn . w, as two
        # products of two columns (the constant is a sum of the 2m products in some order: within g2)
        Pp = Zp @ np.stack([np.concatenate([t, pcu], axis=1), w], axis=2)
        Pn = Zn @ np.stack([np.concatenate([np.zeros_like(t), pcl], axis=1), w], axis=2)
        perr = add_up(dot_up(Pp[..., 1], 2 * m), dot_up(-Pn[..., 1], 2 * m))
        c = add_up(c, Pp[..., 0], Pn[..., 0], perr)
        n = m
    raise AssertionError("unreachable")


def _backsub_f(pair: DiffPair, st: _State, k: int, Lz: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Upper bound of ``Lz z^f_k + c`` over each box: :func:`_backsub` with ``Ld = 0``.

    With no ``D`` coefficient at the start, the lifted back-substitution never creates one (the
    ``D`` part of every step is ``0 @ W^g`` and the ``phi`` relaxation gets a zero coefficient), so
    this is the same computation, term by term, with the zero half of every array dropped: the
    products with ``W^f`` and ``b^f``, the relaxation ``a z <= h^f <= s z + t``, and the same
    a-priori error terms (the ``W^f`` rows of ``|K| [v; phi; 1]`` with ``gamma(2n)``, the
    ``2u |M| zmax + gamma(2m + 2) |M| |t|`` relaxation error); the residuals ``Rw``, ``rb`` only
    enter through ``D`` rows and drop out."""
    B, R, n = Lz.shape
    Y = np.array(Lz, dtype=np.float64)
    for j in range(k, -1, -1):
        P = pair.layers[j]
        m = P.Wf.shape[1]
        _, _, _, absK = _blocks(pair, j)
        vmax = st.xmax if j == 0 else st.hmax[j - 1]
        ones = np.ones((B, 1))
        vext = np.concatenate([vmax, ones], axis=1) if j == 0 else \
            np.concatenate([vmax, st.phimax[j - 1], ones], axis=1)
        wvec = mm_up(vext, absK[:n].T) * gamma(2 * n)                              # (B, n)
        Y2 = Y.reshape(B * R, n)
        err = mm_up(np.abs(Y), up(wvec * (1 + 4 * U))[..., None])[..., 0]
        c = add_up(c, (Y2 @ P.bf).reshape(B, R), err)
        M = (Y2 @ P.Wf).reshape(B, R, m)
        if j == 0:
            return add_up(box_max(M, st.xc, st.xr), c)
        s, t, a = st.relu_f[j - 1]
        Zp = np.maximum(M, 0.0)
        Zn = M - Zp
        Y = Zp * s[:, None, :]
        Y += Zn * a[:, None, :]
        zm = st.zmax[j - 1]
        g2 = gamma(2 * m + 2)
        wM = up((2 * U * zm + g2 * np.abs(t)) * (1 + 4 * U))
        Pz = Zp @ np.stack([t, wM], axis=2)
        Nz = Zn @ wM[..., None]
        perr = add_up(dot_up(Pz[..., 1], m), dot_up(-Nz[..., 0], m))
        c = add_up(c, Pz[..., 0], perr)
        n = m
    raise AssertionError("unreachable")


def _concat(parts):
    """Join per-chunk results (arrays, or nested tuples / lists of them) along the box axis."""
    first = parts[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(parts, axis=0)
    return type(first)(_concat([p[i] for p in parts]) for i in range(len(first)))


def diff_bounds_batch(pair: DiffPair, lo: np.ndarray, hi: np.ndarray, *, C: np.ndarray | None = None,
                      init: list | None = None, backsub_rows: str = "both", skip_stable: bool = False,
                      chunk: int = 24):
    """Bounds for a batch of boxes (B, n).

    The boxes are processed ``chunk`` at a time (each box's bounds are computed independently;
    the working arrays of a chunk of 24 ACAS Xu boxes stay in cache, which made one call with
    128 boxes about 1.6 times faster than in one piece); the results are joined.

    ``init``: optional sound bounds already known for each hidden layer, a list of
    ``(zf_lo, zf_hi, d_lo, d_hi)`` arrays (B, width) (e.g. from the forward symbolic pass of
    :mod:`relucert.bounds.symbolic`); they are intersected with the interval bounds before any
    back-substitution, so fewer neurons are unstable and fewer rows are back-substituted.

    ``skip_stable``: back-substitute only the neurons not stable in both nets (by the bounds known
    before the back-substitution: interval, ``init``).  A neuron stable in ``f`` and in ``g`` has an
    exact relaxation of ``h^f`` and of ``phi`` whatever its bounds, which then only enter the
    a-priori rounding-error terms and the interval bounds of the next layer; they stay sound (the
    interval, ``init`` and one-layer ``D`` bounds), only looser.  Off by default (every neuron not
    inactive in both nets is back-substituted, as MILP encodings want the tight ranges).

    Returns ``(st, (lo, hi))`` where the second item bounds ``C (g(x) - f(x))`` (``C`` defaults
    to the identity), i.e. ``lo <= C (g - f) <= hi`` on each box.
    """
    lo = np.atleast_2d(np.asarray(lo, dtype=np.float64))
    hi = np.atleast_2d(np.asarray(hi, dtype=np.float64))
    if int(chunk) < 1:
        raise SpecError(f"chunk must be >= 1, got chunk={chunk!r}")
    chunk = int(chunk)
    if lo.shape[0] > chunk:
        parts = []
        for i in range(0, lo.shape[0], chunk):
            sub = None if init is None else [tuple(a[i:i + chunk] for a in layer) for layer in init]
            parts.append(_diff_bounds_chunk(pair, lo[i:i + chunk], hi[i:i + chunk], C, sub, backsub_rows,
                                            skip_stable))
        st = _State.__new__(_State)
        for name in vars(parts[0][0]):
            setattr(st, name, _concat([vars(p[0])[name] for p in parts]))
        return st, _concat([p[1] for p in parts])
    return _diff_bounds_chunk(pair, lo, hi, C, init, backsub_rows, skip_stable)


def _diff_bounds_chunk(pair, lo, hi, C, init, backsub_rows, skip_stable):
    B = lo.shape[0]
    st = _State(lo, hi)
    nL = pair.n_layers
    hfl, hfh, hgl, hgh = lo, hi, lo, hi
    for k in range(nL):
        P = pair.layers[k]
        n = P.Wf.shape[0]
        fl_, fh_ = affine_interval(P.Wf, P.bf, hfl, hfh)
        gl_, gh_ = affine_interval(P.Wg, P.bg, hgl, hgh)
        if k == nL - 1:
            break
        if init is not None and k < len(init):
            a_, b_, c_, d_ = init[k]
            fl_, fh_ = np.maximum(fl_, a_), np.minimum(fh_, b_)
            gl_ = np.maximum(gl_, add_down(fl_, c_))
            gh_ = np.minimum(gh_, add_up(fh_, d_))
        if k == 0:
            dl_, dh_ = affine_interval(P.Dw, P.db, lo, hi)
            r = up(mm_up(st.xmax, P.absRw.T) + P.absRb)     # |Rw x + rb|, rounded upward
            dl_, dh_ = down(dl_ - r), up(dh_ + r)
        else:
            # back-substitute, box by box (rows padded to the largest count in the batch), z^f and
            # D for every neuron not inactive in both nets (an inactive pair has h = phi = 0 whatever
            # the bounds; for the others tighter z^f bounds also tighten g = f + D and the next
            # layer's intervals)
            mask_d = ~((fh_ <= 0) & (gh_ <= 0))
            if skip_stable:
                mask_d &= ~(((fl_ >= 0) | (fh_ <= 0)) & ((gl_ >= 0) | (gh_ <= 0)))
            mask_f = mask_d.copy()
            if backsub_rows == "d":
                mask_f = np.zeros_like(mask_f)
            elif backsub_rows == "f":
                mask_d = np.zeros_like(mask_d)
            kf, kd = int(mask_f.sum(axis=1).max()), int(mask_d.sum(axis=1).max())
            dl_ = np.full_like(fl_, -np.inf)
            dh_ = np.full_like(fl_, np.inf)
            if kf + kd:
                of = np.argsort(~mask_f, axis=1, kind="stable")[:, :kf]
                od = np.argsort(~mask_d, axis=1, kind="stable")[:, :kd]
                vf = np.take_along_axis(mask_f, of, 1)
                vd = np.take_along_axis(mask_d, od, 1)
                bi = np.arange(B)[:, None]
                rf = np.arange(kf)[None, :]
                rd = np.arange(kd)[None, :]
                # z^f rows (no D coefficient: the f-only back-substitution, a third of the work)
                # and D rows, in two calls
                ub = np.empty((B, 2 * kf + 2 * kd))
                if kf:
                    Lz = np.zeros((B, 2 * kf, n))
                    Lz[bi, rf, of] = np.where(vf, 1.0, 0.0)
                    Lz[bi, kf + rf, of] = np.where(vf, -1.0, 0.0)
                    ub[:, :2 * kf] = _backsub_f(pair, st, k, Lz, np.zeros((B, 2 * kf)))
                if kd:
                    Ld = np.zeros((B, 2 * kd, n))
                    Ld[bi, rd, od] = np.where(vd, 1.0, 0.0)
                    Ld[bi, kd + rd, od] = np.where(vd, -1.0, 0.0)
                    ub[:, 2 * kf:] = _backsub(pair, st, k, None, Ld, np.zeros((B, 2 * kd)))
                if kf:
                    cur_h = np.take_along_axis(fh_, of, 1)
                    cur_l = np.take_along_axis(fl_, of, 1)
                    np.put_along_axis(fh_, of, np.where(vf, np.minimum(cur_h, ub[:, :kf]), cur_h), 1)
                    np.put_along_axis(fl_, of, np.where(vf, np.maximum(cur_l, -ub[:, kf:2 * kf]), cur_l), 1)
                if kd:
                    np.put_along_axis(dh_, od, np.where(vd, ub[:, 2 * kf:2 * kf + kd], np.inf), 1)
                    np.put_along_axis(dl_, od, np.where(vd, -ub[:, 2 * kf + kd:], -np.inf), 1)
            # neurons with no back-substituted D bound: D only enters through |phi| <= |D| and the
            # stable cases, so a one-layer bound suffices
            P_ = pair.layers[k]
            l1, h1 = affine_interval(P_.Dw, P_.db, hfl, hfh)
            phl, phh = st.dd[k - 1]
            nl_, nh_ = affine_interval(P_.Wg, np.zeros(n), np.minimum(phl, 0.0), np.maximum(phh, 0.0))
            r = up(mm_up(np.maximum(hfh, 0.0), P_.absRw.T) + P_.absRb)
            dl_ = np.maximum(dl_, down(add_down(l1, nl_) - r))
            dh_ = np.minimum(dh_, up(add_up(h1, nh_) + r))
        if init is not None and k < len(init):
            dl_, dh_ = np.maximum(dl_, init[k][2]), np.minimum(dh_, init[k][3])
        # tie the three together: g = f + D
        gl_ = np.maximum(gl_, add_down(fl_, dl_))
        gh_ = np.minimum(gh_, add_up(fh_, dh_))
        dl_ = np.maximum(dl_, add_down(gl_, -fh_))
        dh_ = np.minimum(dh_, add_up(gh_, -fl_))
        st.zf.append((fl_, fh_))
        st.zg.append((gl_, gh_))
        st.dd.append((dl_, dh_))
        s, t = relu_upper(fl_, fh_)
        st.relu_f.append((s, t, relu_lower_slope(fl_, fh_)))
        st.phi.append(_phi_relax(fl_, fh_, gl_, gh_, dl_, dh_))
        # |phi| <= |D| always
        st.phimax.append(np.maximum(np.abs(dl_), np.abs(dh_)))
        st.zmax.append(np.maximum(np.abs(fl_), np.abs(fh_)))
        st.dmax.append(st.phimax[-1])
        st.hmax.append(np.maximum(fh_, 0.0))
        hfl, hfh = np.maximum(fl_, 0.0), np.maximum(fh_, 0.0)
        hgl, hgh = np.maximum(gl_, 0.0), np.maximum(gh_, 0.0)
    n_out = pair.layers[-1].Wf.shape[0]
    C = np.eye(n_out) if C is None else np.atleast_2d(np.asarray(C, dtype=np.float64))
    m = C.shape[0]
    Ld = np.broadcast_to(np.vstack([C, -C]), (B, 2 * m, n_out)).copy()
    ub = _backsub(pair, st, nL - 1, None, Ld, np.zeros((B, 2 * m)))
    olo, ohi = -ub[:, m:], ub[:, :m]
    # interval fallback: C (g - f) from separate output intervals
    il, ih = affine_interval(C, np.zeros(m), gl_ - 0.0, gh_)
    jl, jh = affine_interval(C, np.zeros(m), fl_, fh_)
    olo = np.maximum(olo, add_down(il, -jh))
    ohi = np.minimum(ohi, add_up(ih, -jl))
    st.out_f = (fl_, fh_)
    st.out_g = (gl_, gh_)
    return st, (olo, ohi)


def diff_bounds(f: Network, g: Network, box: Box, *, C=None):
    """Sound bounds on ``C (g(x) - f(x))`` over one box."""
    box.check_dim(f.n_inputs)
    _, (l, h) = diff_bounds_batch(DiffPair(f, g), box.lo[None], box.hi[None], C=C)
    return l[0], h[0]
