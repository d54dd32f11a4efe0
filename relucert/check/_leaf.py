"""The checker's leaf bound ``lin-v1``: a sound upper bound of ``max_r (C_f f(x) + C_g g(x))_r``
over each of a batch of boxes, by linear back-substitution (CROWN style).

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


def _network_bounds(ar, net: _Net, xc, xr, lo, hi, xmax):
    pre, relax = [], []
    hl, hh = lo, hi
    B = lo.shape[0]
    for k in range(len(net.W) - 1):
        il, ih = _interval(ar, net.W[k], net.b[k], hl, hh)
        if k > 0:
            n = net.W[k].shape[0]
            eye = ar.asarray(np.vstack([np.eye(n), -np.eye(n)]))
            Lam = np.broadcast_to(eye, (B,) + eye.shape).copy()
            c0 = ar.asarray(np.zeros((B, 2 * n)))
            L2, c2 = _backsub(ar, net, k, Lam, c0, pre, relax, xmax)
            ub = _box_max(ar, L2, c2, xc, xr)
            il = np.maximum(il, -ub[:, n:])
            ih = np.minimum(ih, ub[:, :n])
        pre.append((il, ih))
        relax.append(_relax(ar, il, ih))
        hl, hh = np.maximum(il, 0), np.maximum(ih, 0)
    out = _interval(ar, net.W[-1], net.b[-1], hl, hh)
    return pre, relax, out


def leaf_upper_bounds(ar, f_layers, g_layers, Cf, Cg, lo, hi):
    """Upper bounds ``(B, r)`` of ``Cf f(x) + Cg g(x)`` over each box ``[lo[i], hi[i]]``.

    ``f_layers``/``g_layers``: lists of ``(W, b)``; ``Cf``/``Cg``: ``(r, n_out)`` matrices."""
    lo, hi = ar.asarray(lo), ar.asarray(hi)
    B = lo.shape[0]
    xc = ar.half(lo) + ar.half(hi)
    xr = np.maximum(np.maximum(ar.sum_up(hi, -xc), ar.sum_up(xc, -lo)), 0)
    xmax = np.maximum(np.abs(lo), np.abs(hi))
    parts, outs = [], []
    for layers, C in ((f_layers, Cf), (g_layers, Cg)):
        net = layers if isinstance(layers, _Net) else _Net(ar, layers)
        pre, relax, out = _network_bounds(ar, net, xc, xr, lo, hi, xmax)
        outs.append(out)
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
    return np.minimum(linear, ar.sum_up(ivf, ivg))
