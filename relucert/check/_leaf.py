"""The checker's leaf bounds ``lin-v1`` and ``diff-v1``: sound upper bounds of the rows of
``C_f f(x) + C_g g(x)`` over each of a batch of boxes, by linear back-substitution (CROWN style;
``diff-v1`` adds a differential bound for the rows with ``C_f = -C_g``, see below).  Lower slopes
of unstable units may come from hints (any slope in [0, 1] is sound).

It runs in one of two arithmetics that share this code:

* :class:`FloatArith`: numpy float64, rigorous for the exact reals.  Every matrix product comes
  with an a-priori bound of its rounding error (``|fl(A B) - A B| <= gam(k) |A| |B|`` plus an
  underflow allowance) that is added to the constant term; sums are rounded up with
  ``numpy.nextafter``.  So every number it returns is an upper bound of the exact quantity.
* :class:`ExactArith`: the same steps on ``Fraction`` object arrays, no rounding at all (used as
  a fallback for a leaf the float bound misses narrowly, on small networks).

The steps (identical in both arithmetics) for one network ``N`` and one batch of boxes:

1. Hidden layer 0: interval ``W x + b`` from the box's centre and radius.
2. Hidden layer k >= 1: interval from the previous layer, intersected with the back-substituted
   linear bound of ``+-z_k``.
3. ReLU relaxation on ``[l, u]``: stable units exactly; an unstable unit gets the upper line
   ``s z + t`` with ``s >= u/(u-l)`` (rounded up) and ``t >= -s l`` (rounded up), which lies above
   relu at both ends of ``[l, u]`` hence on all of it, and the lower line ``a z`` with ``a = 1``
   if ``u > -l`` else ``0``.
4. The objective is back-substituted through ``f`` and through ``g`` to affine functions of ``x``;
   their sum is maximised over the box in closed form.

The algorithm imports nothing from relucert: it is the checker's own.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

__all__ = ["FloatArith", "ExactArith", "leaf_upper_bounds"]

_U = 2.0 ** -53
_TINY = 2.0 ** -1000      # generous allowance per product term for underflow


def _up(x):
    return np.nextafter(x, np.inf)


def _gam(k: int) -> float:
    """An upper bound, with slack, of ``k u / (1 - k u)``."""
    k = int(k) + 2
    return float(_up(2.0 * k * _U / (1.0 - k * _U)))


class FloatArith:
    """float64 with outward accounting: ``mm`` returns ``(C, E)`` with ``|A B - C| <= E``."""

    exact = False

    @staticmethod
    def asarray(a):
        return np.asarray(a, dtype=np.float64)

    @staticmethod
    def mm(A, B):
        k = A.shape[-1]
        E = _up((np.abs(A) @ np.abs(B)) * (3.0 * _gam(k)) + k * _TINY)
        return A @ B, E

    @staticmethod
    def mm_up(A, B):
        """An upper bound of the exact ``A B`` for entrywise non-negative ``A`` and ``B``."""
        k = A.shape[-1]
        return _up((A @ B) * (1.0 + 3.0 * _gam(k)) + k * _TINY)

    @staticmethod
    def sum_up(*terms):
        """An upper bound of the exact sum of the terms (arrays of one shape)."""
        s = terms[0]
        mag = np.abs(terms[0])
        for t in terms[1:]:
            s = s + t
            mag = mag + np.abs(t)
        return _up(s + mag * (3.0 * _gam(len(terms))))

    @staticmethod
    def prod_err(P):
        """A bound of the rounding error of an elementwise product whose rounded value is ``P``."""
        return np.abs(P) * (4.0 * _U) + _TINY

    @staticmethod
    def relu_upper(l, u):
        """Slope and intercept of the upper line of relu on unstable ``[l, u]`` (arrays)."""
        s = _up(u / np.nextafter(u - l, -np.inf))
        return s, _up(-(s * l))

    @staticmethod
    def half(x):
        return 0.5 * x


class ExactArith:
    """Exact rationals on numpy object arrays: no rounding, so every error term is 0."""

    exact = True

    @staticmethod
    def asarray(a):
        a = np.asarray(a)
        if a.dtype == object:
            return a
        out = np.empty(a.shape, dtype=object)
        flat = out.reshape(-1)
        for i, v in enumerate(a.reshape(-1)):
            if isinstance(v, Fraction):
                flat[i] = v
            elif isinstance(v, (int, np.integer, bool, np.bool_)):
                flat[i] = Fraction(int(v))
            else:
                flat[i] = Fraction(float(v))
        return out

    @staticmethod
    def mm(A, B):
        return A @ B, 0

    @staticmethod
    def mm_up(A, B):
        return A @ B

    @staticmethod
    def sum_up(*terms):
        s = terms[0]
        for t in terms[1:]:
            s = s + t
        return s

    @staticmethod
    def prod_err(P):
        return 0

    @staticmethod
    def relu_upper(l, u):
        s = u / (u - l)
        return s, -(s * l)

    @staticmethod
    def half(x):
        return x * Fraction(1, 2)


def _relax(ar, l, u):
    """``(s, t, a)`` with ``a z <= relu(z) <= s z + t`` on ``[l, u]`` (entrywise)."""
    active = l >= 0
    unstable = (l < 0) & (u > 0)
    one, zero = (Fraction(1), Fraction(0)) if ar.exact else (1.0, 0.0)
    s = np.where(active, one, zero)
    t = np.where(active, zero, zero)
    a = np.where(active | (unstable & (u > -l)), one, zero)
    if unstable.any():
        su, tu = ar.relu_upper(l[unstable], u[unstable])
        s[unstable] = su
        t[unstable] = tu
    return s, t, a


def _interval(ar, W, b, hl, hh):
    """Bounds of ``W h + b`` for ``hl <= h <= hh`` (batched rows)."""
    c = ar.half(hl) + ar.half(hh)
    r = np.maximum(ar.sum_up(hh, -c), ar.sum_up(c, -hl))
    r = np.maximum(r, 0)
    zc, E = ar.mm(c, W.T)
    zr = ar.mm_up(r, np.abs(W).T)
    hi = ar.sum_up(zc, b, zr, E)
    lo = -ar.sum_up(-zc, -b, zr, E)
    return lo, hi


class _Net:
    """One network's layers in the checker's arithmetic."""

    def __init__(self, ar, layers):
        self.W = [ar.asarray(W) for W, _ in layers]
        self.b = [ar.asarray(b) for _, b in layers]


def _backsub(ar, net: _Net, k, Lam, c, pre, relax, xmax):
    """From ``obj <= Lam z_k + c`` to ``obj <= Lam' x + c'`` (valid on the box)."""
    for j in range(k, 0, -1):
        hmax = np.maximum(pre[j - 1][1], 0)
        Lam2, E = ar.mm(Lam, net.W[j])
        cb, Eb = ar.mm(Lam, net.b[j][:, None])
        c = ar.sum_up(c, cb[..., 0], Eb[..., 0] if not ar.exact else 0, _mmv(ar, E, hmax))
        s, t, a = relax[j - 1]
        P = np.maximum(Lam2, 0)
        Lam = P * s[:, None, :] + np.minimum(Lam2, 0) * a[:, None, :]
        zl, zu = pre[j - 1]
        zmax = np.maximum(np.abs(zl), np.abs(zu))
        ct, Et = ar.mm(P, t[..., None])
        c = ar.sum_up(c, ct[..., 0], Et[..., 0] if not ar.exact else 0,
                      _mmv(ar, ar.prod_err(Lam) if not ar.exact else 0, zmax))
    Lam2, E = ar.mm(Lam, net.W[0])
    cb, Eb = ar.mm(Lam, net.b[0][:, None])
    c = ar.sum_up(c, cb[..., 0], Eb[..., 0] if not ar.exact else 0, _mmv(ar, E, xmax))
    return Lam2, c


def _mmv(ar, E, v):
    """Upper bound of ``E v`` (batched, non-negative), or 0 in exact arithmetic."""
    if ar.exact:
        return 0
    return ar.mm_up(E, v[..., None])[..., 0]


def _box_max(ar, Lam, c, xc, xr):
    lin, E = ar.mm(Lam, xc[..., None])
    rad = ar.mm_up(np.abs(Lam), xr[..., None])
    return ar.sum_up(lin[..., 0], E[..., 0] if not ar.exact else 0, rad[..., 0], c)


def _unit_rows(ar, n, idx, B):
    """Objective rows ``+z_i`` then ``-z_i`` for the units ``idx`` of an ``n``-unit layer."""
    rows = np.zeros((2 * len(idx), n))
    rows[np.arange(len(idx)), idx] = 1.0
    rows[len(idx) + np.arange(len(idx)), idx] = -1.0
    rows = ar.asarray(rows)
    return np.broadcast_to(rows, (B,) + rows.shape).copy(), ar.asarray(np.zeros((B, 2 * len(idx))))


def _network_bounds(ar, net: _Net, xc, xr, lo, hi, xmax, phases=None, empty=None, alpha=None):
    """Pre-activation bounds and relaxations of every hidden layer.  ``phases[k]`` (B, n_k) in
    {-1, 0, 1} restricts the domain to ``z <= 0`` / ``z >= 0`` for the marked units (ReLU-phase
    splits): their bounds are clamped, and a box whose clamped bounds cross is marked ``empty``.
    ``alpha[k]`` (B, n_k), NaN = default: the lower slope of unstable units (hints; any value in
    [0, 1] is sound, since ``relu(z) >= a z`` for every z when 0 <= a <= 1)."""
    pre, relax = [], []
    hl, hh = lo, hi
    B = lo.shape[0]
    for k in range(len(net.W) - 1):
        il, ih = _interval(ar, net.W[k], net.b[k], hl, hh)
        unstable = (il < 0) & (ih > 0)
        need = np.flatnonzero(unstable.any(axis=0)) if k > 0 else []
        if len(need):
            # back-substitute the units the interval leaves unstable, and use the result only in
            # the boxes where they are unstable, so a box's bound does not depend on its batch
            Lam, c0 = _unit_rows(ar, net.W[k].shape[0], need, B)
            L2, c2 = _backsub(ar, net, k, Lam, c0, pre, relax, xmax)
            ub = _box_max(ar, L2, c2, xc, xr)
            m, use = len(need), unstable[:, need]
            il[:, need] = np.where(use, np.maximum(il[:, need], -ub[:, m:]), il[:, need])
            ih[:, need] = np.where(use, np.minimum(ih[:, need], ub[:, :m]), ih[:, need])
        if phases is not None:
            il = np.where(phases[k] > 0, np.maximum(il, 0), il)
            ih = np.where(phases[k] < 0, np.minimum(ih, 0), ih)
            bad = il > ih                  # the literals contradict the box: an empty domain
            empty |= bad.any(axis=1)
            il, ih = np.where(bad, ih, il), ih
        pre.append((il, ih))
        rl = _relax(ar, il, ih)
        if alpha is not None:
            use = (il < 0) & (ih > 0) & ~np.isnan(alpha[k])
            if use.any():
                a = rl[2].copy()
                a[use] = ar.asarray(np.clip(alpha[k][use], 0.0, 1.0))
                rl = (rl[0], rl[1], a)
        relax.append(rl)
        hl, hh = np.maximum(il, 0), np.maximum(ih, 0)
    out = _interval(ar, net.W[-1], net.b[-1], hl, hh)
    return pre, relax, out


def leaf_upper_bounds(ar, f_layers, g_layers, Cf, Cg, lo, hi, *, differential: bool = False, phases=None,
                      info=None, alpha=None):
    """Upper bounds ``(B, r)`` of ``Cf f(x) + Cg g(x)`` over each box ``[lo[i], hi[i]]``.

    ``f_layers``/``g_layers``: lists of ``(W, b)``; ``Cf``/``Cg``: ``(r, n_out)`` matrices.
    ``differential`` (bound ``diff-v1``; needs equal layer sizes): for the rows with ``Cf = -Cg``,
    also bound ``Cg (g - f)`` through the difference ``D = z^g - z^f`` and keep the smaller bound.
    ``alpha``: ``(f_alpha, g_alpha)``, per hidden layer (B, n_k) lower slopes (NaN = default).
    ``phases``: ``(f_phases, g_phases)``, per hidden layer arrays (B, n_k) of -1 / 0 / 1 (the
    box intersected with ReLU-phase literals); an empty domain gets the bound ``-inf``.
    ``info`` (a dict, for the prover): receives the pre-activation bounds of f and g."""
    lo, hi = ar.asarray(lo), ar.asarray(hi)
    B = lo.shape[0]
    xc = ar.half(lo) + ar.half(hi)
    xr = np.maximum(np.maximum(ar.sum_up(hi, -xc), ar.sum_up(xc, -lo)), 0)
    xmax = np.maximum(np.abs(lo), np.abs(hi))
    parts, outs, states = [], [], []
    empty = np.zeros(B, dtype=bool)
    for side, (layers, C) in enumerate(((f_layers, Cf), (g_layers, Cg))):
        net = layers if isinstance(layers, _Net) else _Net(ar, layers)
        pre, relax, out = _network_bounds(ar, net, xc, xr, lo, hi, xmax,
                                          None if phases is None else phases[side], empty,
                                          None if alpha is None else alpha[side])
        outs.append(out)
        states.append((net, pre, relax))
        C = ar.asarray(C)
        Lam = np.broadcast_to(C, (B,) + C.shape).copy()
        c0 = ar.asarray(np.zeros((B, C.shape[0])))
        parts.append(_backsub(ar, net, len(net.W) - 1, Lam, c0, pre, relax, xmax))
    (Lf, cf), (Lg, cg) = parts
    Lam = Lf + Lg
    err = _mmv(ar, ar.prod_err(Lam) if not ar.exact else 0, xmax)
    linear = _box_max(ar, Lam, ar.sum_up(cf, cg, err), xc, xr)
    # the interval bound of the objective from the two output intervals, when it is better
    (fl, fh), (gl, gh) = outs
    zero = ar.asarray(np.zeros(Cf.shape[0]))
    _, ivf = _interval(ar, ar.asarray(Cf), zero, fl, fh)
    _, ivg = _interval(ar, ar.asarray(Cg), zero, gl, gh)
    best = np.minimum(linear, ar.sum_up(ivf, ivg))
    rows = np.flatnonzero((np.asarray(Cf) == -np.asarray(Cg)).all(axis=1) & np.asarray(Cg).any(axis=1))
    if differential and len(rows):
        db = _diff_bound(ar, states[0], states[1], ar.asarray(np.asarray(Cg)[rows]), xc, xr, xmax)
        best[:, rows] = np.minimum(best[:, rows], db)
    if info is not None:
        info["f_pre"], info["g_pre"] = states[0][1], states[1][1]
    if empty.any():
        best = np.where(empty[:, None], -np.inf, best)
    return best


# -- the differential bound (diff-v1) ----------------------------------------------------------
# Variables: z^f_k and D_k = z^g_k - z^f_k.  With phi = relu(z^f + D) - relu(z^f):
#   z^f_{k+1} = W^f h^f + b^f,    D_{k+1} = W^g phi + (W^g - W^f) h^f + (b^g - b^f),
# and phi is relaxed in D alone: phi <= relu(D), phi >= -relu(-D), tightened by the phases of
# f and g (f active: phi >= D; f inactive: phi >= 0; g active: phi <= D; g inactive: phi <= 0).
class _Diff:
    """``W^g - W^f`` per layer as a float plus a bound of the exact residual (0 when exact)."""

    def __init__(self, ar, F: _Net, G: _Net):
        self.dW = [Wg - Wf for Wf, Wg in zip(F.W, G.W)]
        self.db = [bg - bf for bf, bg in zip(F.b, G.b)]
        if ar.exact:
            self.rW = self.rb = None
        else:   # a correctly rounded difference is within 2u of its rounded value
            self.rW = [np.abs(d) * (2 * _U) for d in self.dW]
            self.rb = [np.abs(d) * (2 * _U) for d in self.db]


def _phi_relax(ar, lf, uf, lg, ug, ld, ud):
    su, tu, _ = _relax(ar, ld, ud)              # relu(D) <= su D + tu
    sn, tn, _ = _relax(ar, -ud, -ld)            # relu(-D) <= sn (-D) + tn, so phi >= sn D - tn
    pdl, pcl = sn, -tn
    one, zero = (Fraction(1), Fraction(0)) if ar.exact else (1.0, 0.0)
    fa, fi, ga, gi = lf >= 0, uf <= 0, lg >= 0, ug <= 0
    pdl, pcl = np.where(fa, one, np.where(fi, zero, pdl)), np.where(fa | fi, zero, pcl)
    pdu, pcu = np.where(ga, one, np.where(gi, zero, su)), np.where(ga | gi, zero, tu)
    return pdu, pcu, pdl, pcl


def _diff_backsub(ar, F, G, dif, k, Lz, Ld, c, fpre, frelax, dpre, drelax, xmax):
    """From ``obj <= Lz z^f_k + Ld D_k + c`` (``Lz`` None means 0) to ``obj <= M x + c'``."""
    for j in range(k, -1, -1):
        vmax = xmax if j == 0 else np.maximum(fpre[j - 1][1], 0)
        M, E = ar.mm(Ld, dif.dW[j])
        cb, Eb = ar.mm(Ld, dif.db[j][:, None])
        c = ar.sum_up(c, cb[..., 0], 0 if ar.exact else Eb[..., 0], _mmv(ar, E, vmax))
        if not ar.exact:
            r = ar.mm_up(dif.rW[j], vmax[..., None])[..., 0]
            c = ar.sum_up(c, ar.mm_up(np.abs(Ld), (r + dif.rb[j])[..., None])[..., 0])
        if Lz is not None:
            M2, E2 = ar.mm(Lz, F.W[j])
            cb2, Eb2 = ar.mm(Lz, F.b[j][:, None])
            M = M + M2
            c = ar.sum_up(c, cb2[..., 0], 0 if ar.exact else Eb2[..., 0], _mmv(ar, E2, vmax),
                          _mmv(ar, 0 if ar.exact else ar.prod_err(M), vmax))
        if j == 0:
            return M, c
        dmax = np.maximum(np.abs(dpre[j - 1][0]), np.abs(dpre[j - 1][1]))   # |phi| <= |D|
        N, EN = ar.mm(Ld, G.W[j])
        c = ar.sum_up(c, _mmv(ar, EN, dmax))
        # h^f_{j-1} through f's relaxation, phi_{j-1} through the phi relaxation
        s, t, a = frelax[j - 1]
        P = np.maximum(M, 0)
        Lz = P * s[:, None, :] + np.minimum(M, 0) * a[:, None, :]
        zl, zu = fpre[j - 1]
        zmax = np.maximum(np.abs(zl), np.abs(zu))
        ct, Et = ar.mm(P, t[..., None])
        pdu, pcu, pdl, pcl = drelax[j - 1]
        Np, Nn = np.maximum(N, 0), np.minimum(N, 0)
        Ld = Np * pdu[:, None, :] + Nn * pdl[:, None, :]
        cu, Eu = ar.mm(Np, pcu[..., None])
        cl, El = ar.mm(Nn, pcl[..., None])
        c = ar.sum_up(c, ct[..., 0], cu[..., 0], cl[..., 0],
                      *(() if ar.exact else (Et[..., 0], Eu[..., 0], El[..., 0],
                                              _mmv(ar, ar.prod_err(Lz), zmax), _mmv(ar, ar.prod_err(Ld), dmax))))
    raise AssertionError("unreachable")


def _diff_bound(ar, fstate, gstate, C, xc, xr, xmax):
    (F, fpre, frelax), (G, gpre, _) = fstate, gstate
    dif = _Diff(ar, F, G)
    B = xc.shape[0]
    dpre, drelax = [], []
    for k in range(len(F.W) - 1):
        (lf, uf), (lg, ug) = fpre[k], gpre[k]
        ld, ud = -ar.sum_up(uf, -lg), ar.sum_up(ug, -lf)        # D = z^g - z^f from the two intervals
        # the phi relaxation uses the D bounds only where f or g is unstable
        unstable = ((lf < 0) & (uf > 0)) | ((lg < 0) & (ug > 0))
        need = np.flatnonzero(unstable.any(axis=0))
        if len(need):   # as in _network_bounds: used only in the boxes where the unit needs it
            Ld, c0 = _unit_rows(ar, F.W[k].shape[0], need, B)
            M, c = _diff_backsub(ar, F, G, dif, k, None, Ld, c0, fpre, frelax, dpre, drelax, xmax)
            ub = _box_max(ar, M, c, xc, xr)
            m, use = len(need), unstable[:, need]
            ld[:, need] = np.where(use, np.maximum(ld[:, need], -ub[:, m:]), ld[:, need])
            ud[:, need] = np.where(use, np.minimum(ud[:, need], ub[:, :m]), ud[:, need])
        dpre.append((ld, ud))
        drelax.append(_phi_relax(ar, lf, uf, lg, ug, ld, ud))
    Ld = np.broadcast_to(C, (B,) + C.shape).copy()
    M, c = _diff_backsub(ar, F, G, dif, len(F.W) - 1, None, Ld, ar.asarray(np.zeros((B, C.shape[0]))),
                         fpre, frelax, dpre, drelax, xmax)
    return _box_max(ar, M, c, xc, xr)
